"""Kubelet node side and the node lifecycle controller, in-process on a fast clock."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as hs

from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.nodelifecycle import NodeLifecycleController, _Bucket
from kubeward.sim.nodes.kubelet_node import KubeletNodes
from kubeward.sim.nodes.state import GPU_XID, KERNEL_DEADLOCK, NodeProblem
from kubeward.sim.scenarios.model import Scenario
from simproc import until

NODES = REGISTRY.get("", "v1", "nodes")
PODS = REGISTRY.get("", "v1", "pods")
LEASES = REGISTRY.get("coordination.k8s.io", "v1", "leases")
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE = (UNREACHABLE, "NoExecute")
NO_SCHEDULE = (UNREACHABLE, "NoSchedule")


def make(pools: list[dict[str, Any]], speed: float = 200, simulate: bool = True) -> SimCluster:
    c = SimCluster(
        Scenario.model_validate({"name": "t", "nodePools": pools}),
        clock=SimClock(speed=speed),
        simulate=simulate,
    )
    c.bootstrap()
    return c


def lifecycle(c: SimCluster) -> NodeLifecycleController:
    return next(x for x in c.controllers if isinstance(x, NodeLifecycleController))


def node(c: SimCluster, name: str) -> dict[str, Any]:
    return c.api.get(NODES, "", name).decode()


def conditions(c: SimCluster, name: str) -> dict[str, dict[str, Any]]:
    return {x["type"]: x for x in node(c, name)["status"]["conditions"]}


def taints(c: SimCluster, name: str) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in node(c, name)["spec"].get("taints", [])}


def events(c: SimCluster, reason: str, name: str | None = None) -> list[dict[str, Any]]:
    found = [e.decode() for e in c.store.resource(("", "events")).objects.values()]
    return [
        e
        for e in found
        if e["reason"] == reason and (name is None or e["involvedObject"]["name"] == name)
    ]


def reasons(c: SimCluster, name: str, component: str) -> list[str]:
    found = [e.decode() for e in c.store.resource(("", "events")).objects.values()]
    mine = [
        e
        for e in found
        if e["involvedObject"]["name"] == name and e["source"]["component"] == component
    ]
    return [e["reason"] for e in sorted(mine, key=lambda e: e["metadata"]["name"])]


def pod_on(c: SimCluster, name: str, node_name: str, **spec: Any) -> None:
    body = {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "nginx"}], **spec},
    }
    c.api.create(PODS, "default", body)


def pod(c: SimCluster, name: str) -> dict[str, Any]:
    return c.api.get(PODS, "default", name).decode()


def pod_condition(c: SimCluster, name: str, type_: str) -> dict[str, Any] | None:
    return next(
        (x for x in pod(c, name)["status"].get("conditions", []) if x["type"] == type_), None
    )


def gone(c: SimCluster, name: str) -> bool:
    return c.store.get(("", "pods"), f"default/{name}") is None


def seconds_between(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


async def test_leases_conditions_and_startup_events() -> None:
    c = make([{"name": "n", "count": 2, "gpus": 1}])
    c.start()
    try:
        await until(lambda: c.store.get(LEASES.storage_key, "kube-node-lease/n-1"))
        lease = c.api.get(LEASES, "kube-node-lease", "n-0").decode()
        assert lease["spec"]["holderIdentity"] == "n-0"
        assert lease["spec"]["leaseDurationSeconds"] == 40
        owner = lease["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == ("Node", "n-0")
        assert owner["uid"] == c.api.get(NODES, "", "n-0").uid
        first = lease["spec"]["renewTime"]
        assert "." in first  # MicroTime
        await until(
            lambda: (
                c.api.get(LEASES, "kube-node-lease", "n-0").decode()["spec"]["renewTime"] != first
            )
        )
        cond = conditions(c, "n-0")
        assert cond["Ready"]["reason"] == "KubeletReady"
        assert cond["Ready"]["message"] == "kubelet is posting ready status"
        assert cond["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
        assert cond["KernelDeadlock"]["status"] == "False"
        assert cond["GPUXidError"]["reason"] == "NoXidErrors"
        # kubelet's startup events, in its order, then the node controller's registration
        await until(lambda: events(c, "RegisteredNode", "n-1"))
        assert reasons(c, "n-0", "kubelet") == [
            "Starting",
            "NodeHasSufficientMemory",
            "NodeHasNoDiskPressure",
            "NodeHasSufficientPID",
            "NodeAllocatableEnforced",
            "NodeReady",
        ]
        (starting,) = events(c, "Starting", "n-0")
        assert starting["message"] == "Starting kubelet."
        assert starting["source"] == {"component": "kubelet", "host": "n-0"}
        (ready,) = events(c, "NodeReady", "n-0")
        assert ready["message"] == "Node n-0 status is now: NodeReady"
        (registered,) = events(c, "RegisteredNode", "n-0")
        assert registered["message"] == "Node n-0 event: Registered Node n-0 in Controller"
        assert registered["source"]["component"] == "node-controller"
        assert registered["involvedObject"]["uid"] == c.api.get(NODES, "", "n-0").uid
        assert not events(c, "KernelHasNoDeadlock")  # problem detectors report changes only
    finally:
        await c.stop()


async def test_virtual_nodes_have_no_problem_detector() -> None:
    c = make([{"name": "v", "count": 1, "virtual": True}, {"name": "n", "count": 1}])
    c.start()
    try:
        await until(lambda: events(c, "NodeReady", "v-0") and events(c, "NodeReady", "n-0"))
        assert "KernelDeadlock" not in conditions(c, "v-0")
        assert conditions(c, "v-0")["Ready"]["status"] == "True"
        assert "KernelDeadlock" in conditions(c, "n-0")
        assert c.store.get(LEASES.storage_key, "kube-node-lease/v-0") is not None
    finally:
        await c.stop()


async def test_status_written_on_change_or_report_frequency_only() -> None:
    c = make([{"name": "n", "count": 1}], speed=100)
    kubelet = next(x for x in c.controllers if isinstance(x, KubeletNodes))
    c.start()
    try:
        await until(lambda: kubelet.status_writes == 1)
        hb = conditions(c, "n-0")["Ready"]["lastHeartbeatTime"]
        transition = conditions(c, "n-0")["Ready"]["lastTransitionTime"]
        renewals = kubelet.lease_writes
        await until(lambda: kubelet.lease_writes >= renewals + 5)  # 50 s of heartbeats
        assert kubelet.status_writes == 1  # nothing changed: only the lease
        # nodeStatusReportFrequency (5 min): a fresh heartbeat, no transition
        await until(lambda: conditions(c, "n-0")["Ready"]["lastHeartbeatTime"] != hb)
        assert seconds_between(hb, conditions(c, "n-0")["Ready"]["lastHeartbeatTime"]) >= 290
        assert conditions(c, "n-0")["Ready"]["lastTransitionTime"] == transition
    finally:
        await c.stop()


async def test_lease_interval_and_grace_period_are_configurable() -> None:
    c = make([{"name": "n", "count": 1}], speed=100, simulate=False)
    kubelet = KubeletNodes(c.api, c.state, lease_renew_seconds=2)
    controller = NodeLifecycleController(c.api, grace_seconds=6, monitor_period=1)
    c.controllers += [kubelet, controller]
    # both subscribed after bootstrap: they learn the node from its next write
    n = node(c, "n-0")
    n["metadata"]["labels"]["touched"] = "yes"
    c.api.update(NODES, "", "n-0", n)
    c.start()
    try:
        await until(lambda: c.store.get(LEASES.storage_key, "kube-node-lease/n-0"))
        times = []
        for _ in range(3):
            last = c.api.get(LEASES, "kube-node-lease", "n-0").decode()["spec"]["renewTime"]
            await until(
                lambda last=last: (
                    c.api.get(LEASES, "kube-node-lease", "n-0").decode()["spec"]["renewTime"]
                    != last
                )
            )
            times.append(c.api.get(LEASES, "kube-node-lease", "n-0").decode()["spec"]["renewTime"])
        assert 1.5 <= seconds_between(times[0], times[1]) <= 3
        c.state.machine("n-0").kubelet_stopped = True
        stopped = c.clock.elapsed()
        await until(lambda: conditions(c, "n-0")["Ready"]["status"] == "Unknown")
        # 6 s grace, checked every 1 s: well before the default 40 s
        assert c.clock.elapsed() - stopped < 15
    finally:
        await c.stop()


async def test_stopped_kubelet_goes_unknown_is_tainted_and_its_pods_evicted() -> None:
    c = make([{"name": "n", "count": 2}])
    restarted: list[str] = []
    next(x for x in c.controllers if isinstance(x, KubeletNodes)).restart_hooks.append(
        restarted.append
    )
    c.start()
    try:
        # p tolerates unreachable for 60 s; q gets the default 300 s (DefaultTolerationSeconds)
        tolerate_60 = {
            "key": UNREACHABLE,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 60,
        }
        pod_on(c, "p", "n-0", tolerations=[tolerate_60])
        pod_on(c, "q", "n-0")
        await until(lambda: pod(c, "p")["status"].get("phase") == "Running")
        await until(lambda: (pod_condition(c, "q", "Ready") or {}).get("status") == "True")
        hb = conditions(c, "n-0")["Ready"]["lastHeartbeatTime"]
        c.state.machine("n-0").kubelet_stopped = True
        await until(lambda: conditions(c, "n-0")["Ready"]["status"] == "Unknown")
        cond = conditions(c, "n-0")
        for type_ in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
            assert cond[type_]["status"] == "Unknown"
            assert cond[type_]["reason"] == "NodeStatusUnknown"
            assert cond[type_]["message"] == "Kubelet stopped posting node status."
        assert cond["Ready"]["lastHeartbeatTime"] == hb  # kept: the kubelet said nothing since
        assert cond["Ready"]["lastTransitionTime"] > hb
        assert cond["KernelDeadlock"]["status"] == "False"  # not the controller's to change
        assert conditions(c, "n-1")["Ready"]["status"] == "True"
        await until(lambda: {NO_SCHEDULE, NO_EXECUTE} <= taints(c, "n-0"))
        assert all("timeAdded" in t for t in node(c, "n-0")["spec"]["taints"])
        (not_ready,) = [
            e for e in events(c, "NodeNotReady") if e["involvedObject"]["kind"] == "Node"
        ]
        assert not_ready["message"] == "Node n-0 status is now: NodeNotReady"
        assert not_ready["source"]["component"] == "node-controller"
        # MarkPodsNotReady: Ready False, ContainersReady left alone, an event on each pod
        assert pod_condition(c, "p", "Ready")["status"] == "False"  # type: ignore[index]
        assert pod_condition(c, "q", "ContainersReady")["status"] == "True"  # type: ignore[index]
        pod_events = events(c, "NodeNotReady", "p")
        assert [(e["type"], e["message"]) for e in pod_events] == [("Warning", "Node is not ready")]
        # p evicted after its 60 s toleration; its kubelet is down, so it stays Terminating
        await until(lambda: c.api.get(PODS, "default", "p").deleting)
        target = pod_condition(c, "p", "DisruptionTarget")
        assert target is not None
        assert target["reason"] == "DeletionByTaintManager"
        assert target["message"] == "Taint manager: deleting due to NoExecute taint"
        (marking,) = events(c, "TaintManagerEviction", "p")
        assert marking["message"] == "Marking for deletion Pod default/p"
        assert marking["source"]["component"] == "taint-eviction-controller"
        assert not c.api.get(PODS, "default", "q").deleting  # 300 s not over yet
        # the kubelet comes back: Ready again, taints gone, q's eviction cancelled, p deleted
        c.state.machine("n-0").kubelet_stopped = False
        await until(lambda: conditions(c, "n-0")["Ready"]["status"] == "True")
        await until(lambda: not taints(c, "n-0"))
        await until(lambda: gone(c, "p"))
        assert [e["message"] for e in events(c, "TaintManagerEviction", "q")] == [
            "Cancelling deletion of Pod default/q"
        ]
        assert restarted == ["n-0"]
        assert len(events(c, "Starting", "n-0")) == 1
        assert events(c, "Starting", "n-0")[0]["count"] == 2  # restarted: the event repeats
        assert events(c, "NodeReady", "n-0")[0]["count"] == 2
        await asyncio.sleep(300 / 200)  # past q's original deadline
        assert not c.api.get(PODS, "default", "q").deleting
    finally:
        await c.stop()


async def test_running_kubelet_puts_back_ready_another_component_changed() -> None:
    """The node controller marks pods Ready=False when heartbeats come late; a kubelet that
    is still running writes its own view back at its status manager's next sync."""
    c = make([{"name": "n", "count": 1}])
    c.start()
    try:
        pod_on(c, "p", "n-0")
        await until(lambda: (pod_condition(c, "p", "Ready") or {}).get("status") == "True")
        before = pod_condition(c, "p", "Ready")
        marked = pod(c, "p")
        ready = next(x for x in marked["status"]["conditions"] if x["type"] == "Ready")
        ready.update(status="False", lastTransitionTime=c.clock.timestamp())
        c.api.update(PODS, "default", "p", marked, subresource="status")
        assert pod_condition(c, "p", "Ready")["status"] == "False"  # type: ignore[index]
        started = c.clock.elapsed()
        await until(lambda: pod_condition(c, "p", "Ready")["status"] == "True")  # type: ignore[index]
        assert c.clock.elapsed() - started >= 10 - 1  # at the status manager's sync, not at once
        after = pod_condition(c, "p", "Ready")
        assert after is not None and before is not None
        assert after["lastTransitionTime"] >= ready["lastTransitionTime"]
        assert pod_condition(c, "p", "ContainersReady")["status"] == "True"  # type: ignore[index]
    finally:
        await c.stop()


async def test_untolerated_noexecute_taint_evicts_at_once() -> None:
    c = make([{"name": "n", "count": 1}])
    c.start()
    try:
        pod_on(c, "p", "n-0")
        pod_on(
            c,
            "stays",
            "n-0",
            tolerations=[{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}],
        )
        n = node(c, "n-0")
        n["spec"]["taints"] = [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]
        c.api.update(NODES, "", "n-0", n)
        await until(lambda: c.store.get(("", "pods"), "default/p") is None)
        assert events(c, "TaintManagerEviction", "p")
        await asyncio.sleep(0.5)  # 100 s: tolerated without tolerationSeconds, forever
        assert not gone(c, "stays")
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
        n = node(c, "g-0")
        assert n["status"]["allocatable"]["nvidia.com/gpu"] == "0"
        assert n["status"]["capacity"]["nvidia.com/gpu"] == "2"
        assert conditions(c, "g-0")["KernelDeadlock"]["reason"] == "DockerHung"
        assert conditions(c, "g-0")["Ready"]["status"] == "True"
        await until(
            lambda: ("node.kubernetes.io/memory-pressure", "NoSchedule") in taints(c, "g-0")
        )
        (memory,) = events(c, "NodeHasInsufficientMemory")
        assert memory["message"] == "Node g-0 status is now: NodeHasInsufficientMemory"
        (deadlock,) = events(c, "DockerHung")
        assert deadlock["source"] == {"component": "kernel-monitor", "host": "g-0"}
        assert deadlock["type"] == "Warning"
        assert deadlock["message"] == (
            "Node condition KernelDeadlock is now: True, reason: DockerHung, message: "
            '"kernel: INFO: task docker:20744 blocked for more than 120 seconds."'
        )
        assert events(c, "XidCriticalError")[0]["source"]["component"] == "gpu-monitor"
        machine.problems.clear()
        await until(lambda: conditions(c, "g-0")["GPUXidError"]["status"] == "False")
        await until(lambda: not taints(c, "g-0"))
        assert node(c, "g-0")["status"]["allocatable"]["nvidia.com/gpu"] == "2"
        assert events(c, "NodeHasSufficientMemory", "g-0")[0]["count"] == 2
        (healed,) = events(c, "KernelHasNoDeadlock")
        assert healed["type"] == "Normal"
    finally:
        await c.stop()


async def test_cordon_adds_and_uncordon_removes_the_unschedulable_taint() -> None:
    c = make([{"name": "n", "count": 1}])
    c.start()
    try:
        n = node(c, "n-0")
        n["spec"]["unschedulable"] = True
        c.api.update(NODES, "", "n-0", n)
        await until(lambda: ("node.kubernetes.io/unschedulable", "NoSchedule") in taints(c, "n-0"))
        n = node(c, "n-0")
        n["spec"].pop("unschedulable")
        c.api.update(NODES, "", "n-0", n)
        await until(lambda: not taints(c, "n-0"))
    finally:
        await c.stop()


async def test_deleted_node_is_removed_from_controller_and_its_lease_collected() -> None:
    c = make([{"name": "n", "count": 2}])
    c.start()
    try:
        await until(lambda: c.store.get(LEASES.storage_key, "kube-node-lease/n-1"))
        await until(lambda: events(c, "RegisteredNode", "n-1"))
        c.api.delete(NODES, "", "n-1", DeleteOptions())
        await until(lambda: events(c, "RemovingNode", "n-1"))
        (removing,) = events(c, "RemovingNode", "n-1")
        assert removing["message"] == "Node n-1 event: Removing Node n-1 from Controller"
        # the lease's ownerReference lets the garbage collector delete it
        await until(lambda: c.store.get(LEASES.storage_key, "kube-node-lease/n-1") is None)
        await asyncio.sleep(0.2)  # 40 s: the kubelet fleet does not recreate it
        assert c.store.get(LEASES.storage_key, "kube-node-lease/n-1") is None
        assert c.store.get(LEASES.storage_key, "kube-node-lease/n-0") is not None
    finally:
        await c.stop()


async def test_whole_cluster_outage_evicts_nothing() -> None:
    """Every zone fully disrupted: the controller suspects itself and stops evicting."""
    c = make([{"name": "z", "count": 2, "zones": ["a", "b"]}])
    c.start()
    try:
        pod_on(c, "p", "z-0")
        await until(lambda: c.store.get(LEASES.storage_key, "kube-node-lease/z-1"))
        for n in ("z-0", "z-1"):
            c.state.machine(n).kubelet_stopped = True
        await until(
            lambda: all(conditions(c, n)["Ready"]["status"] == "Unknown" for n in ("z-0", "z-1"))
        )
        await until(lambda: set(lifecycle(c).zone_states().values()) == {"FullDisruption"})
        await until(lambda: all(NO_EXECUTE not in taints(c, n) for n in ("z-0", "z-1")))
        assert NO_SCHEDULE in taints(c, "z-0")
        await asyncio.sleep(400 / 200)  # past the 300 s default toleration
        assert not c.api.get(PODS, "default", "p").deleting
        for n in ("z-0", "z-1"):
            assert NO_EXECUTE not in taints(c, n)
    finally:
        await c.stop()


async def test_small_zone_in_partial_disruption_stops_evictions() -> None:
    """3 of 4 nodes down in a zone of <= 50 nodes: its eviction rate drops to zero."""
    c = make([{"name": "a", "count": 4, "zones": ["a"]}, {"name": "b", "count": 1, "zones": ["b"]}])
    c.start()
    try:
        await until(lambda: c.store.get(LEASES.storage_key, "kube-node-lease/a-3"))
        down = ("a-0", "a-1", "a-2")
        for n in down:
            c.state.machine(n).kubelet_stopped = True
        await until(lambda: all(conditions(c, n)["Ready"]["status"] == "Unknown" for n in down))
        await until(lambda: lifecycle(c).zone_states().get("sim-region-1:a") == "PartialDisruption")
        assert lifecycle(c).zone_states()["sim-region-1:b"] == "Normal"
        await asyncio.sleep(100 / 200)
        # At most the first node went down before the zone turned partial.
        assert sum(NO_EXECUTE in taints(c, n) for n in down) <= 2
        assert all(NO_SCHEDULE in taints(c, n) for n in down)
    finally:
        await c.stop()


async def test_one_zone_down_among_healthy_ones_is_tainted_at_the_eviction_rate() -> None:
    """A full outage of one zone keeps the normal rate (0.1 nodes/s): pods move elsewhere."""
    c = make([{"name": "a", "count": 3, "zones": ["a"]}, {"name": "b", "count": 2, "zones": ["b"]}])
    c.start()
    try:
        pod_on(c, "p", "a-0")
        await until(lambda: c.store.get(LEASES.storage_key, "kube-node-lease/a-2"))
        down = ("a-0", "a-1", "a-2")
        for n in down:
            c.state.machine(n).kubelet_stopped = True
        await until(lambda: lifecycle(c).zone_states().get("sim-region-1:a") == "FullDisruption")
        await until(lambda: all(NO_EXECUTE in taints(c, n) for n in down))
        added = sorted(
            t["timeAdded"]
            for n in down
            for t in node(c, n)["spec"]["taints"]
            if t["effect"] == "NoExecute"
        )
        # one token every 10 s, burst 1
        assert seconds_between(added[0], added[1]) >= 9
        assert seconds_between(added[1], added[2]) >= 9
        await until(lambda: c.api.get(PODS, "default", "p").deleting)  # after 300 s
    finally:
        await c.stop()


@given(
    qps=hs.floats(min_value=0.01, max_value=5),
    times=hs.lists(hs.floats(min_value=0, max_value=1000), min_size=1, max_size=60),
)
def test_rate_limiter_never_exceeds_its_rate(qps: float, times: list[float]) -> None:
    bucket = _Bucket(qps)
    accepted = [t for t in sorted(times) if bucket.try_accept(t)]
    assert accepted  # burst 1: the first try passes
    span = accepted[-1] - accepted[0]
    assert len(accepted) <= 1 + span * qps + 1e-6
