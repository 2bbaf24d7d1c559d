"""The simulated machines' state that is not in any API object: which kubelets are down, which
node problems are active, which images each node has cached, whether registries answer.

Faults (``kubeward.sim.faults``) write it; the simulated kubelets read it. Everything a client
can observe still reaches it through the API (node conditions, leases, pod status, events).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class NodeProblem:
    """A node condition a kubelet or node-problem-detector would report, e.g.
    ``NodeProblem("KernelDeadlock", "True", "DockerHung", "...")`` or
    ``NodeProblem("MemoryPressure", "True", "KubeletHasInsufficientMemory", "...")``."""

    type: str
    status: str
    reason: str
    message: str


@dataclass(slots=True)
class MachineState:
    # The kubelet is down or cut off: no lease renewals, no status updates, no pod changes.
    kubelet_stopped: bool = False
    # condition type -> the problem overriding its healthy value
    problems: dict[str, NodeProblem] = field(default_factory=dict)
    images: set[str] = field(default_factory=set)


@dataclass(slots=True)
class ClusterState:
    machines: dict[str, MachineState] = field(default_factory=dict)
    # Image references (or registry host prefixes) whose pulls fail, e.g. during a registry
    # outage: any image starting with one of these cannot be pulled.
    unreachable_registries: set[str] = field(default_factory=set)

    def machine(self, node: str) -> MachineState:
        state = self.machines.get(node)
        if state is None:
            state = self.machines[node] = MachineState()
        return state

    def registry_reachable(self, image: str) -> bool:
        return not any(image.startswith(prefix) for prefix in self.unreachable_registries)


# Problem-detector style conditions a healthy node reports (NodeProblem.type -> healthy value).
# A fault replaces the value in MachineState.problems; clearing it restores these.
KERNEL_DEADLOCK_OK = NodeProblem(
    "KernelDeadlock", "False", "KernelHasNoDeadlock", "kernel has no deadlock"
)
GPU_XID_OK = NodeProblem("GPUXidError", "False", "NoXidErrors", "no GPU Xid errors reported")
KERNEL_DEADLOCK = NodeProblem(
    "KernelDeadlock",
    "True",
    "DockerHung",
    "kernel: INFO: task docker:20744 blocked for more than 120 seconds.",
)
GPU_XID = NodeProblem(
    "GPUXidError", "True", "XidCriticalError", "GPU 0: Xid 79: GPU has fallen off the bus"
)

# The kubelet's own pressure conditions (pkg/kubelet/nodestatus), as a fault forces them.
MEMORY_PRESSURE = NodeProblem(
    "MemoryPressure",
    "True",
    "KubeletHasInsufficientMemory",
    "kubelet has insufficient memory available",
)
DISK_PRESSURE = NodeProblem(
    "DiskPressure", "True", "KubeletHasDiskPressure", "kubelet has disk pressure"
)
