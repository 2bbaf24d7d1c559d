"""The ReplicaSet controller: keep ``spec.replicas`` active pods, report their state."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.kube.selectors import SelectorError, label_selector_from_dict
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.control.events import NORMAL, WARNING, ObjectRef
from kubeward.sim.control.podcontrol import (
    PODS,
    PodOwnerController,
    PodsByOwner,
    deletion_rank,
    is_active,
    is_available,
    owner_reference,
    pod_from_template,
    ready_since,
)

REPLICASETS = REGISTRY.get("apps", "v1", "replicasets")
# kube-controller-manager creates at most this many pods per sync (burstReplicas).
BURST_REPLICAS = 500


class ReplicaSetController(PodOwnerController):
    name = "replicaset-controller"

    owner_key = ("apps", "replicasets")

    def __init__(self, api: ObjectAPI, pods: PodsByOwner) -> None:
        super().__init__(api, pods, "replicaset-controller")

    def reconcile(self, key: Hashable) -> None:
        assert REPLICASETS is not None and PODS is not None
        obj = self.store.get(("apps", "replicasets"), str(key))
        if obj is None or obj.deleting:
            return
        rs = obj.decode()
        spec = rs.get("spec") or {}
        owned = self.pods.pods(obj.uid)
        active = [p for p in owned if is_active(p)]
        want = int(spec.get("replicas", 1))
        diff = want - len(active)
        failure = None
        if diff > 0:
            failure = self._create(rs, min(diff, BURST_REPLICAS))
            if diff > BURST_REPLICAS:
                self.enqueue(key)
        elif diff < 0:
            victims = sorted((p.decode() for p in active), key=deletion_rank)[:-diff]
            for pod in victims:
                name = pod["metadata"]["name"]
                try:
                    self.api.delete(PODS, obj.namespace, name, DeleteOptions())
                except st.StatusError as exc:
                    if exc.code != 404:
                        raise
                    continue
                self.recorder.event(
                    ObjectRef.of(rs, "ReplicaSet"),
                    NORMAL,
                    "SuccessfulDelete",
                    f"Deleted pod: {name}",
                )
        self._update_status(obj.namespace, rs, failure)

    def _create(self, rs: dict[str, Any], count: int) -> str | None:
        assert PODS is not None
        ref = ObjectRef.of(rs, "ReplicaSet")
        owner = owner_reference(rs, "ReplicaSet", "apps/v1")
        template = (rs.get("spec") or {}).get("template") or {}
        ns = rs["metadata"]["namespace"]
        for _ in range(count):
            body = pod_from_template(template, owner, generate_name=f"{rs['metadata']['name']}-")
            try:
                pod = self.api.create(PODS, ns, body)
            except st.StatusError as exc:
                message = f"Error creating: {exc.message}"
                self.recorder.event(ref, WARNING, "FailedCreate", message)
                return message
            self.recorder.event(ref, NORMAL, "SuccessfulCreate", f"Created pod: {pod.name}")
        return None

    def _update_status(self, namespace: str, rs: dict[str, Any], failure: str | None) -> None:
        assert REPLICASETS is not None
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        try:
            selector = label_selector_from_dict(spec.get("selector"))
        except SelectorError:
            selector = None
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        now = self.api.clock.now()
        replicas = ready = available = fully_labeled = 0
        pending_availability = False
        for obj in self.pods.pods(rs["metadata"]["uid"]):
            if not is_active(obj):
                continue
            pod = obj.decode()
            replicas += 1
            if selector is None or all(obj.labels.get(k) == v for k, v in template_labels.items()):
                fully_labeled += 1
            if ready_since(pod) is not None:
                ready += 1
                if is_available(pod, min_ready, now):
                    available += 1
                else:
                    pending_availability = True
        old_status = rs.get("status") or {}
        status: dict[str, Any] = {
            "replicas": replicas,
            "fullyLabeledReplicas": fully_labeled,
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        conditions = [
            c for c in old_status.get("conditions") or () if c["type"] != "ReplicaFailure"
        ]
        if failure:
            conditions.append(
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": self.api.clock.timestamp(),
                    "reason": "FailedCreate",
                    "message": failure,
                }
            )
        if conditions:
            status["conditions"] = conditions
        # Kubernetes omits zero counts (omitempty).
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if pending_availability:
            self.api.clock.call_later(min_ready, self.enqueue, _key(rs))
        if status == old_status:
            return
        rs["status"] = status
        self.api.update(REPLICASETS, namespace, rs["metadata"]["name"], rs, subresource="status")


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
