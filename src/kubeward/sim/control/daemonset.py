"""The DaemonSet controller: one pod per eligible node, placed by the default scheduler.

As kube-controller-manager 1.31: a node is eligible when it matches the template's nodeSelector
and required node affinity and its NoSchedule/NoExecute taints are tolerated (with the
tolerations every DaemonSet pod gets). Each pod targets its node through a required node
affinity on ``metadata.name``; the scheduler binds it. Template changes roll out with
RollingUpdate (maxUnavailable, default 1) or wait for deletion (OnDelete).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.control.deployment import template_hash
from kubeward.sim.control.events import NORMAL, ObjectRef
from kubeward.sim.control.podcontrol import (
    PODS,
    PodOwnerController,
    PodsByOwner,
    is_available,
    owner_reference,
    pod_from_template,
    ready_since,
)
from kubeward.sim.control.scheduling.filters import first_untolerated
from kubeward.sim.store.objects import StoredObject, StoreEvent

DAEMONSETS = REGISTRY.get("apps", "v1", "daemonsets")
HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
# Tolerations the DaemonSet controller adds to every pod (util.AddOrUpdateDaemonPodTolerations).
DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]
HOST_NETWORK_TOLERATION = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}


class DaemonSetController(PodOwnerController):
    name = "daemonset-controller"
    owner_key = ("apps", "daemonsets")

    def __init__(self, api: ObjectAPI, pods: PodsByOwner) -> None:
        super().__init__(api, pods, "daemonset-controller")

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        if event.storage_key == ("", "nodes"):
            # New, removed or relabelled nodes change where daemons belong; heartbeats do not.
            if (
                event.prev is None
                or event.type == "DELETED"
                or event.prev.labels != event.obj.labels
            ):
                return list(self._by_uid.values())
            return []
        return super().keys_for(event)

    def reconcile(self, key: Hashable) -> None:
        assert DAEMONSETS is not None and PODS is not None
        obj = self.store.get(("apps", "daemonsets"), str(key))
        if obj is None or obj.deleting:
            return
        ds = obj.decode()
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        revision = template_hash(template)
        eligible = {
            n.name
            for n in self.store.resource(("", "nodes")).objects.values()
            if _eligible(n, template)
        }
        by_node: dict[str, list[dict[str, Any]]] = {}
        for pod_obj in self.pods.pods(obj.uid):
            pod = pod_obj.decode()
            if pod["metadata"].get("deletionTimestamp"):
                continue
            if (pod.get("status") or {}).get("phase") == "Failed":
                self._delete(ds, pod)  # a failed daemon pod is replaced
                continue
            by_node.setdefault(_target_node(pod), []).append(pod)
        ref = ObjectRef.of(ds, "DaemonSet")
        for node in sorted(eligible - by_node.keys()):
            self._create(ds, template, node, revision, ref)
        for node, pods in by_node.items():
            if node not in eligible:
                for pod in pods:
                    self._delete(ds, pod)
            elif len(pods) > 1:
                for pod in sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"])[1:]:
                    self._delete(ds, pod)
        self._roll(ds, by_node, eligible, revision)
        self._update_status(ds, by_node, eligible, revision)

    def _create(
        self, ds: dict[str, Any], template: dict[str, Any], node: str, revision: str, ref: ObjectRef
    ) -> None:
        assert PODS is not None
        body = pod_from_template(
            template,
            owner_reference(ds, "DaemonSet", "apps/v1"),
            generate_name=f"{ds['metadata']['name']}-",
        )
        labels = body["metadata"]["labels"]
        labels[HASH_LABEL] = revision
        labels[GENERATION_LABEL] = str(ds["metadata"].get("generation", 1))
        spec = body["spec"]
        tolerations = list(spec.get("tolerations") or [])
        wanted = DEFAULT_TOLERATIONS + (
            [HOST_NETWORK_TOLERATION] if spec.get("hostNetwork") else []
        )
        for t in wanted:
            if t not in tolerations:
                tolerations.append(t)
        spec["tolerations"] = tolerations
        affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
            ]
        }
        try:
            pod = self.api.create(PODS, ds["metadata"]["namespace"], body)
        except st.StatusError as exc:
            self.recorder.event(ref, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            return
        self.recorder.event(ref, NORMAL, "SuccessfulCreate", f"Created pod: {pod.name}")

    def _delete(self, ds: dict[str, Any], pod: dict[str, Any]) -> None:
        self.delete_pod(
            pod, ObjectRef.of(ds, "DaemonSet"), f"Deleted pod: {pod['metadata']['name']}"
        )

    def _roll(
        self,
        ds: dict[str, Any],
        by_node: dict[str, list[dict[str, Any]]],
        eligible: set[str],
        revision: str,
    ) -> None:
        strategy = ds["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        max_unavailable = _max_unavailable(strategy, len(eligible))
        unavailable = sum(
            1 for n in eligible if not any(ready_since(p) for p in by_node.get(n, []))
        )
        old = [
            p
            for n in sorted(eligible)
            for p in by_node.get(n, [])
            if p["metadata"]["labels"].get(HASH_LABEL) != revision
        ]
        # Unready old pods first: replacing them costs no availability.
        old.sort(key=lambda p: ready_since(p) is not None)
        for pod in old:
            if ready_since(pod) is not None and unavailable >= max_unavailable:
                break
            self._delete(ds, pod)
            if ready_since(pod) is not None:
                unavailable += 1

    def _update_status(
        self,
        ds: dict[str, Any],
        by_node: dict[str, list[dict[str, Any]]],
        eligible: set[str],
        revision: str,
    ) -> None:
        assert DAEMONSETS is not None
        now = self.api.clock.now()
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        scheduled = [n for n in eligible if by_node.get(n)]
        ready = [n for n in scheduled if any(ready_since(p) for p in by_node[n])]
        available = [
            n for n in scheduled if any(is_available(p, min_ready, now) for p in by_node[n])
        ]
        status = {
            "desiredNumberScheduled": len(eligible),
            "currentNumberScheduled": len(scheduled),
            "numberMisscheduled": sum(1 for n in by_node if n not in eligible),
            "numberReady": len(ready),
            "numberAvailable": len(available),
            "numberUnavailable": len(eligible) - len(available),
            "updatedNumberScheduled": sum(
                1
                for n in scheduled
                if any(p["metadata"]["labels"].get(HASH_LABEL) == revision for p in by_node[n])
            ),
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        status = {
            k: v
            for k, v in status.items()
            if v
            or k
            in (
                "desiredNumberScheduled",
                "currentNumberScheduled",
                "numberMisscheduled",
                "numberReady",
            )
        }
        if status == (ds.get("status") or {}):
            return
        ds["status"] = status
        self.api.update(
            DAEMONSETS,
            ds["metadata"]["namespace"],
            ds["metadata"]["name"],
            ds,
            subresource="status",
        )


def _eligible(node: StoredObject, template: dict[str, Any]) -> bool:
    spec = template.get("spec") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if node.labels.get(k) != v:
            return False
    n = node.decode()
    terms = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms")
    if terms and not any(_term_matches(t, n) for t in terms):
        return False
    taints = tuple(
        (t.get("key", ""), t.get("value", "") or "", t.get("effect", ""))
        for t in (n.get("spec") or {}).get("taints") or ()
        # taints the node lifecycle controller adds for conditions never keep daemons away
        if not str(t.get("key", "")).startswith("node.kubernetes.io/")
    )
    tolerations = list(spec.get("tolerations") or []) + DEFAULT_TOLERATIONS
    return first_untolerated(tolerations, taints) is None


def _term_matches(term: dict[str, Any], node: dict[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    for e in term.get("matchExpressions") or ():
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        present = key in labels
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    for f in term.get("matchFields") or ():
        hit = node["metadata"]["name"] in (f.get("values") or [])
        if (f.get("operator") == "In") != hit:
            return False
    return bool(term.get("matchExpressions") or term.get("matchFields"))


def _target_node(pod: dict[str, Any]) -> str:
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    terms = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms") or []
    for term in terms:
        for f in term.get("matchFields") or ():
            if f.get("key") == "metadata.name" and f.get("values"):
                return str(f["values"][0])
    return ""


def _max_unavailable(strategy: dict[str, Any], total: int) -> int:
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1)
    if isinstance(value, str) and value.endswith("%"):
        return max(1, int(value[:-1]) * total // 100)
    return max(1, int(value))
