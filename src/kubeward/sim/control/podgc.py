"""The pod garbage collector (kube-controller-manager's podgc, Kubernetes 1.31), every 20 s:

- **orphaned pods**: a pod bound to a node that no longer exists (``kubectl delete node``, a
  scaled-down pool) is marked ``Failed`` with a ``DisruptionTarget`` condition (reason
  ``DeletionByPodGC``, "PodGC: node no longer exists") and force-deleted, once the node has
  been missing for the 40 s quarantine (a node may be re-registered meanwhile);
- **terminating pods that will never finish**: one never scheduled, or one on a NotReady node
  tainted ``node.kubernetes.io/out-of-service``, is force-deleted;
- **too many finished pods**: beyond ``--terminated-pod-gc-threshold`` (12,500) Succeeded and
  Failed pods, the oldest are deleted, evicted ones first.

Nothing else deletes such pods: no kubelet is left to finish them.
"""

from __future__ import annotations

import logging
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.store.objects import StoredObject

log = logging.getLogger("kubeward.sim.podgc")

PODS = REGISTRY.get("", "v1", "pods")
NODES_KEY = ("", "nodes")
PODS_KEY = ("", "pods")
GC_PERIOD = 20.0  # gcCheckPeriod
QUARANTINE = 40.0  # quarantineTime: how long a node must be missing
TERMINATED_THRESHOLD = 12500  # --terminated-pod-gc-threshold's default
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
_TERMINAL = ("Succeeded", "Failed")


class PodGC:
    name = "pod-garbage-collector"

    def __init__(self, api: ObjectAPI, terminated_threshold: int = TERMINATED_THRESHOLD) -> None:
        self.api = api
        self.store = api.store
        self.clock = api.clock
        self.terminated_threshold = terminated_threshold
        self._missing_since: dict[str, float] = {}  # node name -> when first seen missing

    async def run(self) -> None:
        while True:
            await self.clock.sleep(GC_PERIOD)
            try:
                self.collect()
            except Exception:
                log.exception("event=podgc_pass_failed")

    def collect(self) -> None:
        """One pass, in the controller's order."""
        pods = list(self.store.resource(PODS_KEY).objects.values())
        self._gc_terminated(pods)
        self._gc_terminating_out_of_service(pods)
        self._gc_orphaned(pods)
        self._gc_unscheduled_terminating(pods)

    # -- the four collections -----------------------------------------------------------

    def _gc_terminated(self, pods: list[StoredObject]) -> None:
        if self.terminated_threshold <= 0:
            return
        finished = [p for p in pods if p.fields.get("status.phase") in _TERMINAL]
        excess = len(finished) - self.terminated_threshold
        if excess <= 0:
            return
        decoded = [p.decode() for p in finished]
        decoded.sort(key=_eviction_then_age)
        for pod in decoded[:excess]:
            self._delete(pod)

    def _gc_terminating_out_of_service(self, pods: list[StoredObject]) -> None:
        nodes = self.store.resource(NODES_KEY).objects
        for pod in pods:
            node = nodes.get(pod.fields.get("spec.nodeName") or "")
            if pod.deleting and node is not None and _out_of_service(node.decode()):
                self._fail_and_delete(pod.decode(), None)

    def _gc_orphaned(self, pods: list[StoredObject]) -> None:
        nodes = self.store.resource(NODES_KEY).objects
        now = self.clock.elapsed()
        missing = {
            name for p in pods if (name := p.fields.get("spec.nodeName")) and name not in nodes
        }
        self._missing_since = {n: self._missing_since.get(n, now) for n in missing}
        expired = {n for n, since in self._missing_since.items() if now - since >= QUARANTINE}
        for pod in pods:
            if pod.fields.get("spec.nodeName") in expired:
                self._fail_and_delete(
                    pod.decode(),
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "DeletionByPodGC",
                        "message": "PodGC: node no longer exists",
                    },
                )

    def _gc_unscheduled_terminating(self, pods: list[StoredObject]) -> None:
        for pod in pods:
            if pod.deleting and not pod.fields.get("spec.nodeName"):
                self._fail_and_delete(pod.decode(), None)

    # -- writes ---------------------------------------------------------------------------

    def _fail_and_delete(self, pod: dict[str, Any], condition: dict[str, str] | None) -> None:
        """markFailedAndDeletePodWithCondition: a pod not yet finished is set Failed (no
        kubelet will), with the condition, then deleted at once."""
        assert PODS is not None
        meta = pod["metadata"]
        status = pod.setdefault("status", {})
        if status.get("phase") not in _TERMINAL:
            status["phase"] = "Failed"
            if condition is not None:
                now = self.clock.timestamp()
                others = [
                    c for c in status.get("conditions") or [] if c.get("type") != condition["type"]
                ]
                status["conditions"] = [
                    *others,
                    {**condition, "lastProbeTime": None, "lastTransitionTime": now},
                ]
            try:
                self.api.update(PODS, meta["namespace"], meta["name"], pod, subresource="status")
            except st.StatusError as exc:
                log.info(
                    "event=podgc_status_failed pod=%s/%s reason=%s",
                    meta["namespace"],
                    meta["name"],
                    exc.reason,
                )
                return
        self._delete(pod)

    def _delete(self, pod: dict[str, Any]) -> None:
        assert PODS is not None
        meta = pod["metadata"]
        log.info("event=podgc_force_delete pod=%s/%s", meta["namespace"], meta["name"])
        try:
            self.api.delete(PODS, meta["namespace"], meta["name"], DeleteOptions(grace_period=0))
        except st.StatusError as exc:
            if exc.code != 404:
                log.info(
                    "event=podgc_delete_failed pod=%s/%s reason=%s",
                    meta["namespace"],
                    meta["name"],
                    exc.reason,
                )


def _out_of_service(node: dict[str, Any]) -> bool:
    """NotReady (or Unknown) and tainted out-of-service: its pods' volumes may be detached."""
    tainted = any(
        t.get("key") == OUT_OF_SERVICE for t in (node.get("spec") or {}).get("taints") or []
    )
    ready = next(
        (c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
        None,
    )
    return tainted and (ready is None or ready.get("status") != "True")


def _eviction_then_age(pod: dict[str, Any]) -> tuple[bool, str]:
    """byEvictionAndCreationTimestamp: evicted pods first, then the oldest."""
    evicted = (pod.get("status") or {}).get("reason") == "Evicted"
    return (not evicted, (pod.get("metadata") or {}).get("creationTimestamp") or "")
