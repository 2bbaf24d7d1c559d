"""The simulated kubelets' node work, for every node at once: leases, node status, events.

Each kubelet renews its Lease in ``kube-node-lease`` every ``lease_renew_seconds`` (10 s) and
reports node status when a condition changes or every ``status_report_seconds`` (5 min), as
kubelet 1.31 does with the NodeLease feature. Conditions come from the machine's state, so a
fault (memory pressure, kernel deadlock, GPU Xid error) shows up as the condition a kubelet or
node-problem-detector would set. A stopped kubelet (``MachineState.kubelet_stopped``) does
nothing at all, which the node lifecycle controller notices through the lease.

Work is spread over one tick per simulated second: node ``i`` renews in the tick where
``tick % interval == i % interval``, so 15,000 nodes cost 1,500 lease writes per simulated second
rather than 15,000 at once.
"""

from __future__ import annotations

import logging
import zlib
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
# node event reason when a kubelet condition turns to a status
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
_MONITORS = {"KernelDeadlock": "kernel-monitor", "GPUXidError": "gpu-monitor"}


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
        self._nodes: dict[str, int] = {}  # name -> slot
        self._running: dict[str, bool] = {}  # last seen kubelet state (for restarts)
        self._reported: dict[str, float] = {}  # name -> sim time of last status report
        self._gpus: dict[str, str] = {}  # node -> capacity nvidia.com/gpu
        self.lease_writes = 0
        api.store.add_listener(self._on_event)

    def _on_event(self, event: StoreEvent) -> None:
        if event.storage_key != ("", "nodes"):
            return
        name = event.obj.name
        if event.type == "DELETED":
            self._nodes.pop(name, None)
            return
        if name not in self._nodes:
            self._nodes[name] = zlib.crc32(name.encode())
            gpus = ((event.obj.decode().get("status") or {}).get("capacity") or {}).get(
                "nvidia.com/gpu"
            )
            if gpus:
                self._gpus[name] = gpus

    async def run(self) -> None:
        tick = 0
        interval = max(round(self.lease_renew_seconds), 1)
        while True:
            for name, slot in list(self._nodes.items()):
                if slot % interval != tick % interval:
                    continue
                try:
                    self.sync_node(name)
                except st.StatusError as exc:
                    log.info("kubelet node=%s sync failed: %s", name, exc.reason)
                except Exception:
                    log.exception("event=kubelet_node_sync_failed node=%s", name)
            tick += 1
            await self.clock.sleep(1.0)

    def sync_node(self, name: str) -> None:
        """One kubelet heartbeat: renew the lease, report status if it changed or is due."""
        machine = self.state.machine(name)
        if machine.kubelet_stopped:
            self._running[name] = False
            return
        restarted = self._running.get(name) is False
        first = name not in self._running
        self._running[name] = True
        self._renew_lease(name)
        if first or restarted:
            self._node_event(name, NORMAL, "Starting", "Starting kubelet.")
        self._report_status(name, force=first or restarted, announce=first)

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
        machine = self.state.machine(name)
        wanted = dict(HEALTHY)
        wanted["KernelDeadlock"] = KERNEL_DEADLOCK_OK
        if name in self._gpus:
            wanted["GPUXidError"] = GPU_XID_OK
        wanted.update(machine.problems)
        return wanted

    def _report_status(self, name: str, force: bool, announce: bool = False) -> None:
        """Write node status if something changed or a report is due. ``announce``: a kubelet
        that just started records an event for each condition, as kubelet does."""
        assert NODES is not None
        current = self.api.store.get(("", "nodes"), name)
        if current is None:
            return
        node = current.decode()
        status = node.setdefault("status", {})
        now = self.clock.timestamp()
        found = {c.get("type"): c for c in status.get("conditions") or ()}
        wanted = self.desired_conditions(name)
        changed = []
        conditions = []
        for type_, problem in wanted.items():
            old = found.get(type_)
            same = old is not None and (old.get("status"), old.get("reason")) == (
                problem.status,
                problem.reason,
            )
            if not same or announce:
                changed.append(problem)
            conditions.append(
                {
                    "type": type_,
                    "status": problem.status,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": (
                        old.get("lastTransitionTime", now)
                        if old is not None and old.get("status") == problem.status
                        else now
                    ),
                    "reason": problem.reason,
                    "message": problem.message,
                }
            )
        gpus = self._gpus.get(name)
        if gpus:
            healthy = wanted.get("GPUXidError", GPU_XID_OK).status != "True"
            allocatable = status.setdefault("allocatable", {})
            want = gpus if healthy else "0"
            if allocatable.get("nvidia.com/gpu") != want:
                allocatable["nvidia.com/gpu"] = want
                force = True
        elapsed = self.clock.elapsed()
        due = elapsed - self._reported.get(name, -1e18) >= self.status_report_seconds
        if not (changed or force or due):
            return
        status["conditions"] = conditions
        self.api.update(NODES, "", name, node, subresource="status")
        self._reported[name] = elapsed
        for problem in changed:
            self._condition_event(name, problem)

    def _condition_event(self, name: str, problem: NodeProblem) -> None:
        reason = _KUBELET_EVENTS.get((problem.type, problem.status))
        if reason is not None:
            self._node_event(name, NORMAL, reason, f"Node {name} status is now: {reason}")
            return
        monitor = self.monitors.get(problem.type)
        if monitor is not None and problem.status == "True":
            monitor.event(_node_ref(name), WARNING, problem.reason, problem.message, host=name)

    def _node_event(self, name: str, type_: str, reason: str, message: str) -> None:
        self.recorder.event(_node_ref(name), type_, reason, message, host=name)


def _node_ref(name: str) -> ObjectRef:
    # The kubelet refers to its node with the node name as uid (kubelet's nodeRef).
    return ObjectRef("Node", "", name, name, "v1")


def condition_map(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or ()}
