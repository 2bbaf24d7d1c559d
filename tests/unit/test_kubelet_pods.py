"""The simulated kubelet's pod lifecycle, in-process on a fast clock."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as hst

from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.nodes.factory import START_ANNOTATION
from kubeward.sim.nodes.podnet import NodeIPs
from kubeward.sim.nodes.state import MEMORY_PRESSURE, NodeProblem
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


async def test_fallback_to_logs_on_error_puts_the_log_tail_in_the_message() -> None:
    c = make(speed=200)
    try:
        crash = {"crashAfterSeconds": 130, "startupSeconds": 0, "crashLog": "panic: no DB_URL"}
        for name, policy in (("fallback", "FallbackToLogsOnError"), ("file", "File")):
            body = pod(name, crash)
            body["spec"]["containers"][0]["terminationMessagePolicy"] = policy
            c.api.create(PODS, "default", body)
        for name in ("fallback", "file"):
            await until(lambda n=name: "terminated" in container(c, n).get("lastState", {}), 15)
        message = container(c, "fallback")["lastState"]["terminated"]["message"]
        assert message == (
            'level=info msg="starting" container=app image=registry.example/app:1\n'
            'level=info msg="started"\n'
            'level=info msg="heartbeat" uptime=60s memory=32Mi\n'
            'level=info msg="heartbeat" uptime=120s memory=32Mi\n'
            "panic: no DB_URL\n"
        )
        assert "message" not in container(c, "file")["lastState"]["terminated"]
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


def starts(c: SimCluster, name: str) -> list[tuple[float, str, dict[str, Any]]]:
    """Record (sim seconds, event type, container status) for every write of one pod."""
    seen: list[tuple[float, str, dict[str, Any]]] = []

    def record(event: Any) -> None:
        if event.storage_key == ("", "pods") and event.obj.key == f"default/{name}":
            st = event.obj.decode().get("status") or {}
            cs = (st.get("containerStatuses") or [{}])[0]
            seen.append((c.clock.elapsed(), event.type, cs))

    c.store.add_listener(record)
    return seen


async def test_status_fields_pod_ip_from_pod_cidr_and_one_write_when_cached() -> None:
    c = make()
    try:
        nodes = REGISTRY.get("", "v1", "nodes")
        assert nodes is not None
        node = c.api.get(nodes, "", "n-0").decode()
        cidr = ipaddress.ip_network(node["spec"]["podCIDR"])
        internal = next(
            a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"
        )
        c.state.machine("n-0").images.add("registry.example/app:1")
        writes = starts(c, "p0")
        for i in range(5):
            c.api.create(PODS, "default", pod(f"p{i}", {"startupSeconds": 0}))
        for i in range(5):
            await until(lambda i=i: container(c, f"p{i}").get("ready"))
        # admission, image check, start and readiness in the same instant: one status write
        assert [t for _, t, _ in writes] == ["ADDED", "MODIFIED"]
        ips = {status(c, f"p{i}")["podIP"] for i in range(5)}
        assert len(ips) == 5 and all(ipaddress.ip_address(ip) in cidr for ip in ips)
        assert str(cidr.network_address + 1) not in ips  # the bridge gateway
        st = status(c, "p0")
        assert st["hostIP"] == internal and st["hostIPs"] == [{"ip": internal}]
        assert st["podIPs"] == [{"ip": st["podIP"]}] and st["startTime"]
        # kubelet's condition order; PodScheduled True though no scheduler bound the pod
        assert [x["type"] for x in st["conditions"]] == [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ]
        assert all(x["status"] == "True" for x in st["conditions"])
        cs = container(c, "p0")
        assert cs["containerID"].startswith("containerd://") and cs["started"] is True
        assert cs["imageID"].startswith("registry.example/app@sha256:")
        # a deleted pod's address goes back to its node
        c.api.delete(PODS, "default", "p0", DeleteOptions(grace_period=0))
        c.api.create(PODS, "default", pod("p5", {"startupSeconds": 0}))
        await until(lambda: container(c, "p5").get("ready"))
        assert status(c, "p5")["podIP"] in ips
    finally:
        await c.stop()


async def test_pending_then_not_ready_until_readiness_probe_passes() -> None:
    c = make(speed=100)
    try:
        behaviour = {"startupSeconds": 0, "readinessDelaySeconds": 12}
        p = pod("probe", behaviour)
        p["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 8080}]
        p["spec"]["containers"][0]["readinessProbe"] = {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 5,
        }
        c.api.create(PODS, "default", p)
        await until(lambda: status(c, "probe").get("phase") == "Running")
        ready = next(x for x in status(c, "probe")["conditions"] if x["type"] == "Ready")
        assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
        assert ready["message"] == "containers with unready status: [app]"
        await until(lambda: container(c, "probe").get("ready"), timeout=5)
        ip = status(c, "probe")["podIP"]
        unhealthy = [
            e.decode()
            for e in c.store.resource(("", "events")).objects.values()
            if e.decode()["reason"] == "Unhealthy"
        ]
        assert len(unhealthy) == 1  # one Event, counted (probes at 0, 5 and 10 s)
        e = unhealthy[0]
        assert e["type"] == "Warning" and e["count"] == 3
        assert e["source"] == {"component": "kubelet", "host": "n-0"}
        assert e["involvedObject"]["fieldPath"] == "spec.containers{app}"
        assert e["message"] == (
            f'Readiness probe failed: Get "http://{ip}:8080/healthz": dial tcp {ip}:8080: '
            "connect: connection refused"
        )
    finally:
        await c.stop()


async def test_image_pull_errors_and_backoff_timings() -> None:
    c = make(speed=50)  # 1.5 s of tolerance = 30 ms of real time (8 ms at 200 flaked in CI)
    try:
        pulls: list[float] = []

        def record(event: Any) -> None:
            if event.storage_key == ("", "events"):
                e = event.obj.decode()
                if e["reason"] == "Pulling" and e["involvedObject"]["name"] == "gone":
                    pulls.append(c.clock.elapsed())

        c.store.add_listener(record)
        c.api.create(PODS, "default", pod("gone", {"imagePullable": False}))
        await until(lambda: len(pulls) >= 3, timeout=5)
        # 1 s to fail, then back-off 10 s, 20 s: kubelet's image back-off
        gaps = [b - a for a, b in itertools.pairwise(pulls)]
        assert abs(gaps[0] - 11) < 1.5 and abs(gaps[1] - 21) < 1.5, gaps
        ref = "registry.example/app:1"
        failed = [m for r, m in reasons(c, "gone") if r == "Failed"]
        assert failed[0] == (
            f'Failed to pull image "{ref}": rpc error: code = NotFound desc = failed to pull and '
            f'unpack image "{ref}": failed to resolve reference "{ref}": {ref}: not found'
        )
        assert {"Error: ErrImagePull", "Error: ImagePullBackOff"} <= set(failed)
        assert ("BackOff", f'Back-off pulling image "{ref}"') in reasons(c, "gone")
        waiting = container(c, "gone")["state"]["waiting"]
        assert waiting["reason"] in ("ErrImagePull", "ImagePullBackOff")
        assert status(c, "gone")["phase"] == "Pending"
        assert ref not in c.state.machine("n-0").images
    finally:
        await c.stop()


async def test_crashloop_backoff_doubles_from_ten_seconds() -> None:
    c = make(speed=50)  # 1.5 s of tolerance = 30 ms of real time (8 ms at 200 flaked in CI)
    try:
        writes = starts(c, "loop")
        c.api.create(PODS, "default", pod("loop", {"crashAfterSeconds": 2, "startupSeconds": 0}))
        await until(lambda: container(c, "loop").get("restartCount", 0) >= 4, timeout=10)
        began: dict[str, float] = {}
        for t, _, cs in writes:
            cid = cs.get("containerID")
            if "running" in (cs.get("state") or {}) and cid not in began:
                began[cid] = t
        times = sorted(began.values())
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # run 2 s, then restart: at once (after the 1 s sync), then 10, 20, 40 s of back-off
        for gap, expected in zip(gaps, (3, 12, 22, 42), strict=False):
            # The 1 s sync loop and a loaded machine add jitter that grows with the gap.
            assert abs(gap - expected) < 1.5 + 0.05 * expected, gaps
        messages = [
            cs["state"]["waiting"]["message"]
            for _, _, cs in writes
            if cs.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff"
        ]
        durations = [m.split()[1] for m in dict.fromkeys(messages)]
        assert durations[:3] == ["10s", "20s", "40s"]
        uid = c.api.get(PODS, "default", "loop").uid
        assert (
            messages[0] == f"back-off 10s restarting failed container=app pod=loop_default({uid})"
        )
        backoff = [m for r, m in reasons(c, "loop") if r == "BackOff"]
        assert backoff == [f"Back-off restarting failed container app in pod loop_default({uid})"]
        cs = container(c, "loop")
        assert cs["lastState"]["terminated"]["exitCode"] == 1
        assert status(c, "loop")["phase"] == "Running"
    finally:
        await c.stop()


async def test_eviction_follows_kubelet_ranking() -> None:
    c = make(speed=400)
    try:
        mem = {"usage": {"memory": {"base": "32Mi"}}}
        c.api.create(PODS, "default", pod("best-effort", mem))
        c.api.create(
            PODS,
            "default",
            pod("over", mem, resources={"requests": {"memory": "16Mi"}}),
        )
        c.api.create(
            PODS,
            "default",
            pod("under", mem, resources={"requests": {"memory": "1Gi"}}),
        )
        guaranteed = {"cpu": "100m", "memory": "64Mi"}
        c.api.create(
            PODS,
            "default",
            pod("guaranteed", mem, resources={"requests": guaranteed, "limits": guaranteed}),
        )
        names = ("best-effort", "over", "under", "guaranteed")
        for n in names:
            await until(lambda n=n: container(c, n).get("ready"))
        order: list[str] = []

        def record(event: Any) -> None:
            if event.storage_key == ("", "pods") and event.type == "MODIFIED":
                st = event.obj.decode().get("status") or {}
                if st.get("reason") == "Evicted" and event.obj.name not in order:
                    order.append(event.obj.name)

        c.store.add_listener(record)
        c.state.machine("n-0").problems["MemoryPressure"] = MEMORY_PRESSURE
        await until(lambda: len(order) == 4, timeout=5)
        # exceeding requests first (most above request first), then by usage above request
        assert order == ["best-effort", "over", "guaranteed", "under"]
        st = status(c, "over")
        assert st["message"] == (
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 90Mi. "
            "Container app was using 32Mi, request is 16Mi, has larger consumption of memory. "
        )
        cs = container(c, "over")["state"]["terminated"]
        assert (cs["exitCode"], cs["reason"]) == (137, "ContainerStatusUnknown")
        assert ("Killing", "Stopping container app") in reasons(c, "over")
        conds = {x["type"]: x for x in st["conditions"]}
        assert conds["DisruptionTarget"]["reason"] == "TerminationByKubelet"
        assert conds["Ready"]["reason"] == "PodCompleted"
        assert c.kubelet_pods is not None and c.kubelet_pods.stats.evicted == 4
    finally:
        await c.stop()


async def test_deletion_reports_terminal_status_and_stopped_kubelet_keeps_terminating() -> None:
    c = make(speed=100)
    try:
        writes = starts(c, "bye")
        c.api.create(PODS, "default", pod("bye", {"startupSeconds": 0}))
        await until(lambda: container(c, "bye").get("ready"))
        c.api.delete(PODS, "default", "bye", DeleteOptions(grace_period=30))
        await until(lambda: c.store.get(("", "pods"), "default/bye") is None)
        assert ("Killing", "Stopping container app") in reasons(c, "bye")
        # the last status before the deletion: containers exited on SIGTERM, phase terminal
        last = writes[-2]
        assert writes[-1][1] == "DELETED" and last[1] == "MODIFIED"
        assert last[2]["state"]["terminated"]["exitCode"] == 0
        assert last[2]["state"]["terminated"]["reason"] == "Completed"
        c.api.create(PODS, "default", pod("stuck", {"startupSeconds": 0}))
        await until(lambda: container(c, "stuck").get("ready"))
        c.state.machine("n-0").kubelet_stopped = True
        c.api.delete(PODS, "default", "stuck", DeleteOptions(grace_period=30))
        await asyncio.sleep(0.5)  # 50 simulated seconds: longer than the grace period
        stuck = c.api.get(PODS, "default", "stuck")
        assert stuck.deleting and container(c, "stuck")["state"].get("running")
        c.state.machine("n-0").kubelet_stopped = False
        await until(lambda: c.store.get(("", "pods"), "default/stuck") is None)
    finally:
        await c.stop()


async def test_oom_kill_restarts_with_last_state() -> None:
    c = make(speed=1000)
    try:
        behaviour = {
            "startupSeconds": 0,
            "usage": {"memory": {"base": "64Mi", "leakPerHour": "3600Mi"}},
        }
        limits = {"cpu": "100m", "memory": "128Mi"}
        c.api.create(PODS, "default", pod("oom", behaviour, resources={"limits": limits}))
        await until(lambda: container(c, "oom").get("restartCount", 0) >= 1)
        cs = container(c, "oom")
        last = cs["lastState"]["terminated"]
        assert (last["reason"], last["exitCode"]) == ("OOMKilled", 137)
        assert last["startedAt"] and last["finishedAt"] and last["containerID"]
        assert status(c, "oom")["qosClass"] == "Guaranteed"  # requests default to the limits
    finally:
        await c.stop()


@given(hst.lists(hst.booleans(), max_size=300))
def test_node_ips_stay_unique_and_inside_the_range(ops: list[bool]) -> None:
    ips = NodeIPs("10.70.3.0/24")
    held: list[str] = []
    for allocate in ops:
        if allocate or not held:
            ip = ips.allocate()
            if ip is None:
                assert len(held) == 253
                continue
            assert ip not in held
            assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.70.3.0/24")
            assert ip not in ("10.70.3.0", "10.70.3.1", "10.70.3.255")
            held.append(ip)
        else:
            assert ips.release(held.pop(len(held) // 2))


async def test_virtual_node_start_latency_annotation() -> None:
    c = make(speed=200)
    try:
        nodes = REGISTRY.get("", "v1", "nodes")
        assert nodes is not None
        node = c.api.get(nodes, "", "n-0").decode()
        node["metadata"].setdefault("annotations", {})[START_ANNOTATION] = "30"
        c.api.update(nodes, "", "n-0", node)
        c.state.machine("n-0").images.add("registry.example/app:1")
        writes = starts(c, "late")
        created = c.clock.elapsed()
        c.api.create(PODS, "default", pod("late", {"startupSeconds": 0}))
        await until(lambda: container(c, "late").get("ready"), timeout=5)
        running = next(t for t, _, cs in writes if "running" in (cs.get("state") or {}))
        assert 29 <= running - created <= 33
        assert c.kubelet_pods is not None and c.kubelet_pods.stats.started == 1
    finally:
        await c.stop()


async def test_init_containers_run_first_then_the_app() -> None:
    c = make(speed=100)
    try:
        seen: list[dict[str, Any]] = []

        def record(event: Any) -> None:
            if event.storage_key == ("", "pods") and event.obj.key == "default/init":
                seen.append(event.obj.decode().get("status") or {})

        c.store.add_listener(record)
        p = pod("init", {"startupSeconds": 0, "runSeconds": 5}, restartPolicy="Never")
        p["spec"]["initContainers"] = [
            {"name": "migrate", "image": "registry.example/migrate:1"},
            {"name": "proxy", "image": "registry.example/proxy:1", "restartPolicy": "Always"},
        ]
        c.api.create(PODS, "default", p)
        await until(lambda: status(c, "init").get("phase") == "Succeeded", timeout=5)
        first = next(s for s in seen if s.get("initContainerStatuses"))
        assert first["phase"] == "Pending"
        init_cond = next(x for x in first["conditions"] if x["type"] == "Initialized")
        assert init_cond["reason"] == "ContainersNotInitialized"
        assert init_cond["message"] == "containers with incomplete status: [migrate proxy]"
        assert first["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
        st_ = status(c, "init")
        migrate, proxy = st_["initContainerStatuses"]
        assert migrate["state"]["terminated"]["reason"] == "Completed" and migrate["ready"]
        assert proxy["state"]["terminated"]["exitCode"] == 0  # the sidecar stops with the pod
        conds = {x["type"]: x for x in st_["conditions"]}
        assert conds["Initialized"]["status"] == "True"
        events = [(r, m) for r, m in reasons(c, "init") if r == "Started"]
        assert [m for _, m in events] == [
            "Started container migrate",
            "Started container proxy",
            "Started container app",
        ]
        fields = {
            e.decode()["involvedObject"].get("fieldPath")
            for e in c.store.resource(("", "events")).objects.values()
        }
        assert "spec.initContainers{migrate}" in fields
    finally:
        await c.stop()


async def test_admission_counts_the_active_pods_and_frees_finished_and_deleted_ones() -> None:
    """Pods sent to the node with ``nodeName`` skip the scheduler: the kubelet admits each
    next to what its active pods request, and a pod that finished or went no longer counts."""
    c = make()
    try:
        nodes = REGISTRY.get("", "v1", "nodes")
        assert nodes is not None
        node = c.api.get(nodes, "", "n-0").decode()
        cpu = node["status"]["allocatable"]["cpu"]
        capacity = int(cpu[:-1]) if cpu.endswith("m") else int(cpu) * 1000
        half = {"requests": {"cpu": f"{capacity // 2 + 1}m"}}
        first = pod("first", {"runSeconds": 3}, resources=half, restartPolicy="Never")
        c.api.create(PODS, "default", first)
        await until(lambda: status(c, "first").get("phase") == "Running")
        c.api.create(PODS, "default", pod("second", resources=half))
        await until(lambda: status(c, "second").get("phase") == "Failed")
        assert status(c, "second")["reason"] == "OutOfcpu"
        assert status(c, "second")["message"] == (
            f"Pod was rejected: Node didn't have enough resource: cpu, requested: "
            f"{capacity // 2 + 1}, used: {capacity // 2 + 1}, capacity: {capacity}"
        )
        assert ("OutOfcpu", status(c, "second")["message"][len("Pod was rejected: ") :]) in (
            reasons(c, "second")
        )
        assert "containerStatuses" not in status(c, "second")  # nothing ran
        await until(lambda: status(c, "first").get("phase") == "Succeeded")
        c.api.create(PODS, "default", pod("third", resources=half))
        await until(lambda: status(c, "third").get("phase") == "Running")
        c.api.delete(PODS, "default", "third", DeleteOptions(grace_period=0))
        c.api.create(PODS, "default", pod("fourth", resources=half))
        await until(lambda: status(c, "fourth").get("phase") == "Running")
        c.api.delete(PODS, "default", "fourth", DeleteOptions(grace_period=0))
        # A pod the scheduler placed is admitted unchecked, and counts for the next one.
        scheduled = pod("scheduled", resources=half)
        del scheduled["spec"]["nodeName"]
        c.api.create(PODS, "default", scheduled)
        await until(lambda: status(c, "scheduled").get("phase") == "Running")
        c.api.create(PODS, "default", pod("fifth", resources=half))
        await until(lambda: status(c, "fifth").get("phase") == "Failed")
        assert status(c, "fifth")["reason"] == "OutOfcpu"
    finally:
        await c.stop()
