"""The simulated cluster through real kubectl: top, describe, rollout, events, drain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _kubectls, chosen_kubectl
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata:
      labels: {app: web}
      annotations:
        sim.kubeward.io/behaviour: '{"startupSeconds": 3, "usage": {"cpu": {"base": "150m"}}}'
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources: {requests: {cpu: 100m, memory: 64Mi}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """Its own simulator, 3x speed: these tests cordon and drain nodes, and the drain test
    needs replacement pods to take a moment to become ready."""
    proc = start_sim(tmp_path_factory.mktemp("cluster"), "--scenario", "tiny", "--speed", "3")
    yield proc
    proc.stop()


@pytest.fixture(params=_kubectls())
def kubectl(request: pytest.FixtureRequest, cluster: SimProcess, tmp_path: Path) -> Kubectl:
    return chosen_kubectl(request, cluster, tmp_path)


@pytest.fixture
def ns(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"c-{abs(hash(request.node.nodeid)) % 10**8}"
    kubectl("create", "namespace", name)
    kubectl("apply", "-n", name, "-f", "-", input=APP)
    kubectl("rollout", "status", "-n", name, "deployment/web", "--timeout=60s")
    yield name
    # Wait: a drain selects app=web pods of every namespace on the node, and a namespace still
    # terminating would refuse their evictions.
    kubectl("delete", "namespace", name, "--timeout=60s")


def test_rollout_status_history_and_undo(kubectl: Kubectl, ns: str) -> None:
    kubectl("set", "image", "-n", ns, "deployment/web", "web=nginx:1.28")
    out = kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out
    history = kubectl("rollout", "history", "-n", ns, "deployment/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    kubectl("rollout", "undo", "-n", ns, "deployment/web")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
    d = json.loads(kubectl("get", "deployment", "web", "-n", ns, "-o", "json").stdout)
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    events = kubectl("get", "events", "-n", ns).stdout
    assert "ScalingReplicaSet" in events and "Scaled up replica set web-" in events


def test_describe_pod_shows_kubelet_and_scheduler_events(kubectl: Kubectl, ns: str) -> None:
    pod = kubectl("get", "pods", "-n", ns, "-o", "name").stdout.split()[0]
    out = kubectl("describe", "-n", ns, pod).stdout
    assert "Status:           Running" in out or "Status:       Running" in out
    events = out[out.index("Events:") :]
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in events, reason
    assert "default-scheduler" in events and "kubelet" in events
    listed = kubectl(
        "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={pod.split('/')[1]}"
    ).stdout
    assert "Started container web" in listed


def test_top_nodes_and_pods(kubectl: Kubectl, ns: str) -> None:
    def pods_with_usage() -> list[list[str]] | None:
        out = kubectl("top", "pods", "-n", ns, check=False)
        rows = [line.split() for line in out.stdout.splitlines()[1:]]
        return rows if len(rows) == 3 else None

    rows = eventually(pods_with_usage, timeout=20)
    assert all(r[1] == "150m" for r in rows)  # the behaviour's constant 150m
    nodes = kubectl("top", "nodes").stdout.splitlines()
    assert nodes[0].split()[:3] == ["NAME", "CPU(cores)", "CPU%"]
    assert sorted(line.split()[0] for line in nodes[1:]) == ["tiny-0", "tiny-1", "tiny-2"]


def test_drain_honours_the_disruption_budget(kubectl: Kubectl, ns: str) -> None:
    # 5 replicas on 3 nodes put two on some node; a budget of 4 lets drain evict one of them
    # at once and makes the second wait until the replacement is ready elsewhere.
    kubectl("scale", "-n", ns, "deployment/web", "--replicas=5")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
    kubectl("patch", "-n", ns, "pdb/web", "--type=merge", "-p", '{"spec":{"minAvailable":4}}')
    pods = json.loads(kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
    per_node: dict[str, int] = {}
    for p in pods:
        per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    node = max(per_node, key=lambda n: per_node[n])
    assert per_node[node] >= 2
    try:
        out = kubectl(
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=90s",
            "--pod-selector",
            "app=web",
            timeout=120,
        )
        assert f"node/{node} drained" in out.stdout or f"node/{node} evicted" in out.stdout
        assert "violate the pod's disruption budget" in out.stdout + out.stderr
        after = json.loads(kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
        live = [p for p in after if not p["metadata"].get("deletionTimestamp")]
        assert all(p["spec"].get("nodeName") != node for p in live)
        d = json.loads(kubectl("get", "deployment", "web", "-n", ns, "-o", "json").stdout)
        assert d["status"]["availableReplicas"] >= 4
        assert "SchedulingDisabled" in kubectl("get", "nodes").stdout
    finally:
        kubectl("uncordon", node)
