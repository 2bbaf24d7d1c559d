"""The default scheduler: binds pending pods to nodes, vectorised over all nodes with NumPy.

Pods wait in an active queue; each loop turn schedules a batch of them. The request-independent
filters (unschedulable, taints, node affinity) are computed once per scheduling signature and
node-table generation, so pods stamped from one template cost one resource-fit pass each.
Unschedulable pods are retried with backoff (1 s doubling to 10 s, simulated) when the cluster
changes (a node added or changed beyond its heartbeat, a pod released, the pod itself updated),
and at least every 5 minutes, like kube-scheduler's unschedulable queue. Gated pods wait for
their schedulingGates to go. As kube-scheduler with its default percentageOfNodesToScore, big
clusters score only the first feasible nodes from a rotating start.

Not simulated: preemption (the FailedScheduling message reports what DefaultPreemption would
find when every pod has the same priority), existing pods' anti-affinity against the incoming
pod, inter-pod affinity scoring, volumes, ports, image locality.
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
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.api.subresources import bind
from kubeward.sim.control.events import NORMAL, WARNING, EventRecorder, ObjectRef
from kubeward.sim.control.scheduling.filters import (
    PodNeeds,
    StaticVerdict,
    fit_error_message,
    fit_mask,
    insufficient,
    is_unresolvable,
    node_affinity_mask,
    score,
    static_filters,
)
from kubeward.sim.control.scheduling.interpod import (
    MSG_AFFINITY_RULES,
    MSG_ANTI_AFFINITY_RULES,
    InterPodVerdict,
    interpod_filter,
)
from kubeward.sim.control.scheduling.nodetable import NodeTable
from kubeward.sim.control.scheduling.spread import (
    MSG_SPREAD,
    MSG_SPREAD_LABEL,
    SpreadCounts,
    SpreadVerdict,
    default_constraints,
    spread_filter,
    spread_score,
)
from kubeward.sim.store.objects import StoredObject, StoreEvent

log = logging.getLogger("kubeward.sim.scheduler")

PODS = REGISTRY.get("", "v1", "pods")
SCHEDULER_NAME = "default-scheduler"
BATCH = 500
BACKOFF_INITIAL, BACKOFF_MAX, UNSCHEDULABLE_MAX = 1.0, 10.0, 300.0
_TERMINAL = ("Succeeded", "Failed")
# percentageOfNodesToScore (adaptive default): in big clusters kube-scheduler stops filtering once
# it has this many feasible nodes, starting where the previous pod's search stopped.
MIN_FEASIBLE_NODES, MIN_FEASIBLE_PERCENT = 100, 5
GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"
W_SPREAD = 2  # PodTopologySpread's score weight in the default profile
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


@dataclass
class _Waiting:
    attempts: int
    next_try: float  # sim seconds (clock.elapsed())
    last_try: float
    cluster_version: int  # cluster change counter at the last attempt (-1: pod updated)


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
        self._active: dict[str, None] = {}  # ordered set of pod keys
        self._waiting: dict[str, _Waiting] = {}
        self._bound: dict[str, tuple[int, np.ndarray]] = {}  # pod key -> (node row, request)
        self.spread = SpreadCounts()
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
        api.store.add_listener(self._on_event)

    # -- informer side --------------------------------------------------------------------------

    def _on_event(self, event: StoreEvent) -> None:
        if event.storage_key == ("", "nodes"):
            self._on_node(event)
        elif event.storage_key == ("", "pods"):
            self._on_pod(event)

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
            self._active.pop(key, None)
            self._waiting.pop(key, None)
            self._gated.pop(key, None)
            if key in self._bound:
                self._release(key, obj.namespace)
            elif node:
                self._orphans.get(node, set()).discard(key)
            return
        if node:
            self._active.pop(key, None)
            self._waiting.pop(key, None)
            self._gated.pop(key, None)
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
        self._active[key] = None
        self._wakeup.set()

    def _account(self, obj: StoredObject, node: str) -> None:
        row = self.table.index.get(node)
        if row is None:
            # Bound to a node the scheduler has not seen (yet): counted once the node appears.
            self._orphans.setdefault(node, set()).add(obj.key)
            return
        spec = obj.decode().get("spec") or {}
        request = self.table.vector(self._needs_of(spec).request)
        self.table.add_request(row, request)
        self._bound[obj.key] = (row, request)
        if not obj.deleting:
            self.spread.add(obj.namespace, obj.key, row, obj.labels)

    def _release(self, key: str, namespace: str) -> None:
        row, request = self._bound.pop(key)
        self.table.remove_request(row, request)
        self.spread.remove(namespace, key)
        self._cluster_changed()

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
                key = next(iter(self._active))
                del self._active[key]
                batch.append(key)
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
                self._active[key] = None

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
        started = time.perf_counter()
        node, message = self.decide(pod, obj.namespace)
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
        self.stats.failed_attempts += 1
        prev = self._waiting.get(key)
        attempts = (prev.attempts if prev else 0) + 1
        now = self.api.clock.elapsed()
        self._waiting[key] = _Waiting(
            attempts,
            now + min(BACKOFF_INITIAL * 2 ** (attempts - 1), BACKOFF_MAX),
            now,
            self._cluster_version,
        )
        # Waiting is recorded first: the status write below echoes back as a pod event.
        self._write_condition(obj, pod, "Unschedulable", message)
        self.recorder.event(
            ref, WARNING, "FailedScheduling", truncate_message(message), action="Scheduling"
        )
        return None

    def decide(self, pod: dict[str, Any], namespace: str) -> tuple[str | None, str]:
        """(node, "") or (None, FailedScheduling message)."""
        spec = pod.get("spec") or {}
        signature = _signature(spec)
        needs = self._needs_of(spec, signature)
        cached = self._static.get(signature)
        if cached is None or cached[0] != self.table.generation:
            cached = (self.table.generation, static_filters(self.table, needs))
            _bounded_put(self._static, signature, cached)
        verdict = cached[1]
        request = self.table.vector(needs.request)
        feasible = verdict.mask & fit_mask(self.table, request)
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
            best = rows[scores == scores.max()]
            return self.table.names[int(best[self._rng.integers(len(best))])], ""
        return None, self._failure_message(verdict, request, spread, interpod)

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

    def _failure_message(
        self,
        verdict: StaticVerdict,
        request: np.ndarray,
        spread: SpreadVerdict | None,
        interpod: InterPodVerdict | None,
    ) -> str:
        """FitError: every node charged to the first filter plugin rejecting it."""
        table = self.table
        live = int(table.present[: len(table)].sum())
        reasons = Counter(verdict.counts)
        unresolvable = sum(c for r, c in verdict.counts.items() if is_unresolvable(r))
        fit_reasons, fit_failed = insufficient(table, verdict.mask, request)
        reasons.update(fit_reasons)
        rest = verdict.mask & ~fit_failed
        if spread is not None:
            missing = int((rest & spread.missing_label).sum())
            skewed = int((rest & spread.too_skewed).sum())
            if missing:
                reasons[MSG_SPREAD_LABEL] += missing
                unresolvable += missing
            if skewed:
                reasons[MSG_SPREAD] += skewed
            rest &= spread.ok
        if interpod is not None:
            no_affinity = int((rest & interpod.affinity_failed).sum())
            anti = int((rest & interpod.anti_affinity_failed).sum())
            if no_affinity:
                reasons[MSG_AFFINITY_RULES] += no_affinity
                unresolvable += no_affinity
            if anti:
                reasons[MSG_ANTI_AFFINITY_RULES] += anti
        return fit_error_message(live, reasons, unresolvable)

    def _write_condition(
        self, obj: StoredObject, pod: dict[str, Any], reason: str, message: str
    ) -> StoredObject | None:
        """PodScheduled=False with ``reason``/``message``; the written pod, or None when the
        condition already says so (an unchanged condition is not rewritten)."""
        assert PODS is not None
        status = pod.setdefault("status", {})
        conditions = status.get("conditions") or []
        current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        if (
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
            [c.get("resources") for c in spec.get("initContainers") or ()],
            spec.get("overhead"),
        ],
        option=orjson.OPT_SORT_KEYS,
    )


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
