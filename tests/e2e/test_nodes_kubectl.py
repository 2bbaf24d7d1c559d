"""Node health as kubectl shows it: leases, NotReady, conditions, taints and node events.

A simulator of its own runs a small scenario at 20x whose faults stop one kubelet and give
another node a kernel deadlock and a GPU Xid error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _kubectls, chosen_kubectl
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e

SCENARIO = """
name: nodes-e2e
description: one kubelet stops, one node has a kernel deadlock and a GPU Xid error
speed: 20
nodePools:
  - {name: web, count: 2, cpu: "4", memory: 16Gi, zones: [zone-a, zone-b]}
  - {name: gpu, count: 1, cpu: "8", memory: 32Gi, gpus: 2, zones: [zone-a]}
faults:
  - {at: 20s, type: nodeNotReady, nodes: {selector: {kubernetes.io/hostname: web-0}}}
  - {at: 20s, type: kernelDeadlock, nodes: {selector: {kubernetes.io/hostname: gpu-0}}}
  - {at: 20s, type: gpuXidError, nodes: {selector: {kubernetes.io/hostname: gpu-0}}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    tmp = tmp_path_factory.mktemp("nodes")
    (tmp / "scenario.yaml").write_text(SCENARIO)
    proc = start_sim(tmp, "--scenario", str(tmp / "scenario.yaml"))
    yield proc
    proc.stop()


@pytest.fixture(params=_kubectls())
def kubectl(request: pytest.FixtureRequest, cluster: SimProcess, tmp_path: Path) -> Kubectl:
    return chosen_kubectl(request, cluster, tmp_path)


def client_minor(kubectl: Kubectl) -> int:
    version = json.loads(kubectl("version", "--client", "-o", "json").stdout)
    return int(version["clientVersion"]["minor"].rstrip("+"))


def statuses(kubectl: Kubectl) -> dict[str, str]:
    rows = [line.split() for line in kubectl("get", "nodes").stdout.splitlines()[1:]]
    return {r[0]: r[1] for r in rows}


def test_get_nodes_shows_the_stopped_kubelet_not_ready(kubectl: Kubectl) -> None:
    # 20 s until the fault, 40 s grace, a 5 s monitor period: about 4 s at 20x
    eventually(lambda: statuses(kubectl).get("web-0") == "NotReady", timeout=30)
    assert statuses(kubectl) == {"gpu-0": "Ready", "web-0": "NotReady", "web-1": "Ready"}


def test_describe_node_shows_unknown_conditions_taints_and_events(kubectl: Kubectl) -> None:
    def described() -> str | None:
        out = kubectl("describe", "node", "web-0").stdout
        return out if "node.kubernetes.io/unreachable:NoExecute" in out else None

    out = eventually(described, timeout=30)
    assert "node.kubernetes.io/unreachable:NoSchedule" in out
    ready = next(line for line in out.splitlines() if line.strip().startswith("Ready "))
    assert ready.split()[1] == "Unknown"
    assert "NodeStatusUnknown" in ready
    assert "Kubelet stopped posting node status." in ready
    events = out[out.index("Events:") :]
    assert "Starting kubelet." in events  # the kubelet's, recorded with uid = node name
    assert "Node web-0 status is now: NodeReady" in events
    # The node controller records with the Node's real uid; kubectl 1.20 describe searches by
    # uid = name only (as against a real cluster), newer ones search both.
    if client_minor(kubectl) > 20:
        assert "Node web-0 status is now: NodeNotReady" in events
        assert "Registered Node web-0 in Controller" in events
    listed = kubectl(
        "get", "events", "--field-selector", "involvedObject.name=web-0,reason=NodeNotReady"
    ).stdout
    assert "Node web-0 status is now: NodeNotReady" in listed


def test_describe_node_shows_problem_detector_conditions(kubectl: Kubectl) -> None:
    def described() -> str | None:
        out = kubectl("describe", "node", "gpu-0").stdout
        return out if "XidCriticalError" in out and "DockerHung" in out else None

    out = eventually(described, timeout=30)
    conditions = {
        line.split()[0]: line.split()[1]
        for line in out[out.index("Conditions:") : out.index("Addresses:")].splitlines()[3:]
        if line.strip()
    }
    assert conditions["KernelDeadlock"] == "True"
    assert conditions["GPUXidError"] == "True"
    assert conditions["Ready"] == "True"
    node = json.loads(kubectl("get", "node", "gpu-0", "-o", "json").stdout)
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "2"
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "0"
    events = out[out.index("Events:") :]
    assert "kernel-monitor" in events
    assert "Node condition KernelDeadlock is now: True, reason: DockerHung" in events


def test_get_leases_in_kube_node_lease(kubectl: Kubectl) -> None:
    out = kubectl("get", "leases", "-n", "kube-node-lease").stdout.splitlines()
    assert out[0].split()[:2] == ["NAME", "HOLDER"]
    rows = {r.split()[0]: r.split()[1] for r in out[1:]}
    assert rows == {"gpu-0": "gpu-0", "web-0": "web-0", "web-1": "web-1"}
    leases = json.loads(kubectl("get", "leases", "-n", "kube-node-lease", "-o", "json").stdout)
    by_name = {item["metadata"]["name"]: item for item in leases["items"]}
    assert by_name["web-1"]["spec"]["leaseDurationSeconds"] == 40
    assert by_name["web-1"]["metadata"]["ownerReferences"][0]["kind"] == "Node"

    def renewed(name: str) -> str:
        lease = kubectl("get", "lease", "-n", "kube-node-lease", name, "-o", "json").stdout
        return str(json.loads(lease)["spec"]["renewTime"])

    # web-1 keeps renewing (every 10 s = 0.5 s here); the stopped web-0 does not
    eventually(lambda: statuses(kubectl).get("web-0") == "NotReady", timeout=30)
    before = {n: renewed(n) for n in ("web-0", "web-1")}
    eventually(lambda: renewed("web-1") != before["web-1"], timeout=10)
    assert renewed("web-0") == before["web-0"]
