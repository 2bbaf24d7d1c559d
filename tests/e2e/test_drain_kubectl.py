"""kubectl drain against a PodDisruptionBudget, end to end with real kubectl.

minAvailable=N with N+1 ready replicas allows one disruption: drain evicts one pod of the node,
is refused (429) for the next while the budget is used up, retries, and finishes once the
ReplicaSet's replacement is scheduled elsewhere, started and Ready. That exercises the
eviction subresource, the disruption controller, the ReplicaSet controller, the scheduler and
the simulated kubelet together.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _kubectls, chosen_kubectl
from simproc import SimProcess, start_sim

pytestmark = pytest.mark.e2e

REPLICAS = 4
MIN_AVAILABLE = REPLICAS - 1

APP = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {REPLICAS}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}
      annotations:
        sim.kubeward.io/behaviour: '{{"startupSeconds": 2, "readinessDelaySeconds": 1}}'
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{{name: http, containerPort: 8080}}]
        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}
        volumeMounts: [{{name: scratch, mountPath: /scratch}}]
      volumes: [{{name: scratch, emptyDir: {{}}}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: web}}
spec:
  minAvailable: {MIN_AVAILABLE}
  selector: {{matchLabels: {{app: web}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    proc = start_sim(tmp_path_factory.mktemp("drain"), "--scenario", "tiny", "--speed", "3")
    yield proc
    proc.stop()


@pytest.fixture(params=_kubectls())
def kubectl(request: pytest.FixtureRequest, cluster: SimProcess, tmp_path: Path) -> Kubectl:
    return chosen_kubectl(request, cluster, tmp_path)


@pytest.fixture
def ns(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"d-{abs(hash(request.node.nodeid)) % 10**8}"
    kubectl("create", "namespace", name)
    kubectl("apply", "-n", name, "-f", "-", input=APP)
    kubectl("rollout", "status", "-n", name, "deployment/web", "--timeout=60s")
    yield name
    kubectl("delete", "namespace", name, "--timeout=60s")


def get(kubectl: Kubectl, ns: str, *what: str) -> dict:
    return json.loads(kubectl("get", "-n", ns, *what, "-o", "json").stdout)


def test_drain_waits_for_the_replacement_when_the_budget_is_used_up(
    kubectl: Kubectl, ns: str
) -> None:
    def budget() -> dict:
        return get(kubectl, ns, "pdb", "web")["status"]

    # the budget is observed and allows exactly one disruption
    status = budget()
    assert (status["currentHealthy"], status["desiredHealthy"]) == (REPLICAS, MIN_AVAILABLE)
    assert status["disruptionsAllowed"] == 1
    assert "1" in kubectl("get", "-n", ns, "pdb", "web").stdout.splitlines()[1].split()

    pods = get(kubectl, ns, "pods")["items"]
    per_node: dict[str, list[str]] = {}
    for p in pods:
        per_node.setdefault(p["spec"]["nodeName"], []).append(p["metadata"]["name"])
    node = max(per_node, key=lambda n: len(per_node[n]))
    assert len(per_node[node]) >= 2  # 4 replicas on 3 nodes
    endpoints_before = get(kubectl, ns, "endpoints", "web")["subsets"][0]["addresses"]
    assert len(endpoints_before) == REPLICAS
    try:
        out = kubectl(
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=120s",
            timeout=150,
        )
        text = out.stdout + out.stderr
        assert f"node/{node} cordoned" in text
        for name in per_node[node]:
            assert f"evicting pod {ns}/{name}" in text
            assert f"pod/{name} evicted" in text
        # the second eviction had to wait for the replacement of the first
        assert "Cannot evict pod as it would violate the pod's disruption budget." in text
        assert "will retry after 5s" in text
        # kubectl >= 1.2x says "drained"; Debian's 1.20 says "evicted" for the node
        assert f"node/{node} drained" in text or f"node/{node} evicted" in text

        after = [
            p
            for p in get(kubectl, ns, "pods")["items"]
            if not p["metadata"].get("deletionTimestamp")
        ]
        assert all(p["spec"]["nodeName"] != node for p in after)
        d = get(kubectl, ns, "deployment", "web")
        assert d["status"]["availableReplicas"] >= MIN_AVAILABLE
        # the controller counts the replacements
        assert budget()["currentHealthy"] >= MIN_AVAILABLE
        addresses = get(kubectl, ns, "endpoints", "web")["subsets"][0]["addresses"]
        assert all(a["nodeName"] != node for a in addresses)
        node_obj = json.loads(kubectl("get", "node", node, "-o", "json").stdout)
        assert node_obj["spec"]["unschedulable"] is True
    finally:
        kubectl("uncordon", node)
