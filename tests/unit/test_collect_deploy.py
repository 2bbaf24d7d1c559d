"""The in-cluster manifests in deploy/: valid against Kubernetes' schemas (offline, strict),
RBAC granting list+watch on exactly the kinds the collector reads, and a Deployment whose
arguments the real ``collect`` command accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer
import yaml

from kubeward.collect.cli import collect_app
from kubeward.collect.kinds import ALL_RESOURCES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.31.0"


def documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def one(kind: str) -> dict[str, Any]:
    found = [d for d in documents() if d["kind"] == kind]
    assert len(found) == 1, f"{kind}: {len(found)} documents"
    return found[0]


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid_kubernetes(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_cluster_role_grants_list_and_watch_on_exactly_what_is_read() -> None:
    role = one("ClusterRole")
    granted = set()
    for rule in role["rules"]:
        assert rule["verbs"] == ["list", "watch"]
        assert set(rule) == {"apiGroups", "resources", "verbs"}  # no names, no URLs
        granted |= {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
    assert "*" not in {x for pair in granted for x in pair}
    assert granted == {(r.group, r.plural) for r in ALL_RESOURCES}


def test_the_binding_ties_the_role_to_the_pods_service_account() -> None:
    account, binding, deployment = (
        one("ServiceAccount"),
        one("ClusterRoleBinding"),
        one("Deployment"),
    )
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one("ClusterRole")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == account["metadata"]["name"]
    assert deployment["metadata"]["namespace"] == account["metadata"]["namespace"]


def test_one_master_whose_arguments_the_collect_command_accepts() -> None:
    deployment = one("Deployment")
    assert deployment["spec"]["replicas"] == 1  # a second replica would double the watches
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    command, *args = container["args"]
    assert command == "collect"
    options = {o for p in typer.main.get_command(collect_app).params for o in p.opts}
    for arg in args:
        assert arg.split("=")[0] in options, arg
    workers = int(next(a for a in args if a.startswith("--workers=")).split("=")[1])
    ports = {p["containerPort"] for p in container["ports"]}
    assert ports == {8080 + i for i in range(workers + 1)}  # master + one port per shard
    env = {e["name"] for e in container["env"]}
    assert "KUBEWARD_STORE" in env
