"""The DaemonSet controller: one pod per eligible node, placed by the default scheduler.

As kube-controller-manager 1.31 (``pkg/controller/daemon``): a node *should run* a daemon pod
when it matches the template's nodeSelector and required node affinity and every NoSchedule and
NoExecute taint is tolerated, counting the tolerations every DaemonSet pod gets; a pod already
there *may continue running* while its NoExecute taints are tolerated (a new NoSchedule taint
only makes it "misscheduled"). Each pod targets its node through a required node affinity on
``metadata.name``; the scheduler binds it. At most 250 pods are created per sync
(BurstReplicas). Template changes roll out with RollingUpdate (maxUnavailable, default 1) or
wait for deletions (OnDelete). Pods whose node is gone are removed here (kube's pod GC does it).

Scale: the large scenario has a DaemonSet of 15,000 pods, so a sync must not decode every pod
and node. Nodes are kept as (labels, taints) from store events, eligibility is cached per
template and node generation, pods are summarised once per resourceVersion, and a big
DaemonSet is synced at most every few multiples of its own sync time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.nodeaffinity import pod_fits_node
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.control.deployment import template_hash
from kubeward.sim.control.events import NORMAL, WARNING, ObjectRef
from kubeward.sim.control.podcontrol import (
    PODS,
    PodOwnerController,
    PodsByOwner,
    owner_reference,
    pod_from_template,
    ready_since,
)
from kubeward.sim.control.scheduling.filters import first_untolerated
from kubeward.sim.control.scheduling.nodetable import node_taints
from kubeward.sim.store.objects import StoredObject, StoreEvent

DAEMONSETS = REGISTRY.get("apps", "v1", "daemonsets")
HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
BURST_REPLICAS = 250
# A sync of a DaemonSet that took t seconds is not repeated for THROTTLE * t (wall) seconds.
THROTTLE = 4.0
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

Taints = tuple[tuple[str, str, str], ...]


@dataclass(slots=True, frozen=True)
class NodeInfo:
    labels: dict[str, str]
    taints: Taints  # NoSchedule and NoExecute taints only: the ones that matter to daemons


@dataclass(slots=True, frozen=True)
class PodInfo:
    """What a sync needs of one daemon pod, derived once per pod resourceVersion."""

    rv: int
    name: str
    namespace: str
    node: str
    phase: str
    ready: datetime | None
    revision: str
    created: str
    deleting: bool


@dataclass(slots=True)
class Placement:
    """Where a template's pods belong, for one generation of the node cache."""

    signature: str
    node_generation: int
    should_run: set[str]
    may_continue: set[str]


class DaemonSetController(PodOwnerController):
    name = "daemonset-controller"
    owner_key = ("apps", "daemonsets")
    watches = (owner_key, ("", "pods"), ("", "nodes"))

    def __init__(self, api: ObjectAPI, pods: PodsByOwner) -> None:
        super().__init__(api, pods, "daemonset-controller")
        self._nodes: dict[str, NodeInfo] = {}
        self._node_generation = 0
        self._placements: dict[str, Placement] = {}
        self._pod_info: dict[str, PodInfo] = {}
        self._not_before: dict[str, float] = {}  # DaemonSet key -> wall time of the next sync
        self._delayed: set[str] = set()
        self._revisions: dict[str, tuple[int, str]] = {}  # key -> (generation, template hash)

    # -- informer side --------------------------------------------------------------------------

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        if event.storage_key == ("", "nodes"):
            return self._on_node(event)
        if event.storage_key == ("", "pods") and event.type == "DELETED":
            self._pod_info.pop(event.obj.key, None)
        keys = super().keys_for(event)
        if event.storage_key == ("", "pods"):
            return [k for k in keys if self._due(str(k))]
        return keys

    def _on_node(self, event: StoreEvent) -> list[Hashable]:
        name = event.obj.name
        if event.type == "DELETED":
            self._nodes.pop(name, None)
        else:
            node = event.obj.decode()
            info = NodeInfo(
                labels=dict(event.obj.labels),
                taints=node_taints(node.get("spec") or {}, ("NoSchedule", "NoExecute")),
            )
            if self._nodes.get(name) == info:
                return []  # heartbeats and status changes do not move daemons
            self._nodes[name] = info
        self._node_generation += 1
        return list(self._by_uid.values())

    def _due(self, key: str) -> bool:
        """Whether a pod change may sync its DaemonSet now; otherwise a sync is scheduled."""
        not_before = self._not_before.get(key)
        if not_before is None:
            return True
        wait = not_before - time.monotonic()
        if wait <= 0:
            return True
        if key not in self._delayed:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return True
            self._delayed.add(key)
            loop.call_later(wait, self._release, key)
        return False

    def _release(self, key: str) -> None:
        self._delayed.discard(key)
        self.enqueue(key)

    # -- sync -----------------------------------------------------------------------------------

    def reconcile(self, key: Hashable) -> None:
        started = time.monotonic()
        try:
            self._sync(str(key))
        finally:
            took = time.monotonic() - started
            self._not_before[str(key)] = time.monotonic() + min(THROTTLE * took, 2.0)

    def _sync(self, key: str) -> None:
        obj = self.store.get(("apps", "daemonsets"), key)
        if obj is None or obj.deleting:
            self._placements.pop(key, None)
            self._not_before.pop(key, None)
            self._revisions.pop(key, None)
            return
        ds = obj.decode()
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        generation = ds["metadata"].get("generation", 1)
        cached = self._revisions.get(key)
        if cached is None or cached[0] != generation:
            cached = self._revisions[key] = (generation, template_hash(template))
        revision = cached[1]
        place = self._placement(key, template, revision)
        ref = ObjectRef.of(ds, "DaemonSet")
        by_node: dict[str, list[PodInfo]] = {}
        for pod_obj in self.pods.pods(obj.uid):
            info = self._info(pod_obj)
            if info.deleting:
                continue
            if info.phase in ("Failed", "Succeeded"):
                self._replace_finished(ds, info, ref)
                continue
            by_node.setdefault(info.node, []).append(info)
        missing = sorted(place.should_run - by_node.keys())
        for node in missing[:BURST_REPLICAS]:
            self._create(ds, template, node, revision, ref)
        if len(missing) > BURST_REPLICAS:
            self.enqueue(key)  # the next burst after the rest of the loop had a turn
        for node, pods in by_node.items():
            if node not in place.may_continue:
                for pod in pods:
                    self._delete(ds, pod, ref)
            elif len(pods) > 1:
                for pod in sorted(pods, key=lambda p: p.created)[1:]:
                    self._delete(ds, pod, ref)
        self._roll(ds, by_node, place, revision, ref)
        self._update_status(ds, by_node, place, revision)

    def _placement(self, key: str, template: dict[str, Any], revision: str) -> Placement:
        cached = self._placements.get(key)
        if (
            cached is not None
            and cached.signature == revision
            and cached.node_generation == self._node_generation
        ):
            return cached
        pod_spec = template.get("spec") or {}
        tolerations = list(pod_spec.get("tolerations") or []) + DEFAULT_TOLERATIONS
        if pod_spec.get("hostNetwork"):
            tolerations.append(HOST_NETWORK_TOLERATION)
        should_run: set[str] = set()
        may_continue: set[str] = set()
        verdicts: dict[Taints, tuple[bool, bool]] = {}  # few distinct taint sets: memoise
        for name, node in self._nodes.items():
            if not pod_fits_node(pod_spec, name, node.labels):
                continue
            verdict = verdicts.get(node.taints)
            if verdict is None:
                untolerated = first_untolerated(tolerations, node.taints)
                no_execute = tuple(t for t in node.taints if t[2] == "NoExecute")
                verdict = (
                    untolerated is None,
                    first_untolerated(tolerations, no_execute) is None,
                )
                verdicts[node.taints] = verdict
            if verdict[0]:
                should_run.add(name)
            if verdict[1]:
                may_continue.add(name)
        place = Placement(revision, self._node_generation, should_run, may_continue)
        self._placements[key] = place
        return place

    def _info(self, pod_obj: StoredObject) -> PodInfo:
        info = self._pod_info.get(pod_obj.key)
        if info is not None and info.rv == pod_obj.rv:
            return info
        pod = pod_obj.decode()
        info = PodInfo(
            rv=pod_obj.rv,
            name=pod_obj.name,
            namespace=pod_obj.namespace,
            node=_target_node(pod),
            phase=(pod.get("status") or {}).get("phase", "Pending"),
            ready=ready_since(pod),
            revision=pod_obj.labels.get(HASH_LABEL, ""),
            created=pod["metadata"].get("creationTimestamp", ""),
            deleting=pod_obj.deleting,
        )
        self._pod_info[pod_obj.key] = info
        return info

    # -- pods -----------------------------------------------------------------------------------

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
        # util.ReplaceDaemonSetPodNodeNameNodeAffinity: one term, the node's name only.
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
            ]
        }
        try:
            pod = self.api.create(PODS, ds["metadata"]["namespace"], body)
        except st.StatusError as exc:
            self.recorder.event(ref, WARNING, "FailedCreate", f"Error creating: {exc.message}")
            return
        self.recorder.event(ref, NORMAL, "SuccessfulCreate", f"Created pod: {pod.name}")

    def _replace_finished(self, ds: dict[str, Any], pod: PodInfo, ref: ObjectRef) -> None:
        """A daemon pod that ended is deleted, and recreated by the next sync."""
        if pod.phase == "Failed":
            self.recorder.event(
                ref,
                WARNING,
                "FailedDaemonPod",
                f"Found failed daemon pod {pod.namespace}/{pod.name} on node {pod.node}, "
                "will try to kill it",
            )
        else:
            self.recorder.event(
                ref,
                NORMAL,
                "SucceededDaemonPod",
                f"Found succeeded daemon pod {pod.namespace}/{pod.name} on node {pod.node}, "
                "will try to delete it",
            )
        self._delete(ds, pod, ref)

    def _delete(self, ds: dict[str, Any], pod: PodInfo, ref: ObjectRef) -> None:
        assert PODS is not None
        try:
            self.api.delete(PODS, pod.namespace, pod.name, DeleteOptions())
        except st.StatusError as exc:
            if exc.code != 404:
                raise
            return
        self.recorder.event(ref, NORMAL, "SuccessfulDelete", f"Deleted pod: {pod.name}")

    def _roll(
        self,
        ds: dict[str, Any],
        by_node: dict[str, list[PodInfo]],
        place: Placement,
        revision: str,
        ref: ObjectRef,
    ) -> None:
        strategy = ds["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return  # OnDelete: new pods only where old ones were deleted
        max_unavailable = _max_unavailable(strategy, len(place.should_run))
        unavailable = sum(
            1 for n in place.should_run if not any(p.ready for p in by_node.get(n, ()))
        )
        old = [
            p
            for n in sorted(place.should_run)
            for p in by_node.get(n, ())
            if p.revision != revision
        ]
        # Unready old pods first: replacing them costs no availability.
        old.sort(key=lambda p: p.ready is not None)
        for pod in old:
            if pod.ready is not None:
                if unavailable >= max_unavailable:
                    break
                unavailable += 1
            self._delete(ds, pod, ref)

    def _update_status(
        self,
        ds: dict[str, Any],
        by_node: dict[str, list[PodInfo]],
        place: Placement,
        revision: str,
    ) -> None:
        assert DAEMONSETS is not None
        now = self.api.clock.now()
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        desired = current = ready = available = updated = misscheduled = 0
        for node, pods in by_node.items():
            if node not in place.should_run:
                misscheduled += 1
                continue
            current += 1
            newest = max(pods, key=lambda p: p.created)
            if newest.ready is not None:
                ready += 1
                if min_ready <= 0 or (now - newest.ready).total_seconds() >= min_ready:
                    available += 1
            if any(p.revision == revision for p in pods):
                updated += 1
        desired = len(place.should_run)
        status = {
            "currentNumberScheduled": current,
            "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "numberUnavailable": desired - available,
        }
        # omitempty in the API for the last three
        for k in ("updatedNumberScheduled", "numberAvailable", "numberUnavailable"):
            if not status[k]:
                del status[k]
        old = {k: v for k, v in (ds.get("status") or {}).items() if k != "collisionCount"}
        if status == old:
            return
        if "collisionCount" in (ds.get("status") or {}):
            status["collisionCount"] = ds["status"]["collisionCount"]
        ds["status"] = status
        self.api.update(
            DAEMONSETS,
            ds["metadata"]["namespace"],
            ds["metadata"]["name"],
            ds,
            subresource="status",
        )


def _target_node(pod: dict[str, Any]) -> str:
    """util.GetTargetNodeName: the bound node, else the node of the name affinity."""
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
        # intstr.GetScaledValueFromIntOrPercent rounds up for maxUnavailable in DaemonSets
        return max(1, -(-int(value[:-1]) * total // 100))
    return max(1, int(value))
