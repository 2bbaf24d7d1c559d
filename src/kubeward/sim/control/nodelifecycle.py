"""The node lifecycle controller and taint-based eviction (kube-controller-manager 1.31).

- Health: a node whose Lease was not renewed (and whose Ready heartbeat did not change) within
  ``grace_seconds`` (--node-monitor-grace-period, 40 s) gets its kubelet conditions set to
  Unknown ("Kubelet stopped posting node status."), a NodeNotReady event, and its pods marked
  not Ready (MarkPodsNotReady).
- TaintNodesByCondition: not-ready / unreachable, memory-, disk-, pid-pressure,
  network-unavailable and unschedulable NoSchedule taints follow conditions and
  ``spec.unschedulable`` at once.
- NoExecute not-ready / unreachable taints go through a per-zone rate-limited queue
  (--node-eviction-rate 0.1/s, burst 1). A zone is Normal, PartialDisruption (more than 2 and at
  least 55 % of its nodes not Ready: --secondary-node-eviction-rate 0.01/s, or 0 when the zone
  has 50 nodes or fewer) or FullDisruption (no Ready node: the normal rate, so workloads move to
  healthy zones). When every zone is fully disrupted the controller blames its own connectivity:
  it removes all NoExecute taints and stops tainting. A Ready node loses them at once.
- Taint eviction (the taint-eviction-controller): a pod that does not tolerate a NoExecute taint
  of its node is deleted at once, one that tolerates it for ``tolerationSeconds`` (300 s from
  DefaultTolerationSeconds) that long after the controller saw it; first a DisruptionTarget
  condition and a TaintManagerEviction event.

The controller keeps its own indexes from store events (node health, pods per node), so a
monitor pass over 15,000 nodes compares numbers and decodes only the nodes it writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.control.events import NORMAL, WARNING, EventRecorder, ObjectRef
from kubeward.sim.control.scheduling.filters import tolerates
from kubeward.sim.store.objects import StoreEvent

log = logging.getLogger("kubeward.sim.nodelifecycle")

NODES = REGISTRY.get("", "v1", "nodes")
PODS = REGISTRY.get("", "v1", "pods")
LEASE_NAMESPACE = "kube-node-lease"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
# TaintNodesByCondition: (condition type, status) -> NoSchedule taint key
CONDITION_TAINTS = {
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
}
NO_SCHEDULE_KEYS = {UNSCHEDULABLE, *CONDITION_TAINTS.values()}
# Conditions the controller sets Unknown (NetworkUnavailable is the network plugin's).
KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
EXCLUDE_DISRUPTION = "node.kubernetes.io/exclude-disruption"
_WRITES_PER_YIELD = 50  # nodes written (event, or status and its pods' Ready) between yields
LARGE_CLUSTER = 50  # --large-cluster-size-threshold
UNHEALTHY_THRESHOLD = 0.55  # --unhealthy-zone-threshold

NORMAL_ZONE = "Normal"
PARTIAL = "PartialDisruption"
FULL = "FullDisruption"
INITIAL = "Initial"


@dataclass(slots=True)
class _Node:
    """What the controller knows of a node from its informer (decoded once per node write)."""

    uid: str
    zone: str
    excluded: bool
    conditions: dict[str, str]  # type -> status
    heartbeat: str  # Ready's lastHeartbeatTime: a change means the kubelet posted status
    unschedulable: bool
    taints: frozenset[tuple[str, str]]  # (key, effect)
    no_execute: tuple[tuple[str, str], ...]  # (key, value) of NoExecute taints
    probe: float  # sim time the kubelet was last heard from (lease or status)

    @property
    def ready(self) -> str:
        return self.conditions.get("Ready", "Unknown")

    def wanted_no_schedule(self) -> set[tuple[str, str]]:
        wanted = {
            (key, "NoSchedule")
            for (type_, status), key in CONDITION_TAINTS.items()
            if self.conditions.get(type_) == status
        }
        if self.unschedulable:
            wanted.add((UNSCHEDULABLE, "NoSchedule"))
        return wanted


@dataclass(slots=True)
class _Bucket:
    """A token bucket on simulated time (client-go's flowcontrol limiter, burst 1)."""

    qps: float
    tokens: float = 1.0
    at: float = 0.0

    def try_accept(self, now: float) -> bool:
        if self.qps <= 0:
            return False
        self.tokens = min(1.0, self.tokens + (now - self.at) * self.qps)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass(slots=True)
class _Zone:
    state: str = INITIAL
    limiter: _Bucket = field(default_factory=lambda: _Bucket(0.0))
    queue: deque[str] = field(default_factory=deque)
    # Nodes queued for a NoExecute taint and not yet released by markNodeAsReachable: the
    # queue adds a node once, however often the monitor sees it not Ready.
    marked: set[str] = field(default_factory=set)


class NodeLifecycleController:
    name = "node-lifecycle-controller"

    def __init__(
        self,
        api: ObjectAPI,
        grace_seconds: float = 40.0,
        monitor_period: float = 5.0,
        eviction_qps: float = 0.1,
        secondary_eviction_qps: float = 0.01,
        tick_seconds: float = 1.0,
    ) -> None:
        self.api = api
        self.clock = api.clock
        self.grace_seconds = grace_seconds
        self.monitor_period = monitor_period
        self.eviction_qps = eviction_qps
        self.secondary_eviction_qps = secondary_eviction_qps
        self.tick_seconds = tick_seconds
        self.recorder = EventRecorder(api, "node-controller")
        self.taint_recorder = EventRecorder(api, "taint-eviction-controller")
        self._nodes: dict[str, _Node] = {}
        self._registered: set[str] = set()
        self._removed: dict[str, str] = {}  # deleted, not yet announced: name -> uid
        self._zones: dict[str, _Zone] = {}
        self._pods_on: dict[str, set[str]] = defaultdict(set)
        self._dirty_nodes: set[str] = set()  # NoSchedule taints to re-check
        self._taint_changed: set[str] = set()  # NoExecute taints changed: re-check its pods
        self._new_pods: set[str] = set()  # pods newly assigned to a node
        # taint eviction queue: pod key -> (created, trigger), plus a heap of triggers
        self._scheduled: dict[str, tuple[float, float]] = {}
        self._heap: list[tuple[float, str]] = []
        api.store.add_listener(
            self._on_event, [("coordination.k8s.io", "leases"), ("", "nodes"), ("", "pods")]
        )

    # -- informers ------------------------------------------------------------------------------

    def _on_event(self, event: StoreEvent) -> None:
        key = event.storage_key
        if key == ("coordination.k8s.io", "leases"):
            # A renewal is "heard from the kubelet now" (the controller compares renewTime with
            # the lease it saw before and stamps its own clock).
            node = self._nodes.get(event.obj.name)
            if (
                node is not None
                and event.obj.namespace == LEASE_NAMESPACE
                and event.type != "DELETED"
            ):
                node.probe = self.clock.elapsed()
        elif key == ("", "nodes"):
            self._on_node(event)
        elif key == ("", "pods"):
            self._on_pod(event)

    def _on_node(self, event: StoreEvent) -> None:
        name = event.obj.name
        if event.type == "DELETED":
            self._nodes.pop(name, None)
            if name in self._registered:
                self._registered.discard(name)
                self._removed[name] = event.obj.uid
            return
        obj = event.obj.decode()
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        spec = obj.get("spec") or {}
        conditions = (obj.get("status") or {}).get("conditions") or ()
        taints = spec.get("taints") or ()
        ready_hb = next(
            (c.get("lastHeartbeatTime", "") for c in conditions if c.get("type") == "Ready"), ""
        )
        old = self._nodes.get(name)
        now = self.clock.elapsed()
        node = _Node(
            uid=meta.get("uid", ""),
            zone=f"{labels.get(REGION_LABEL, '')}:{labels.get(ZONE_LABEL, '')}",
            excluded=EXCLUDE_DISRUPTION in labels,
            conditions={c.get("type", ""): c.get("status", "") for c in conditions},
            heartbeat=ready_hb,
            unschedulable=bool(spec.get("unschedulable")),
            taints=frozenset((t.get("key", ""), t.get("effect", "")) for t in taints),
            no_execute=tuple(
                (t.get("key", ""), t.get("value", "") or "")
                for t in taints
                if t.get("effect") == "NoExecute"
            ),
            probe=now if old is None or old.heartbeat != ready_hb else old.probe,
        )
        self._nodes[name] = node
        self._dirty_nodes.add(name)
        if old is None or old.no_execute != node.no_execute:
            self._taint_changed.add(name)

    def _on_pod(self, event: StoreEvent) -> None:
        obj = event.obj
        prev_node = event.prev.fields.get("spec.nodeName") if event.prev is not None else None
        node = obj.fields.get("spec.nodeName")
        if prev_node and (prev_node != node or event.type == "DELETED"):
            self._pods_on[prev_node].discard(obj.key)
        if event.type == "DELETED":
            self._cancel(obj.key)
            self._new_pods.discard(obj.key)
            return
        if node and node != prev_node:
            self._pods_on[node].add(obj.key)
            self._new_pods.add(obj.key)

    # -- loop -----------------------------------------------------------------------------------

    async def run(self) -> None:
        start = self.clock.elapsed()
        next_monitor = start
        tick = 0
        while True:
            now = self.clock.elapsed()
            try:
                if now >= next_monitor:
                    await self.monitor()
                    next_monitor = now + self.monitor_period
                self.taint_pass()
                self.eviction_pass()
            except Exception:
                log.exception("event=node_lifecycle_pass_failed")
            tick += 1
            await self.clock.sleep(start + tick * self.tick_seconds - self.clock.elapsed())

    async def monitor(self) -> None:
        """monitorNodeHealth: registration events, heartbeats, zone states, NoExecute queue.
        Yields to the loop between batches of status writes: after an outage thousands of
        nodes go Unknown at once, and the simulated kubelets share this loop."""
        for name, uid in self._removed.items():
            self._node_event(name, uid, "RemovingNode", f"Removing Node {name} from Controller")
        self._removed.clear()
        now = self.clock.elapsed()
        written = 0
        for name, node in list(self._nodes.items()):
            wrote = False
            if name not in self._registered:
                wrote = True
                self._registered.add(name)
                self._node_event(
                    name, node.uid, "RegisteredNode", f"Registered Node {name} in Controller"
                )
                self._zone(node.zone)
                self._mark_reachable(name, node)
                node.probe = max(node.probe, now)  # "missing timestamp: assuming now"
            if now - node.probe > self.grace_seconds and any(
                node.conditions.get(t, "Unknown") != "Unknown" for t in KUBELET_CONDITIONS
            ):
                wrote = True
                self._set_unknown(name, node)
            if wrote:
                written += 1
                if written % _WRITES_PER_YIELD == 0:
                    await asyncio.sleep(0)
        self._handle_disruption()
        for name, node in list(self._nodes.items()):
            self._process_taint_based_eviction(name, node)

    def _set_unknown(self, name: str, node: _Node) -> None:
        """tryUpdateNodeHealth past the grace period: every kubelet condition Unknown."""
        assert NODES is not None
        current = self.api.store.get(NODES.storage_key, name)
        if current is None:
            return
        obj = current.decode()
        status = obj.setdefault("status", {})
        conditions = status.setdefault("conditions", [])
        stamp = self.clock.timestamp()
        by_type = {c.get("type"): c for c in conditions}
        was_ready = node.ready
        for type_ in KUBELET_CONDITIONS:
            c = by_type.get(type_)
            if c is None:
                conditions.append(
                    {
                        "type": type_,
                        "status": "Unknown",
                        "lastHeartbeatTime": obj["metadata"].get("creationTimestamp"),
                        "lastTransitionTime": stamp,
                        "reason": "NodeStatusNeverUpdated",
                        "message": "Kubelet never posted node status.",
                    }
                )
            elif c.get("status") != "Unknown":
                c.update(
                    status="Unknown",
                    reason="NodeStatusUnknown",
                    message="Kubelet stopped posting node status.",
                    lastTransitionTime=stamp,
                )
        try:
            self.api.update(NODES, "", name, obj, subresource="status")
        except st.StatusError as exc:
            log.info("event=node_status_update_failed node=%s reason=%s", name, exc.reason)
            return
        if was_ready == "True":
            # Reported once, when the controller itself takes the node out of Ready.
            self._node_event(
                name, node.uid, "NodeNotReady", f"Node {name} status is now: NodeNotReady", raw=True
            )
            self._mark_pods_not_ready(name, list(self._pods_on.get(name, ())))

    def _mark_pods_not_ready(self, node_name: str, keys: list[str]) -> None:
        """MarkPodsNotReady: the Ready condition of each pod on the node goes False."""
        assert PODS is not None
        stamp = self.clock.timestamp()
        for key in keys:
            obj = self.api.store.get(PODS.storage_key, key)
            if obj is None or obj.fields.get("spec.nodeName") != node_name:
                continue
            pod = obj.decode()
            ready = next(
                (
                    c
                    for c in (pod.get("status") or {}).get("conditions") or ()
                    if c.get("type") == "Ready"
                ),
                None,
            )
            if ready is None or ready.get("status") == "False":
                continue
            ready.update(status="False", lastTransitionTime=stamp)
            try:
                self.api.update(PODS, obj.namespace, obj.name, pod, subresource="status")
            except st.StatusError as exc:
                log.info("event=mark_pod_not_ready_failed pod=%s reason=%s", key, exc.reason)
                continue
            self.recorder.event(
                ObjectRef.of(pod, "Pod"), WARNING, "NodeNotReady", "Node is not ready"
            )

    # -- zones ----------------------------------------------------------------------------------

    def _zone(self, key: str) -> _Zone:
        zone = self._zones.get(key)
        if zone is None:
            zone = self._zones[key] = _Zone(
                limiter=_Bucket(self.eviction_qps, at=self.clock.elapsed())
            )
        return zone

    def zone_states(self) -> dict[str, str]:
        """Zone key ("<region>:<zone>") -> Normal, PartialDisruption or FullDisruption."""
        return {k: z.state for k, z in self._zones.items() if z.state != INITIAL}

    def _compute_states(self) -> tuple[dict[str, str], dict[str, int]]:
        ready: dict[str, int] = defaultdict(int)
        not_ready: dict[str, int] = defaultdict(int)
        for node in self._nodes.values():
            if node.excluded:
                continue
            if node.ready == "True":
                ready[node.zone] += 1
            else:
                not_ready[node.zone] += 1
        states: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for zone in {*ready, *not_ready}:
            good, bad = ready[zone], not_ready[zone]
            sizes[zone] = good + bad
            if good == 0 and bad > 0:
                states[zone] = FULL
            elif bad > 2 and bad / (good + bad) >= UNHEALTHY_THRESHOLD:
                states[zone] = PARTIAL
            else:
                states[zone] = NORMAL_ZONE
        return states, sizes

    def _handle_disruption(self) -> None:
        """handleDisruption: swap each zone's eviction rate to match its state."""
        states, sizes = self._compute_states()
        for key in states:
            self._zone(key)
        # Zones keep their queue and limiter when they empty (as the tainters do); only zones
        # with nodes take part in the state logic.
        current = {k: z for k, z in self._zones.items() if k in states}
        all_now = all(s == FULL for s in states.values())
        all_before = all(z.state == FULL for z in current.values())
        if all_now and all_before:
            return
        if all_now:
            log.info("event=master_disruption_mode entered=true")
            for name, node in list(self._nodes.items()):
                self._mark_reachable(name, node)
            for zone in current.values():
                zone.limiter = _Bucket(0.0)
                zone.state = FULL
            return
        if all_before:
            log.info("event=master_disruption_mode entered=false")
            now = self.clock.elapsed()
            for node in self._nodes.values():
                node.probe = now
            for k, zone in current.items():
                self._set_limiter(zone, states[k], sizes[k])
            return
        for k, zone in current.items():
            if zone.state != states[k]:
                log.info("event=zone_state zone=%s state=%s", k, states[k])
                self._set_limiter(zone, states[k], sizes[k])

    def _set_limiter(self, zone: _Zone, state: str, size: int) -> None:
        if state == PARTIAL:
            qps = self.secondary_eviction_qps if size > LARGE_CLUSTER else 0.0
        else:  # Normal, and FullDisruption of one zone among healthy ones (HealthyQPSFunc)
            qps = self.eviction_qps
        drained = zone.limiter.qps > 0 and not zone.limiter.try_accept(self.clock.elapsed())
        zone.limiter = _Bucket(qps, tokens=0.0 if drained else 1.0, at=self.clock.elapsed())
        zone.state = state

    # -- taints ---------------------------------------------------------------------------------

    def _process_taint_based_eviction(self, name: str, node: _Node) -> None:
        ready = node.ready
        if ready == "True":
            self._mark_reachable(name, node)
            return
        taint, opposite = (NOT_READY, UNREACHABLE) if ready == "False" else (UNREACHABLE, NOT_READY)
        if (opposite, "NoExecute") in node.taints:
            # Swap at once: the node was already tainted (and counted) for the other reason.
            self._swap(name, [(taint, "NoExecute")], [(opposite, "NoExecute")])
            return
        zone = self._zone(node.zone)
        if name not in zone.marked:
            zone.marked.add(name)
            zone.queue.append(name)

    def _mark_reachable(self, name: str, node: _Node) -> None:
        """markNodeAsReachable: drop NoExecute not-ready/unreachable taints, leave the queue."""
        zone = self._zones.get(node.zone)
        if zone is not None and name in zone.marked:
            zone.marked.discard(name)
            with contextlib.suppress(ValueError):
                zone.queue.remove(name)
        drop = [
            (k, "NoExecute") for k in (NOT_READY, UNREACHABLE) if (k, "NoExecute") in node.taints
        ]
        if drop:
            self._swap(name, [], drop)

    def taint_pass(self) -> None:
        """doNoScheduleTaintingPass for changed nodes, then doNoExecuteTaintingPass."""
        dirty, self._dirty_nodes = self._dirty_nodes, set()
        for name in dirty:
            node = self._nodes.get(name)
            if node is None:
                continue
            wanted = node.wanted_no_schedule()
            have = {(k, e) for k, e in node.taints if e == "NoSchedule" and k in NO_SCHEDULE_KEYS}
            if wanted != have:
                self._swap(name, sorted(wanted - have), sorted(have - wanted))
        now = self.clock.elapsed()
        for zone in self._zones.values():
            while zone.queue:
                name = zone.queue[0]
                node = self._nodes.get(name)
                if node is None or node.ready == "True":
                    zone.queue.popleft()  # gone or Ready again: nothing to taint
                    continue
                if not zone.limiter.try_accept(now):
                    break
                zone.queue.popleft()
                taint, opposite = (
                    (NOT_READY, UNREACHABLE) if node.ready == "False" else (UNREACHABLE, NOT_READY)
                )
                self._swap(name, [(taint, "NoExecute")], [(opposite, "NoExecute")])

    def _swap(self, name: str, add: list[tuple[str, str]], remove: list[tuple[str, str]]) -> bool:
        """SwapNodeControllerTaint: add (with timeAdded) and remove taints in one update."""
        assert NODES is not None
        current = self.api.store.get(NODES.storage_key, name)
        if current is None:
            return False
        obj = current.decode()
        spec = obj.setdefault("spec", {})
        old = spec.get("taints") or []
        drop = set(remove)
        taints = [t for t in old if (t.get("key"), t.get("effect")) not in drop]
        have = {(t.get("key"), t.get("effect")) for t in taints}
        stamp = self.clock.timestamp()
        for key, effect in add:
            if (key, effect) not in have:
                taints.append({"key": key, "effect": effect, "timeAdded": stamp})
        if taints == old:
            return True
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        try:
            self.api.update(NODES, "", name, obj)
        except st.StatusError as exc:
            log.info("event=taint_update_failed node=%s reason=%s", name, exc.reason)
            self._dirty_nodes.add(name)
            return False
        return True

    # -- taint-based eviction -------------------------------------------------------------------

    def eviction_pass(self) -> None:
        changed, self._taint_changed = self._taint_changed, set()
        for name in changed:
            for key in list(self._pods_on.get(name, ())):
                self._process_pod(key, name)
        new, self._new_pods = self._new_pods, set()
        for key in new:
            obj = self.api.store.get(("", "pods"), key)
            if obj is None:
                continue
            node_name = obj.fields.get("spec.nodeName", "")
            node = self._nodes.get(node_name)
            if node is not None and node.ready != "True" and "Ready" in node.conditions:
                # processPod: a pod that lands on a node already not Ready is not Ready either
                self._mark_pods_not_ready(node_name, [key])
            self._process_pod(key, node_name)
        now = self.clock.elapsed()
        while self._heap and self._heap[0][0] <= now:
            trigger, key = heapq.heappop(self._heap)
            entry = self._scheduled.get(key)
            if entry is None or entry[1] != trigger:
                continue  # cancelled or rescheduled
            del self._scheduled[key]
            self._evict(key)

    def _process_pod(self, key: str, node_name: str) -> None:
        """processPodOnNode: when, if ever, the node's NoExecute taints evict this pod."""
        node = self._nodes.get(node_name)
        if node is None or not node.no_execute:
            self._cancel(key, event=True)
            return
        obj = self.api.store.get(("", "pods"), key)
        if obj is None or obj.deleting:
            return
        tolerations = (obj.decode().get("spec") or {}).get("tolerations") or []
        used: list[dict[str, Any]] = []
        for taint_key, value in node.no_execute:
            match = next(
                (t for t in tolerations if tolerates([t], (taint_key, value, "NoExecute"))), None
            )
            if match is None:
                # Not tolerated at all: delete now.
                self._cancel(key, event=True)
                self._schedule(key, 0.0, replace=True)
                return
            used.append(match)
        seconds = _min_toleration(used)
        if seconds is None:
            self._cancel(key, event=True)
            return
        self._schedule(key, seconds)

    def _schedule(self, key: str, seconds: float, replace: bool = False) -> None:
        """AddWork on the eviction queue. An eviction already scheduled stays as it is: its
        clock started when the taint was first seen (as processPodOnNode keeps CreatedAt)."""
        if key in self._scheduled and not replace:
            return
        now = self.clock.elapsed()
        self._scheduled[key] = (now, now + seconds)
        heapq.heappush(self._heap, (now + seconds, key))

    def _cancel(self, key: str, event: bool = False) -> None:
        if self._scheduled.pop(key, None) is None or not event:
            return
        namespace, _, name = key.partition("/")
        self.taint_recorder.event(
            ObjectRef("Pod", namespace, name, self._pod_uid(key), "v1"),
            NORMAL,
            "TaintManagerEviction",
            f"Cancelling deletion of Pod {key}",
        )

    def _pod_uid(self, key: str) -> str:
        obj = self.api.store.get(("", "pods"), key)
        return obj.uid if obj is not None else ""

    def _evict(self, key: str) -> None:
        assert PODS is not None
        obj = self.api.store.get(PODS.storage_key, key)
        if obj is None:
            return
        pod = obj.decode()
        self.taint_recorder.event(
            ObjectRef.of(pod, "Pod"),
            NORMAL,
            "TaintManagerEviction",
            f"Marking for deletion Pod {key}",
        )
        status = pod.setdefault("status", {})
        conditions = [
            c for c in status.get("conditions") or () if c.get("type") != "DisruptionTarget"
        ]
        conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": self.clock.timestamp(),
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
            }
        )
        status["conditions"] = conditions
        try:
            self.api.update(PODS, obj.namespace, obj.name, pod, subresource="status")
            self.api.delete(PODS, obj.namespace, obj.name, DeleteOptions())
        except st.StatusError as exc:
            log.info("event=taint_eviction_failed pod=%s reason=%s", key, exc.reason)

    def _node_event(
        self, name: str, uid: str, reason: str, message: str, raw: bool = False
    ) -> None:
        """RecordNodeEvent ("Node <n> event: ...") or, raw, RecordNodeStatusChange."""
        text = message if raw else f"Node {name} event: {message}"
        self.recorder.event(ObjectRef("Node", "", name, uid, "v1"), NORMAL, reason, text)


def _min_toleration(used: list[dict[str, Any]]) -> float | None:
    """getMinTolerationTime: the smallest tolerationSeconds (<= 0 means now); None: forever."""
    best = math.inf
    for t in used:
        seconds = t.get("tolerationSeconds")
        if seconds is None:
            continue
        if seconds <= 0:
            return 0.0
        best = min(best, float(seconds))
    return None if best == math.inf else best
