"""The built-in demo scenario, run at 60x in a real simulator process, produces every fault it
declares. Everything is observed through the API (objects and events), as a user (or kubeward)
would see it. And `kubeward demo` (what `make demo` runs) starts the simulator, the collector
and the guard, shows what they saw, and stops them all."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubectlhelp import _debian_kubectl
from kubeward.collect.kinds import ALL_RESOURCES
from simproc import start_sim

pytestmark = pytest.mark.e2e

SPEED = 60  # the demo's first 20 simulated minutes take 20 real seconds
# Non-virtual nodes: the log-agent DaemonSet does not tolerate the burst pool's taint.
DAEMON_NODES = 50


def items(http: httpx.Client, path: str, **params: str) -> list[dict[str, Any]]:
    return http.get(path, params=params).json()["items"]


def events(http: httpx.Client, reason: str) -> list[dict[str, Any]]:
    return items(http, "/api/v1/events", fieldSelector=f"reason={reason}")


def first(found: list[str], seen: dict[str, Any], key: str) -> None:
    if found:
        seen.setdefault(key, found[0])


def observe_pods(http: httpx.Client, seen: dict[str, Any]) -> None:
    for pod in items(http, "/api/v1/pods"):
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for cs in (pod.get("status") or {}).get("containerStatuses") or ():
            waiting = (cs.get("state") or {}).get("waiting") or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            if last.get("reason") == "OOMKilled" and last.get("exitCode") == 137:
                seen.setdefault("oomkilled", f"{ns}/{name}")
                if "oom_log" not in seen:
                    seen["oom_log"] = previous_log(http, ns, name)[-1]
            if waiting.get("reason") == "CrashLoopBackOff":
                seen.setdefault("crashloop", f"{ns}/{name}")
                if "crash_log" not in seen:
                    seen["crash_log"] = previous_log(http, ns, name)[-1]
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                seen.setdefault("bad_image", f"{ns}/{name}")


def previous_log(http: httpx.Client, ns: str, pod: str) -> list[str]:
    """The lines of the pod's last terminated run (``kubectl logs --previous``)."""
    r = http.get(f"/api/v1/namespaces/{ns}/pods/{pod}/log", params={"previous": "true"})
    assert r.status_code == 200, r.text
    return r.text.splitlines()


def observe_nodes(http: httpx.Client, seen: dict[str, Any]) -> None:
    for node in items(http, "/api/v1/nodes"):
        name = node["metadata"]["name"]
        conditions = {c["type"]: c for c in node["status"]["conditions"]}
        if conditions["Ready"]["status"] == "Unknown":
            seen.setdefault("not_ready", name)
        if conditions.get("KernelDeadlock", {}).get("status") == "True":
            seen.setdefault("kernel_deadlock", name)
        if conditions.get("GPUXidError", {}).get("status") == "True":
            seen.setdefault("gpu_xid", name)


def observe_workloads(http: httpx.Client, seen: dict[str, Any]) -> None:
    for job in items(http, "/apis/batch/v1/jobs"):
        status = job.get("status") or {}
        name = job["metadata"]["name"]
        if (
            any(
                c["type"] == "Complete" and c["status"] == "True"
                for c in status.get("conditions") or ()
            )
            and name == "index-rebuild"
        ):  # the CronJob's jobs complete too; this is the Job
            seen.setdefault("job_complete", name)
        owners = job["metadata"].get("ownerReferences") or ()
        if any(o["kind"] == "CronJob" and o["name"] == "cache-warmer" for o in owners):
            seen.setdefault("cronjob_job", name)
    checkout = http.get("/apis/apps/v1/namespaces/shop/deployments/checkout").json()
    if checkout["metadata"].get("generation", 1) > 1:
        seen.setdefault(
            "bad_rollout", checkout["spec"]["template"]["spec"]["containers"][0]["image"]
        )
    redis = http.get("/apis/apps/v1/namespaces/platform/statefulsets/redis").json()
    if (redis.get("status") or {}).get("readyReplicas") == 3:
        seen.setdefault("statefulset_ready", "platform/redis")
    gpus = http.get("/api/v1/namespaces/ml/resourcequotas/gpus").json().get("status") or {}
    if (gpus.get("used") or {}).get("requests.nvidia.com/gpu") == "2":
        seen.setdefault("quota_full", gpus)
    compute = http.get("/api/v1/namespaces/shop/resourcequotas/compute").json()
    pods = int(((compute.get("status") or {}).get("used") or {}).get("pods", "0"))
    if pods > seen.get("quota_shop_pods", 0):
        seen["quota_shop_pods"] = pods
    agent = http.get("/apis/apps/v1/namespaces/logging/daemonsets/log-agent").json()
    status = agent.get("status") or {}
    if status.get("desiredNumberScheduled") == status.get("numberReady") == DAEMON_NODES:
        seen.setdefault("daemonset_ready", DAEMON_NODES)


def observe_events(http: httpx.Client, seen: dict[str, Any]) -> None:
    def objs(reason: str, kind: str, prefix: str = "", text: str = "") -> list[str]:
        return [
            e["involvedObject"]["name"]
            for e in events(http, reason)
            if e["involvedObject"]["kind"] == kind
            and e["involvedObject"]["name"].startswith(prefix)
            and text in e.get("message", "")
        ]

    first(objs("SuccessfulRescale", "HorizontalPodAutoscaler", "web", "New size: "), seen, "hpa")
    first(
        objs("BackOff", "Pod", "checkout-", "Back-off restarting failed container"),
        seen,
        "ev_backoff",
    )
    first(objs("Failed", "Pod", "recommendations-", "ErrImagePull"), seen, "ev_pull_failed")
    first(objs("NodeNotReady", "Node", "general-"), seen, "ev_node_not_ready")
    first(objs("Completed", "Job", "index-rebuild", "Job completed"), seen, "ev_job_completed")


WANTED = {
    # pods and nodes
    "oomkilled",
    "oom_log",
    "crashloop",
    "crash_log",
    "bad_image",
    "not_ready",
    "kernel_deadlock",
    "gpu_xid",
    # workloads
    "job_complete",
    "cronjob_job",
    "bad_rollout",
    "statefulset_ready",
    "daemonset_ready",
    "quota_full",
    # events
    "hpa",
    "ev_backoff",
    "ev_pull_failed",
    "ev_node_not_ready",
    "ev_job_completed",
}


def test_demo_produces_each_declared_fault(tmp_path: Path) -> None:
    sim = start_sim(tmp_path, "--scenario", "demo", "--speed", str(SPEED))
    seen: dict[str, Any] = {}
    try:
        with sim.client() as http:
            deadline = time.monotonic() + 21 * 60 / SPEED + 15
            while not seen.keys() >= WANTED and time.monotonic() < deadline:
                for observe in (observe_pods, observe_nodes, observe_workloads, observe_events):
                    observe(http, seen)
                time.sleep(0.25)
    finally:
        sim.stop()
    assert seen.keys() >= WANTED, f"missing {sorted(WANTED - seen.keys())}; saw {seen}"
    assert seen["oomkilled"].startswith("shop/search-")
    assert seen["crashloop"].startswith("shop/checkout-")
    # the logs: the bad rollout's crash line; an OOM-killed container's last heartbeat warned
    assert seen["crash_log"] == (
        'level=error msg="cannot start" err="config: required key PAYMENTS_URL is not set"'
    )
    assert seen["oom_log"].startswith('level=warn msg="memory near limit"'), seen["oom_log"]
    assert seen["bad_image"].startswith("shop/recommendations-")
    assert seen["not_ready"] == seen["ev_node_not_ready"] == "general-0"
    assert seen["kernel_deadlock"] == "highmem-0"
    assert seen["gpu_xid"] == "gpu-0"
    assert seen["bad_rollout"] == "registry.example.com/shop/checkout:3.1.0-rc1"
    assert seen["job_complete"] == "index-rebuild"
    assert seen["quota_full"]["hard"] == {"requests.nvidia.com/gpu": "2"}
    # shop's 21 pods, more while web's HPA scales up; the quota counts them all
    assert seen["quota_shop_pods"] >= 21, seen["quota_shop_pods"]


# --- `kubeward demo` (what `make demo` runs), end to end -------------------------------------


def _session_processes(sid: int) -> list[str]:
    """Live (non-zombie) processes of session ``sid``: the demo and everything it started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != sid:
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
        if state != "Z":
            found.append(f"{entry.name} {cmdline}")
    return found


def _left_running(sid: int, grace: float = 5.0) -> list[str]:
    deadline = time.monotonic() + grace
    while (left := _session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _demo_env() -> dict[str, str]:
    # COLUMNS: Rich panels wrap at the console width; wide enough that no line of the tour
    # the assertions read is wrapped.
    return {**os.environ, "KUBEWARD_KUBECTL": _debian_kubectl(), "COLUMNS": "250"}


def _start_demo(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kubeward.cli", "demo", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own session: every process it starts can be found
    )


def test_kubeward_demo_ci_tour(tmp_path: Path) -> None:
    """`kubeward demo` as CI runs it (no TTY, CI=true: duration 0): the simulator, the
    collector and the guard start, the tour shows what each saw, and everything stops."""
    demo = _start_demo(tmp_path, env={**_demo_env(), "CI": "true"})
    try:
        out, err = demo.communicate(timeout=300)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert demo.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert _left_running(demo.pid) == []
    state = tmp_path / ".kubeward"

    # the simulator and kubectl's view of it
    server = re.search(r"^simulator  (https://127\.0\.0\.1:\d+) \(scenario demo", out, re.M)
    assert server, out
    assert re.search(r"^general-0 +Ready ", out, re.M), out  # kubectl get nodes

    # the collector: its /metrics URL (loopback, the port it picked), and what it served
    url = re.search(r"^collector  (http://127\.0\.0\.1:(\d+))/metrics \(events to ", out, re.M)
    assert url, out
    assert f"kube-state-metrics compatible /metrics: {url[1]}/metrics" in out
    served = re.search(
        r"It served ([\d,]+) kube-state-metrics series in (\d+) families just now, from one "
        r"LIST\+WATCH per kind \((\d+) kinds synced\), (\d+) of them kube_pod_status_phase",
        out,
    )
    assert served, out
    assert int(served[1].replace(",", "")) > 1000 and int(served[2]) >= 40
    assert int(served[3]) == len(ALL_RESOURCES) and int(served[4]) > 0  # state kinds + Events
    assert f"$ curl -s {url[1]}/metrics | grep '^kube_pod_status_phase.*Running'" in out
    assert re.search(
        r'^kube_pod_status_phase\{namespace="[a-z]+",pod=".+",phase="Running"\} 1$', out, re.M
    ), out
    with pytest.raises(httpx.ConnectError):  # stopped with the demo
        httpx.get(f"{url[1]}/metrics", timeout=5)

    # the event center: the command, its table, and the store it read
    assert "events list --store .kubeward/kubeward.db --limit 8" in out
    # Columns are as wide as their widest value ("monitoring" widens NAMESPACE).
    header = re.search(r"^NAMESPACE +LAST SEEN +TYPE ", out, re.M)
    assert header, out
    rows = out[header.start() :].splitlines()[1:9]
    assert len(rows) == 8 and all(re.match(r"\S+ +\d+s +(Normal|Warning) ", r) for r in rows), rows
    with sqlite3.connect(state / "kubeward.db") as db:
        (stored,) = db.execute("SELECT count(*) FROM events").fetchone()
    assert stored >= 8

    # guard analyze, run for real on this run's audit log
    assert (
        "guard analyze --kubeconfig .kubeward/demo.kubeconfig "
        "--audit-log .kubeward/demo-audit.log --window 5m" in out
    )
    assert "API-server load by client" in out
    assert "Culprits (ranked by estimated API-server cost)" in out
    assert re.search(r"┃ # ┃ user +┃ userAgent +┃ req/s ┃ cost share ┃ 429s ┃", out), out
    requests = re.search(r"\(\d+ s\)  (\d+) requests \([\d.]+/s\)  from \.kubeward/demo-audit", out)
    assert requests and int(requests[1]) > 0, out
    assert re.search(r"^│ 1 │ \S+ +│ \S+/\S+ +│ +[\d.]+ │ +[\d.]+% │", out, re.M), out
    assert (state / "demo-audit.log").stat().st_size > 0

    # the guard ran (kubeward guard watch) and stopped with its summary
    checks = re.search(r"^guard: stopped after (\d+) check\(s\): (\d+) alert", out, re.M)
    assert checks and int(checks[1]) >= 1, out

    # last words: the replay
    assert "No terminal (or CI): everything stops now." in out
    assert (
        out.rindex(
            "replay openai-outage`: it replays the December 2024 OpenAI outage on a "
            "500-node simulated cluster with and without the guard"
        )
        > header.start()
    )


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "collector-killed"])
def test_kubeward_demo_stops_everything(tmp_path: Path, how: str) -> None:
    """A demo left running (a duration, as in a terminal) stops every child on Ctrl-C (SIGINT
    to the whole foreground process group, as a terminal sends it), on SIGTERM to the demo
    alone, and when one of its children dies (it says so and exits 1)."""
    demo = _start_demo(tmp_path, "--duration", "600", env=_demo_env())
    assert demo.stdout is not None
    lines: list[str] = []
    try:
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C to stop"):
                break
        assert lines and lines[-1].startswith("Press Ctrl-C"), "".join(lines)
        assert len(_session_processes(demo.pid)) >= 4  # demo, simulator, collector, guard
        if how == "ctrl-c":
            os.killpg(demo.pid, signal.SIGINT)
        elif how == "sigterm":
            demo.send_signal(signal.SIGTERM)
        else:
            (collector,) = [p for p in _session_processes(demo.pid) if "kubeward.cli collect " in p]
            os.kill(int(collector.split()[0]), signal.SIGKILL)
        rest, err = demo.communicate(timeout=90)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    out = "".join(lines) + rest
    if how == "collector-killed":
        assert "the collector exited with code -9; stopping the demo" in rest, out
        assert demo.returncode == 1, f"stdout:\n{out}\nstderr:\n{err}"
    else:
        assert demo.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert re.search(r"^guard: running, [1-9]\d* check\(s\) so far, one every 2s", out, re.M)
    assert re.search(r"^guard: stopped after \d+ check\(s\)", rest, re.M), out
    assert _left_running(demo.pid) == []
