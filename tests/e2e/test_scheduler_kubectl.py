"""The scheduler as kubectl shows it: Unschedulable pods, FailedScheduling / Scheduled events,
scheduling gates. Runs against the shared tiny simulator (3 nodes of 4 cpu), in its own
namespace."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _debian_kubectl
from simproc import SimProcess, eventually

pytestmark = pytest.mark.e2e

NS = "sched-e2e"

HUGE = f"""
apiVersion: v1
kind: Pod
metadata: {{name: huge, namespace: {NS}}}
spec:
  containers:
  - name: c
    image: nginx
    resources: {{requests: {{cpu: "64"}}}}
"""

GATED = f"""
apiVersion: v1
kind: Pod
metadata: {{name: gated, namespace: {NS}}}
spec:
  schedulingGates: [{{name: example.com/hold}}]
  containers:
  - name: c
    image: nginx
    resources: {{requests: {{cpu: 100m}}}}
"""

# Exact on an untouched tiny cluster ("0/3 nodes are available: 3 Insufficient cpu. preemption:
# 0/3 nodes are available: 3 No preemption victims found for incoming pod."); other tests
# sharing the simulator may cordon or taint a node, which adds its own reason.
UNSCHEDULABLE = re.compile(
    r"0/(\d+) nodes are available: (.+, )?\d+ Insufficient cpu(, .+)?\. "
    r"preemption: 0/\1 nodes are available: (.+, )?\d+ No preemption victims found for "
    r"incoming pod(, .+)?\."
)


@pytest.fixture(scope="module")
def kubectl(sim: SimProcess, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    k = Kubectl(_debian_kubectl(), sim, Path(tmp_path_factory.mktemp("sched-home")))
    k("create", "namespace", NS)
    return k


def pod_scheduled(kubectl: Kubectl, name: str) -> dict[str, str]:
    pod = json.loads(kubectl("get", "pod", name, "-n", NS, "-o", "json").stdout)
    conditions = pod.get("status", {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "PodScheduled"), {})


def test_unschedulable_pod_condition_and_event(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=HUGE)
    cond = eventually(lambda: pod_scheduled(kubectl, "huge"))
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    assert UNSCHEDULABLE.fullmatch(cond["message"]), cond["message"]
    events = eventually(
        lambda: json.loads(
            kubectl(
                "get",
                "events",
                "-n",
                NS,
                "--field-selector",
                "reason=FailedScheduling",
                "-o",
                "json",
            ).stdout
        )["items"]
    )
    assert events[0]["type"] == "Warning"
    assert events[0]["message"] == cond["message"]
    assert events[0]["involvedObject"]["name"] == "huge"
    described = kubectl("describe", "pod", "huge", "-n", NS).stdout
    assert "FailedScheduling" in described
    assert "default-scheduler" in described
    table = kubectl("get", "pod", "huge", "-n", NS).stdout
    assert "Pending" in table


def test_gated_pod_is_scheduled_once_its_gates_are_removed(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=GATED)
    cond = eventually(lambda: pod_scheduled(kubectl, "gated"))
    assert (cond["status"], cond["reason"]) == ("False", "SchedulingGated")
    assert "SchedulingGated" in kubectl("get", "pod", "gated", "-n", NS).stdout
    kubectl(
        "patch", "pod", "gated", "-n", NS, "--type=json",
        "-p", '[{"op": "remove", "path": "/spec/schedulingGates"}]',
    )  # fmt: skip
    node = eventually(
        lambda: kubectl(
            "get", "pod", "gated", "-n", NS, "-o", "jsonpath={.spec.nodeName}"
        ).stdout.strip()
    )
    assert node.startswith("tiny-")
    events = json.loads(
        kubectl(
            "get", "events", "-n", NS, "--field-selector", "reason=Scheduled", "-o", "json"
        ).stdout
    )["items"]
    assert any(e["message"] == f"Successfully assigned {NS}/gated to {node}" for e in events)
