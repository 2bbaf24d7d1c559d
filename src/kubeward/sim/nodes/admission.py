"""The kubelet's own admission check (kubelet/lifecycle's predicateAdmitHandler): before it runs
a pod bound to its node, the kubelet checks that the pod fits next to the pods it already runs
there, and rejects it otherwise.

The scheduler never binds a pod that does not fit, so what gets rejected here are pods that
bypass it with ``spec.nodeName``: one sent to a full node fails with ``OutOfcpu``, as on a real
cluster. The checks run in the kubelet's order, and the first failure is the reason:

1. device plugins (the device manager's allocation): an extended resource such as
   ``nvidia.com/gpu`` the node has too few of fails with ``UnexpectedAdmissionError``,
   ``Allocate failed due to requested number of devices unavailable for nvidia.com/gpu.
   Requested: 1, Available: 0, which is unexpected`` (``can't allocate unregistered device``
   when the node has none at all). Every extended resource of the simulator is a device
   plugin's;
2. resources (the scheduler's NodeResourcesFit over the node's active pods): pods, cpu,
   memory, then hugepages, each against allocatable minus what the active pods request. The
   reason is ``OutOfpods``, ``OutOfcpu``, ``OutOfmemory`` or ``OutOf<name>``; the message is
   ``Node didn't have enough resource: cpu, requested: 3000, used: 1500, capacity: 3900``
   (cpu in millicores, memory in bytes);
3. required node affinity and nodeSelector: ``NodeAffinity``;
4. host ports: ``NodePorts``;
5. a NoExecute taint the pod does not tolerate: ``TaintToleration``.

The last three say ``Predicate <name> failed: <the scheduler's reason>``. The rejected pod is
set ``Failed`` with that reason and the message ``Pod was rejected: <message>``, and a Warning
event with the reason is recorded. The kubelet counts as active the pods it admitted that have
not finished, terminating ones included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubeward.kube.nodeaffinity import pod_fits_node
from kubeward.sim.control.scheduler import SCHEDULER_NAME
from kubeward.sim.control.scheduling.filters import MSG_AFFINITY, pod_request, tolerates
from kubeward.sim.control.scheduling.hostports import (
    MSG_NODE_PORTS,
    HostPort,
    host_ports,
    ports_conflict,
)
from kubeward.sim.control.scheduling.nodetable import Taint, node_taints, resource_amount

MSG_TAINTS = "node(s) had taints that the pod didn't tolerate"
_FIRST = ("pods", "cpu", "memory")  # the order noderesources.Fits checks them in


@dataclass(frozen=True)
class AdmitNode:
    """What the kubelet knows of its own node."""

    name: str
    labels: dict[str, str]
    allocatable: dict[str, float]  # resource_amount units: cpu in millicores
    no_execute: tuple[Taint, ...]  # the NoExecute taints

    @classmethod
    def of(cls, node: dict[str, Any]) -> AdmitNode:
        meta, spec = node.get("metadata") or {}, node.get("spec") or {}
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        return cls(
            meta.get("name", ""),
            meta.get("labels") or {},  # shared with the decoded node, not copied
            {res: resource_amount(res, value) for res, value in allocatable.items()},
            node_taints(spec, ("NoExecute",)),
        )


@dataclass(frozen=True)
class Admitted:
    """An active pod, as the next admission counts it."""

    request: dict[str, float]
    ports: tuple[HostPort, ...]


@dataclass(frozen=True)
class Rejection:
    reason: str
    message: str


def admitted(spec: dict[str, Any]) -> Admitted:
    return Admitted(pod_request(spec), host_ports(spec))


def placed_by_scheduler(pod: dict[str, Any]) -> bool:
    """Whether the simulator's scheduler bound the pod (a default-scheduler pod with the
    binding's PodScheduled=True; a Binding someone else posts for such a pod passes too). Such
    pods are admitted unchecked: the scheduler counts the same pods as the kubelets,
    synchronously, so they always fit, and checking each of them cost about 4 % of pods/s at a
    tenth of ``large``."""
    if (pod.get("spec") or {}).get("schedulerName", SCHEDULER_NAME) != SCHEDULER_NAME:
        return False
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "PodScheduled" and c.get("status") == "True" for c in conditions)


def admit(spec: dict[str, Any], node: AdmitNode, active: Iterable[Admitted]) -> Rejection | None:
    """Why the kubelet rejects a pod with ``spec`` next to the ``active`` ones (None: it
    fits)."""
    pod = admitted(spec)
    active = list(active)
    used: dict[str, float] = {"pods": float(len(active))}
    for other in active:
        for res, amount in other.request.items():
            if res != "pods":
                used[res] = used.get(res, 0.0) + amount
    for res in sorted(r for r in pod.request if "/" in r):
        wanted = pod.request[res]
        if res not in node.allocatable:
            return _device_failure(f"can't allocate unregistered device {res}")
        available = node.allocatable[res] - used.get(res, 0.0)
        if wanted > available:
            return _device_failure(
                f"requested number of devices unavailable for {res}. "
                f"Requested: {int(wanted)}, Available: {int(max(available, 0))}"
            )
    rest = sorted(r for r in pod.request if r not in _FIRST and "/" not in r)  # hugepages
    for res in (*_FIRST, *rest):
        wanted = pod.request.get(res, 0.0)
        capacity = node.allocatable.get(res, 0.0)
        if wanted > 0 and wanted > capacity - used.get(res, 0.0):
            message = (
                f"Node didn't have enough resource: {res}, requested: {int(wanted)}, "
                f"used: {int(used.get(res, 0.0))}, capacity: {int(capacity)}"
            )
            return Rejection(f"OutOf{res}", message)
    if not pod_fits_node(spec, node.name, node.labels):
        return _predicate("NodeAffinity", MSG_AFFINITY)
    taken = [p for other in active for p in other.ports]
    if any(ports_conflict(w, t) for w in pod.ports for t in taken):
        return _predicate("NodePorts", MSG_NODE_PORTS)
    tolerations = list(spec.get("tolerations") or ())
    if any(not tolerates(tolerations, taint) for taint in node.no_execute):
        return _predicate("TaintToleration", MSG_TAINTS)
    return None


def _device_failure(error: str) -> Rejection:
    message = f"Allocate failed due to {error}, which is unexpected"
    return Rejection("UnexpectedAdmissionError", message)


def _predicate(name: str, reason: str) -> Rejection:
    return Rejection(name, f"Predicate {name} failed: {reason}")
