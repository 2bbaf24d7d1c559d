"""Pod priority and preemption as kubectl shows it: a PriorityClass, a full cluster, a
high-priority pod that preempts a low-priority one and then runs. Uses its own tiny simulator
(the shared one must not be filled up)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _debian_kubectl
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e

NS = "preempt-e2e"

# One 3-cpu pod per tiny node (4 cpu each) fills the cluster for another 3-cpu pod.
FILLER = f"""
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {{name: filler}}
value: 10
description: "Placeholder capacity: preempted first."
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: filler, namespace: {NS}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: filler}}}}
  template:
    metadata: {{labels: {{app: filler}}}}
    spec:
      priorityClassName: filler
      terminationGracePeriodSeconds: 2
      containers:
      - name: c
        image: nginx
        resources: {{requests: {{cpu: "3"}}}}
"""

IMPORTANT = f"""
apiVersion: v1
kind: Pod
metadata: {{name: important, namespace: {NS}}}
spec:
  priorityClassName: high
  containers:
  - name: c
    image: nginx
    resources: {{requests: {{cpu: "3"}}}}
"""


@pytest.fixture(scope="module")
def own_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    proc = start_sim(tmp_path_factory.mktemp("preempt-sim"), "--scenario", "tiny")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def kubectl(own_sim: SimProcess, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    k = Kubectl(_debian_kubectl(), own_sim, Path(tmp_path_factory.mktemp("preempt-home")))
    k("create", "namespace", NS)
    return k


def pods(kubectl: Kubectl) -> list[dict]:
    return json.loads(kubectl("get", "pods", "-n", NS, "-o", "json").stdout)["items"]


def test_priority_classes_are_served(kubectl: Kubectl) -> None:
    table = kubectl("get", "priorityclasses").stdout
    assert re.search(r"system-node-critical\s+2000001000\s+false", table), table
    assert re.search(r"system-cluster-critical\s+2000000000\s+false", table), table
    kubectl("create", "priorityclass", "high", "--value=1000", "--description=important")
    got = json.loads(kubectl("get", "pc", "high", "-o", "json").stdout)
    assert (got["value"], got["preemptionPolicy"]) == (1000, "PreemptLowerPriority")
    unknown = kubectl(
        "run", "stray", "-n", NS, "--image=nginx",
        "--overrides", '{"spec": {"priorityClassName": "nope"}}',
        check=False,
    )  # fmt: skip
    assert unknown.returncode != 0
    assert 'pods "stray" is forbidden: no PriorityClass with name nope was found' in (
        unknown.stderr
    )


def test_high_priority_pod_preempts_and_runs(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=FILLER)
    eventually(
        lambda: sum(p["status"].get("phase") == "Running" for p in pods(kubectl)) == 3,
        timeout=60,
    )
    kubectl("apply", "-f", "-", input=IMPORTANT)
    pod = eventually(
        lambda: next(
            (
                p
                for p in pods(kubectl)
                if p["metadata"]["name"] == "important" and p["status"].get("phase") == "Running"
            ),
            None,
        ),
        timeout=90,
    )
    assert pod["spec"]["priority"] == 1000
    node = pod["spec"]["nodeName"]
    assert pod["status"].get("nominatedNodeName") in (None, node)
    events = json.loads(
        kubectl(
            "get", "events", "-n", NS, "--field-selector", "reason=Preempted", "-o", "json"
        ).stdout
    )["items"]
    assert len(events) == 1, events
    assert events[0]["message"] == f"Preempted by pod {pod['metadata']['uid']} on node {node}"
    assert events[0]["involvedObject"]["name"].startswith("filler-")
    table = kubectl("get", "events", "-n", NS).stdout
    assert re.search(r"Normal\s+Preempted\s+pod/filler-\S+\s+Preempted by pod", table), table
    # The replacement filler pod cannot preempt anything and waits.
    pending = eventually(
        lambda: [
            p
            for p in pods(kubectl)
            if p["metadata"]["name"].startswith("filler-")
            and not p["metadata"].get("deletionTimestamp")
            and p["status"].get("phase") == "Pending"
        ],
        timeout=30,
    )
    cond = eventually(
        lambda: next(
            (
                c
                for c in json.loads(
                    kubectl(
                        "get", "pod", pending[0]["metadata"]["name"], "-n", NS, "-o", "json"
                    ).stdout
                )["status"].get("conditions", [])
                if c["type"] == "PodScheduled" and c.get("message")
            ),
            None,
        ),
        timeout=30,
    )
    assert cond["message"] == (
        "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
        "3 No preemption victims found for incoming pod."
    )
