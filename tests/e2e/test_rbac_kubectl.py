"""RBAC as a kubectl user meets it: the bootstrap policy, service-account tokens from token
Secrets (Debian's kubectl 1.20 predates ``kubectl create token``), bindings that grant in
their namespace, kube-apiserver's Forbidden messages, ``auth can-i`` (also ``--list`` and
``--as``), impersonation, escalation refused, aggregated roles, validation. Debian's kubectl
against the shared simulator, each test in its own namespace."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from kubectlhelp import Kubectl, own_namespace, service_account_token
from simproc import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def ns(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_namespace(kubectl, request, "r")


def token_of(kubectl: Kubectl, ns: str, account: str) -> str:
    kubectl("create", "serviceaccount", account, "-n", ns)
    return service_account_token(kubectl, ns, account)["token"].decode()


def forbidden(result: object) -> str:
    stderr = getattr(result, "stderr", "")
    assert getattr(result, "returncode", 0) == 1, stderr
    return str(stderr).strip()


def test_the_bootstrap_policy(kubectl: Kubectl) -> None:
    out = kubectl("get", "clusterrolebindings", "-o", "wide").stdout
    assert re.search(
        r"^cluster-admin\s+ClusterRole/cluster-admin\s+\S+\s+system:masters", out, re.M
    )
    assert re.search(
        r"^system:basic-user\s+ClusterRole/system:basic-user\s+\S+\s+system:authenticated",
        out,
        re.M,
    )
    roles = kubectl("get", "clusterroles", "-o", "name").stdout.split()
    for name in ("admin", "edit", "view", "cluster-admin", "system:discovery"):
        assert f"clusterrole.rbac.authorization.k8s.io/{name}" in roles
    view = json.loads(kubectl("get", "clusterrole", "view", "-o", "json").stdout)
    assert {
        "apiGroups": [""],
        "resources": ["namespaces"],
        "verbs": ["get", "list", "watch"],
    } in view["rules"]
    assert view["aggregationRule"]["clusterRoleSelectors"] == [
        {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}
    ]
    # the admin kubeconfig is in system:masters
    assert kubectl("auth", "can-i", "delete", "nodes").stdout.strip() == "yes"


def test_a_service_account_gets_what_its_bindings_grant(kubectl: Kubectl, ns: str) -> None:
    token = token_of(kubectl, ns, "ci")
    user = f"system:serviceaccount:{ns}:ci"

    def as_ci(*args: str) -> object:
        return kubectl("--token", token, *args, check=False)

    assert forbidden(as_ci("get", "pods", "-n", ns)) == (
        f'Error from server (Forbidden): pods is forbidden: User "{user}" cannot list resource '
        f'"pods" in API group "" in the namespace "{ns}"'
    )
    assert as_ci("auth", "can-i", "list", "pods", "-n", ns).stdout.strip() == "no"  # type: ignore[attr-defined]

    kubectl(
        "create",
        "rolebinding",
        "ci-view",
        "--clusterrole=view",
        f"--serviceaccount={ns}:ci",
        "-n",
        ns,
    )
    listed = as_ci("get", "pods", "-n", ns)
    assert listed.returncode == 0, listed.stderr  # type: ignore[attr-defined]
    assert as_ci("auth", "can-i", "list", "pods", "-n", ns).stdout.strip() == "yes"  # type: ignore[attr-defined]
    # only in that namespace, only reading, and not secrets
    assert forbidden(as_ci("get", "pods", "-A")).endswith(
        'cannot list resource "pods" in API group "" at the cluster scope'
    )
    assert forbidden(as_ci("create", "configmap", "x", "-n", ns)) == (
        f'Error from server (Forbidden): configmaps is forbidden: User "{user}" cannot '
        f'create resource "configmaps" in API group "" in the namespace "{ns}"'
    )
    assert forbidden(as_ci("get", "secret", "ci-token", "-n", ns)) == (
        f'Error from server (Forbidden): secrets "ci-token" is forbidden: User "{user}" cannot '
        f'get resource "secrets" in API group "" in the namespace "{ns}"'
    )
    rules = as_ci("auth", "can-i", "--list", "-n", ns).stdout  # type: ignore[attr-defined]
    assert re.search(r"^pods\s+\[\]\s+\[\]\s+\[get list watch\]", rules, re.M), rules
    assert re.search(r"^deployments\.apps\s+\[\]\s+\[\]\s+\[get list watch\]", rules, re.M)

    # the admin may impersonate it; it may impersonate no one
    assert (
        kubectl("auth", "can-i", "list", "pods", "-n", ns, f"--as={user}").stdout.strip() == "yes"
    )
    assert (
        kubectl(
            "auth", "can-i", "list", "pods", "-n", "default", f"--as={user}", check=False
        ).stdout.strip()
        == "no"
    )
    assert forbidden(as_ci("get", "pods", "-n", ns, "--as=someone")) == (
        f'Error from server (Forbidden): users "someone" is forbidden: User "{user}" cannot '
        'impersonate resource "users" in API group "" at the cluster scope'
    )

    # the token dies with its Secret
    kubectl("delete", "secret", "ci-token", "-n", ns)
    gone = as_ci("get", "pods", "-n", ns)
    assert gone.returncode == 1  # type: ignore[attr-defined]
    assert "error: You must be logged in to the server (Unauthorized)" in gone.stderr  # type: ignore[attr-defined]


def test_granting_more_than_you_hold_is_refused(kubectl: Kubectl, ns: str) -> None:
    token = token_of(kubectl, ns, "lead")
    kubectl(
        "create",
        "rolebinding",
        "lead-admin",
        "--clusterrole=admin",
        f"--serviceaccount={ns}:lead",
        "-n",
        ns,
    )

    def as_lead(*args: str) -> object:
        return kubectl("--token", token, *args, check=False)

    made = as_lead("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", ns)
    assert made.returncode == 0, made.stderr  # type: ignore[attr-defined]
    refused = forbidden(
        as_lead("create", "role", "node-lister", "--verb=list", "--resource=nodes", "-n", ns)
    )
    assert refused == (
        "Error from server (Forbidden): "
        f'roles.rbac.authorization.k8s.io "node-lister" is forbidden: '
        f'user "system:serviceaccount:{ns}:lead" (groups=["system:serviceaccounts" '
        f'"system:serviceaccounts:{ns}" "system:authenticated"]) is attempting to grant RBAC '
        "permissions not currently held:\n"
        '{APIGroups:[""], Resources:["nodes"], Verbs:["list"]}'
    )
    refused = forbidden(
        as_lead(
            "create", "rolebinding", "root", "--clusterrole=cluster-admin", "--user=bob", "-n", ns
        )
    )
    assert "is attempting to grant RBAC permissions not currently held" in refused
    bound = as_lead("create", "rolebinding", "readers", "--role=pod-reader", "--user=bob", "-n", ns)
    assert bound.returncode == 0, bound.stderr  # type: ignore[attr-defined]
    assert kubectl("auth", "can-i", "list", "pods", "-n", ns, "--as=bob").stdout.strip() == "yes"


def test_aggregated_roles_follow_labelled_roles(kubectl: Kubectl) -> None:
    widgets = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": "widgets-edit",
            "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
        },
        "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["*"]}],
    }
    kubectl("apply", "-f", "-", input=json.dumps(widgets))

    def rules_of(role: str) -> list[dict[str, object]]:
        return json.loads(kubectl("get", "clusterrole", role, "-o", "json").stdout)["rules"]

    try:
        eventually(lambda: widgets["rules"][0] in rules_of("admin"))  # edit, then admin
        assert widgets["rules"][0] in rules_of("edit")
        assert widgets["rules"][0] not in rules_of("view")
    finally:
        kubectl("delete", "clusterrole", "widgets-edit")
    eventually(lambda: widgets["rules"][0] not in rules_of("admin"))


def test_rbac_objects_are_validated(kubectl: Kubectl, ns: str) -> None:
    bad = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "bad"},
        "rules": [{"apiGroups": [""], "resources": ["pods"]}],
    }
    result = kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(bad), check=False)
    assert result.returncode == 1
    assert (
        'The Role "bad" is invalid: rules[0].verbs: Required value: verbs must contain at least '
        "one value" in result.stderr
    )
    kubectl("create", "rolebinding", "rb", "--clusterrole=view", "--user=ann", "-n", ns)
    changed = kubectl(
        "patch",
        "rolebinding",
        "rb",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"roleRef":{"name":"edit"}}',
        check=False,
    )
    assert changed.returncode == 1
    assert "roleRef: Invalid value" in changed.stderr and "cannot change roleRef" in changed.stderr


def test_pods_of_a_missing_service_account_are_refused_until_it_exists(
    kubectl: Kubectl, ns: str
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "serviceAccountName": "builder",
                    "containers": [{"name": "app", "image": "nginx"}],
                },
            },
        },
    }
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(deployment))
    message = (
        rf'Error creating: pods "web-\w+-" is forbidden: error looking up service account '
        rf'{ns}/builder: serviceaccount "builder" not found'
    )
    eventually(lambda: re.search(message, kubectl("describe", "rs", "-n", ns).stdout))
    assert kubectl("get", "pods", "-n", ns, "-o", "name").stdout.strip() == ""
    refused = kubectl(
        "run", "solo", "--image=nginx", "--serviceaccount=builder", "-n", ns, check=False
    )
    assert refused.returncode == 1 and (
        f'pods "solo" is forbidden: error looking up service account {ns}/builder' in refused.stderr
    )
    kubectl("create", "serviceaccount", "builder", "-n", ns)
    eventually(lambda: len(kubectl("get", "pods", "-n", ns, "-o", "name").stdout.split()) == 2)
