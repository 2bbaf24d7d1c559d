"""Kubelet node side and the node lifecycle controller, in-process on a fast clock."""

from __future__ import annotations

import asyncio
from typing import Any

from kubeward.kube.registry import REGISTRY
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.nodes.state import GPU_XID, KERNEL_DEADLOCK, NodeProblem
from kubeward.sim.scenarios.model import Scenario
from simproc import until

NODES = REGISTRY.get("", "v1", "nodes")
PODS = REGISTRY.get("", "v1", "pods")
LEASES = REGISTRY.get("coordination.k8s.io", "v1", "leases")


def make(pools: list[dict[str, Any]], speed: float = 200) -> SimCluster:
    c = SimCluster(
        Scenario.model_validate({"name": "t", "nodePools": pools}), clock=SimClock(speed=speed)
    )
    c.bootstrap()
    return c


def conditions(c: SimCluster, node: str) -> dict[str, dict[str, Any]]:
    n = c.api.get(NODES, "", node).decode()
    return {x["type"]: x for x in n["status"]["conditions"]}


def taints(c: SimCluster, node: str) -> set[tuple[str, str]]:
    n = c.api.get(NODES, "", node).decode()
    return {(t["key"], t["effect"]) for t in n["spec"].get("taints", [])}


def events(c: SimCluster, reason: str) -> list[dict[str, Any]]:
    return [
        e.decode()
        for e in c.store.resource(("", "events")).objects.values()
        if e.decode()["reason"] == reason
    ]


async def test_leases_and_healthy_conditions() -> None:
    c = make([{"name": "n", "count": 2, "gpus": 1}])
    c.start()
    try:
        await until(lambda: c.store.get(LEASES.storage_key, "kube-node-lease/n-1"))
        lease = c.api.get(LEASES, "kube-node-lease", "n-0").decode()
        assert lease["spec"]["holderIdentity"] == "n-0"
        assert lease["spec"]["leaseDurationSeconds"] == 40
        assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
        first = lease["spec"]["renewTime"]
        await until(
            lambda: (
                c.api.get(LEASES, "kube-node-lease", "n-0").decode()["spec"]["renewTime"] != first
            )
        )
        cond = conditions(c, "n-0")
        assert cond["Ready"]["reason"] == "KubeletReady"
        assert cond["KernelDeadlock"]["status"] == "False"
        assert cond["GPUXidError"]["reason"] == "NoXidErrors"
        assert {e["involvedObject"]["name"] for e in events(c, "Starting")} == {"n-0", "n-1"}
        assert events(c, "RegisteredNode")
    finally:
        await c.stop()


async def test_stopped_kubelet_goes_unknown_is_tainted_and_its_pods_evicted() -> None:
    c = make([{"name": "n", "count": 2}])
    c.start()
    try:
        pod = {
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "nodeName": "n-0",
                "containers": [{"name": "c", "image": "nginx"}],
                # tolerate unreachable for 60 s instead of the default 300 s
                "tolerations": [
                    {
                        "key": "node.kubernetes.io/unreachable",
                        "operator": "Exists",
                        "effect": "NoExecute",
                        "tolerationSeconds": 60,
                    }
                ],
            },
        }
        c.api.create(PODS, "default", pod)
        await until(
            lambda: c.api.get(PODS, "default", "p").decode()["status"].get("phase") == "Running"
        )
        c.state.machine("n-0").kubelet_stopped = True
        await until(lambda: conditions(c, "n-0")["Ready"]["status"] == "Unknown")
        ready = conditions(c, "n-0")["Ready"]
        assert ready["reason"] == "NodeStatusUnknown"
        assert ready["message"] == "Kubelet stopped posting node status."
        assert conditions(c, "n-1")["Ready"]["status"] == "True"
        await until(
            lambda: (
                {
                    ("node.kubernetes.io/unreachable", "NoSchedule"),
                    ("node.kubernetes.io/unreachable", "NoExecute"),
                }
                <= taints(c, "n-0")
            )
        )
        msgs = [e["message"] for e in events(c, "NodeNotReady")]
        assert "Node n-0 status is now: NodeNotReady" in msgs
        assert "Node is not ready" in msgs  # MarkPodsNotReady, on the pod
        pod_ready = next(
            x
            for x in c.api.get(PODS, "default", "p").decode()["status"]["conditions"]
            if x["type"] == "Ready"
        )
        assert pod_ready["status"] == "False"
        # evicted after its 60 s toleration; its kubelet is down, so it stays Terminating
        await until(lambda: c.api.get(PODS, "default", "p").deleting)
        got = c.api.get(PODS, "default", "p").decode()
        target = next(x for x in got["status"]["conditions"] if x["type"] == "DisruptionTarget")
        assert target["reason"] == "DeletionByTaintManager"
        assert [e["message"] for e in events(c, "TaintManagerEviction")] == [
            "Marking for deletion Pod default/p"
        ]
        # the kubelet comes back: Ready again, taints gone, the pod finally deleted
        c.state.machine("n-0").kubelet_stopped = False
        await until(lambda: conditions(c, "n-0")["Ready"]["status"] == "True")
        await until(lambda: not taints(c, "n-0"))
        await until(lambda: c.store.get(("", "pods"), "default/p") is None)
    finally:
        await c.stop()


async def test_problems_become_conditions_taints_and_events() -> None:
    c = make([{"name": "g", "count": 1, "gpus": 2}])
    c.start()
    try:
        await until(lambda: "KernelDeadlock" in conditions(c, "g-0"))
        machine = c.state.machine("g-0")
        machine.problems["KernelDeadlock"] = KERNEL_DEADLOCK
        machine.problems["GPUXidError"] = GPU_XID
        machine.problems["MemoryPressure"] = NodeProblem(
            "MemoryPressure",
            "True",
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
        )
        await until(lambda: conditions(c, "g-0")["GPUXidError"]["status"] == "True")
        node = c.api.get(NODES, "", "g-0").decode()
        assert node["status"]["allocatable"]["nvidia.com/gpu"] == "0"
        assert node["status"]["capacity"]["nvidia.com/gpu"] == "2"
        assert conditions(c, "g-0")["KernelDeadlock"]["reason"] == "DockerHung"
        await until(
            lambda: ("node.kubernetes.io/memory-pressure", "NoSchedule") in taints(c, "g-0")
        )
        assert events(c, "NodeHasInsufficientMemory")
        (deadlock,) = events(c, "DockerHung")
        assert deadlock["source"]["component"] == "kernel-monitor"
        machine.problems.clear()
        await until(lambda: conditions(c, "g-0")["GPUXidError"]["status"] == "False")
        await until(lambda: not taints(c, "g-0"))
        node = c.api.get(NODES, "", "g-0").decode()
        assert node["status"]["allocatable"]["nvidia.com/gpu"] == "2"
    finally:
        await c.stop()


async def test_whole_cluster_outage_adds_no_noexecute_taints() -> None:
    c = make([{"name": "z", "count": 2, "zones": ["a", "b"]}])
    c.start()
    try:
        for n in ("z-0", "z-1"):
            c.state.machine(n).kubelet_stopped = True
        await until(
            lambda: all(conditions(c, n)["Ready"]["status"] == "Unknown" for n in ("z-0", "z-1"))
        )
        await until(lambda: ("node.kubernetes.io/unreachable", "NoSchedule") in taints(c, "z-1"))
        await asyncio.sleep(0.2)
        for n in ("z-0", "z-1"):
            assert ("node.kubernetes.io/unreachable", "NoExecute") not in taints(c, n)
    finally:
        await c.stop()
