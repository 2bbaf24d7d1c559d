"""Real kubectl against a running ``kubeward sim``.

Debian's kubectl (package kubernetes-client, 1.20) is the reference client; a newer kubectl on
PATH (if the machine has one) runs the same checks.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _kubectls, chosen_kubectl
from simproc import SimProcess, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(params=_kubectls())
def kubectl(request: pytest.FixtureRequest, sim: SimProcess, tmp_path: Path) -> Kubectl:
    return chosen_kubectl(request, sim, tmp_path)


@pytest.fixture
def ns(kubectl: Kubectl, request: pytest.FixtureRequest) -> str:
    name = f"t-{abs(hash(request.node.nodeid)) % 10**8}"
    kubectl("create", "namespace", name)
    return name


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        resources: {requests: {cpu: 100m, memory: 64Mi}}
"""


def test_get_nodes_lists_the_scenario_nodes(kubectl: Kubectl) -> None:
    out = kubectl("get", "nodes").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = [line.split() for line in out[1:]]
    assert [r[0] for r in rows] == ["tiny-0", "tiny-1", "tiny-2"]
    assert all(r[1] == "Ready" and r[4] == "v1.31.0" for r in rows)


def test_get_pods_all_namespaces_wide(kubectl: Kubectl, ns: str) -> None:
    kubectl("run", "solo", "--image=busybox:1.36", "-n", ns, "--restart=Never")
    out = kubectl("get", "pods", "-A", "-o", "wide").stdout.splitlines()
    assert out[0].split()[:4] == ["NAMESPACE", "NAME", "READY", "STATUS"]
    assert "NODE" in out[0] and "IP" in out[0]
    row = next(line.split() for line in out[1:] if line.split()[:2] == [ns, "solo"])
    assert row[2] == "0/1" or row[2] == "1/1"

    # The simulated scheduler and kubelet run it: it gets a node and a pod IP.
    def running() -> list[str] | None:
        out = kubectl("get", "pods", "-n", ns, "solo", "-o", "wide").stdout.splitlines()
        cells = out[1].split()
        return cells if cells[1:3] == ["1/1", "Running"] else None

    cells = eventually(running)
    header = out[0].split()
    assert cells[header.index("NODE") - 1].startswith("tiny-")
    assert cells[header.index("IP") - 1].startswith("10.")


def test_api_resources_lists_every_registered_kind(kubectl: Kubectl) -> None:
    out = kubectl("api-resources").stdout
    for name in (
        "pods",
        "deployments",
        "cronjobs",
        "horizontalpodautoscalers",
        "poddisruptionbudgets",
        "leases",
        "flowschemas",
        "prioritylevelconfigurations",
        "customresourcedefinitions",
        "persistentvolumeclaims",
        "serviceaccounts",
    ):
        assert any(line.split()[0] == name for line in out.splitlines()), name
    assert "events.k8s.io/v1" in out
    assert "extensions/v1beta1" not in out


def test_get_raw_version(kubectl: Kubectl) -> None:
    info = json.loads(kubectl("get", "--raw", "/version").stdout)
    assert (info["major"], info["minor"]) == ("1", "31")
    missing = kubectl("get", "--raw", "/apis/extensions/v1beta1", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_create_apply_label_annotate_scale_delete(
    kubectl: Kubectl, ns: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)
    assert "deployment.apps/web created" in kubectl("create", "-n", ns, "-f", str(manifest)).stdout
    dup = kubectl("create", "-n", ns, "-f", str(manifest), check=False)
    assert dup.returncode != 0 and "AlreadyExists" in dup.stderr

    manifest.write_text(DEPLOYMENT.replace("replicas: 2", "replicas: 3"))
    # kubectl-create owns spec.replicas: a different value conflicts, as on a real cluster.
    clash = kubectl("apply", "--server-side", "-n", ns, "-f", str(manifest), check=False)
    assert clash.returncode != 0
    assert 'conflict with "kubectl-create" using apps/v1: .spec.replicas' in clash.stderr
    kubectl("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", str(manifest))
    kubectl("label", "deploy/web", "-n", ns, "tier=frontend")
    kubectl("annotate", "deploy/web", "-n", ns, "owner=sre")
    obj = json.loads(kubectl("get", "deploy/web", "-n", ns, "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 3
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert obj["metadata"]["annotations"]["owner"] == "sre"
    raw = json.loads(
        kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{ns}/deployments/web").stdout
    )
    managers = {(m["manager"], m["operation"]) for m in raw["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    generation = obj["metadata"]["generation"]

    kubectl("scale", "deploy/web", "-n", ns, "--replicas=5")
    obj = json.loads(kubectl("get", "deploy/web", "-n", ns, "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 5
    assert obj["metadata"]["generation"] == generation + 1  # spec changed; labels did not

    table = kubectl("get", "deploy", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:2] == ["web", "0/5"]

    assert 'deployment.apps "web" deleted' in kubectl("delete", "deploy/web", "-n", ns).stdout
    gone = kubectl("get", "deploy/web", "-n", ns, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_client_side_apply_is_idempotent(kubectl: Kubectl, ns: str, tmp_path: Path) -> None:
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)
    assert "created" in kubectl("apply", "-n", ns, "-f", str(manifest)).stdout
    rv = json.loads(kubectl("get", "deploy/web", "-n", ns, "-o", "json").stdout)["metadata"][
        "resourceVersion"
    ]
    assert "unchanged" in kubectl("apply", "-n", ns, "-f", str(manifest)).stdout
    again = json.loads(kubectl("get", "deploy/web", "-n", ns, "-o", "json").stdout)
    assert again["metadata"]["resourceVersion"] == rv
    manifest.write_text(DEPLOYMENT.replace("nginx:1.25", "nginx:1.26"))
    assert "configured" in kubectl("apply", "-n", ns, "-f", str(manifest)).stdout
    obj = json.loads(kubectl("get", "deploy/web", "-n", ns, "-o", "json").stdout)
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"


def test_cordon_uncordon(kubectl: Kubectl) -> None:
    kubectl("cordon", "tiny-2")
    try:
        row = kubectl("get", "node", "tiny-2").stdout.splitlines()[1].split()
        assert row[1] == "Ready,SchedulingDisabled"
        spec = json.loads(kubectl("get", "node", "tiny-2", "-o", "json").stdout)["spec"]
        assert spec["unschedulable"] is True
        cordoned = kubectl("get", "nodes", "--field-selector", "spec.unschedulable=true")
        assert [line.split()[0] for line in cordoned.stdout.splitlines()[1:]] == ["tiny-2"]
    finally:
        kubectl("uncordon", "tiny-2")
    spec = json.loads(kubectl("get", "node", "tiny-2", "-o", "json").stdout)["spec"]
    assert not spec.get("unschedulable")


def test_get_watch_receives_an_event(kubectl: Kubectl, ns: str) -> None:
    watch = kubectl.popen("get", "configmaps", "-n", ns, "-w", "--output-watch-events")
    lines: list[str] = []
    assert watch.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(watch.stdout or []), daemon=True)
    reader.start()
    try:
        time.sleep(1.0)  # let kubectl list and open its watch
        kubectl("create", "configmap", "watched", "-n", ns, "--from-literal=k=v")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any("watched" in line for line in lines):
            time.sleep(0.1)
    finally:
        watch.terminate()
        watch.wait(timeout=10)
    event = next(line.split() for line in lines if "watched" in line)
    assert event[:3] == ["ADDED", "watched", "1"]


def test_delete_pod_and_namespace(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "configmap", "c1", "-n", ns)
    kubectl("run", "p", "--image=busybox:1.36", "-n", ns, "--restart=Never")
    assert 'pod "p" deleted' in kubectl("delete", "pod", "p", "-n", ns).stdout
    kubectl("delete", "namespace", ns, "--timeout=30s")
    gone = kubectl("get", "namespace", ns, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    leftover = kubectl("get", "configmaps", "-n", ns, "-o", "name").stdout
    assert leftover.strip() == ""


def test_every_namespace_holds_the_root_ca(kubectl: Kubectl, sim: SimProcess, ns: str) -> None:
    """kube-root-ca.crt, as kube-controller-manager publishes it: the CA in the kubeconfig,
    made again when deleted."""
    assert sim.ca_file is not None  # the shared simulator serves TLS

    def ca_in(namespace: str) -> str:
        got = kubectl(
            "get", "configmap", "kube-root-ca.crt", "-n", namespace,
            "-o", "jsonpath={.data.ca\\.crt}", check=False,
        )  # fmt: skip
        return got.stdout if got.returncode == 0 else ""

    ca = sim.ca_file.read_text()
    assert eventually(lambda: ca_in(ns)) == ca
    assert ca_in("kube-system") == ca
    kubectl("delete", "configmap", "kube-root-ca.crt", "-n", ns)
    assert eventually(lambda: ca_in(ns)) == ca
