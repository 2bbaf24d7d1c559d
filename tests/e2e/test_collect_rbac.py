"""The collector under RBAC, against the simulator's authorizer: the service account and
ClusterRole of ``deploy/`` are enough for ``kubeward collect`` to sync every kind and grant
nothing else, and a role missing one kind stops it at once with kube-apiserver's Forbidden
message and the rule to add."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from e2e.test_collect_support import collect_command, start_collector
from kubectlhelp import (
    ROOT,
    Kubectl,
    _debian_kubectl,
    kubeconfig_with_token,
    service_account_token,
)
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e

NAMESPACE = "kubeward"
ACCOUNT = "kubeward-collect"


@pytest.fixture(scope="module")
def rbac_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    sim = start_sim(tmp_path_factory.mktemp("rbac"), "--scenario", "tiny")
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def kubectl(rbac_sim: SimProcess, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    kubectl = Kubectl(_debian_kubectl(), rbac_sim, tmp_path_factory.mktemp("home"))
    for manifest in ("01-namespace.yaml", "02-rbac.yaml"):
        kubectl("apply", "-f", str(ROOT / "deploy" / manifest))
    return kubectl


def kubeconfig_for(kubectl: Kubectl, sim: SimProcess, account: str, path: Path) -> Path:
    return kubeconfig_with_token(
        sim, service_account_token(kubectl, NAMESPACE, account)["token"], path
    )


def test_the_shipped_role_is_enough_and_no_more(
    rbac_sim: SimProcess, kubectl: Kubectl, tmp_path: Path
) -> None:
    account = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
    assert kubectl("auth", "can-i", "watch", "limitranges", f"--as={account}").stdout.strip() == (
        "yes"
    )
    for verb, what in (("get", "pods"), ("list", "secrets"), ("create", "events")):
        denied = kubectl("auth", "can-i", verb, what, "-A", f"--as={account}", check=False)
        assert denied.stdout.strip() == "no", (verb, what)

    kubectl("run", "probe", "--image=nginx", "-n", NAMESPACE)  # the tiny cluster has no pods
    kubeconfig = kubeconfig_for(kubectl, rbac_sim, ACCOUNT, tmp_path / "kc")
    collector = start_collector(tmp_path, kubeconfig, "--no-store")
    try:
        collector.wait_ready(timeout=60)
        # every kind synced: a sample of each family that has objects in the tiny cluster
        families = (
            'kube_pod_info{namespace="kubeward",pod="probe"',
            "kube_node_info{",
            "kube_storageclass_info{",
        )

        def complete() -> str:
            text = collector.scrape()
            return text if all(family in text for family in families) else ""

        text = eventually(complete, timeout=60)
        assert 'kube_namespace_status_phase{namespace="kubeward",phase="Active"} 1' in text
        assert "Forbidden" not in collector.log()
    finally:
        collector.stop()


def test_a_role_missing_a_kind_stops_the_collector_with_the_fix(
    rbac_sim: SimProcess, kubectl: Kubectl, tmp_path: Path
) -> None:
    shipped = list(yaml.safe_load_all((ROOT / "deploy" / "02-rbac.yaml").read_text()))
    role = next(doc for doc in shipped if doc["kind"] == "ClusterRole")
    narrow_rules = []
    for rule in role["rules"]:
        resources = [r for r in rule["resources"] if r != "limitranges"]
        narrow_rules.append({**rule, "resources": resources})
    narrow = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "narrow", "namespace": NAMESPACE},
        },
        {**role, "metadata": {"name": "narrow"}, "rules": narrow_rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "narrow"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "narrow",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "narrow", "namespace": NAMESPACE}],
        },
    ]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(narrow))
    kubeconfig = kubeconfig_for(kubectl, rbac_sim, "narrow", tmp_path / "kc")
    cmd = collect_command(kubeconfig, "--listen", "127.0.0.1:0", "--no-store")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    err = " ".join(result.stderr.split())  # Rich may wrap long lines
    assert "does not allow kubeward to list limitranges at the cluster scope" in err
    assert (
        f'limitranges is forbidden: User "system:serviceaccount:{NAMESPACE}:narrow" cannot list '
        'resource "limitranges" in API group "" at the cluster scope'
    ) in err
    assert 'resources: ["limitranges"] verbs: ["list", "watch"]' in err


def test_in_cluster_with_the_service_account_files_a_pod_would_get(
    rbac_sim: SimProcess, kubectl: Kubectl, tmp_path: Path
) -> None:
    """No kubeconfig: the token, namespace and CA of the account's token Secret, laid out as
    the pod mount, and the service host and port Kubernetes sets in a pod."""
    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    for name, data in service_account_token(kubectl, NAMESPACE, ACCOUNT).items():
        (mount / name).write_bytes(data)
    url = httpx.URL(rbac_sim.server)
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBECONFIG")}
    env.update(
        KUBERNETES_SERVICE_HOST=str(url.host),
        KUBERNETES_SERVICE_PORT=str(url.port),
        KUBEWARD_SERVICE_ACCOUNT_DIR=str(mount),
        HOME=str(tmp_path),  # no ~/.kube/config to fall back on
    )
    collector = start_collector(tmp_path, None, "--no-store", env=env)
    try:
        collector.wait_ready(timeout=60)
        # nothing else could have told it where the cluster is, or who it is
        assert "kube_node_info{" in collector.scrape()
    finally:
        collector.stop()
