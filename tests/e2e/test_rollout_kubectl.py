"""Deployment rollouts through real kubectl: rollout status/restart/pause/resume/undo, scale."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubectlhelp import Kubectl, _kubectls, chosen_kubectl
from simproc import SimProcess, eventually

pytestmark = pytest.mark.e2e

APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata:
      labels: {app: web}
      annotations:
        sim.kubeward.io/behaviour: '{"startupSeconds": 0.5}'
    spec:
      containers:
      - name: web
        image: nginx:1.27
"""


@pytest.fixture(params=_kubectls())
def kubectl(request: pytest.FixtureRequest, sim: SimProcess, tmp_path: Path) -> Kubectl:
    return chosen_kubectl(request, sim, tmp_path)


@pytest.fixture
def ns(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"r-{abs(hash(request.node.nodeid)) % 10**8}"
    kubectl("create", "namespace", name)
    kubectl("apply", "-n", name, "-f", "-", input=APP)
    out = kubectl("rollout", "status", "-n", name, "deployment/web", "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


def get(kubectl: Kubectl, ns: str, *what: str) -> Any:
    return json.loads(kubectl("get", *what, "-n", ns, "-o", "json").stdout)


def replicasets(kubectl: Kubectl, ns: str) -> dict[str, int]:
    return {
        rs["metadata"]["name"]: rs["spec"]["replicas"]
        for rs in get(kubectl, ns, "replicasets")["items"]
    }


def live_pods(kubectl: Kubectl, ns: str) -> list[dict[str, Any]]:
    return [
        p for p in get(kubectl, ns, "pods")["items"] if not p["metadata"].get("deletionTimestamp")
    ]


def test_scale_up_and_down(kubectl: Kubectl, ns: str) -> None:
    kubectl("scale", "-n", ns, "deployment/web", "--replicas=4")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
    (rs,) = replicasets(kubectl, ns)
    assert replicasets(kubectl, ns) == {rs: 4}
    eventually(lambda: len(live_pods(kubectl, ns)) == 4)
    kubectl("scale", "-n", ns, "deployment/web", "--replicas=1")
    eventually(lambda: len(live_pods(kubectl, ns)) == 1)
    d = get(kubectl, ns, "deployment", "web")
    assert d["status"]["replicas"] == 1
    out = kubectl("get", "deployment", "web", "-n", ns).stdout.splitlines()
    assert out[1].split()[:4] == ["web", "1/1", "1", "1"]
    events = kubectl("get", "events", "-n", ns, "--field-selector", "reason=ScalingReplicaSet")
    assert f"Scaled up replica set {rs} to 4 from 2" in events.stdout
    assert f"Scaled down replica set {rs} to 1 from 4" in events.stdout
    rs_events = kubectl("describe", "replicaset", rs, "-n", ns).stdout
    assert "SuccessfulDelete" in rs_events and "Deleted pod: web-" in rs_events


def test_restart_rolls_out_a_new_replicaset(kubectl: Kubectl, ns: str) -> None:
    (old,) = replicasets(kubectl, ns)
    kubectl("rollout", "restart", "-n", ns, "deployment/web")
    out = kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out
    rses = replicasets(kubectl, ns)
    (new,) = set(rses) - {old}
    assert rses == {old: 0, new: 2}
    fresh = new.removeprefix("web-")
    eventually(
        lambda: (
            {p["metadata"]["labels"]["pod-template-hash"] for p in live_pods(kubectl, ns)}
            == {fresh}
        )
    )
    history = kubectl("rollout", "history", "-n", ns, "deployment/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]


def test_pause_holds_changes_until_resume(kubectl: Kubectl, ns: str) -> None:
    kubectl("rollout", "pause", "-n", ns, "deployment/web")
    kubectl("set", "image", "-n", ns, "deployment/web", "web=nginx:1.28")
    eventually(
        lambda: any(
            c["reason"] == "DeploymentPaused"
            for c in get(kubectl, ns, "deployment", "web")["status"]["conditions"]
        )
    )
    assert len(replicasets(kubectl, ns)) == 1
    kubectl("rollout", "resume", "-n", ns, "deployment/web")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
    assert sorted(replicasets(kubectl, ns).values()) == [0, 2]
    images = {p["spec"]["containers"][0]["image"] for p in live_pods(kubectl, ns)}
    assert images <= {"nginx:1.27", "nginx:1.28"}
    kubectl("rollout", "undo", "-n", ns, "deployment/web")
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
    d = get(kubectl, ns, "deployment", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_status_reports_an_exceeded_progress_deadline(kubectl: Kubectl, ns: str) -> None:
    patch = {
        "spec": {
            "progressDeadlineSeconds": 2,
            "template": {
                "metadata": {
                    "annotations": {"sim.kubeward.io/behaviour": '{"imagePullable":false}'}
                },
                "spec": {"containers": [{"name": "web", "image": "nginx:missing"}]},
            },
        }
    }
    kubectl("patch", "-n", ns, "deployment/web", "-p", json.dumps(patch))
    out = kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s", check=False)
    assert out.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in out.stderr
    conditions = {
        c["type"]: c for c in get(kubectl, ns, "deployment", "web")["status"]["conditions"]
    }
    assert conditions["Progressing"]["reason"] == "ProgressDeadlineExceeded"
    assert conditions["Available"]["status"] == "True"
