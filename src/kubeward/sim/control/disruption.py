"""The disruption controller: PodDisruptionBudget status, kept current from pod changes.

As kube-controller-manager 1.31 writes it: expectedPods (the selected pods for an integer
minAvailable, else the summed scale of their controllers), currentHealthy (Ready, not being
deleted, not just evicted), desiredHealthy, disruptionsAllowed, observedGeneration,
disruptedPods (pods an eviction let go, excluded from the healthy count until they are deleted
or two minutes pass) and the DisruptionAllowed condition (SufficientPods / InsufficientPods, or
SyncFailed when the expected count cannot be worked out). The eviction subresource reads the
status and takes from it.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kubeward.kube.disruption import (
    desired_healthy,
    set_disruption_allowed,
    update_disruption_allowed_condition,
)
from kubeward.kube.registry import REGISTRY
from kubeward.kube.selectors import LabelSelector, SelectorError, label_selector_from_dict
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.clock import parse_time
from kubeward.sim.control.base import Controller
from kubeward.sim.control.events import EventRecorder, ObjectRef
from kubeward.sim.control.selected import SelectedPods
from kubeward.sim.store.objects import StoreEvent

PDBS = REGISTRY.get("policy", "v1", "poddisruptionbudgets")
DELETION_TIMEOUT = timedelta(minutes=2)
# Controllers whose scale counts as expected pods, by (apiVersion group, kind).
SCALED = {
    ("apps", "ReplicaSet"): ("apps", "replicasets"),
    ("apps", "Deployment"): ("apps", "deployments"),
    ("apps", "StatefulSet"): ("apps", "statefulsets"),
}


@dataclass(frozen=True, slots=True)
class PodHealth:
    """What the controller needs of a selected pod."""

    name: str
    uid: str
    ready: bool
    deleting: bool
    controller: tuple[str, str, str, str] | None  # group, kind, name, uid

    @classmethod
    def of(cls, pod: dict[str, Any]) -> PodHealth:
        meta, status = pod["metadata"], pod.get("status") or {}
        ref = next((r for r in meta.get("ownerReferences") or () if r.get("controller")), None)
        controller = None
        if ref is not None:
            group = ref.get("apiVersion", "").rpartition("/")[0]
            controller = (group, ref.get("kind", ""), ref.get("name", ""), ref.get("uid", ""))
        return cls(
            meta["name"],
            meta.get("uid", ""),
            any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or ()
            ),
            bool(meta.get("deletionTimestamp")),
            controller,
        )


class ExpectedCountError(Exception):
    pass


class DisruptionController(Controller):
    name = "disruption-controller"
    watches = (("", "pods"), ("policy", "poddisruptionbudgets"))

    def __init__(self, api: ObjectAPI) -> None:
        super().__init__(api.store)
        self.api = api
        self.selected: SelectedPods[PodHealth] = SelectedPods(api.store, PodHealth.of)
        self.recorder = EventRecorder(api, "controllermanager")

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        obj = event.obj
        if event.storage_key == ("", "pods"):
            return self.selected.observe(event)
        if event.storage_key == ("policy", "poddisruptionbudgets"):
            if event.type == "DELETED":
                self.selected.remove(obj.namespace, obj.name)
                return []
            try:
                # policy/v1: an empty selector selects every pod of the namespace.
                sel = label_selector_from_dict((obj.decode().get("spec") or {}).get("selector"))
            except SelectorError:
                sel = LabelSelector.nothing()
            self.selected.set_selector(obj.namespace, obj.name, sel)
            return [obj.key]
        return []

    def reconcile(self, key: Hashable) -> None:
        assert PDBS is not None
        current = self.store.get(PDBS.storage_key, str(key))
        if current is None:
            return
        pdb = current.decode()
        pods = list(self.selected.members(str(key)).values())
        if not pods:
            self.recorder.event(ObjectRef.of(pdb), "Normal", "NoPods", "No matching pods found")
        try:
            expected, desired = self._expected(pdb, pods)
        except ExpectedCountError as exc:
            self.recorder.event(
                ObjectRef.of(pdb),
                "Warning",
                "CalculateExpectedPodCountFailed",
                f"Failed to calculate the number of expected pods: {exc}",
            )
            self._fail_safe(pdb, str(exc))
            return
        now = self.api.clock.now()
        disrupted, recheck = self._disrupted(pdb, pods, now)
        healthy = sum(1 for p in pods if p.ready and not p.deleting and p.name not in disrupted)
        allowed = healthy - desired if expected > 0 else 0
        old = pdb.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": pdb["metadata"].get("generation", 1),
            "expectedPods": expected,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "disruptionsAllowed": max(0, allowed),
        }
        if disrupted:
            status["disruptedPods"] = disrupted
        status["conditions"] = old.get("conditions") or []
        update_disruption_allowed_condition(status, self.api.clock.timestamp())
        if recheck is not None:
            delay = max(0.0, (recheck - now).total_seconds())
            self.api.clock.call_later(delay, self.enqueue, str(key))
        if status != old:
            pdb["status"] = status
            self.api.update(PDBS, current.namespace, current.name, pdb, subresource="status")

    def _expected(self, pdb: dict[str, Any], pods: list[PodHealth]) -> tuple[int, int]:
        """getExpectedPodCount: (expectedPods, desiredHealthy)."""
        spec = pdb.get("spec") or {}
        min_available = spec.get("minAvailable")
        if spec.get("maxUnavailable") is None and min_available is None:
            return 0, 0
        if spec.get("maxUnavailable") is None and isinstance(min_available, int):
            return len(pods), min_available
        expected = self._expected_scale(pdb, pods)
        return expected, desired_healthy(spec, expected)

    def _expected_scale(self, pdb: dict[str, Any], pods: list[PodHealth]) -> int:
        """The summed scale of the selected pods' controllers (a Deployment's for its
        ReplicaSets' pods); pods without a controller are reported and left out."""
        scale: dict[str, int] = {}  # uid of the controller that scales -> replicas
        resolved: set[str] = set()  # uids of the pods' own controllers already looked up
        unmanaged = []
        ns = pdb["metadata"]["namespace"]
        for pod in pods:
            if pod.controller is None:
                unmanaged.append(pod.name)
                continue
            if pod.controller[3] in resolved:
                continue
            found = self._controller_scale(ns, pod.controller)
            if found is None:
                raise ExpectedCountError(f'found no controllers for pod "{pod.name}"')
            resolved.add(pod.controller[3])
            scale[found[0]] = found[1]
        if unmanaged:
            self.recorder.event(
                ObjectRef.of(pdb),
                "Warning",
                "UnmanagedPods",
                "Pods selected by this PodDisruptionBudget (selector: "
                f"{_go_selector((pdb.get('spec') or {}).get('selector'))}) were found to be "
                "unmanaged. As a result, the status of the PDB cannot be calculated correctly, "
                "which may result in undefined behavior. To account for these pods please set "
                '".spec.minAvailable" field of the PDB to an integer value.',
            )
        return sum(scale.values())

    def _controller_scale(self, ns: str, ref: tuple[str, str, str, str]) -> tuple[str, int] | None:
        """(uid, replicas) of the controller that sets the pod's count: a ReplicaSet's own
        controller when that is a Deployment."""
        group, kind, name, uid = ref
        storage = SCALED.get((group, kind))
        if storage is None:
            return None
        obj = self.store.get(storage, f"{ns}/{name}")
        if obj is None or obj.uid != uid:
            return None
        body = obj.decode()
        if kind == "ReplicaSet":
            owner = next(
                (r for r in body["metadata"].get("ownerReferences") or () if r.get("controller")),
                None,
            )
            if owner is not None and owner.get("kind") == "Deployment":
                found = self._controller_scale(
                    ns, ("apps", "Deployment", owner.get("name", ""), owner.get("uid", ""))
                )
                if found is not None:
                    return found
        return uid, int((body.get("spec") or {}).get("replicas", 1))

    def _disrupted(
        self, pdb: dict[str, Any], pods: list[PodHealth], now: datetime
    ) -> tuple[dict[str, str], datetime | None]:
        """buildDisruptedPodMap: evicted pods not yet being deleted, within the timeout."""
        recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
        out: dict[str, str] = {}
        recheck = None
        if not recorded:
            return out, recheck
        meta = pdb["metadata"]
        for pod in pods:
            if pod.deleting or pod.name not in recorded:
                continue
            expected_deletion = parse_time(recorded[pod.name]) + DELETION_TIMEOUT
            if expected_deletion < now:
                self.recorder.event(
                    ObjectRef("Pod", meta["namespace"], pod.name, pod.uid, "v1"),
                    "Warning",
                    "NotDeleted",
                    # sic: Kubernetes prints the namespace twice
                    f"Pod was expected by PDB {meta['namespace']}/{meta['namespace']} "
                    "to be deleted but it wasn't",
                )
                continue
            out[pod.name] = recorded[pod.name]
            if recheck is None or expected_deletion < recheck:
                recheck = expected_deletion
        return out, recheck

    def _fail_safe(self, pdb: dict[str, Any], message: str) -> None:
        """failSafe: no disruptions allowed while the status cannot be computed."""
        assert PDBS is not None
        status = dict(pdb.get("status") or {})
        status["disruptionsAllowed"] = 0
        status["conditions"] = set_disruption_allowed(
            status.get("conditions") or [],
            "False",
            "SyncFailed",
            message,
            status.get("observedGeneration", 0),
            self.api.clock.timestamp(),
        )
        if status != pdb.get("status"):
            pdb["status"] = status
            meta = pdb["metadata"]
            self.api.update(PDBS, meta["namespace"], meta["name"], pdb, subresource="status")


def _go_selector(selector: dict[str, Any] | None) -> str:
    """A *metav1.LabelSelector as Go's %v prints it (the UnmanagedPods event)."""
    if selector is None:
        return "nil"
    labels = "".join(f"{k}: {v}," for k, v in sorted((selector.get("matchLabels") or {}).items()))
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:[{' '.join(e.get('values') or [])}],}},"
        for e in selector.get("matchExpressions") or ()
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
