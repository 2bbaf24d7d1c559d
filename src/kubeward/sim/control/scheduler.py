"""The default scheduler: binds pending pods to nodes, vectorised over all nodes with NumPy.

Pods wait in an active queue, highest priority first (``scheduling/activequeue.py``); each loop
turn schedules a batch of them. The request-independent filters (unschedulable, taints, node
affinity) are computed once per scheduling signature and node-table generation, so pods stamped
from one template cost one resource-fit pass each.
Unschedulable pods are retried with backoff (1 s doubling to 10 s, simulated) when the cluster
changes (a node added or changed beyond its heartbeat, a pod released, the pod itself updated),
and at least every 5 minutes, like kube-scheduler's unschedulable queue. Gated pods wait for
their schedulingGates to go. As kube-scheduler with its default percentageOfNodesToScore, big
clusters score only the first feasible nodes from a rotating start.

A pod no node can take may preempt pods of lower priority (DefaultPreemption, see
``scheduling/preemption.py``): the victims get a DisruptionTarget condition and are deleted
gracefully, the pod is nominated to the node (``status.nominatedNodeName``) and, once the
victims are gone, bound there. Nominated pods hold their requests on their node against pods of
equal or lower priority, as kube-scheduler's nominator does.

Not simulated: image locality.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from kubeward.aio import wait_event
from kubeward.kube import status as st
from kubeward.kube.priority import pod_priority, preempts
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.api.subresources import bind
from kubeward.sim.control.events import NORMAL, WARNING, EventRecorder, ObjectRef
from kubeward.sim.control.scheduling.activequeue import ActiveQueue, raw_priority
from kubeward.sim.control.scheduling.existinganti import (
    MSG_EXISTING_ANTI_AFFINITY,
    ExistingAntiAffinity,
)
from kubeward.sim.control.scheduling.filters import (
    MSG_NO_VICTIMS,
    MSG_NOT_HELPFUL,
    PodNeeds,
    StaticVerdict,
    fit_error_message,
    fit_mask,
    insufficient,
    node_affinity_mask,
    prefilter_message,
    score,
    static_filters,
)
from kubeward.sim.control.scheduling.hostports import MSG_NODE_PORTS, HostPorts
from kubeward.sim.control.scheduling.interpod import (
    MSG_AFFINITY_RULES,
    MSG_ANTI_AFFINITY_RULES,
    InterPodVerdict,
    interpod_filter,
)
from kubeward.sim.control.scheduling.interpodscore import ScoringTerms, interpod_score
from kubeward.sim.control.scheduling.nodetable import PODS as PODS_COLUMN
from kubeward.sim.control.scheduling.nodetable import NodeTable
from kubeward.sim.control.scheduling.preemption import (
    Budget,
    Candidate,
    Constraints,
    Victim,
    epoch,
    number_of_candidates,
    select_victims,
    statuses_message,
)
from kubeward.sim.control.scheduling.spread import (
    MSG_SPREAD,
    MSG_SPREAD_LABEL,
    SpreadCounts,
    SpreadVerdict,
    default_constraints,
    spread_filter,
    spread_score,
)
from kubeward.sim.control.scheduling.volumebinding import (
    MSG_BIND_CONFLICT,
    MSG_NODE_CONFLICT,
    VolumeVerdict,
    unbound_claims,
    volume_filter,
)
from kubeward.sim.control.volumes import CLAIMS
from kubeward.sim.store.objects import StoredObject, StoreEvent

log = logging.getLogger("kubeward.sim.scheduler")

PODS = REGISTRY.get("", "v1", "pods")
PDBS = ("policy", "poddisruptionbudgets")
SCHEDULER_NAME = "default-scheduler"
BATCH = 500
BACKOFF_INITIAL, BACKOFF_MAX, UNSCHEDULABLE_MAX = 1.0, 10.0, 300.0
_TERMINAL = ("Succeeded", "Failed")
# percentageOfNodesToScore (adaptive default): in big clusters kube-scheduler stops filtering once
# it has this many feasible nodes, starting where the previous pod's search stopped.
MIN_FEASIBLE_NODES, MIN_FEASIBLE_PERCENT = 100, 5
GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"
NOT_ELIGIBLE_NEVER = "preemption: not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = (
    "preemption: not eligible due to a terminating pod on the nominated node."
)
PREEMPTED_MESSAGE = "{scheduler}: preempting to accommodate a higher priority pod"
W_SPREAD = 2  # PodTopologySpread's score weight in the default profile
W_INTERPOD = 2  # InterPodAffinity's
_SPREAD_OWNERS = {
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
    "ReplicationController": ("", "replicationcontrollers"),
}


@dataclass
class SchedulerStats:
    bound: int = 0
    failed_attempts: int = 0
    decide_seconds: float = 0.0  # time spent filtering and scoring (not writing)
    preemptions: int = 0  # pods nominated after evicting victims
    victims: int = 0
    preemption_seconds: float = 0.0


@dataclass
class _Failure:
    """Why no node took the pod: what the FailedScheduling message and preemption need."""

    live: int
    reasons: Counter[str]
    unresolvable: np.ndarray  # per row: preemption cannot help
    needs: PodNeeds
    request: np.ndarray
    affinity_ok: np.ndarray | None
    reserved: np.ndarray | None  # requests nominated pods hold per row


@dataclass
class _Waiting:
    attempts: int
    next_try: float  # sim seconds (clock.elapsed())
    last_try: float
    cluster_version: int  # cluster change counter at the last attempt (-1: pod updated)
    priority: int  # spec.priority, for its place in the active queue


class Scheduler:
    name = "scheduler"

    def __init__(
        self, api: ObjectAPI, scoring: str = "LeastAllocated", seed: int | None = None
    ) -> None:
        if scoring not in ("LeastAllocated", "MostAllocated"):
            raise ValueError(f"scoring must be LeastAllocated or MostAllocated, not {scoring!r}")
        self.api = api
        self.scoring = scoring
        self.table = NodeTable()
        self.stats = SchedulerStats()
        self.recorder = EventRecorder(api, SCHEDULER_NAME, series=True)
        self._rng = np.random.default_rng(seed)
        self._active = ActiveQueue()
        self._waiting: dict[str, _Waiting] = {}
        self._bound: dict[str, tuple[int, np.ndarray]] = {}  # pod key -> (node row, request)
        # Priorities of bound pods, by pod and per row; requested resources per priority level
        # (same shape as table.requested) so preemption sums lower priorities in one pass.
        self._priority: dict[str, int] = {}
        self._row_pods: dict[int, set[str]] = {}
        self._by_priority: dict[int, np.ndarray] = {}
        self._priority_pods: Counter[int] = Counter()
        # pods nominated to a node by preemption: key -> (row, request, priority)
        self._nominated: dict[str, tuple[int, np.ndarray, int]] = {}
        self.spread = SpreadCounts()
        self.existing_anti = ExistingAntiAffinity()  # bound pods' required anti-affinity terms
        self.host_ports = HostPorts()  # bound pods' host ports
        self.scoring_terms = ScoringTerms()  # bound pods' terms that score incoming pods
        # node name -> pods bound to it before the scheduler saw the node
        self._orphans: dict[str, set[str]] = {}
        self._gated: dict[str, None] = {}  # gated pods whose condition is still to be written
        self._next_start = 0  # where the next feasible-node search starts (row)
        self._writing: str | None = None  # pod whose status the scheduler is writing
        self._owner_selectors: dict[str, dict[str, Any] | None] = {}  # controller uid -> selector
        self._needs: dict[bytes, PodNeeds] = {}
        self._static: dict[bytes, tuple[int, StaticVerdict]] = {}
        self._cluster_version = 0
        self._wakeup = asyncio.Event()
        api.store.add_listener(self._on_event, [("", "nodes"), ("", "pods"), CLAIMS])

    # -- informer side --------------------------------------------------------------------------

    def _on_event(self, event: StoreEvent) -> None:
        if event.storage_key == ("", "nodes"):
            self._on_node(event)
        elif event.storage_key == ("", "pods"):
            self._on_pod(event)
        elif event.storage_key == CLAIMS and self._waiting:
            self._cluster_changed()  # a claim bound or created may be what a pod waits for

    def _on_node(self, event: StoreEvent) -> None:
        name = event.obj.name
        if event.type == "DELETED":
            self.table.remove(name)
        elif not self.table.upsert(event.obj.decode()):
            return  # heartbeat-only change: nothing for pending pods
        self._cluster_changed()
        orphans = self._orphans.pop(name, None) if event.type != "DELETED" else None
        assert PODS is not None
        for key in orphans or ():
            obj = self.api.store.get(PODS.storage_key, key)
            if (
                obj is not None
                and key not in self._bound
                and obj.fields.get("status.phase", "") not in _TERMINAL
            ):
                self._account(obj, name)

    def _on_pod(self, event: StoreEvent) -> None:
        obj = event.obj
        key = obj.key
        node = obj.fields.get("spec.nodeName", "")
        terminal = obj.fields.get("status.phase", "") in _TERMINAL
        if event.type == "DELETED" or terminal:
            self._active.discard(key)
            self._waiting.pop(key, None)
            self._gated.pop(key, None)
            self._nominated.pop(key, None)
            if key in self._bound:
                self._release(key, obj.namespace)
            elif node:
                self._orphans.get(node, set()).discard(key)
            return
        if node:
            self._active.discard(key)
            self._waiting.pop(key, None)
            self._gated.pop(key, None)
            if self._nominated:
                self._nominated.pop(key, None)
            if key not in self._bound:
                self._account(obj, node)
            elif obj.deleting:
                # Terminating pods still hold their resources but no longer count for
                # topology spreading (as kube-scheduler's countPodsMatchSelector).
                self.spread.remove(obj.namespace, key)
            elif event.prev is not None and event.prev.labels != obj.labels:
                self.spread.remove(obj.namespace, key)
                self.spread.add(obj.namespace, key, self._bound[key][0], obj.labels)
            return
        if obj.deleting or key in self._active:
            return
        waiting = self._waiting.get(key)
        if waiting is not None:
            # Someone else updated the pending pod (tolerations, selector, labels): retry it
            # once its backoff expires, as an update moves a pod out of the unschedulable queue.
            if event.type == "MODIFIED" and key != self._writing:
                waiting.cluster_version = -1
                self._wakeup.set()
            return
        if obj.fields.get("spec.schedulerName", SCHEDULER_NAME) != SCHEDULER_NAME:
            return
        if b'"schedulingGates"' in obj.raw and (obj.decode()["spec"].get("schedulingGates")):
            self._gated[key] = None  # waits for its gates to be removed (a pod update)
            self._wakeup.set()
            return
        self._gated.pop(key, None)
        self._active.add(key, raw_priority(obj.raw))
        self._wakeup.set()

    def _account(self, obj: StoredObject, node: str) -> None:
        row = self.table.index.get(node)
        if row is None:
            # Bound to a node the scheduler has not seen (yet): counted once the node appears.
            self._orphans.setdefault(node, set()).add(obj.key)
            return
        pod = obj.decode()
        spec = pod.get("spec") or {}
        request = self.table.vector(self._needs_of(spec).request)
        self.table.add_request(row, request)
        self.existing_anti.add(obj.key, obj.namespace, row, pod)
        self.host_ports.add(obj.key, row, spec)
        self.scoring_terms.add(obj.key, obj.namespace, row, pod)
        self._bound[obj.key] = (row, request)
        priority = pod_priority(spec)
        self._priority[obj.key] = priority
        self._row_pods.setdefault(row, set()).add(obj.key)
        self._priority_pods[priority] += 1
        self._level(priority)[row, : len(request)] += request
        if not obj.deleting:
            self.spread.add(obj.namespace, obj.key, row, obj.labels)

    def _release(self, key: str, namespace: str) -> None:
        row, request = self._bound.pop(key)
        self.table.remove_request(row, request)
        self.existing_anti.remove(key)
        self.host_ports.remove(key)
        self.scoring_terms.remove(key)
        priority = self._priority.pop(key, 0)
        self._level(priority)[row, : len(request)] -= request
        self._priority_pods[priority] -= 1
        if self._priority_pods[priority] <= 0:
            del self._priority_pods[priority]
            del self._by_priority[priority]
        pods = self._row_pods.get(row)
        if pods is not None:
            pods.discard(key)
        self.spread.remove(namespace, key)
        self._cluster_changed()

    def _level(self, priority: int) -> np.ndarray:
        """Requests of bound pods of one priority, per row (grown with the node table)."""
        shape = self.table.requested.shape
        arr = self._by_priority.get(priority)
        if arr is None or arr.shape != shape:
            grown = np.zeros(shape, order="F")
            if arr is not None:
                grown[: arr.shape[0], : arr.shape[1]] = arr
            arr = self._by_priority[priority] = grown
        return arr

    def _cluster_changed(self) -> None:
        self._cluster_version += 1
        if self._waiting:
            self._wakeup.set()

    # -- scheduling loop ------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            self._requeue_waiting()
            self._mark_gated()
            if not self._active:
                self._wakeup.clear()
                # Wake for retries even without events: backoff expiry, 5-minute flush.
                await wait_event(self._wakeup, self.api.clock.real_seconds(BACKOFF_INITIAL))
                continue
            batch: list[str] = []
            while self._active and len(batch) < BATCH:
                batch.append(self._active.pop())
            for key in batch:
                try:
                    self.schedule_one(key)
                except st.StatusError as exc:  # pod changed or went away meanwhile
                    log.debug("schedule %s: %s", key, exc.reason)
                except Exception:
                    log.exception("event=schedule_failed pod=%s", key)
            await asyncio.sleep(0)

    def _requeue_waiting(self) -> None:
        if not self._waiting:
            return
        now = self.api.clock.elapsed()
        for key, w in list(self._waiting.items()):
            changed = w.cluster_version != self._cluster_version or w.cluster_version < 0
            if (changed and now >= w.next_try) or now - w.last_try >= UNSCHEDULABLE_MAX:
                del self._waiting[key]
                self._active.add(key, w.priority)

    def _mark_gated(self) -> None:
        """PodScheduled=False/SchedulingGated on gated pods (what kube-apiserver sets at create;
        written here, outside the store listener, when the API server has not)."""
        assert PODS is not None
        while self._gated:
            key = next(iter(self._gated))
            del self._gated[key]
            obj = self.api.store.get(PODS.storage_key, key)
            if obj is None or obj.fields.get("spec.nodeName"):
                continue
            pod = obj.decode()
            if not pod["spec"].get("schedulingGates"):
                continue
            conditions = (pod.get("status") or {}).get("conditions") or []
            if any(
                c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
                for c in conditions
            ):
                continue
            with contextlib.suppress(st.StatusError):
                self._write_condition(obj, pod, "SchedulingGated", GATED_MESSAGE)

    async def settle(self) -> None:
        while self._active:
            await asyncio.sleep(0.01)

    def schedule_one(self, key: str) -> str | None:
        """Try to place one pending pod. Returns the node name, or None if unschedulable."""
        assert PODS is not None
        obj = self.api.store.get(PODS.storage_key, key)
        if obj is None or obj.fields.get("spec.nodeName") or obj.deleting:
            return None
        pod = obj.decode()
        blocked = unbound_claims(self.api.store, pod, obj.namespace)
        if blocked:
            live = int(self.table.present[: len(self.table)].sum())
            self._unschedulable(obj, pod, prefilter_message(live, blocked))
            return None
        started = time.perf_counter()
        node, failure = self._decide(pod, obj.namespace, key)
        self.stats.decide_seconds += time.perf_counter() - started
        ref = ObjectRef.of(pod, "Pod")
        if node is not None:
            bind(self.api, obj.namespace, obj.name, {"target": {"kind": "Node", "name": node}})
            self.stats.bound += 1
            self.recorder.event(
                ref,
                NORMAL,
                "Scheduled",
                f"Successfully assigned {obj.namespace}/{obj.name} to {node}",
                action="Binding",
            )
            return node
        assert failure is not None
        message = fit_error_message(failure.live, failure.reasons)
        started = time.perf_counter()
        postfilter, nominated = self._post_filter(pod, obj, failure)
        self.stats.preemption_seconds += time.perf_counter() - started
        if postfilter:
            message = f"{message} {postfilter}"
        self._unschedulable(obj, pod, message, nominated)
        return None

    def _unschedulable(
        self,
        obj: StoredObject,
        pod: dict[str, Any],
        message: str,
        nominated: str | None = None,
    ) -> None:
        """Back off the pod, and tell it why (PodScheduled=False and FailedScheduling)."""
        key = obj.key
        self.stats.failed_attempts += 1
        prev = self._waiting.get(key)
        attempts = (prev.attempts if prev else 0) + 1
        now = self.api.clock.elapsed()
        self._waiting[key] = _Waiting(
            attempts,
            now + min(BACKOFF_INITIAL * 2 ** (attempts - 1), BACKOFF_MAX),
            now,
            self._cluster_version,
            pod_priority(pod.get("spec") or {}),
        )
        if nominated is None:
            self._nominated.pop(key, None)
        # Waiting is recorded first: the status write below echoes back as a pod event.
        self._write_condition(obj, pod, "Unschedulable", message, nominated=nominated)
        self.recorder.event(
            ObjectRef.of(pod, "Pod"),
            WARNING,
            "FailedScheduling",
            truncate_message(message),
            action="Scheduling",
        )

    def decide(self, pod: dict[str, Any], namespace: str) -> tuple[str | None, str]:
        """(node, "") or (None, the FitError part of the FailedScheduling message)."""
        key = f"{namespace}/{(pod.get('metadata') or {}).get('name', '')}"
        node, failure = self._decide(pod, namespace, key)
        if node is not None or failure is None:
            return node, ""
        return None, fit_error_message(failure.live, failure.reasons)

    def _decide(
        self, pod: dict[str, Any], namespace: str, key: str
    ) -> tuple[str | None, _Failure | None]:
        spec = pod.get("spec") or {}
        signature = _signature(spec)
        needs = self._needs_of(spec, signature)
        cached = self._static.get(signature)
        if cached is None or cached[0] != self.table.generation:
            cached = (self.table.generation, static_filters(self.table, needs))
            _bounded_put(self._static, signature, cached)
        verdict = cached[1]
        request = self.table.vector(needs.request)
        reserved = self._reserved(key, pod_priority(spec)) if self._nominated else None
        feasible = verdict.mask & fit_mask(self.table, request, reserved)
        ports = self.host_ports.mask(self.table, needs.host_ports)
        if ports is not None:
            feasible &= ports
        volumes = volume_filter(self.api.store, self.table, pod, namespace)
        if volumes is not None:
            feasible &= volumes.ok
        spread = None
        labels = (pod.get("metadata") or {}).get("labels") or {}
        affinity_ok: np.ndarray | None = None
        if needs.spread:
            affinity_ok = node_affinity_mask(self.table, needs)
            spread = spread_filter(
                self.table, self.spread, needs.spread, namespace, labels, affinity_ok
            )
            feasible &= spread.ok
        interpod = None
        if needs.pod_affinity or needs.pod_anti_affinity:
            interpod = interpod_filter(
                self.table,
                self.spread,
                needs.pod_affinity,
                needs.pod_anti_affinity,
                namespace,
                labels,
            )
            feasible &= interpod.ok
        existing = self.existing_anti.mask(self.table, namespace, labels)
        if existing is not None:
            feasible &= existing
        nominated = self._nominated.get(key) if self._nominated else None
        if nominated is not None and feasible[nominated[0]]:
            # As kube-scheduler, the nominated node is evaluated first and taken if it fits.
            return self.table.names[nominated[0]], None
        rows = self._nodes_to_score(feasible)
        if len(rows):
            scores = score(self.table, rows, request, self.scoring, needs)
            soft = needs.soft_spread
            if not needs.own_spread:
                selector = self._default_selector(pod, namespace)
                soft = default_constraints(selector) if selector else []
            if soft and len(rows) > 1:
                if affinity_ok is None and (needs.node_selector or needs.affinity_terms):
                    affinity_ok = node_affinity_mask(self.table, needs)
                scores += W_SPREAD * spread_score(
                    self.table,
                    self.spread,
                    soft,
                    namespace,
                    labels,
                    affinity_ok,
                    rows,
                    require_all=needs.own_spread,
                )
            if len(rows) > 1 and (
                needs.preferred_pod_affinity
                or needs.preferred_pod_anti_affinity
                or self.scoring_terms
            ):
                scores += W_INTERPOD * interpod_score(
                    self.table,
                    self.spread,
                    needs.preferred_pod_affinity,
                    needs.preferred_pod_anti_affinity,
                    self.scoring_terms,
                    namespace,
                    labels,
                    rows,
                )
            best = rows[scores == scores.max()]
            return self.table.names[int(best[self._rng.integers(len(best))])], None
        return None, self._failure(
            verdict, request, ports, volumes, spread, interpod, existing, needs, reserved
        )

    def _reserved(self, key: str, priority: int) -> np.ndarray | None:
        """Requests that pods nominated by preemption hold on their nodes against a pod of
        ``priority`` (those of equal or higher priority, the pod itself excepted)."""
        out: np.ndarray | None = None
        for other, (row, request, other_priority) in self._nominated.items():
            if other == key or other_priority < priority:
                continue
            if out is None:
                out = np.zeros((len(self.table), len(self.table.resources)))
            out[row, : len(request)] += request
        return out

    def _needs_of(self, spec: dict[str, Any], signature: bytes | None = None) -> PodNeeds:
        """PodNeeds, parsed once per scheduling signature (pods of one template share it)."""
        signature = signature or _signature(spec)
        needs = self._needs.get(signature)
        if needs is None:
            needs = PodNeeds.of(spec)
            _bounded_put(self._needs, signature, needs)
        return needs

    def _default_selector(self, pod: dict[str, Any], namespace: str) -> dict[str, Any] | None:
        """The selector of the pod's ReplicaSet, StatefulSet or ReplicationController, which
        the system-default spreading counts (Services selecting the pod are not considered)."""
        for ref in pod["metadata"].get("ownerReferences") or ():
            if not ref.get("controller") or ref.get("kind") not in _SPREAD_OWNERS:
                continue
            uid = ref.get("uid", "")
            if uid in self._owner_selectors:
                return self._owner_selectors[uid]
            owner = self.api.store.get(_SPREAD_OWNERS[ref["kind"]], f"{namespace}/{ref['name']}")
            selector = None
            if owner is not None and owner.uid == uid:
                raw = (owner.decode().get("spec") or {}).get("selector")
                if ref["kind"] == "ReplicationController":
                    selector = {"matchLabels": raw} if raw else None
                else:
                    selector = raw or None
            if len(self._owner_selectors) >= CACHE_SIZE:
                del self._owner_selectors[next(iter(self._owner_selectors))]
            self._owner_selectors[uid] = selector  # controller selectors are immutable
            return selector
        return None

    def _nodes_to_score(self, feasible: np.ndarray) -> np.ndarray:
        """The feasible rows kube-scheduler would score: all of them in small clusters; in big
        ones the first numFeasibleNodesToFind from a start that rotates from pod to pod."""
        rows = np.flatnonzero(feasible)
        live = len(self.table.index)
        if live < MIN_FEASIBLE_NODES:
            want = live
        else:
            percent = max(50 - live // 125, MIN_FEASIBLE_PERCENT)
            want = max(live * percent // 100, MIN_FEASIBLE_NODES)
        if len(rows) <= want:
            return rows
        first = int(np.searchsorted(rows, self._next_start))
        picked = rows[(first + np.arange(want)) % len(rows)]
        self._next_start = (int(picked[-1]) + 1) % max(len(self.table), 1)
        return picked

    def _failure(
        self,
        verdict: StaticVerdict,
        request: np.ndarray,
        ports: np.ndarray | None,
        volumes: VolumeVerdict | None,
        spread: SpreadVerdict | None,
        interpod: InterPodVerdict | None,
        existing: np.ndarray | None,
        needs: PodNeeds,
        reserved: np.ndarray | None,
    ) -> _Failure:
        """FitError: every node charged to the first filter plugin rejecting it, and which
        nodes were rejected as UnschedulableAndUnresolvable."""
        table = self.table
        n = len(table)
        present = table.present[:n]
        live = int(present.sum())
        reasons = Counter(verdict.counts)
        unresolvable = present & ~verdict.mask  # every static filter is unresolvable
        passed = verdict.mask
        if ports is not None:  # NodePorts runs before NodeResourcesFit
            taken = passed & ~ports
            if taken.any():
                reasons[MSG_NODE_PORTS] += int(taken.sum())
            passed = passed & ports
        fit_reasons, fit_failed = insufficient(table, passed, request, reserved)
        reasons.update(fit_reasons)
        rest = passed & ~fit_failed
        if volumes is not None:  # VolumeBinding runs after NodeResourcesFit
            for message, ok in (
                (MSG_NODE_CONFLICT, volumes.bound_ok),
                (MSG_BIND_CONFLICT, volumes.unbound_ok),
            ):
                conflict = rest & ~ok
                if conflict.any():
                    reasons[message] += int(conflict.sum())
                    unresolvable |= conflict
            rest &= volumes.ok
        affinity_ok = None
        if spread is not None:
            missing = rest & spread.missing_label
            skewed = int((rest & spread.too_skewed).sum())
            if missing.any():
                reasons[MSG_SPREAD_LABEL] += int(missing.sum())
                unresolvable |= missing
            if skewed:
                reasons[MSG_SPREAD] += skewed
            rest &= spread.ok
            affinity_ok = node_affinity_mask(table, needs)
        if interpod is not None:
            no_affinity = rest & interpod.affinity_failed
            anti = int((rest & interpod.anti_affinity_failed).sum())
            if no_affinity.any():
                reasons[MSG_AFFINITY_RULES] += int(no_affinity.sum())
                unresolvable |= no_affinity
            if anti:
                reasons[MSG_ANTI_AFFINITY_RULES] += anti
            rest &= interpod.ok
        if existing is not None:  # Unschedulable: evicting the pod that holds it may help
            blocked = rest & ~existing
            if blocked.any():
                reasons[MSG_EXISTING_ANTI_AFFINITY] += int(blocked.sum())
        return _Failure(live, reasons, unresolvable, needs, request, affinity_ok, reserved)

    # -- preemption (DefaultPreemption PostFilter) ----------------------------------------------

    def _post_filter(
        self, pod: dict[str, Any], obj: StoredObject, failure: _Failure
    ) -> tuple[str, str | None]:
        """Run preemption for an unschedulable pod: ("preemption: ..." message, None) when it
        cannot help, or ("", node) after evicting victims on ``node``."""
        spec = pod.get("spec") or {}
        key = obj.key
        if not preempts(spec):
            return NOT_ELIGIBLE_NEVER, self._nominated_name(key)
        priority = pod_priority(spec)
        nominated = self._nominated.get(key)
        if (
            nominated is not None
            and not failure.unresolvable[nominated[0]]
            and self._terminating_victim_on(nominated[0], priority)
        ):
            return NOT_ELIGIBLE_TERMINATING, self.table.names[nominated[0]]
        table = self.table
        n = len(table)
        statuses: Counter[str] = Counter()
        unresolvable = int(failure.unresolvable.sum())
        if unresolvable:
            statuses[MSG_NOT_HELPFUL] += unresolvable
        potential = table.present[:n] & ~failure.unresolvable
        candidates = np.zeros(n, dtype=bool)
        if potential.any():
            lower_levels = [p for p in self._priority_pods if p < priority]
            lower = np.zeros((n, len(table.resources)))
            for level in lower_levels:
                arr = self._level(level)
                lower[:, : arr.shape[1]] += arr[:n, : lower.shape[1]]
            has_victims = potential & (lower[:, PODS_COLUMN] > 0)
            no_victims = int((potential & ~has_victims).sum())
            if no_victims:
                statuses[MSG_NO_VICTIMS] += no_victims
            if has_victims.any():
                rest = has_victims
                if failure.needs.host_ports and self.host_ports:
                    # As if every lower-priority pod on the node were evicted.
                    freed = self.host_ports.mask(
                        table,
                        failure.needs.host_ports,
                        removable=lambda holder: self._priority.get(holder, 0) < priority,
                    )
                    assert freed is not None
                    taken = rest & ~freed
                    if taken.any():
                        statuses[MSG_NODE_PORTS] += int(taken.sum())
                    rest = rest & freed
                delta = -lower if failure.reserved is None else failure.reserved - lower
                fit_reasons, fit_failed = insufficient(table, rest, failure.request, delta)
                statuses.update(fit_reasons)
                rest = rest & ~fit_failed
                constraints = None
                if rest.any() and (
                    failure.needs.spread
                    or failure.needs.pod_affinity
                    or failure.needs.pod_anti_affinity
                ):
                    labels = (pod.get("metadata") or {}).get("labels") or {}
                    constraints = Constraints.of(
                        table,
                        self.spread,
                        failure.needs,
                        obj.namespace,
                        labels,
                        failure.affinity_ok,
                    )
                    for reason, ok in constraints.all_removed(
                        self.spread, self._priority, priority, n
                    ):
                        failed = rest & ~ok
                        if failed.any():
                            statuses[reason] += int(failed.sum())
                        rest &= ok
                if rest.any() and self.existing_anti:
                    labels = (pod.get("metadata") or {}).get("labels") or {}
                    # As if every lower-priority pod on the node were evicted.
                    lifted = self.existing_anti.mask(
                        table,
                        obj.namespace,
                        labels,
                        removable=lambda holder: self._priority.get(holder, 0) < priority,
                    )
                    assert lifted is not None
                    failed = rest & ~lifted
                    if failed.any():
                        statuses[MSG_EXISTING_ANTI_AFFINITY] += int(failed.sum())
                    rest &= lifted
                candidates = rest
                chosen = self._choose(candidates, priority, failure, constraints, pod, obj)
                if chosen is not None:
                    self._evict(pod, obj, chosen, priority)
                    return "", table.names[chosen.row]
                if candidates.any():
                    statuses[MSG_NO_VICTIMS] += int(candidates.sum())
        return statuses_message(failure.live, statuses), None

    def _nominated_name(self, key: str) -> str | None:
        nominated = self._nominated.get(key)
        return self.table.names[nominated[0]] if nominated is not None else None

    def _terminating_victim_on(self, row: int, priority: int) -> bool:
        """A lower-priority pod on the row is terminating because the scheduler preempted it."""
        assert PODS is not None
        for key in self._row_pods.get(row, ()):
            if self._priority.get(key, 0) >= priority:
                continue
            obj = self.api.store.get(PODS.storage_key, key)
            if obj is not None and obj.deleting and b"PreemptionByScheduler" in obj.raw:
                return True
        return False

    def _choose(
        self,
        candidates: np.ndarray,
        priority: int,
        failure: _Failure,
        constraints: Constraints | None,
        pod: dict[str, Any],
        obj: StoredObject,
    ) -> Candidate | None:
        """dryRunPreemption over up to numCandidates nodes from a random offset, then
        pickOneNodeForPreemption."""
        labels = (pod.get("metadata") or {}).get("labels") or {}
        rows = np.flatnonzero(candidates)
        if not len(rows):
            return None
        live = int(self.table.present[: len(self.table)].sum())
        want = number_of_candidates(live)
        start = int(self._rng.integers(len(rows)))
        rows = np.roll(rows, -start)
        budgets = self._budgets()
        found: list[Candidate] = []
        for row in rows:
            victims = self._victims_on(int(row), priority)
            holders = self.existing_anti.holders_on(self.table, int(row), obj.namespace, labels)
            holders |= self.host_ports.holders_on(int(row), failure.needs.host_ports)
            fits = self._fits_without(int(row), failure, constraints, holders)
            cand = select_victims(int(row), victims, fits, budgets)
            if cand is not None:
                found.append(cand)
                if len(found) >= want:
                    break
        if not found:
            return None
        return min(found, key=Candidate.order)  # min() keeps the first of equals

    def _victims_on(self, row: int, priority: int) -> list[Victim]:
        assert PODS is not None
        out = []
        for key in self._row_pods.get(row, ()):
            p = self._priority.get(key, 0)
            if p >= priority:
                continue
            obj = self.api.store.get(PODS.storage_key, key)
            if obj is None:
                continue
            pod = obj.decode()
            meta, status = pod["metadata"], pod.get("status") or {}
            out.append(
                Victim(
                    key,
                    obj.namespace,
                    obj.name,
                    obj.uid,
                    p,
                    epoch(status.get("startTime") or meta.get("creationTimestamp")),
                    _padded(self._bound[key][1], len(self.table.resources)),
                    dict(obj.labels),
                )
            )
        return out

    def _fits_without(
        self,
        row: int,
        failure: _Failure,
        constraints: Constraints | None,
        holders: set[str],
    ) -> Any:
        """Whether the pod fits on ``row`` once ``removed`` are gone; ``holders`` (pods whose
        anti-affinity keeps it off the row, or holding host ports it wants) must all be among
        them."""
        table = self.table
        request = failure.request
        cols = np.flatnonzero(request > 0)
        free = table.allocatable[row, cols] - table.requested[row, cols]
        if failure.reserved is not None:
            free = free - failure.reserved[row, cols]

        def fits(removed: list[Victim]) -> bool:
            if holders and not holders <= {v.key for v in removed}:
                return False
            room = free.copy()
            for v in removed:
                room += v.request[cols]
            if (room < request[cols]).any():
                return False
            return constraints is None or constraints.fits_row(row, removed)

        return fits

    def _budgets(self) -> list[Budget]:
        out = []
        for pdb in self.api.store.resource(PDBS).objects.values():
            budget = Budget.of(pdb.decode())
            if budget is not None:
                out.append(budget)
        return out

    def _evict(
        self, pod: dict[str, Any], obj: StoredObject, chosen: Candidate, priority: int
    ) -> None:
        """prepareCandidate: DisruptionTarget on each victim, a graceful delete, a Preempted
        event; lower-priority pods nominated to the node lose their nomination; the preemptor
        is nominated."""
        assert PODS is not None
        node = self.table.names[chosen.row]
        scheduler = (pod.get("spec") or {}).get("schedulerName") or SCHEDULER_NAME
        preemptor = ObjectRef.of(pod, "Pod")
        for v in chosen.victims:
            current = self.api.store.get(PODS.storage_key, v.key)
            if current is None:
                continue
            victim = current.decode()
            status = victim.setdefault("status", {})
            conditions = [
                c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"
            ]
            conditions.append(
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": self.api.clock.timestamp(),
                    "reason": "PreemptionByScheduler",
                    "message": PREEMPTED_MESSAGE.format(scheduler=scheduler),
                }
            )
            status["conditions"] = conditions
            try:
                self.api.update(PODS, v.namespace, v.name, victim, subresource="status")
                self.api.delete(PODS, v.namespace, v.name, DeleteOptions())
            except st.StatusError as exc:
                log.debug("preempt %s: %s", v.key, exc.reason)
                continue
            self.recorder.event(
                ObjectRef.of(victim, "Pod"),
                NORMAL,
                "Preempted",
                f"Preempted by pod {obj.uid} on node {node}",
                action="Preempting",
                related=preemptor,
            )
            self.stats.victims += 1
        self.stats.preemptions += 1
        for other, (row, _, other_priority) in list(self._nominated.items()):
            if row == chosen.row and other_priority < priority and other != obj.key:
                self._clear_nomination(other)
        request = self._bound_request(obj)
        self._nominated[obj.key] = (chosen.row, request, priority)

    def _bound_request(self, obj: StoredObject) -> np.ndarray:
        spec = obj.decode().get("spec") or {}
        return self.table.vector(self._needs_of(spec).request)

    def _clear_nomination(self, key: str) -> None:
        """ClearNominatedNodeName: the pod is retried elsewhere."""
        assert PODS is not None
        self._nominated.pop(key, None)
        obj = self.api.store.get(PODS.storage_key, key)
        if obj is None:
            return
        pod = obj.decode()
        status = pod.get("status") or {}
        if not status.pop("nominatedNodeName", None):
            return
        pod["status"] = status
        self._writing = key
        try:
            self.api.update(PODS, obj.namespace, obj.name, pod, subresource="status")
        except st.StatusError:
            pass
        finally:
            self._writing = None
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.cluster_version = -1

    def _write_condition(
        self,
        obj: StoredObject,
        pod: dict[str, Any],
        reason: str,
        message: str,
        *,
        nominated: str | None = None,
    ) -> StoredObject | None:
        """PodScheduled=False with ``reason``/``message`` and ``status.nominatedNodeName``; the
        written pod, or None when the status already says so (it is not rewritten)."""
        assert PODS is not None
        status = pod.setdefault("status", {})
        conditions = status.get("conditions") or []
        current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        if reason == "Unschedulable" and status.get("nominatedNodeName") != nominated:
            if nominated:
                status["nominatedNodeName"] = nominated
            else:
                status.pop("nominatedNodeName", None)
        elif (
            current is not None
            and current.get("status") == "False"
            and current.get("reason") == reason
            and current.get("message") == message
        ):
            return None
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": (
                current["lastTransitionTime"]
                if current is not None and current.get("status") == "False"
                else self.api.clock.timestamp()
            ),
            "reason": reason,
            "message": message,
        }
        status["conditions"] = [c for c in conditions if c.get("type") != "PodScheduled"] + [
            condition
        ]
        status.setdefault("phase", "Pending")
        self._writing = obj.key  # its echo is not a user's update of the pod
        try:
            return self.api.update(PODS, obj.namespace, obj.name, pod, subresource="status")
        finally:
            self._writing = None


CACHE_SIZE = 1024  # signatures kept; DaemonSet pods (one node each) would otherwise pile up


def _signature(spec: dict[str, Any]) -> bytes:
    """The spec parts scheduling reads, as a cache key."""
    return orjson.dumps(
        [
            spec.get("nodeSelector"),
            spec.get("affinity"),
            spec.get("tolerations"),
            spec.get("topologySpreadConstraints"),
            [c.get("resources") for c in spec.get("containers") or ()],
            [c.get("ports") for c in spec.get("containers") or ()],
            [c.get("resources") for c in spec.get("initContainers") or ()],
            spec.get("overhead"),
        ],
        option=orjson.OPT_SORT_KEYS,
    )


def _padded(request: np.ndarray, size: int) -> np.ndarray:
    """A request vector made before the node table grew resource columns."""
    if len(request) >= size:
        return request
    return np.concatenate([request, np.zeros(size - len(request))])


def _bounded_put(cache: dict[bytes, Any], key: bytes, value: Any) -> None:
    cache.pop(key, None)
    if len(cache) >= CACHE_SIZE:
        del cache[next(iter(cache))]  # the oldest entry
    cache[key] = value


MAX_EVENT_MESSAGE = 1024


def truncate_message(message: str) -> str:
    """kube-scheduler's truncateMessage: events carry at most 1 kB (the condition keeps it all)."""
    if len(message) <= MAX_EVENT_MESSAGE:
        return message
    return message[: MAX_EVENT_MESSAGE - 4] + " ..."
