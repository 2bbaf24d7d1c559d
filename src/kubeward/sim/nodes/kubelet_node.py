"""The simulated kubelets' node work, for every node at once: leases, node status, events.

Each kubelet renews its Lease in ``kube-node-lease`` every ``lease_renew_seconds`` (10 s) and
checks its node status just as often, writing it only when a condition changed or every
``status_report_seconds`` (nodeStatusReportFrequency, 5 min), as kubelet 1.31 does with the
NodeLease feature. Conditions come from the machine's state, so a fault (memory pressure, kernel
deadlock, GPU Xid error) shows up as the condition a kubelet or node-problem-detector would set.
A stopped kubelet (``MachineState.kubelet_stopped``) does nothing at all, which the node
lifecycle controller notices through the lease; when it clears the kubelet "restarts".

One fleet object serves every node: nodes are spread over ``lease_renew_seconds`` buckets by a
hash of their name (the jitter), and one timer tick per simulated second serves one bucket, so
15,000 nodes cost 1,500 lease writes per simulated second and no task per node. A heartbeat with
nothing to report does not even decode the Node: the last written condition set is cached and
only dropped when someone else writes the Node.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import zlib
from collections.abc import Callable
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.control.events import NORMAL, WARNING, EventRecorder, ObjectRef
from kubeward.sim.nodes.state import GPU_XID_OK, KERNEL_DEADLOCK_OK, ClusterState, NodeProblem
from kubeward.sim.store.objects import StoreEvent

log = logging.getLogger("kubeward.sim.kubelet")

NODES = REGISTRY.get("", "v1", "nodes")
LEASES = REGISTRY.get("coordination.k8s.io", "v1", "leases")
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40
GPU = "nvidia.com/gpu"

HEALTHY = {
    "MemoryPressure": NodeProblem(
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    "DiskPressure": NodeProblem(
        "DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"
    ),
    "PIDPressure": NodeProblem(
        "PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"
    ),
    "Ready": NodeProblem("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
}
# Node event reason when a kubelet condition turns to a status (kubelet's nodestatus setters).
_KUBELET_EVENTS = {
    ("MemoryPressure", "False"): "NodeHasSufficientMemory",
    ("MemoryPressure", "True"): "NodeHasInsufficientMemory",
    ("DiskPressure", "False"): "NodeHasNoDiskPressure",
    ("DiskPressure", "True"): "NodeHasDiskPressure",
    ("PIDPressure", "False"): "NodeHasSufficientPID",
    ("PIDPressure", "True"): "NodeHasInsufficientPID",
    ("Ready", "True"): "NodeReady",
    ("Ready", "False"): "NodeNotReady",
}
# node-problem-detector monitors (the event source component) per condition they own
_MONITORS = {"KernelDeadlock": "kernel-monitor", "GPUXidError": "gpu-monitor"}

_CHUNK = 256  # heartbeats between yields to the event loop
_ALLOCATABLE_MESSAGE = "Updated Node Allocatable limit across pods"
_NPD_HEALTHY = (KERNEL_DEADLOCK_OK, GPU_XID_OK)
_Signature = tuple[tuple[NodeProblem, ...], str | None]


class KubeletNodes:
    name = "kubelet-nodes"

    def __init__(
        self,
        api: ObjectAPI,
        state: ClusterState,
        lease_renew_seconds: float = 10.0,
        status_report_seconds: float = 300.0,
    ) -> None:
        self.api = api
        self.clock = api.clock
        self.state = state
        self.lease_renew_seconds = lease_renew_seconds
        self.status_report_seconds = status_report_seconds
        self.recorder = EventRecorder(api, "kubelet")
        self.monitors = {c: EventRecorder(api, m) for c, m in _MONITORS.items()}
        # About one bucket per simulated second; a node's bucket is its heartbeat phase.
        self._buckets: list[set[str]] = [set() for _ in range(max(round(lease_renew_seconds), 1))]
        self._running: dict[str, bool] = {}  # last seen kubelet state (for restarts)
        self._reported: dict[str, float] = {}  # name -> sim time of the last status write
        self._last: dict[str, _Signature] = {}  # name -> what the last status write said
        self._own_rv: dict[str, int] = {}  # name -> resourceVersion of our last node write
        self._gpus: dict[str, str] = {}  # node -> capacity nvidia.com/gpu
        # virtual-kubelet nodes: no kernel of their own, so no node-problem-detector
        self._virtual: set[str] = set()
        self.lease_writes = 0
        self.status_writes = 0
        # Called with the node name when a stopped kubelet comes back, after its node is Ready
        # again: the pod side re-syncs pod status then (the node controller set Ready=False).
        self.restart_hooks: list[Callable[[str], None]] = []
        api.store.add_listener(self._on_event, [("", "nodes")])

    def _bucket(self, name: str) -> set[str]:
        return self._buckets[zlib.crc32(name.encode()) % len(self._buckets)]

    def _on_event(self, event: StoreEvent) -> None:
        name = event.obj.name
        if event.type == "DELETED":
            self._bucket(name).discard(name)
            self._running.pop(name, None)
            self._reported.pop(name, None)
            self._last.pop(name, None)
            self._own_rv.pop(name, None)
            self._gpus.pop(name, None)
            self._virtual.discard(name)
            return
        bucket = self._bucket(name)
        if name not in bucket:
            bucket.add(name)
            if event.obj.labels.get("type") == "virtual-kubelet":
                self._virtual.add(name)
            capacity = (event.obj.decode().get("status") or {}).get("capacity") or {}
            if capacity.get(GPU):
                self._gpus[name] = capacity[GPU]
        elif event.obj.rv != self._own_rv.get(name):
            # Someone else wrote the Node (node controller, kubectl): compare again next time.
            self._last.pop(name, None)

    async def run(self) -> None:
        tick_seconds = self.lease_renew_seconds / len(self._buckets)
        start = self.clock.elapsed()
        tick = 0
        while True:
            bucket = self._buckets[tick % len(self._buckets)]
            for i, name in enumerate(list(bucket)):
                if i and i % _CHUNK == 0:
                    await asyncio.sleep(0)  # let the scheduler and controllers run in between
                if name not in bucket:
                    continue  # deleted meanwhile
                try:
                    self.sync_node(name)
                except st.StatusError as exc:
                    log.info("event=kubelet_node_sync_failed node=%s reason=%s", name, exc.reason)
                except Exception:
                    log.exception("event=kubelet_node_sync_failed node=%s", name)
            tick += 1
            # Against the clock, not after the work: heartbeats keep their period under load.
            await self.clock.sleep(start + tick * tick_seconds - self.clock.elapsed())

    def sync_node(self, name: str) -> None:
        """One kubelet heartbeat: renew the lease, report status if it changed or is due."""
        machine = self.state.machine(name)
        if machine.kubelet_stopped:
            self._running[name] = False
            return
        was_running = self._running.get(name)
        self._running[name] = True
        self._renew_lease(name)
        if was_running is not True:
            self._node_event(name, NORMAL, "Starting", "Starting kubelet.")
            self._last.pop(name, None)
        self._report_status(name, started=was_running is not True, first=was_running is None)
        if was_running is False:
            for hook in self.restart_hooks:
                hook(name)

    def _renew_lease(self, name: str) -> None:
        assert LEASES is not None
        now = self.clock.timestamp_micro()
        current = self.api.store.get(LEASES.storage_key, f"{LEASE_NAMESPACE}/{name}")
        self.lease_writes += 1
        if current is None:
            node = self.api.store.get(("", "nodes"), name)
            owner = (
                [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node.uid}]
                if node is not None
                else []
            )
            self.api.create(
                LEASES,
                LEASE_NAMESPACE,
                {
                    "metadata": {"name": name, "ownerReferences": owner},
                    "spec": {
                        "holderIdentity": name,
                        "leaseDurationSeconds": LEASE_DURATION,
                        "renewTime": now,
                    },
                },
            )
            return
        lease = current.decode()
        lease["spec"]["renewTime"] = now
        self.api.update(LEASES, LEASE_NAMESPACE, name, lease)

    def desired_conditions(self, name: str) -> dict[str, NodeProblem]:
        """The kubelet's four conditions, then node-problem-detector's, with faults applied."""
        machine = self.state.machine(name)
        wanted = dict(HEALTHY)
        if name not in self._virtual:
            wanted["KernelDeadlock"] = KERNEL_DEADLOCK_OK
        if name in self._gpus:
            wanted["GPUXidError"] = GPU_XID_OK
        wanted.update(machine.problems)
        return wanted

    def _gpu_allocatable(self, name: str, wanted: dict[str, NodeProblem]) -> str | None:
        """The device plugin reports a GPU with an Xid error unhealthy: allocatable drops."""
        gpus = self._gpus.get(name)
        if gpus is None:
            return None
        return "0" if wanted.get("GPUXidError", GPU_XID_OK).status == "True" else gpus

    def _report_status(self, name: str, started: bool, first: bool) -> None:
        """Write node status if something changed or a report is due. A kubelet that just
        started records an event for every condition it sets (``first``: all of them, as on
        registration), and NodeAllocatableEnforced."""
        assert NODES is not None
        wanted = self.desired_conditions(name)
        gpu = self._gpu_allocatable(name, wanted)
        signature: _Signature = (tuple(wanted.values()), gpu)
        elapsed = self.clock.elapsed()
        due = elapsed - self._reported.get(name, -math.inf) >= self.status_report_seconds
        if not (started or due) and self._last.get(name) == signature:
            return
        current = self.api.store.get(("", "nodes"), name)
        if current is None:
            return
        node = current.decode()
        status = node.setdefault("status", {})
        now = self.clock.timestamp()
        found = {c.get("type"): c for c in status.get("conditions") or ()}
        changed: list[NodeProblem] = []
        conditions = []
        differs = False
        for type_, problem in wanted.items():
            old = found.pop(type_, None)
            old_status = old.get("status") if old else None
            if old_status != problem.status or first:
                changed.append(problem)
            if old is None or (old_status, old.get("reason"), old.get("message")) != (
                problem.status,
                problem.reason,
                problem.message,
            ):
                differs = True
            conditions.append(
                {
                    "type": type_,
                    "status": problem.status,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": (
                        old.get("lastTransitionTime", now)
                        if old is not None and old_status == problem.status
                        else now
                    ),
                    "reason": problem.reason,
                    "message": problem.message,
                }
            )
        # Conditions other components own (NetworkUnavailable, custom ones) stay as they are.
        conditions.extend(found.values())
        if gpu is not None:
            allocatable = status.setdefault("allocatable", {})
            if allocatable.get(GPU) != gpu:
                allocatable[GPU] = gpu
                differs = True
        if differs or due or started:
            status["conditions"] = conditions
            written = self.api.update(NODES, "", name, node, subresource="status")
            self._own_rv[name] = written.rv
            self._reported[name] = elapsed
            self.status_writes += 1
        self._last[name] = signature
        self._record_changes(name, changed, started, first)

    def _record_changes(
        self, name: str, changed: list[NodeProblem], started: bool, first: bool
    ) -> None:
        """Events in the order a starting kubelet emits them: pressure conditions, allocatable
        enforcement, NodeReady; then node-problem-detector's condition changes."""
        later: list[NodeProblem] = []
        for problem in changed:
            if problem.type == "Ready":
                later.insert(0, problem)
                continue
            reason = _KUBELET_EVENTS.get((problem.type, problem.status))
            if reason is None:
                later.append(problem)
                continue
            self._node_event(name, NORMAL, reason, f"Node {name} status is now: {reason}")
        if started and name not in self._virtual:
            self._node_event(name, NORMAL, "NodeAllocatableEnforced", _ALLOCATABLE_MESSAGE)
        for problem in later:
            reason = _KUBELET_EVENTS.get((problem.type, problem.status))
            if reason is not None:
                self._node_event(name, NORMAL, reason, f"Node {name} status is now: {reason}")
                continue
            monitor = self.monitors.get(problem.type)
            if monitor is None or (first and problem in _NPD_HEALTHY):
                # node-problem-detector starts healthy and reports only changes from there
                continue
            monitor.event(
                _node_ref(name),
                WARNING if problem.status == "True" else NORMAL,
                problem.reason,
                f"Node condition {problem.type} is now: {problem.status}, reason: "
                f"{problem.reason}, message: {json.dumps(problem.message)}",
                host=name,
            )

    def _node_event(self, name: str, type_: str, reason: str, message: str) -> None:
        self.recorder.event(_node_ref(name), type_, reason, message, host=name)


def _node_ref(name: str) -> ObjectRef:
    # The kubelet refers to its node with the node name as uid (kubelet's nodeRef).
    return ObjectRef("Node", "", name, name, "v1")


def condition_map(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or ()}
