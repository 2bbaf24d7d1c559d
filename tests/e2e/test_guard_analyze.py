"""kubeward guard analyze against a running simulator: the load model's synthetic clients (a
per-node telemetry agent LISTing without resourceVersion, beside the built-in kubelets,
kube-proxies, CoreDNS and controllers) and real kubectl requests land in the simulator's audit
log; the guard reads it and the simulator's /metrics (through kubeward.client) as separate
processes and must name the agent first, with the findings that fit it and none for the
well-behaved system clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _debian_kubectl
from simproc import SimProcess, start_sim

pytestmark = pytest.mark.e2e

AGENT = "system:serviceaccount:monitoring:telemetry-agent"
NODES = 40

# openai-outage-small's story at 40 nodes, the agent starting at once and polling every 10 s
# (so a test minute holds several polls per agent), and a server big enough not to fall over.
SCENARIO = f"""
name: guard-analyze-e2e
description: a per-node telemetry agent listing pods and nodes without resourceVersion
speed: 1
nodePools:
  - name: fleet
    count: {NODES}
    instanceType: sim.standard-32
    cpu: "32"
    memory: 128Gi
    zones: [zone-a, zone-b]
workloads:
  - name: svc
    namespace: prod
    copies: 2
    replicas: 100
    image: registry.example.com/prod/service:1.0.0
    requests: {{cpu: 100m, memory: 128Mi}}
    behaviour: {{imageSize: 1Mi, startupSeconds: 1}}
load:
  capacity:
    cores: 16
    memory: 32Gi
    objectSizeFactor: 6
  clients:
    - name: telemetry-agent
      user: {AGENT}
      userAgent: telemetry-agent/2.0.0 (linux/amd64)
      perNode: true
      startAt: 0s
      rampSeconds: 5
      relistOnError: true
      requests:
        - {{verb: list, resource: pods, interval: 10, jitter: 0.2}}
        - {{verb: list, resource: nodes, interval: 10, jitter: 0.2}}
"""


@pytest.fixture(scope="module")
def outage_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimProcess, Path]]:
    tmp = tmp_path_factory.mktemp("guard")
    scenario = tmp / "scenario.yaml"
    scenario.write_text(SCENARIO)
    audit = tmp / "audit.log"
    sim = start_sim(tmp, "--scenario", str(scenario), "--audit-log", str(audit), timeout=120)
    yield sim, audit
    sim.stop()


def _guard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubeward.cli", "guard", "analyze", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_guard_analyze_names_the_telemetry_agent_against_the_simulator(
    outage_sim: tuple[SimProcess, Path], tmp_path: Path
) -> None:
    sim, audit = outage_sim
    kubectl = Kubectl(_debian_kubectl(), sim, tmp_path)
    # Real HTTP requests from a person, in the same log.
    for _ in range(3):
        kubectl("get", "pods", "-A", "-o", "name")
        kubectl("get", "nodes", "-o", "name")
    # Let the agents poll a few times (every 10 s each).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = audit.read_bytes() if audit.exists() else b""
        if text.count(b"telemetry-agent/2.0.0") >= NODES * 2 * 3:
            break
        time.sleep(1)
    time.sleep(2)  # the audit writer flushes at least every second

    result = _guard("--kubeconfig", str(sim.kubeconfig), "--audit-log", str(audit), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)

    # /metrics was read through kubeward.client: the collection sizes are the simulator's.
    assert doc["apiServer"]["storageObjects"]["nodes"] == NODES
    assert doc["apiServer"]["storageObjects"]["pods"] >= 200

    first = doc["culprits"][0]
    assert first["user"] == AGENT, doc["culprits"][:3]
    assert first["instances"] == NODES  # one per node: distinct nodes/addresses in the log
    top_row = doc["rows"][0]
    assert (top_row["user"], top_row["verb"], top_row["scope"]) == (AGENT, "list", "cluster")
    assert top_row["resource"] in ("pods", "nodes")
    assert top_row["listsWithoutResourceVersion"] >= NODES

    agent_findings = {f["kind"] for f in doc["findings"] if f["user"] == AGENT}
    assert {"list-without-resource-version", "per-node-daemonset"} <= agent_findings
    fleet = next(f for f in doc["findings"] if f["kind"] == "per-node-daemonset")
    assert fleet["evidence"]["instances"] == NODES and fleet["severity"] == "critical"

    # The built-in system clients are informers (LIST RV=0 + WATCH) or node-scoped: no findings.
    flagged = {f["user"] for f in doc["findings"] if f["user"]}
    for user in flagged:
        assert not user.startswith("system:node:"), doc["findings"]
        assert "kube-proxy" not in user and "coredns" not in user, doc["findings"]
    # kubectl's requests are in the log (real HTTP), attributed to the kubeconfig's user.
    agents = {r["userAgent"].split("/")[0] for r in doc["rows"]}
    assert "kubectl" in agents or any(a.startswith("kubectl") for a in agents)

    table = _guard("--kubeconfig", str(sim.kubeconfig), "--audit-log", str(audit), "--top", "5")
    assert table.returncode == 0, table.stderr
    assert "Culprits" in table.stdout and "telemetry-agent/2.0.0" in table.stdout
    assert "per-node-daemonset" in table.stdout and "fix:" in table.stdout


def test_guard_analyze_fails_clearly_when_the_server_is_gone(tmp_path: Path) -> None:
    sim = start_sim(tmp_path, "--scenario", "tiny", "--no-load")
    audit = tmp_path / "audit.log"
    audit.write_text("")
    sim.stop()
    result = _guard("--kubeconfig", str(sim.kubeconfig), "--audit-log", str(audit))
    assert result.returncode == 1
    assert sim.server.split("//")[1] in result.stderr
    assert "error:" in result.stderr
