"""The disruption controller: PodDisruptionBudget status, kept current from pod changes.

Status as kube-controller-manager writes it: expectedPods, currentHealthy, desiredHealthy,
disruptionsAllowed, observedGeneration, disruptedPods (pods an eviction let go, excluded from
the healthy count until they are deleted or two minutes pass) and the DisruptionAllowed
condition (SufficientPods / InsufficientPods). The eviction subresource reads and updates it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from datetime import timedelta
from typing import Any

from kubeward.kube.disruption import disruption_status, pod_is_healthy
from kubeward.kube.registry import REGISTRY
from kubeward.kube.selectors import LabelSelector, SelectorError, label_selector_from_dict
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.clock import parse_time
from kubeward.sim.control.base import Controller
from kubeward.sim.control.podcontrol import pods_matching_selectors
from kubeward.sim.store.objects import StoreEvent

PDBS = REGISTRY.get("policy", "v1", "poddisruptionbudgets")
DELETION_TIMEOUT = timedelta(minutes=2)


class DisruptionController(Controller):
    name = "disruption-controller"

    def __init__(self, api: ObjectAPI) -> None:
        super().__init__(api.store)
        self.api = api
        self._selectors: dict[str, dict[str, LabelSelector]] = defaultdict(dict)

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        obj = event.obj
        if event.storage_key == ("policy", "poddisruptionbudgets"):
            if event.type == "DELETED":
                self._selectors[obj.namespace].pop(obj.name, None)
                return []
            try:
                sel = label_selector_from_dict((obj.decode().get("spec") or {}).get("selector"))
            except SelectorError:
                sel = LabelSelector.nothing()
            self._selectors[obj.namespace][obj.name] = sel
            return [obj.key]
        if event.storage_key == ("", "pods"):
            return pods_matching_selectors(self._selectors, event)
        return []

    def reconcile(self, key: Hashable) -> None:
        assert PDBS is not None
        current = self.store.get(PDBS.storage_key, str(key))
        if current is None:
            return
        pdb = current.decode()
        ns = current.namespace
        selector = self._selectors.get(ns, {}).get(current.name, LabelSelector.nothing())
        objects = self.store.resource(("", "pods")).objects
        pods = [
            objects[k].decode()
            for k in objects.irange(f"{ns}/", f"{ns}/\uffff")
            if not selector.empty
            and selector.matches(objects[k].labels)
            and objects[k].fields.get("status.phase") not in ("Succeeded", "Failed")
        ]
        old = pdb.get("status") or {}
        now = self.api.clock.now()
        live = {p["metadata"]["name"]: p for p in pods}
        disrupted = {
            name: ts
            for name, ts in (old.get("disruptedPods") or {}).items()
            if name in live
            and not live[name]["metadata"].get("deletionTimestamp")
            and now - parse_time(ts) < DELETION_TIMEOUT
        }
        counted = [p for p in pods if p["metadata"]["name"] not in disrupted]
        result = disruption_status(pdb, counted)
        healthy = sum(1 for p in counted if pod_is_healthy(p))
        allowed = max(0, healthy - result.desired_healthy)
        status: dict[str, Any] = {
            "observedGeneration": pdb["metadata"].get("generation", 1),
            "expectedPods": len(pods),
            "currentHealthy": healthy,
            "desiredHealthy": result.desired_healthy,
            "disruptionsAllowed": allowed,
        }
        if disrupted:
            status["disruptedPods"] = disrupted
        reason = "SufficientPods" if allowed > 0 else "InsufficientPods"
        previous = next(
            (c for c in old.get("conditions") or () if c.get("type") == "DisruptionAllowed"), None
        )
        value = "True" if allowed > 0 else "False"
        status["conditions"] = [
            {
                "type": "DisruptionAllowed",
                "status": value,
                "reason": reason,
                "message": "",
                "observedGeneration": status["observedGeneration"],
                "lastTransitionTime": (
                    previous["lastTransitionTime"]
                    if previous is not None and previous.get("status") == value
                    else self.api.clock.timestamp()
                ),
            }
        ]
        if disrupted:
            # re-check when the oldest disruption times out
            self.api.clock.call_later(DELETION_TIMEOUT.total_seconds(), self.enqueue, str(key))
        if status == old:
            return
        pdb["status"] = status
        self.api.update(PDBS, ns, current.name, pdb, subresource="status")
