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
from simproc import until

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


# -- rollout behaviours against the whole simulated control plane ------------------------------

REPLICASETS = REGISTRY.get("apps", "v1", "replicasets")
REVISION = "deployment.kubernetes.io/revision"


async def started_cluster() -> SimCluster:
    c = SimCluster(
        Scenario.model_validate(
            {"name": "t", "nodePools": [{"name": "n", "count": 2, "cpu": "32"}]}
        ),
        clock=SimClock(speed=400),
    )
    c.bootstrap()
    c.start()
    return c


def get_deploy(c: SimCluster) -> dict[str, Any]:
    assert DEPLOYMENTS is not None
    return c.api.get(DEPLOYMENTS, "default", "web").decode()


def set_image(c: SimCluster, image: str, **spec: Any) -> None:
    assert DEPLOYMENTS is not None
    d = get_deploy(c)
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    d["spec"].update(spec)
    c.api.update(DEPLOYMENTS, "default", "web", d)


def replicasets(c: SimCluster) -> dict[str, dict[str, Any]]:
    return {
        o.name: o.decode()
        for o in c.store.resource(("apps", "replicasets")).objects.values()
        if not o.deleting
    }


def deploy_events(c: SimCluster, reason: str) -> list[str]:
    out = []
    for obj in c.store.resource(("", "events")).objects.values():
        e = obj.decode()
        if e["reason"] == reason and e["involvedObject"]["kind"] == "Deployment":
            out.append(e["message"])
    return out


def condition(c: SimCluster, type_: str) -> dict[str, Any]:
    conds = (get_deploy(c).get("status") or {}).get("conditions") or []
    return next((x for x in conds if x["type"] == type_), {})


def complete(c: SimCluster, replicas: int) -> bool:
    d = get_deploy(c)
    s = d.get("status") or {}
    return (
        s.get("observedGeneration") == d["metadata"]["generation"]
        and s.get("updatedReplicas") == replicas
        and s.get("availableReplicas") == replicas
        and s.get("replicas") == replicas
    )


async def test_rollout_names_replicasets_and_records_scaling_events() -> None:
    c = await started_cluster()
    try:
        assert DEPLOYMENTS is not None
        c.api.create(DEPLOYMENTS, "default", deployment(3, 1, 0, "app:1", 1.0))
        await until(lambda: complete(c, 3))
        (first,) = replicasets(c).values()
        h = first["metadata"]["labels"]["pod-template-hash"]
        assert first["metadata"]["name"] == f"web-{h}"
        assert first["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
        assert first["metadata"]["annotations"][REVISION] == "1"
        assert first["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "3"
        assert first["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "4"
        assert condition(c, "Available")["reason"] == "MinimumReplicasAvailable"
        assert condition(c, "Available")["message"] == "Deployment has minimum availability."
        old = first["metadata"]["name"]
        set_image(c, "app:2")
        await until(lambda: complete(c, 3))
        (new,) = [n for n in replicasets(c) if n != old]
        assert condition(c, "Progressing")["message"] == (
            f'ReplicaSet "{new}" has successfully progressed.'
        )
        messages = deploy_events(c, "ScalingReplicaSet")
        assert f"Scaled up replica set {old} to 3" in messages
        assert f"Scaled up replica set {new} to 1" in messages
        assert f"Scaled down replica set {old} to 2 from 3" in messages
        assert f"Scaled up replica set {new} to 2 from 1" in messages
        assert f"Scaled down replica set {old} to 0 from 1" in messages
        # The same template again hashes the same: a rollback reuses the old ReplicaSet.
        set_image(c, "app:1")
        await until(lambda: complete(c, 3))
        rses = replicasets(c)
        assert set(rses) == {old, new}
        assert rses[old]["metadata"]["annotations"][REVISION] == "3"
        assert rses[old]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"]
        assert get_deploy(c)["metadata"]["annotations"][REVISION] == "3"
    finally:
        await c.stop()


async def test_revision_history_limit_deletes_oldest_idle_replicasets() -> None:
    c = await started_cluster()
    try:
        assert DEPLOYMENTS is not None
        body = deployment(1, 1, 0, "app:1", 0.0)
        body["spec"]["revisionHistoryLimit"] = 1
        c.api.create(DEPLOYMENTS, "default", body)
        await until(lambda: complete(c, 1))
        for image in ("app:2", "app:3"):
            set_image(c, image)
            await until(lambda: complete(c, 1))
        await until(lambda: len(replicasets(c)) == 2)
        revisions = sorted(r["metadata"]["annotations"][REVISION] for r in replicasets(c).values())
        assert revisions == ["2", "3"]
    finally:
        await c.stop()


async def test_recreate_stops_old_pods_before_starting_new_ones() -> None:
    c = await started_cluster()
    try:
        assert DEPLOYMENTS is not None
        body = deployment(3, 1, 0, "app:1", 1.0)
        body["spec"]["strategy"] = {"type": "Recreate"}
        c.api.create(DEPLOYMENTS, "default", body)
        await until(lambda: complete(c, 3))
        mixed: list[set[str]] = []

        def watch(event: StoreEvent) -> None:
            if event.storage_key != ("", "pods"):
                return
            images = {
                o.decode()["spec"]["containers"][0]["image"]
                for o in c.store.resource(("", "pods")).objects.values()
            }
            if len(images) > 1:
                mixed.append(images)

        c.store.add_listener(watch)
        set_image(c, "app:2")
        await until(lambda: complete(c, 3))
        assert not mixed, "old and new pods existed at the same time"
    finally:
        await c.stop()


async def test_paused_deployment_does_not_roll_out_until_resumed() -> None:
    c = await started_cluster()
    try:
        assert DEPLOYMENTS is not None
        c.api.create(DEPLOYMENTS, "default", deployment(2, 1, 0, "app:1", 0.0))
        await until(lambda: complete(c, 2))
        d = get_deploy(c)
        d["spec"]["paused"] = True
        c.api.update(DEPLOYMENTS, "default", "web", d)
        await until(lambda: condition(c, "Progressing").get("reason") == "DeploymentPaused")
        set_image(c, "app:2", replicas=3)
        await until(lambda: (get_deploy(c).get("status") or {}).get("replicas") == 3)
        assert len(replicasets(c)) == 1, "a paused deployment only scales"
        set_image(c, "app:2", paused=False)
        await until(lambda: complete(c, 3) and len(replicasets(c)) == 2)
    finally:
        await c.stop()


async def test_progress_deadline_exceeded_when_new_pods_never_become_ready() -> None:
    c = await started_cluster()
    try:
        assert DEPLOYMENTS is not None
        c.api.create(DEPLOYMENTS, "default", deployment(2, 1, 0, "app:1", 0.0))
        await until(lambda: complete(c, 2))
        d = get_deploy(c)
        template = d["spec"]["template"]
        template["metadata"]["annotations"][ANNOTATION] = json.dumps({"imagePullable": False})
        template["spec"]["containers"][0]["image"] = "missing:1"
        d["spec"]["progressDeadlineSeconds"] = 30
        c.api.update(DEPLOYMENTS, "default", "web", d)
        await until(
            lambda: condition(c, "Progressing").get("reason") == "ProgressDeadlineExceeded",
            timeout=10,
        )
        new = next(
            n
            for n, r in replicasets(c).items()
            if r["spec"]["template"]["spec"]["containers"][0]["image"] == "missing:1"
        )
        progressing = condition(c, "Progressing")
        assert progressing["status"] == "False"
        assert progressing["message"] == f'ReplicaSet "{new}" has timed out progressing.'
        # maxUnavailable 0: the old pods keep serving.
        assert condition(c, "Available")["status"] == "True"
        assert get_deploy(c)["status"]["availableReplicas"] == 2
    finally:
        await c.stop()
