"""The ReplicaSet controller alone: the test plays the kubelet by writing pod status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.api.subresources import bind
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.podcontrol import deletion_rank
from kubeward.sim.control.replicaset import ReplicaSetController
from kubeward.sim.scenarios.model import Scenario
from simproc import until

PODS = REGISTRY.get("", "v1", "pods")
REPLICASETS = REGISTRY.get("apps", "v1", "replicasets")
assert PODS is not None and REPLICASETS is not None


@pytest.fixture
async def cluster() -> AsyncIterator[SimCluster]:
    """A cluster where only the ReplicaSet controller runs: nothing schedules or starts pods."""
    c = SimCluster(
        Scenario.model_validate({"name": "t", "nodePools": [{"name": "n", "count": 1}]}),
        clock=SimClock(speed=100),
    )
    c.bootstrap()
    rsc = next(x for x in c.controllers if isinstance(x, ReplicaSetController))
    task = asyncio.get_running_loop().create_task(rsc.run())
    yield c
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def replicaset(replicas: int, min_ready: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "front"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }


def pods(c: SimCluster, live_only: bool = True) -> list[dict[str, Any]]:
    out = []
    for obj in c.store.resource(("", "pods")).objects.values():
        if live_only and obj.deleting:
            continue
        out.append(obj.decode())
    return out


def rs_status(c: SimCluster) -> dict[str, Any]:
    assert REPLICASETS is not None
    return c.api.get(REPLICASETS, "default", "web").decode().get("status") or {}


def events(c: SimCluster, reason: str) -> list[str]:
    return [
        e["message"]
        for e in (o.decode() for o in c.store.resource(("", "events")).objects.values())
        if e["reason"] == reason
    ]


def run_pod(c: SimCluster, name: str, node: str = "", ready: bool = True, restarts: int = 0):
    """Write the status a kubelet would: Running, Ready, container restarts."""
    assert PODS is not None
    pod = c.api.get(PODS, "default", name).decode()
    now = c.clock.timestamp()
    if node:
        bind(c.api, "default", name, {"target": {"kind": "Node", "name": node}})
        pod = c.api.get(PODS, "default", name).decode()
    pod["status"] = {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now}
        ],
        "containerStatuses": [
            {"name": "web", "ready": ready, "restartCount": restarts, "image": "nginx"}
        ],
    }
    c.api.update(PODS, "default", name, pod, subresource="status")


async def test_creates_pods_with_owner_and_counts_status(cluster: SimCluster) -> None:
    c = cluster
    assert REPLICASETS is not None
    c.api.create(REPLICASETS, "default", replicaset(3))
    await until(lambda: len(pods(c)) == 3 and rs_status(c).get("replicas") == 3)
    rs = c.api.get(REPLICASETS, "default", "web").decode()
    for pod in pods(c):
        assert pod["metadata"]["name"].startswith("web-")
        assert pod["metadata"]["labels"] == {"app": "web", "tier": "front"}
        (ref,) = pod["metadata"]["ownerReferences"]
        assert ref == {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web",
            "uid": rs["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    names = sorted(p["metadata"]["name"] for p in pods(c))
    assert sorted(events(c, "SuccessfulCreate")) == [f"Created pod: {n}" for n in names]
    for name in names[:2]:
        run_pod(c, name)
    await until(lambda: rs_status(c).get("readyReplicas") == 2)
    status = rs_status(c)
    assert status["availableReplicas"] == 2
    assert status["fullyLabeledReplicas"] == 3
    assert status["observedGeneration"] == 1


async def test_min_ready_seconds_delays_availability(cluster: SimCluster) -> None:
    c = cluster
    assert REPLICASETS is not None
    c.api.create(REPLICASETS, "default", replicaset(1, min_ready=20))
    await until(lambda: len(pods(c)) == 1)
    run_pod(c, pods(c)[0]["metadata"]["name"])
    await until(lambda: rs_status(c).get("readyReplicas") == 1)
    assert "availableReplicas" not in rs_status(c)
    # 20 simulated seconds at speed 100: 0.2 s of wall time.
    await until(lambda: rs_status(c).get("availableReplicas") == 1, timeout=5)


async def test_failed_and_deleting_pods_are_replaced(cluster: SimCluster) -> None:
    c = cluster
    assert PODS is not None and REPLICASETS is not None
    c.api.create(REPLICASETS, "default", replicaset(2))
    await until(lambda: len(pods(c)) == 2)
    victim = pods(c)[0]
    victim["status"] = {"phase": "Failed", "reason": "Evicted", "message": "The node was low"}
    c.api.update(PODS, "default", victim["metadata"]["name"], victim, subresource="status")
    await until(lambda: len(pods(c)) == 3)
    await until(lambda: rs_status(c).get("replicas") == 2)
    assert len([p for p in pods(c) if p.get("status", {}).get("phase") != "Failed"]) == 2


async def test_scale_down_deletes_the_least_useful_pods_first(cluster: SimCluster) -> None:
    c = cluster
    assert REPLICASETS is not None
    c.api.create(REPLICASETS, "default", replicaset(4))
    await until(lambda: len(pods(c)) == 4)
    a, b, d, e = sorted(p["metadata"]["name"] for p in pods(c))
    run_pod(c, a, node="n-0", ready=True)
    run_pod(c, b, node="n-0", ready=True, restarts=3)
    run_pod(c, d, node="n-0", ready=False)
    # e stays unscheduled and Pending: it goes first, then the not-ready d.
    rs = c.api.get(REPLICASETS, "default", "web").decode()
    rs["spec"]["replicas"] = 2
    c.api.update(REPLICASETS, "default", "web", rs)
    await until(lambda: len(pods(c)) == 2)
    assert sorted(p["metadata"]["name"] for p in pods(c)) == [a, b]
    assert sorted(events(c, "SuccessfulDelete")) == sorted(
        [f"Deleted pod: {d}", f"Deleted pod: {e}"]
    )
    await until(lambda: rs_status(c).get("replicas") == 2)


def test_deletion_rank_orders_like_active_pods() -> None:
    def pod(name: str, created: str, node: str = "", phase: str = "Pending", **kw: Any) -> dict:
        ready = kw.get("ready", False)
        return {
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"nodeName": node} if node else {},
            "status": {
                "phase": phase,
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                "containerStatuses": [{"restartCount": kw.get("restarts", 0)}],
            },
        }

    t1, t2 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z"
    candidates = [
        pod("ready-old", t1, "n", "Running", ready=True),
        pod("ready-new", t2, "n", "Running", ready=True),
        pod("ready-restarts", t1, "n", "Running", ready=True, restarts=5),
        pod("running-not-ready", t1, "n", "Running"),
        pod("unknown", t1, "n", "Unknown"),
        pod("pending-scheduled", t1, "n"),
        pod("unscheduled", t1),
    ]
    order = [p["metadata"]["name"] for p in sorted(candidates, key=deletion_rank)]
    assert order == [
        "unscheduled",
        "pending-scheduled",
        "unknown",
        "running-not-ready",
        "ready-restarts",
        "ready-new",
        "ready-old",
    ]


async def test_adopts_orphans_and_releases_pods_that_stop_matching(cluster: SimCluster) -> None:
    c = cluster
    assert PODS is not None and REPLICASETS is not None
    orphan = {
        "metadata": {"name": "stray", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
    }
    c.api.create(PODS, "default", orphan)
    c.api.create(REPLICASETS, "default", replicaset(2))
    await until(lambda: len(pods(c)) == 2 and rs_status(c).get("replicas") == 2)
    uid = c.api.get(REPLICASETS, "default", "web").uid
    stray = c.api.get(PODS, "default", "stray").decode()
    assert [r["uid"] for r in stray["metadata"]["ownerReferences"]] == [uid]
    assert len(events(c, "SuccessfulCreate")) == 1
    # Relabelled out of the selector: released, and replaced.
    stray["metadata"]["labels"] = {"app": "debug"}
    c.api.update(PODS, "default", "stray", stray)
    await until(lambda: len(pods(c)) == 3 and rs_status(c).get("replicas") == 2)
    assert "ownerReferences" not in c.api.get(PODS, "default", "stray").decode()["metadata"]
    # A deleted pod is replaced too.
    name = next(p["metadata"]["name"] for p in pods(c) if p["metadata"]["name"] != "stray")
    c.api.delete(PODS, "default", name, DeleteOptions(grace_period=0))
    await until(lambda: len(pods(c)) == 3 and name not in {p["metadata"]["name"] for p in pods(c)})
