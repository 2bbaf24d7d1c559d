"""Which pods each selector owner (a Service, a PodDisruptionBudget) selects, kept from store
events like an informer's indexer, with a small per-pod summary.

The summary is what the owner's controller needs of a pod (IP, readiness, ...). Keeping it here
means a reconcile reads tuples instead of decoding every selected pod, and a pod change that
leaves the summary as it was (a container restart count, a usage sample) reaches no reconcile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from kubeward.kube.selectors import LabelSelector, SelectorIndex
from kubeward.sim.store.objects import StoredObject, StoreEvent
from kubeward.sim.store.store import Store

T = TypeVar("T")
PODS = ("", "pods")


class SelectedPods(Generic[T]):
    """Owners are keyed ``namespace/name``; pods by their store key."""

    def __init__(self, store: Store, summarize: Callable[[dict[str, Any]], T]) -> None:
        self._store = store
        self._summarize = summarize
        self._selectors: dict[str, SelectorIndex[str]] = defaultdict(SelectorIndex)
        self._members: dict[str, set[str]] = defaultdict(set)  # owner -> pod keys
        self._owners: dict[str, frozenset[str]] = {}  # pod key -> owners (selected pods only)
        self._summary: dict[str, T] = {}  # pod key -> summary (selected pods only)

    def selector(self, owner: str) -> LabelSelector | None:
        ns, name = owner.split("/", 1)
        index = self._selectors.get(ns)
        return index.get(name) if index is not None else None

    def set_selector(self, namespace: str, name: str, selector: LabelSelector) -> bool:
        """Set an owner's selector; a changed selector re-reads the namespace's pods (rare:
        selectors seldom change). True when the selection was recomputed."""
        if self._selectors[namespace].get(name) == selector:
            return False
        self._selectors[namespace].set(name, selector)
        owner = f"{namespace}/{name}"
        for key in list(self._members.get(owner, ())):
            self._leave(key, owner)
        objects = self._store.resource(PODS).objects
        for key in objects.irange(f"{namespace}/", f"{namespace}/\uffff"):
            pod = objects[key]
            if selector.matches(pod.labels):
                self._join(pod, owner)
        return True

    def remove(self, namespace: str, name: str) -> None:
        owner = f"{namespace}/{name}"
        index = self._selectors.get(namespace)
        if index is not None:
            index.remove(name)
        for key in list(self._members.pop(owner, ())):
            self._leave(key, owner)

    def members(self, owner: str) -> dict[str, T]:
        """Pod key -> summary of the pods the owner selects."""
        return {key: self._summary[key] for key in self._members.get(owner, ())}

    def observe(self, event: StoreEvent) -> list[Hashable]:
        """Follow one pod event; the owners whose selection or selected summaries changed."""
        obj = event.obj
        key = obj.key
        old_owners = self._owners.get(key, frozenset())
        if event.type == "DELETED":
            new_owners: frozenset[str] = frozenset()
        elif event.prev is not None and event.prev.labels == obj.labels:
            new_owners = old_owners  # same labels, same selectors: same owners
        else:
            index = self._selectors.get(obj.namespace)
            new_owners = (
                frozenset(f"{obj.namespace}/{name}" for name in index.matching(obj.labels))
                if index is not None
                else frozenset()
            )
        if not old_owners and not new_owners:
            return []
        old_summary = self._summary.get(key)
        if new_owners:
            summary = self._summarize(obj.decode())
            self._summary[key] = summary
            self._owners[key] = new_owners
        else:
            self._summary.pop(key, None)
            self._owners.pop(key, None)
        for owner in old_owners - new_owners:
            self._members[owner].discard(key)
        for owner in new_owners - old_owners:
            self._members[owner].add(key)
        changed = old_owners ^ new_owners
        if new_owners and summary != old_summary:
            changed |= new_owners
        keys: list[Hashable] = [*sorted(changed)]
        return keys

    def _join(self, pod: StoredObject, owner: str) -> None:
        key = pod.key
        if key not in self._summary:
            self._summary[key] = self._summarize(pod.decode())
        self._owners[key] = self._owners.get(key, frozenset()) | {owner}
        self._members[owner].add(key)

    def _leave(self, key: str, owner: str) -> None:
        self._members[owner].discard(key)
        owners = self._owners.get(key, frozenset()) - {owner}
        if owners:
            self._owners[key] = owners
        else:
            self._owners.pop(key, None)
            self._summary.pop(key, None)
