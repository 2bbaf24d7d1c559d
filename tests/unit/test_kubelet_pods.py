"""The simulated kubelet's pod lifecycle, in-process on a fast clock."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.nodes.state import NodeProblem
from kubeward.sim.scenarios.model import Scenario
from simproc import until

PODS = REGISTRY.get("", "v1", "pods")


def make(speed: float = 100) -> SimCluster:
    c = SimCluster(
        Scenario.model_validate({"name": "t", "nodePools": [{"name": "n", "count": 1}]}),
        clock=SimClock(speed=speed),
    )
    c.bootstrap()
    c.start()
    return c


def pod(name: str, behaviour: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if behaviour is not None:
        meta["annotations"] = {ANNOTATION: json.dumps(behaviour)}
    container = {"name": "app", "image": spec.pop("image", "registry.example/app:1")}
    if "resources" in spec:
        container["resources"] = spec.pop("resources")
    return {"metadata": meta, "spec": {"nodeName": "n-0", "containers": [container], **spec}}


def status(c: SimCluster, name: str) -> dict[str, Any]:
    return c.api.get(PODS, "default", name).decode().get("status") or {}


def container(c: SimCluster, name: str) -> dict[str, Any]:
    return (status(c, name).get("containerStatuses") or [{}])[0]


def reasons(c: SimCluster, name: str) -> list[tuple[str, str]]:
    out = []
    for e in c.store.resource(("", "events")).objects.values():
        d = e.decode()
        if d["involvedObject"]["name"] == name:
            out.append((d["reason"], d["message"]))
    return out


async def test_start_pull_ready_and_cached_image() -> None:
    c = make()
    try:
        seen: list[tuple[str, str]] = []  # every (phase, container state) the pod went through

        def record(event: Any) -> None:
            if event.obj.key == "default/a":
                st = event.obj.decode().get("status") or {}
                cs = (st.get("containerStatuses") or [{}])[0].get("state") or {}
                seen.append((st.get("phase", ""), next(iter(cs), "")))

        c.store.add_listener(record)
        c.api.create(
            PODS,
            "default",
            pod("a", {"startupSeconds": 5, "readinessDelaySeconds": 5, "imageSize": "100Mi"}),
        )
        await until(lambda: container(c, "a").get("started"))
        await until(lambda: container(c, "a").get("ready"))
        assert ("Pending", "waiting") in seen  # ContainerCreating while the image is pulled
        assert seen.index(("Pending", "waiting")) < seen.index(("Running", "running"))
        st = status(c, "a")
        assert st["phase"] == "Running" and st["qosClass"] == "BestEffort"
        assert st["podIP"].startswith("10.") and st["hostIP"]
        ready = next(x for x in st["conditions"] if x["type"] == "Ready")
        assert ready["status"] == "True"
        events = reasons(c, "a")
        assert [r for r, _ in events] == ["Pulling", "Pulled", "Created", "Started"]
        assert events[1][1].startswith('Successfully pulled image "registry.example/app:1" in 2s')
        assert events[1][1].endswith("Image size: 104857600 bytes.")
        c.api.create(PODS, "default", pod("b"))
        await until(lambda: container(c, "b").get("ready"))
        assert (
            "Pulled",
            'Container image "registry.example/app:1" already present on machine',
        ) in (reasons(c, "b"))
    finally:
        await c.stop()


async def test_unpullable_image_backs_off() -> None:
    c = make()
    try:
        c.api.create(PODS, "default", pod("nope", {"imagePullable": False}))
        await until(
            lambda: (
                container(c, "nope").get("state", {}).get("waiting", {}).get("reason")
                == "ImagePullBackOff"
            )
        )
        rs = [r for r, _ in reasons(c, "nope")]
        assert rs[:3] == ["Pulling", "Failed", "Failed"]
        assert "BackOff" in rs
        assert ("Failed", "Error: ErrImagePull") in reasons(c, "nope")
        assert status(c, "nope")["phase"] == "Pending"
        # a registry outage fails pulls of otherwise fine images
        c.state.unreachable_registries.add("down.example/")
        c.api.create(PODS, "default", pod("down", image="down.example/app:2"))
        await until(
            lambda: (
                container(c, "down").get("state", {}).get("waiting", {}).get("reason")
                in ("ErrImagePull", "ImagePullBackOff")
            )
        )
        c.state.unreachable_registries.clear()
        await until(lambda: container(c, "down").get("ready"), timeout=15)
    finally:
        await c.stop()


async def test_crashloop_backoff_and_restart_counts() -> None:
    c = make(speed=200)
    try:
        c.api.create(PODS, "default", pod("crash", {"crashAfterSeconds": 5}))
        await until(lambda: container(c, "crash").get("restartCount", 0) >= 2)
        await until(
            lambda: (
                container(c, "crash").get("state", {}).get("waiting", {}).get("reason")
                == "CrashLoopBackOff"
            )
        )
        cs = container(c, "crash")
        assert cs["lastState"]["terminated"]["exitCode"] == 1
        assert cs["lastState"]["terminated"]["reason"] == "Error"
        assert cs["state"]["waiting"]["message"].startswith("back-off ")
        assert (
            "restarting failed container=app pod=crash_default("
            in cs["state"]["waiting"]["message"]
        )
        backoffs = [m for r, m in reasons(c, "crash") if r == "BackOff"]
        assert backoffs and backoffs[0].startswith(
            "Back-off restarting failed container app in pod crash_default("
        )
    finally:
        await c.stop()


async def test_oom_kill_at_memory_limit() -> None:
    c = make(speed=500)
    try:
        behaviour = {"usage": {"memory": {"base": "100Mi", "leakPerHour": "600Mi"}}}
        c.api.create(
            PODS,
            "default",
            pod(
                "leak",
                behaviour,
                resources={"requests": {"memory": "128Mi"}, "limits": {"memory": "200Mi"}},
            ),
        )
        await until(lambda: container(c, "leak").get("lastState", {}).get("terminated"))
        last = container(c, "leak")["lastState"]["terminated"]
        assert (last["reason"], last["exitCode"]) == ("OOMKilled", 137)
        assert status(c, "leak")["qosClass"] == "Burstable"
    finally:
        await c.stop()


async def test_batch_pod_succeeds_and_never_restart_fails() -> None:
    c = make()
    try:
        c.api.create(PODS, "default", pod("job", {"runSeconds": 3}, restartPolicy="Never"))
        c.api.create(PODS, "default", pod("bad", {"crashAfterSeconds": 3}, restartPolicy="Never"))
        await until(lambda: status(c, "job").get("phase") == "Succeeded")
        term = container(c, "job")["state"]["terminated"]
        assert (term["reason"], term["exitCode"]) == ("Completed", 0)
        await until(lambda: status(c, "bad").get("phase") == "Failed")
        assert container(c, "bad")["restartCount"] == 0
    finally:
        await c.stop()


async def test_memory_pressure_evicts_best_effort_pods() -> None:
    c = make(speed=200)
    try:
        c.api.create(PODS, "default", pod("be"))
        await until(lambda: container(c, "be").get("ready"))
        c.state.machine("n-0").problems["MemoryPressure"] = NodeProblem(
            "MemoryPressure",
            "True",
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
        )
        await until(lambda: status(c, "be").get("reason") == "Evicted")
        st = status(c, "be")
        assert st["phase"] == "Failed"
        assert st["message"].startswith("The node was low on resource: memory.")
        assert any(r == "Evicted" for r, _ in reasons(c, "be"))
        target = next(x for x in st["conditions"] if x["type"] == "DisruptionTarget")
        assert target["reason"] == "TerminationByKubelet"
    finally:
        await c.stop()


async def test_graceful_deletion_and_frozen_kubelet() -> None:
    c = make()
    try:
        c.api.create(PODS, "default", pod("g"))
        await until(lambda: container(c, "g").get("ready"))
        c.api.delete(PODS, "default", "g", DeleteOptions())
        assert c.api.get(PODS, "default", "g").deleting
        await until(lambda: c.store.get(("", "pods"), "default/g") is None)
        assert ("Killing", "Stopping container app") in reasons(c, "g")
        # a stopped kubelet neither starts nor finishes pods
        c.state.machine("n-0").kubelet_stopped = True
        c.api.create(PODS, "default", pod("frozen"))
        await asyncio.sleep(0.3)
        assert not status(c, "frozen").get("containerStatuses")
        c.state.machine("n-0").kubelet_stopped = False
        await until(lambda: container(c, "frozen").get("ready"))
    finally:
        await c.stop()


async def test_restarted_kubelet_reports_its_pods_ready_again() -> None:
    c = make(speed=200)
    try:
        c.api.create(PODS, "default", pod("r"))
        await until(lambda: container(c, "r").get("ready"))

        def pod_ready() -> str:
            conds = {x["type"]: x["status"] for x in status(c, "r").get("conditions", [])}
            return conds.get("Ready", "")

        c.state.machine("n-0").kubelet_stopped = True
        await until(lambda: pod_ready() == "False")  # MarkPodsNotReady by the node controller
        c.state.machine("n-0").kubelet_stopped = False
        await until(lambda: pod_ready() == "True")
    finally:
        await c.stop()
