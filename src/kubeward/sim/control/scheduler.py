"""The default scheduler: binds pending pods to nodes, vectorised over all nodes with NumPy.

Pods wait in an active queue; each loop turn schedules a batch of them. The request-independent
filters (unschedulable, taints, node affinity) are computed once per scheduling signature and
node-table generation, so pods stamped from one template cost one resource-fit pass each.
Unschedulable pods are retried with backoff (1 s doubling to 10 s, simulated) when the cluster
changes, and at least every 5 minutes, like kube-scheduler's unschedulable queue.
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

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.api.subresources import bind
from kubeward.sim.control.events import NORMAL, WARNING, EventRecorder, ObjectRef
from kubeward.sim.control.scheduling.filters import (
    MSG_SPREAD,
    MSG_SPREAD_LABEL,
    PodNeeds,
    StaticVerdict,
    fit_error_message,
    fit_mask,
    insufficient,
    is_unresolvable,
    node_affinity_mask,
    score,
    spread_selector,
    static_filters,
)
from kubeward.sim.control.scheduling.nodetable import NodeTable
from kubeward.sim.store.objects import StoredObject, StoreEvent

log = logging.getLogger("kubeward.sim.scheduler")

PODS = REGISTRY.get("", "v1", "pods")
SCHEDULER_NAME = "default-scheduler"
BATCH = 500
BACKOFF_INITIAL, BACKOFF_MAX, UNSCHEDULABLE_MAX = 1.0, 10.0, 300.0
_TERMINAL = ("Succeeded", "Failed")


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
    cluster_version: int  # cluster change counter at the last attempt


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
        self._ns_pods: dict[str, dict[str, tuple[int, dict[str, str]]]] = {}
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
        if event.type == "DELETED":
            self.table.remove(event.obj.name)
        else:
            self.table.upsert(event.obj.decode())
        self._cluster_changed()

    def _on_pod(self, event: StoreEvent) -> None:
        obj = event.obj
        key = obj.key
        node = obj.fields.get("spec.nodeName", "")
        terminal = obj.fields.get("status.phase", "") in _TERMINAL
        if event.type == "DELETED" or terminal:
            self._active.pop(key, None)
            self._waiting.pop(key, None)
            if key in self._bound:
                self._release(key, obj.namespace)
            return
        if node:
            self._active.pop(key, None)
            self._waiting.pop(key, None)
            if key not in self._bound:
                self._account(obj, node)
            return
        if obj.deleting or key in self._waiting or key in self._active:
            return
        if obj.fields.get("spec.schedulerName", SCHEDULER_NAME) != SCHEDULER_NAME:
            return
        self._active[key] = None
        self._wakeup.set()

    def _account(self, obj: StoredObject, node: str) -> None:
        row = self.table.index.get(node)
        if row is None:
            return  # bound to a node the scheduler does not know (yet): not its capacity
        spec = obj.decode().get("spec") or {}
        request = self.table.vector(PodNeeds.of(spec).request)
        self.table.add_request(row, request)
        self._bound[obj.key] = (row, request)
        self._ns_pods.setdefault(obj.namespace, {})[obj.key] = (row, obj.labels)

    def _release(self, key: str, namespace: str) -> None:
        row, request = self._bound.pop(key)
        self.table.remove_request(row, request)
        self._ns_pods.get(namespace, {}).pop(key, None)
        self._cluster_changed()

    def _cluster_changed(self) -> None:
        self._cluster_version += 1
        if self._waiting:
            self._wakeup.set()

    # -- scheduling loop ------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            self._requeue_waiting()
            if not self._active:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    # Wake for retries even without events: backoff expiry, 5-minute flush.
                    await asyncio.wait_for(
                        self._wakeup.wait(), timeout=self.api.clock.real_seconds(BACKOFF_INITIAL)
                    )
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
            changed = w.cluster_version != self._cluster_version
            if (changed and now >= w.next_try) or now - w.last_try >= UNSCHEDULABLE_MAX:
                del self._waiting[key]
                self._active[key] = None

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
        self._mark_unschedulable(obj, pod, message)
        self.recorder.event(ref, WARNING, "FailedScheduling", message, action="Scheduling")
        return None

    def decide(self, pod: dict[str, Any], namespace: str) -> tuple[str | None, str]:
        """(node, "") or (None, FailedScheduling message)."""
        spec = pod.get("spec") or {}
        signature = orjson.dumps(
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
        needs = self._needs.get(signature)
        if needs is None:
            needs = self._needs[signature] = PodNeeds.of(spec)
        cached = self._static.get(signature)
        if cached is None or cached[0] != self.table.generation:
            cached = (self.table.generation, static_filters(self.table, needs))
            self._static[signature] = cached
        verdict = cached[1]
        request = self.table.vector(needs.request)
        feasible = verdict.mask & fit_mask(self.table, request)
        spread_reasons: dict[int, str] = {}
        if needs.spread:
            feasible &= self._spread_mask(needs, namespace, pod, verdict, spread_reasons)
        if feasible.any():
            scores = score(self.table, feasible, request, self.scoring)
            best = np.flatnonzero(scores >= scores.max() - 1e-9)
            return self.table.names[int(best[self._rng.integers(len(best))])], ""
        return None, self._failure_message(verdict, request, spread_reasons)

    def _spread_mask(
        self,
        needs: PodNeeds,
        namespace: str,
        pod: dict[str, Any],
        verdict: StaticVerdict,
        reasons: dict[int, str],
    ) -> np.ndarray:
        """PodTopologySpread (DoNotSchedule): placing the pod must keep every constraint's skew
        within maxSkew. Domains are those of nodes passing the pod's node affinity."""
        table = self.table
        n = len(table)
        ok = np.ones(n, dtype=bool)
        bound = self._ns_pods.get(namespace, {})
        labels = (pod.get("metadata") or {}).get("labels") or {}
        domain_nodes = table.present[:n] & node_affinity_mask(table, needs)
        for c in needs.spread:
            key = c.get("topologyKey", "")
            col = table.label_ids(key)
            has_label = col != 0
            for missing in np.flatnonzero(verdict.mask & ~has_label):
                reasons.setdefault(int(missing), MSG_SPREAD_LABEL)
            ok &= has_label
            selector = spread_selector(c)
            counts = np.zeros(len(table.label_values.get(key, {})) + 1)
            self_match = 1 if selector is not None and selector.matches(labels) else 0
            if selector is not None:
                for pod_row, pod_labels in bound.values():
                    if selector.matches(pod_labels):
                        counts[col[pod_row]] += 1
            # Domains count by nodeAffinityPolicy Honor / nodeTaintsPolicy Ignore (the
            # defaults): a tainted node's zone still counts, even though no pod can go there.
            eligible = np.unique(col[domain_nodes & has_label])
            eligible = eligible[eligible != 0]
            if not len(eligible):
                continue
            min_count = counts[eligible].min()
            skew_ok = counts[col] + self_match - min_count <= int(c.get("maxSkew", 1))
            for skewed in np.flatnonzero(verdict.mask & has_label & ~skew_ok):
                reasons.setdefault(int(skewed), MSG_SPREAD)
            ok &= skew_ok | ~has_label
        return ok

    def _failure_message(
        self, verdict: StaticVerdict, request: np.ndarray, spread_reasons: dict[int, str]
    ) -> str:
        table = self.table
        live = np.flatnonzero(table.present[: len(table)])
        reasons: Counter[str] = Counter()
        unresolvable = 0
        passing = [int(r) for r in live if verdict.mask[r]]
        fit_reasons = insufficient(table, np.array(passing, dtype=int), request) if passing else []
        by_row = dict(zip(passing, fit_reasons, strict=True))
        for row in (int(r) for r in live):
            static = verdict.reasons[row]
            if static is not None:
                reasons[static] += 1
                unresolvable += is_unresolvable(static)
                continue
            fits = by_row.get(row) or []
            if fits:
                reasons.update(fits)
                continue
            spread = spread_reasons.get(row)
            if spread is not None:
                reasons[spread] += 1
                unresolvable += is_unresolvable(spread)
        return fit_error_message(len(live), reasons, unresolvable)

    def _mark_unschedulable(self, obj: StoredObject, pod: dict[str, Any], message: str) -> None:
        assert PODS is not None
        status = pod.setdefault("status", {})
        conditions = status.get("conditions") or []
        current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        if (
            current is not None
            and current.get("status") == "False"
            and current.get("message") == message
        ):
            return  # nothing changed: do not rewrite the pod
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": (
                current["lastTransitionTime"]
                if current is not None and current.get("status") == "False"
                else self.api.clock.timestamp()
            ),
            "reason": "Unschedulable",
            "message": message,
        }
        status["conditions"] = [c for c in conditions if c.get("type") != "PodScheduled"] + [
            condition
        ]
        status.setdefault("phase", "Pending")
        self.api.update(PODS, obj.namespace, obj.name, pod, subresource="status")
