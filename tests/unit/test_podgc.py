"""The pod garbage collector on a hand-driven clock: orphaned pods after the quarantine,
terminating pods that can never finish, and the terminated-pod threshold."""

from __future__ import annotations

from typing import Any

import pytest

from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.podgc import QUARANTINE, PodGC
from kubeward.sim.scenarios.model import Scenario

NODES = REGISTRY.get("", "v1", "nodes")
PODS = REGISTRY.get("", "v1", "pods")


class Cluster:
    """An API server with two nodes and no kubelets (nothing else touches the pods)."""

    def __init__(self, threshold: int = 12500) -> None:
        self.wall = 0.0
        clock = SimClock(monotonic=lambda: self.wall)
        self.sim = SimCluster(
            Scenario.model_validate({"name": "t", "nodePools": [{"name": "a", "count": 2}]}),
            clock=clock,
            simulate=False,
        )
        self.sim.bootstrap()
        self.api = self.sim.api
        self.gc = PodGC(self.api, terminated_threshold=threshold)
        self.seen: list[dict[str, Any]] = []  # every pod version written
        self.api.store.add_listener(lambda e: self.seen.append(e.obj.decode()), (("", "pods"),))

    def pod(self, name: str, node: str = "", phase: str = "Running", **status: Any) -> None:
        assert PODS is not None
        spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
        if node:
            spec["nodeName"] = node
        self.api.create(PODS, "default", {"metadata": {"name": name}, "spec": spec})
        current = self.api.get(PODS, "default", name).decode()
        current["status"] = {"phase": phase, **status}
        self.api.update(PODS, "default", name, current, subresource="status")

    def names(self) -> set[str]:
        return {o.name for o in self.api.store.resource(("", "pods")).objects.values()}

    def node_names(self) -> list[str]:
        return sorted(self.api.store.resource(("", "nodes")).objects)

    def pass_after(self, seconds: float) -> None:
        self.wall += seconds
        self.gc.collect()


def test_orphaned_pods_go_after_the_quarantine_marked_failed() -> None:
    c = Cluster()
    first, second = c.node_names()
    c.pod("orphan", first)
    c.pod("done", first, phase="Succeeded")
    c.pod("kept", second)
    assert NODES is not None
    c.api.delete(NODES, "", first, DeleteOptions())
    c.pass_after(1)
    assert c.names() == {"orphan", "done", "kept"}  # quarantined, not yet collected
    c.pass_after(QUARANTINE - 2)
    assert "orphan" in c.names()
    c.pass_after(2)
    assert c.names() == {"kept"}
    last = [p for p in c.seen if p["metadata"]["name"] == "orphan"][-1]  # as deleted
    assert last["status"]["phase"] == "Failed"
    condition = next(x for x in last["status"]["conditions"] if x["type"] == "DisruptionTarget")
    assert condition["status"] == "True" and condition["reason"] == "DeletionByPodGC"
    assert condition["message"] == "PodGC: node no longer exists"
    # a finished pod keeps its phase and gets no condition
    done = [p for p in c.seen if p["metadata"]["name"] == "done"][-1]
    assert done["status"]["phase"] == "Succeeded" and "conditions" not in done["status"]


def test_a_node_back_within_the_quarantine_keeps_its_pods() -> None:
    c = Cluster()
    first = c.node_names()[0]
    c.pod("p", first)
    assert NODES is not None
    node = c.api.get(NODES, "", first).decode()
    c.api.delete(NODES, "", first, DeleteOptions())
    c.pass_after(10)
    for key in ("uid", "resourceVersion", "creationTimestamp"):
        node["metadata"].pop(key)
    c.api.create(NODES, "", node)
    c.pass_after(QUARANTINE)
    assert "p" in c.names()


def test_terminating_pods_that_cannot_finish_are_force_deleted() -> None:
    c = Cluster()
    first, second = c.node_names()
    assert PODS is not None and NODES is not None
    c.pod("unscheduled")
    c.pod("on-dead-node", first)
    c.pod("on-live-node", second)
    for name in ("unscheduled", "on-dead-node", "on-live-node"):
        c.api.delete(PODS, "default", name, DeleteOptions(grace_period=30))
    assert "unscheduled" not in c.names()  # an unscheduled pod needs no kubelet to go
    node = c.api.get(NODES, "", first).decode()
    node["spec"]["taints"] = [{"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}]
    c.api.update(NODES, "", first, node)
    c.pass_after(1)
    assert "on-dead-node" in c.names()  # tainted, but still Ready
    node = c.api.get(NODES, "", first).decode()
    node["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
    c.api.update(NODES, "", first, node, subresource="status")
    c.pass_after(1)
    assert c.names() == {"on-live-node"}  # waits for its kubelet's graceful termination


@pytest.mark.parametrize("threshold", [3, 0])
def test_beyond_the_threshold_the_oldest_finished_pods_go_evicted_first(threshold: int) -> None:
    c = Cluster(threshold=threshold)
    node = c.node_names()[0]
    for i in range(5):
        c.pod(f"old-{i}", node, phase="Succeeded")
        c.wall += 2  # distinct creation seconds
    c.pod("evicted", node, phase="Failed", reason="Evicted")
    c.pod("running", node)
    c.pass_after(1)
    if threshold == 0:  # 0 turns this collection off
        assert len(c.names()) == 7
        return
    assert c.names() == {"old-2", "old-3", "old-4", "running"}
