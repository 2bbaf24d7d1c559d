"""``kubectl logs`` against the simulator: the simulated containers' logs, and the errors
kube-apiserver and the kubelet give when there is no log to read.

A simulator of its own runs at 20x (a heartbeat line every 3 s of real time). One node's
kubelet stops 20 simulated seconds in; the pods run on the other node.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _kubectls, chosen_kubectl, own_namespace
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e

SCENARIO = """
name: logs-e2e
description: two nodes, the first one's kubelet stops at 20s
speed: 20
nodePools:
  - {name: app, count: 2, cpu: "8", memory: 32Gi, zones: [zone-a]}
faults:
  - {at: 20s, type: nodeNotReady, nodes: {selector: {kubernetes.io/hostname: app-0}}}
"""

PODS = """
apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations: {sim.kubeward.io/behaviour: '{"startupSeconds": 0}'}
spec:
  nodeSelector: {kubernetes.io/hostname: app-1}
  containers: [{name: web, image: shop/web:1.2, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: crash
  annotations:
    sim.kubeward.io/behaviour: >-
      {"startupSeconds": 0, "crashAfterSeconds": 40,
      "crashLog": "panic: config key DB_URL missing"}
spec:
  nodeSelector: {kubernetes.io/hostname: app-1}
  containers: [{name: app, image: shop/api:2.0}]
---
apiVersion: v1
kind: Pod
metadata:
  name: multi
  annotations: {sim.kubeward.io/behaviour: '{"startupSeconds": 0}'}
spec:
  nodeSelector: {kubernetes.io/hostname: app-1}
  initContainers: [{name: setup, image: busybox:1.36}]
  containers: [{name: main, image: shop/main:1}, {name: proxy, image: envoy:1.30}]
---
apiVersion: v1
kind: Pod
metadata:
  name: nope
  annotations: {sim.kubeward.io/behaviour: '{"imagePullable": false}'}
spec:
  nodeSelector: {kubernetes.io/hostname: app-1}
  containers: [{name: app, image: example.com/missing:9}]
---
apiVersion: v1
kind: Pod
metadata: {name: pending}
spec:
  nodeSelector: {pool: none}
  containers: [{name: app, image: shop/web:1.2}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    tmp = tmp_path_factory.mktemp("logs")
    (tmp / "scenario.yaml").write_text(SCENARIO)
    proc = start_sim(tmp, "--scenario", str(tmp / "scenario.yaml"))
    yield proc
    proc.stop()


@pytest.fixture(params=_kubectls())
def kubectl(request: pytest.FixtureRequest, cluster: SimProcess, tmp_path: Path) -> Kubectl:
    return chosen_kubectl(request, cluster, tmp_path)


@pytest.fixture
def ns(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    for name in own_namespace(kubectl, request, "lg"):
        kubectl("apply", "-n", name, "-f", "-", input=PODS)
        yield name


def logs(kubectl: Kubectl, ns: str, *args: str) -> str | None:
    out = kubectl("logs", "-n", ns, *args, check=False)
    return out.stdout if out.returncode == 0 else None


def test_a_running_container_logs_its_start_and_heartbeats(kubectl: Kubectl, ns: str) -> None:
    out = eventually(lambda: (o := logs(kubectl, ns, "web")) and "heartbeat" in o and o, 30)
    lines = out.splitlines()
    assert lines[:2] == [
        'level=info msg="starting" container=web image=shop/web:1.2',
        'level=info msg="listening" port=8080',
    ]
    assert lines[2] == 'level=info msg="heartbeat" uptime=60s memory=32Mi'
    stamped = kubectl("logs", "-n", ns, "web", "--timestamps", "--tail", "1").stdout
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z level=info msg=\"heartbeat\" uptime=\d+s "
        r"memory=32Mi\n",
        stamped,
    ), stamped
    assert kubectl("logs", "-n", ns, "web", "--limit-bytes", "11").stdout == "level=info "


def test_previous_shows_how_a_crashed_container_ended(kubectl: Kubectl, ns: str) -> None:
    out = eventually(lambda: logs(kubectl, ns, "crash", "--previous"), 30)
    assert out.splitlines()[0] == 'level=info msg="starting" container=app image=shop/api:2.0'
    assert out.splitlines()[-1] == "panic: config key DB_URL missing"


def test_follow_streams_new_lines(kubectl: Kubectl, ns: str) -> None:
    eventually(lambda: logs(kubectl, ns, "web"), 30)
    proc = kubectl.popen("logs", "-n", ns, "web", "-f", "--tail", "0")
    time.sleep(7)  # at 20x, two or three heartbeats
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    uptimes = [int(u) for u in re.findall(r'msg="heartbeat" uptime=(\d+)s', out)]
    assert uptimes and len(uptimes) == len(out.splitlines()), out
    assert uptimes == sorted(uptimes) and len(set(uptimes)) == len(uptimes)


def test_follow_ends_when_the_container_exits(kubectl: Kubectl, ns: str) -> None:
    # With --tail 0 nothing is printed at first; the crash line can only come through the
    # stream, which ends when the run crashes (40 s after it started, 2 s of real time). A run
    # already crashed when asked (the pod in back-off) gives nothing: ask again.
    def followed() -> str | None:
        out = kubectl("logs", "-n", ns, "crash", "-f", "--tail", "0", timeout=30).stdout
        return out or None

    assert eventually(followed, 30).splitlines()[-1] == "panic: config key DB_URL missing"


def test_containers_of_a_pod_with_several(kubectl: Kubectl, ns: str, cluster: SimProcess) -> None:
    eventually(lambda: logs(kubectl, ns, "multi", "-c", "proxy"), 30)
    assert logs(kubectl, ns, "multi", "-c", "setup") == (
        'level=info msg="starting" container=setup image=busybox:1.36\n'
        'level=info msg="started"\n'
        'level=info msg="work complete"\n'
    )
    bad = kubectl("logs", "-n", ns, "multi", "-c", "sidecar", check=False)
    assert bad.returncode != 0 and "container sidecar is not valid for pod multi" in bad.stderr
    # Without a container kubectl picks one itself; the API server alone asks for one.
    with cluster.client() as client:
        r = client.get(f"/api/v1/namespaces/{ns}/pods/multi/log")
    assert r.status_code == 400
    assert r.json()["message"] == (
        "a container name must be specified for pod multi, choose one of: [main proxy] "
        "or one of the init containers: [setup]"
    )


def test_no_log_before_a_container_runs(kubectl: Kubectl, ns: str) -> None:
    def refused() -> str | None:
        out = kubectl("logs", "-n", ns, "nope", check=False)
        return out.stderr if "failing to pull image" in out.stderr else None

    assert eventually(refused, 30).strip() == (
        'Error from server (BadRequest): container "app" in pod "nope" is waiting to start: '
        "trying and failing to pull image"
    )
    # An unscheduled pod has no node to ask: kube-apiserver answers with an empty stream.
    out = kubectl("logs", "-n", ns, "pending")
    assert out.stdout == "" and out.returncode == 0


def test_a_stopped_kubelet_cannot_be_reached(kubectl: Kubectl, ns: str) -> None:
    eventually(lambda: "NotReady" in kubectl("get", "node", "app-0").stdout, 30)
    ip = kubectl("get", "node", "app-0", "-o", "jsonpath={.status.addresses[0].address}").stdout
    kubectl(
        "run", "stranded", "-n", ns, "--image=busybox", "--restart=Never",
        "--overrides", '{"spec": {"nodeName": "app-0"}}',
    )  # fmt: skip
    out = kubectl("logs", "-n", ns, "stranded", check=False)
    assert out.returncode != 0
    assert out.stderr.strip() == (
        f'Error from server: Get "https://{ip}:10250/containerLogs/{ns}/stranded/stranded": '
        f"dial tcp {ip}:10250: i/o timeout"
    )


def test_the_logs_of_a_missing_pod_are_not_found(kubectl: Kubectl, ns: str) -> None:
    out = kubectl("logs", "-n", ns, "ghost", check=False)
    assert out.returncode != 0
    assert 'pods "ghost" not found' in out.stderr


def grant(kubectl: Kubectl, ns: str, name: str, resource: str, account: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {name}}}
rules: [{{apiGroups: [""], resources: ["{resource}"], verbs: [get]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {name}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {name}}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{account}"}}]
""")  # fmt: skip


def test_reading_logs_needs_get_on_pods_log(kubectl: Kubectl, ns: str) -> None:
    account = f"system:serviceaccount:{ns}:default"
    grant(kubectl, ns, "pod-reader", "pods", account)
    eventually(lambda: logs(kubectl, ns, "web"), 30)
    out = kubectl("logs", "-n", ns, "web", f"--as={account}", check=False)
    assert out.stderr.strip() == (
        f'Error from server (Forbidden): pods "web" is forbidden: User "{account}" cannot get '
        f'resource "pods/log" in API group "" in the namespace "{ns}"'
    )
    grant(kubectl, ns, "log-reader", "pods/log", account)
    assert "starting" in kubectl("logs", "-n", ns, "web", f"--as={account}").stdout
