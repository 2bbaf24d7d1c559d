"""kubeward guard watch against a running simulator, as separate processes over HTTP.

Overloaded: a per-node telemetry agent starts 20 s in and LISTs every pod without
resourceVersion every 5 s on a 2-core API server, which runs out of CPU and memory; the watch
(with --protect) must raise an alert naming the agent's service account within 60 simulated
seconds, throttle it with its own FlowSchema (present on the server afterwards), and store the
alert. Steady: the same cluster without the agent, watched for the same time, raises nothing;
SIGTERM stops the watch cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubectlhelp import Kubectl, _debian_kubectl, kubeconfig_with_token, service_account_token
from kubeward.guard.alertstore import list_alerts
from kubeward.guard.apf import guard_name
from kubeward.store import open_store
from simproc import SimProcess, start_sim

pytestmark = pytest.mark.e2e

AGENT = "system:serviceaccount:monitoring:telemetry-agent"
AGENT_START = 20.0  # simulated seconds after the simulator's start
WATCH_FOR = "50s"  # the agent starts 20 s in; alerts came 4-8 s after it

CLUSTER = """
speed: 1
nodePools:
  - name: fleet
    count: 50
    instanceType: sim.standard-32
    cpu: "32"
    memory: 128Gi
    zones: [zone-a, zone-b]
workloads:
  - name: svc
    namespace: prod
    copies: 5
    replicas: 100
    image: registry.example.com/prod/service:1.0.0
    requests: {cpu: 100m, memory: 128Mi}
    behaviour: {imageSize: 1Mi, startupSeconds: 1}
load:
  capacity:
    cores: 2
    memory: 3Gi
    restartSeconds: 30
    objectSizeFactor: 6
"""

AGENT_CLIENT = f"""
  clients:
    - name: telemetry-agent
      user: {AGENT}
      userAgent: telemetry-agent/2.0.0 (linux/amd64)
      perNode: true
      startAt: {AGENT_START:g}s
      rampSeconds: 10
      relistOnError: true
      retrySeconds: 1
      requests:
        - {{verb: list, resource: pods, interval: 5, jitter: 0.2}}
        - {{verb: list, resource: nodes, interval: 10, jitter: 0.2}}
"""


def _start(tmp: Path, name: str, scenario: str) -> tuple[SimProcess, Path]:
    path = tmp / "scenario.yaml"
    path.write_text(f"name: {name}\ndescription: guard watch e2e\n{scenario}")
    audit = tmp / "audit.log"
    return start_sim(tmp, "--scenario", str(path), "--audit-log", str(audit), timeout=120), audit


@pytest.fixture
def overloaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimProcess, Path]]:
    sim, audit = _start(tmp_path_factory.mktemp("overloaded"), "overloaded", CLUSTER + AGENT_CLIENT)
    yield sim, audit
    sim.stop()


@pytest.fixture
def steady(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimProcess, Path]]:
    sim, audit = _start(tmp_path_factory.mktemp("steady"), "steady", CLUSTER)
    yield sim, audit
    sim.stop()


def _watch_cmd(sim: SimProcess, audit: Path, store: Path, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "kubeward.cli", "guard", "watch",
        "--kubeconfig", str(sim.kubeconfig), "--audit-log", str(audit), "--store", str(store),
        "--interval", "2s", *args,
    ]  # fmt: skip


def _clock_start(sim: SimProcess) -> float:
    with sim.client() as c:
        for line in c.get("/metrics").text.splitlines():
            if line.startswith("kubeward_sim_clock_start_time_seconds "):
                return float(line.split()[1])
    raise AssertionError("no kubeward_sim_clock_start_time_seconds in /metrics")


def test_watch_names_and_throttles_the_agent(
    overloaded: tuple[SimProcess, Path], tmp_path: Path
) -> None:
    sim, audit = overloaded
    store = tmp_path / "alerts.db"
    clock_start = _clock_start(sim)
    proc = subprocess.run(
        _watch_cmd(sim, audit, store, "--protect", "--json", "--for", WATCH_FOR),
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    events: list[dict[str, Any]] = [json.loads(line) for line in proc.stdout.splitlines()]
    opened = [e for e in events if e["event"] == "opened"]
    assert opened, f"no alert raised:\n{proc.stderr[-3000:]}"
    first = opened[0]
    alert = first["alert"]
    assert alert["suspects"][0]["user"] == AGENT, alert["suspects"]
    assert alert["suspects"][0]["protectable"]
    assert alert["suspects"][0]["costShare"] >= 0.25
    assert AGENT in first["summary"]
    signal_names = {s["name"] for s in alert["signals"]}
    assert signal_names & {"memory-growth", "latency", "saturation", "throttling", "unavailable"}
    # Detected within 60 simulated seconds of the agent's start.
    delay = alert["openedAt"] - (clock_start + AGENT_START)
    print(f"alert opened {delay:.1f} simulated seconds after the agent started: {signal_names}")
    assert delay <= 60, delay

    # Mitigated: the agent throttled with the guard's FlowSchema, in the opening event or later.
    name = guard_name(AGENT)
    mitigations = [e for e in events if e.get("flowSchema") == name and e["alert"]["protected"]]
    assert mitigations, events
    assert mitigations[0]["alert"]["protected"] == [AGENT]

    # The objects are on the server, as kubectl shows them.
    kubectl = Kubectl(_debian_kubectl(), sim, tmp_path)
    fs = orjson.loads(kubectl("get", "flowschema", name, "-o", "json").stdout)
    subject = fs["spec"]["rules"][0]["subjects"][0]
    assert subject["serviceAccount"] == {"namespace": "monitoring", "name": "telemetry-agent"}
    assert fs["spec"]["priorityLevelConfiguration"]["name"] == name
    assert fs["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubeward-guard"
    kubectl("get", "prioritylevelconfiguration", name, "-o", "name")

    # Stored: one alert, mitigated, naming the agent first.
    with open_store(str(store), create=False) as opened_store:
        stored = list_alerts(opened_store, cluster="default")
    assert len(stored) == len(opened)
    row = stored[-1]
    assert row.id == first["id"]
    assert row.suspects[0]["user"] == AGENT
    assert row.protected == [AGENT]
    assert row.mitigated_at is not None
    assert row.opened_at.timestamp() == pytest.approx(alert["openedAt"], abs=1e-3)


def test_steady_cluster_raises_no_alert_and_sigterm_stops_cleanly(
    steady: tuple[SimProcess, Path], tmp_path: Path
) -> None:
    sim, audit = steady
    store = tmp_path / "alerts.db"
    proc = subprocess.Popen(
        _watch_cmd(sim, audit, store, "--protect"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        time.sleep(50)  # the same period as the overloaded run
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "ALERT" not in out, out
    assert "0 alert(s) opened" in err and "stopped after" in err, err
    with open_store(str(store), create=False) as opened_store:
        assert list_alerts(opened_store) == []
    # The watch read the audit log and /metrics; it wrote nothing to the cluster.
    kubectl = Kubectl(_debian_kubectl(), sim, tmp_path)
    names = kubectl("get", "flowschemas", "-o", "name").stdout
    assert "kubeward-guard" not in names

    # The same quiet server with the latency threshold at a microsecond: every check between
    # two scrapes that saw a request now fires, so --threshold reaches the detector.
    proc_low = subprocess.run(
        _watch_cmd(sim, audit, store, "--json", "--for", "7s", "--threshold", "mean-latency=1e-6"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc_low.returncode == 0, proc_low.stderr
    opened = [e for e in map(json.loads, proc_low.stdout.splitlines()) if e["event"] == "opened"]
    assert opened, proc_low.stderr
    assert "latency" in {s["name"] for s in opened[0]["alert"]["signals"]}


@pytest.mark.parametrize(
    ("command", "bad", "expected"),
    [
        (["guard", "watch", "--threshold"], "inflight=lots", "'lots' is not a number"),
        (["guard", "watch", "--threshold"], "latency=1s", "NAME one of"),
        (["collect", "--guard", "--guard-threshold"], "memory-growth=12Q", "not a quantity"),
        (["collect", "--guard-threshold"], "inflight=900", "add --guard"),
    ],
)
def test_bad_threshold_is_a_usage_error_naming_it(
    tmp_path: Path, command: list[str], bad: str, expected: str
) -> None:
    kubeconfig = tmp_path / "unused.kubeconfig"
    kubeconfig.write_text("{}")
    cmd = [sys.executable, "-m", "kubeward.cli", *command, bad, "--kubeconfig", str(kubeconfig)]
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"}
    )
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr, result.stderr


def test_collect_with_guard_alerts_and_throttles(
    overloaded: tuple[SimProcess, Path], tmp_path: Path
) -> None:
    """The same guard inside `kubeward collect --guard`: alerts printed and stored in the
    collector's store, the culprit throttled, on the collector's own connection."""
    sim, audit = overloaded
    store = tmp_path / "collector.db"
    command = [sys.executable, "-m", "kubeward.cli", "collect", "--kubeconfig", str(sim.kubeconfig)]
    command += ["--listen", "127.0.0.1:0", "--store", str(store), "--guard", "--guard-protect"]
    command += ["--audit-log", str(audit), "--guard-interval", "2"]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    name = guard_name(AGENT)
    kubectl = Kubectl(_debian_kubectl(), sim, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while name not in kubectl("get", "flowschemas", "-o", "name").stdout:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the collector's guard never throttled the agent"
            time.sleep(2)
        time.sleep(3)  # one more check stores the mitigation
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "ALERT" in out and AGENT in out, out
    with open_store(str(store), create=False) as opened_store:
        stored = list_alerts(opened_store, cluster="default")
    assert stored and stored[-1].protected == [AGENT], stored


def test_a_user_who_may_not_read_metrics_is_told_what_to_bind(
    sim: SimProcess, tmp_path: Path
) -> None:
    """RBAC in the way: the watch stops at start with the API server's refusal and the role
    to bind; bound to system:monitoring, the same user watches."""
    kubectl = Kubectl(_debian_kubectl(), sim, tmp_path)
    ns = f"guard-{abs(hash(tmp_path)) % 10**6}"
    kubectl("create", "namespace", ns)
    kubectl("create", "serviceaccount", "watcher", "-n", ns)
    token = service_account_token(kubectl, ns, "watcher")["token"]
    kubeconfig = kubeconfig_with_token(sim, token, tmp_path / "watcher.kubeconfig")
    command = [
        sys.executable, "-m", "kubeward.cli", "guard", "watch", "--kubeconfig", str(kubeconfig),
        "--store", str(tmp_path / "alerts.db"), "--interval", "1s", "--for", "2s",
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "300"}
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    err = " ".join(refused.stderr.split())
    assert f'forbidden: User "system:serviceaccount:{ns}:watcher" cannot get path "/metrics"' in err
    assert "bind system:monitoring" in err
    kubectl(
        "create", "clusterrolebinding", f"{ns}-watcher", "--clusterrole=system:monitoring",
        f"--serviceaccount={ns}:watcher",
    )  # fmt: skip
    allowed = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert "0 alert(s) opened" in allowed.stdout + allowed.stderr
