"""The simulated kubelet's pod lifecycle through real kubectl: get, describe and events.

A simulator of its own runs the tiny scenario at 20x, so crash loops and image pull back-offs
reach their second round within a second or two of real time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _kubectls, chosen_kubectl, own_namespace
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e

PODS = """
apiVersion: v1
kind: Pod
metadata:
  name: ok
  annotations: {sim.kubeward.io/behaviour: '{"startupSeconds": 2}'}
spec:
  containers: [{name: web, image: nginx:1.27}]
---
apiVersion: v1
kind: Pod
metadata:
  name: crash
  annotations: {sim.kubeward.io/behaviour: '{"startupSeconds": 0, "crashAfterSeconds": 2}'}
spec:
  containers: [{name: app, image: nginx:1.27}]
---
apiVersion: v1
kind: Pod
metadata:
  name: nope
  annotations: {sim.kubeward.io/behaviour: '{"imagePullable": false}'}
spec:
  containers: [{name: app, image: example.com/missing:9}]
---
apiVersion: v1
kind: Pod
metadata:
  name: slow
  annotations: {sim.kubeward.io/behaviour: '{"startupSeconds": 0, "readinessDelaySeconds": 600}'}
spec:
  containers:
  - name: app
    image: nginx:1.27
    ports: [{containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 10}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    proc = start_sim(tmp_path_factory.mktemp("pods"), "--scenario", "tiny", "--speed", "20")
    yield proc
    proc.stop()


@pytest.fixture(params=_kubectls())
def kubectl(request: pytest.FixtureRequest, cluster: SimProcess, tmp_path: Path) -> Kubectl:
    return chosen_kubectl(request, cluster, tmp_path)


@pytest.fixture
def ns(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    for name in own_namespace(kubectl, request, "pl"):
        kubectl("apply", "-n", name, "-f", "-", input=PODS)
        yield name


def rows(kubectl: Kubectl, ns: str) -> dict[str, list[str]]:
    out = kubectl("get", "pods", "-n", ns, "--no-headers").stdout
    return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}


def test_get_pods_shows_running_crashloop_and_pull_backoff(kubectl: Kubectl, ns: str) -> None:
    def settled() -> dict[str, list[str]] | None:
        r = rows(kubectl, ns)
        ok = r.get("ok", [""])[:2] == ["1/1", "Running"]
        crash = r.get("crash", ["", ""])[1] == "CrashLoopBackOff" and int(r["crash"][2]) >= 2
        nope = r.get("nope", ["", ""])[1] in ("ErrImagePull", "ImagePullBackOff")
        slow = r.get("slow", [""])[:2] == ["0/1", "Running"]
        return r if ok and crash and nope and slow else None

    eventually(settled, timeout=30)
    wide = kubectl("get", "pod", "ok", "-n", ns, "-o", "wide").stdout.splitlines()[1].split()
    ip, node = wide[5], wide[6]
    cidr = json.loads(kubectl("get", "node", node, "-o", "json").stdout)["spec"]["podCIDR"]
    assert ip.rsplit(".", 1)[0] == cidr.rsplit(".", 1)[0]  # from the node's /24


def test_describe_pod_shows_kubelet_events(kubectl: Kubectl, ns: str) -> None:
    def described(pod: str, *needles: str) -> str | None:
        out = kubectl("describe", "pod", pod, "-n", ns).stdout
        return out if all(n in out for n in needles) else None

    # Between back-offs the container runs again, so wait for a describe taken mid-back-off.
    out = eventually(
        lambda: described(
            "crash",
            "Back-off restarting failed container app in pod crash_",
            "Waiting",
            "CrashLoopBackOff",
        ),
        timeout=30,
    )
    events = out[out.index("Events:") :]
    for reason in ("Scheduled", "Pulled", "Created", "Started", "BackOff"):
        assert reason in events, reason
    assert "kubelet" in events
    assert "Last State:     Terminated" in out and "Exit Code:    1" in out

    out = eventually(lambda: described("nope", "Back-off pulling image"), timeout=30)
    assert 'Failed to pull image "example.com/missing:9"' in out
    assert "example.com/missing:9: not found" in out
    assert "Error: ErrImagePull" in out

    out = eventually(lambda: described("slow", "Readiness probe failed"), timeout=30)
    assert "connect: connection refused" in out
    assert "Ready             False" in out or "Ready:          False" in out


def test_get_events_lists_kubelet_events_and_deletion(kubectl: Kubectl, ns: str) -> None:
    eventually(lambda: rows(kubectl, ns).get("ok", [""])[:2] == ["1/1", "Running"], timeout=30)
    kubectl("delete", "pod", "ok", "-n", ns, "--timeout=30s")  # waits until it is gone
    assert "ok" not in rows(kubectl, ns)

    def listed() -> str | None:
        out = kubectl("get", "events", "-n", ns).stdout
        needed = ("Stopping container web", "Started container app", "Back-off pulling image")
        return out if all(n in out for n in needed) else None

    out = eventually(listed, timeout=30)
    header = out.splitlines()[0].split()
    assert header[:3] == ["LAST", "SEEN", "TYPE"] and "REASON" in header
    lines = [line.split() for line in out.splitlines()[1:]]
    killing = [line for line in lines if "Killing" in line]
    assert killing and "pod/ok" in killing[0]
    assert any("Unhealthy" in line and "pod/slow" in line for line in lines)
    sources = json.loads(kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    pulled = [e for e in sources if e["reason"] == "Pulled"]
    assert pulled and all(e["source"]["component"] == "kubelet" for e in pulled)
    assert all(e["source"]["host"].startswith("tiny-") for e in pulled)


def test_a_pod_sent_past_the_scheduler_to_a_full_node_is_rejected(
    kubectl: Kubectl, ns: str
) -> None:
    """``spec.nodeName`` skips the scheduler; the node's kubelet rejects a pod that does not
    fit next to its pods: Failed, with the reason in kubectl's STATUS column, the message and a
    Warning event."""
    node = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"][0]
    name = node["metadata"]["name"]
    cpu = node["status"]["allocatable"]["cpu"]
    capacity = int(cpu[:-1]) if cpu.endswith("m") else int(cpu) * 1000
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod},
            "spec": {
                "nodeName": name,
                "containers": [{"name": "app", "image": "nginx:1.27", "resources": requests}],
                **extra,
            },
        }
        for pod, requests, extra in (
            ("greedy", {"requests": {"cpu": "64"}}, {}),
            ("misplaced", {}, {"nodeSelector": {"disk": "none-has-this"}}),
        )
    ]
    listed = {"apiVersion": "v1", "kind": "List", "items": pods}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(listed))

    def failed(pod: str) -> dict[str, str] | None:
        status = json.loads(kubectl("get", "pod", pod, "-n", ns, "-o", "json").stdout)["status"]
        return status if status.get("phase") == "Failed" else None

    greedy = eventually(lambda: failed("greedy"), timeout=30)
    assert greedy["reason"] == "OutOfcpu"
    prefix = "Pod was rejected: Node didn't have enough resource: cpu, requested: 64000, used: "
    assert greedy["message"].startswith(prefix)
    used, _, rest = greedy["message"][len(prefix) :].partition(", ")
    assert 0 <= int(used) < capacity
    assert rest == f"capacity: {capacity}"
    assert rows(kubectl, ns)["greedy"][:2] == ["0/1", "OutOfcpu"]

    misplaced = eventually(lambda: failed("misplaced"), timeout=30)
    assert misplaced["reason"] == "NodeAffinity"
    assert misplaced["message"] == (
        "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node "
        "affinity/selector"
    )
    events = json.loads(
        kubectl(
            "get", "events", "-n", ns, "--field-selector=involvedObject.name=greedy", "-o", "json"
        ).stdout
    )["items"]
    [event] = [e for e in events if e["reason"] == "OutOfcpu"]
    assert event["type"] == "Warning"
    assert event["source"] == {"component": "kubelet", "host": name}
    assert event["message"] == greedy["message"].removeprefix("Pod was rejected: ")
