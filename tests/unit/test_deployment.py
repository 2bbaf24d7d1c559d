"""Deployment rollouts against the whole simulated control plane (scheduler, ReplicaSet
controller, kubelet), checked after every single store event."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as stg

from kubeward.kube.registry import REGISTRY
from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.deployment import resolve_fenceposts
from kubeward.sim.control.podcontrol import ready_since
from kubeward.sim.scenarios.model import Scenario
from kubeward.sim.store.objects import StoreEvent

DEPLOYMENTS = REGISTRY.get("apps", "v1", "deployments")


def deployment(replicas: int, surge: Any, unavailable: Any, image: str, delay: float) -> dict:
    behaviour = {"startupSeconds": delay, "readinessDelaySeconds": delay / 2}
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
            },
            "template": {
                "metadata": {
                    "labels": {"app": "web"},
                    "annotations": {ANNOTATION: json.dumps(behaviour)},
                },
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


class PodCensus:
    """Counts the deployment's live and ready pods after every store event."""

    def __init__(self, c: SimCluster) -> None:
        self.c = c
        self.min_ready: int | None = None
        self.max_live = 0
        self.watching = False
        c.store.add_listener(self.on_event)

    def on_event(self, event: StoreEvent) -> None:
        if not self.watching or event.storage_key != ("", "pods"):
            return
        live = ready = 0
        for obj in self.c.store.resource(("", "pods")).objects.values():
            if obj.deleting or obj.labels.get("app") != "web":
                continue
            live += 1
            if ready_since(obj.decode()) is not None:
                ready += 1
        self.max_live = max(self.max_live, live)
        self.min_ready = ready if self.min_ready is None else min(self.min_ready, ready)


async def rollout(replicas: int, surge: Any, unavailable: Any, delay: float) -> None:
    c = SimCluster(
        Scenario.model_validate(
            {"name": "t", "nodePools": [{"name": "n", "count": 3, "cpu": "32"}]}
        ),
        clock=SimClock(speed=400),
    )
    c.bootstrap()
    census = PodCensus(c)
    c.start()
    try:
        c.api.create(
            DEPLOYMENTS, "default", deployment(replicas, surge, unavailable, "app:1", delay)
        )
        await until_complete(c, replicas, generation=1)
        census.watching = True
        d = c.api.get(DEPLOYMENTS, "default", "web").decode()
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
        c.api.update(DEPLOYMENTS, "default", "web", d)
        await until_complete(c, replicas, generation=2)
        max_surge, max_unavailable = resolve_fenceposts(d["spec"])
        assert census.min_ready is not None
        assert census.min_ready >= replicas - max_unavailable
        assert census.max_live <= replicas + max_surge
        status = c.api.get(DEPLOYMENTS, "default", "web").decode()["status"]
        progressing = next(x for x in status["conditions"] if x["type"] == "Progressing")
        assert progressing["reason"] == "NewReplicaSetAvailable"
        assert (
            c.api.get(DEPLOYMENTS, "default", "web").decode()["metadata"]["annotations"][
                "deployment.kubernetes.io/revision"
            ]
            == "2"
        )
    finally:
        await c.stop()


async def until_complete(c: SimCluster, replicas: int, generation: int) -> None:
    for _ in range(1000):
        s = c.api.get(DEPLOYMENTS, "default", "web").decode().get("status") or {}
        if (
            s.get("observedGeneration") == generation
            and s.get("updatedReplicas") == replicas
            and s.get("availableReplicas") == replicas
            and s.get("replicas") == replicas
        ):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"rollout did not complete: {s}")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    replicas=stg.integers(1, 6),
    surge=stg.sampled_from([0, 1, 2, "25%", "50%"]),
    unavailable=stg.sampled_from([0, 1, "25%", "50%"]),
    delay=stg.sampled_from([0.0, 4.0, 10.0]),
)
def test_rolling_update_respects_max_unavailable_and_surge(
    replicas: int, surge: Any, unavailable: Any, delay: float
) -> None:
    if surge == 0 and unavailable == 0:
        unavailable = 1  # both zero is rejected by validation
    asyncio.run(rollout(replicas, surge, unavailable, delay))


def test_fenceposts_round_like_kubernetes() -> None:
    spec = {
        "replicas": 10,
        "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    }
    assert resolve_fenceposts(spec) == (3, 2)
    spec = {"replicas": 1, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "25%"}}}
    assert resolve_fenceposts(spec) == (0, 1)
