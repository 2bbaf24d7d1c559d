"""Object counts, bytes and write rates per resource and namespace, kept from store events.

The cost model prices a request by the size of the key range it touches; keeping the totals
incrementally makes that O(1) however many objects the store holds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from kubeward.kube.registry import REGISTRY
from kubeward.sim.load.cost import Collection
from kubeward.sim.store.objects import StoreEvent
from kubeward.sim.store.store import Store


@dataclass
class _ResourceTotals:
    objects: int = 0
    bytes: float = 0.0
    by_namespace: dict[str, list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0.0])
    )
    events: int = 0  # since the last drain
    event_bytes: float = 0.0


class StoreStats:
    def __init__(self, store: Store, size_factor: float = 1.0) -> None:
        """``size_factor`` scales stored sizes to real-cluster ones (real objects carry
        managedFields and longer specs than the simulator's)."""
        self.size_factor = size_factor
        self._totals: dict[tuple[str, str], _ResourceTotals] = defaultdict(_ResourceTotals)
        for key, res in store.resources.items():
            totals = self._totals[key]
            for obj in res.objects.values():
                self._add(totals, obj.namespace, len(obj.raw), 1)
        store.add_listener(self._on_event)

    @staticmethod
    def _add(totals: _ResourceTotals, namespace: str, size: float, count: int) -> None:
        totals.objects += count
        totals.bytes += size
        ns = totals.by_namespace[namespace]
        ns[0] += count
        ns[1] += size

    def _on_event(self, event: StoreEvent) -> None:
        totals = self._totals[event.storage_key]
        size = len(event.obj.raw)
        if event.type == "ADDED":
            self._add(totals, event.obj.namespace, size, 1)
        elif event.type == "DELETED":
            self._add(totals, event.obj.namespace, -size, -1)
        elif event.prev is not None:
            self._add(totals, event.obj.namespace, size - len(event.prev.raw), 0)
        totals.events += 1
        totals.event_bytes += size

    def objects(self, storage_key: tuple[str, str]) -> int:
        return self._totals[storage_key].objects

    def total_bytes(self) -> float:
        return sum(t.bytes for t in self._totals.values()) * self.size_factor

    def collection(
        self, storage_key: tuple[str, str], namespace: str, selectivity: float = 1.0
    ) -> Collection:
        """The key range of a LIST in ``namespace`` ("" = all namespaces); ``selectivity`` is
        the fraction the request's selectors let through."""
        totals = self._totals[storage_key]
        if namespace:
            count, size = totals.by_namespace.get(namespace, (0, 0.0))
        else:
            count, size = totals.objects, totals.bytes
        count = int(count)
        returned = count if selectivity >= 1 else min(count, max(1, round(count * selectivity)))
        return Collection(
            count, size * self.size_factor, returned if count else 0, indexed=selectivity < 1
        )

    def storage_objects(self) -> dict[tuple[str, str], int]:
        return {k: t.objects for k, t in self._totals.items()}

    def drain_events(self) -> dict[tuple[str, str], tuple[int, float]]:
        """(events, average event bytes) per resource since the last call."""
        out = {}
        for key, t in self._totals.items():
            if t.events:
                out[key] = (t.events, t.event_bytes / t.events * self.size_factor)
                t.events, t.event_bytes = 0, 0.0
        return out


def storage_key_for(group: str, plural: str) -> tuple[str, str] | None:
    """Where (group, plural) lives, across versions and shared stores (events.k8s.io)."""
    for rt in REGISTRY:
        if rt.group == group and rt.plural == plural:
            return rt.storage_key
    return None
