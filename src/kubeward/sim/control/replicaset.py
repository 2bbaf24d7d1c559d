"""The ReplicaSet controller: keep ``spec.replicas`` active pods, report their state."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.kube.selectors import SelectorError, label_selector_from_dict
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.control.adoption import Orphans, OwnerSelectors, adopt, release
from kubeward.sim.control.events import NORMAL, WARNING, ObjectRef
from kubeward.sim.control.podcontrol import (
    PODS,
    PodOwnerController,
    PodsByOwner,
    available_since,
    deletion_rank,
    is_active,
    owner_reference,
    pod_from_template,
)
from kubeward.sim.store.objects import StoreEvent

REPLICASETS = REGISTRY.get("apps", "v1", "replicasets")
# kube-controller-manager creates at most this many pods per sync (burstReplicas).
BURST_REPLICAS = 500
MAX_RETRY_SECONDS = 300.0


class ReplicaSetController(PodOwnerController):
    name = "replicaset-controller"

    owner_key = ("apps", "replicasets")
    watches = (owner_key, ("", "pods"))

    def __init__(self, api: ObjectAPI, pods: PodsByOwner) -> None:
        super().__init__(api, pods, "replicaset-controller")
        self._selectors = OwnerSelectors()
        self._orphans = Orphans(("", "pods"))
        self._failures: dict[str, int] = {}  # consecutive failed syncs per ReplicaSet key

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        obj = event.obj
        if event.storage_key == self.owner_key:
            if event.type == "DELETED":
                self._selectors.remove(obj.namespace, obj.name)
                self._failures.pop(obj.key, None)
            else:
                spec = obj.decode().get("spec") or {}
                self._selectors.set(obj.namespace, obj.name, spec.get("selector"))
        keys = super().keys_for(event)
        if event.storage_key == ("", "pods") and self._orphans.observe(event) and is_active(obj):
            keys = [*keys, *self._selectors.owners_for(obj.namespace, obj.labels)]
        return keys

    def reconcile(self, key: Hashable) -> None:
        assert REPLICASETS is not None and PODS is not None
        obj = self.store.get(("apps", "replicasets"), str(key))
        if obj is None or obj.deleting:
            return
        rs = obj.decode()
        spec = rs.get("spec") or {}
        self._claim(rs)
        owned = self.pods.pods(obj.uid)
        active = [p for p in owned if is_active(p)]
        want = int(spec.get("replicas", 1))
        diff = want - len(active)
        failure = None
        if diff > 0:
            failure = self._create(rs, min(diff, BURST_REPLICAS))
            if failure is not None:
                self._retry_later(str(key))
            else:
                self._failures.pop(str(key), None)
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

    def _retry_later(self, key: str) -> None:
        """Failed creates are retried with the work queue's exponential backoff (capped)."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.api.clock.call_later(min(2.0**n, MAX_RETRY_SECONDS), self.enqueue, key)

    def _claim(self, rs: dict[str, Any]) -> None:
        """Adopt matching orphans, release owned pods the selector no longer matches
        (PodControllerRefManager.ClaimPods)."""
        assert PODS is not None
        meta = rs["metadata"]
        selector = self._selectors.get(meta["namespace"], meta["name"])
        if selector is None:
            return
        for pod in self.pods.pods(meta["uid"]):
            if not selector.matches(pod.labels) and not pod.deleting:
                release(self.api, PODS, pod, meta["uid"])
        owner = owner_reference(rs, "ReplicaSet", "apps/v1")
        for key in self._orphans.keys(meta["namespace"]):
            orphan = self.store.get(("", "pods"), key)
            if orphan is not None and is_active(orphan) and selector.matches(orphan.labels):
                adopt(self.api, PODS, orphan, owner)

    def _create(self, rs: dict[str, Any], count: int) -> str | None:
        """Create ``count`` pods in slow-start batches of 1, 2, 4, ...: a template that fails
        fails once, not ``count`` times (controller.slowStartBatch)."""
        assert PODS is not None
        ref = ObjectRef.of(rs, "ReplicaSet")
        owner = owner_reference(rs, "ReplicaSet", "apps/v1")
        template = (rs.get("spec") or {}).get("template") or {}
        ns = rs["metadata"]["namespace"]
        remaining, batch, failure = count, 1, None
        while remaining > 0 and failure is None:
            size = min(batch, remaining)
            for _ in range(size):
                body = pod_from_template(
                    template, owner, generate_name=f"{rs['metadata']['name']}-"
                )
                try:
                    pod = self.api.create(PODS, ns, body)
                except st.StatusError as exc:
                    failure = f"Error creating: {exc.message}"
                    self.recorder.event(ref, WARNING, "FailedCreate", failure)
                    continue
                self.recorder.event(ref, NORMAL, "SuccessfulCreate", f"Created pod: {pod.name}")
            remaining -= size
            batch *= 2
        return failure

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
            replicas += 1
            if selector is None or all(obj.labels.get(k) == v for k, v in template_labels.items()):
                fully_labeled += 1
            since = self.pods.ready_since(obj)
            if since is not None:
                ready += 1
                if available_since(since, min_ready, now):
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
        old_conditions = old_status.get("conditions") or []
        has_failure = any(c["type"] == "ReplicaFailure" for c in old_conditions)
        # An existing failure condition stays as it is while creates keep failing.
        conditions = [c for c in old_conditions if c["type"] != "ReplicaFailure" or failure]
        if failure and not has_failure:
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
