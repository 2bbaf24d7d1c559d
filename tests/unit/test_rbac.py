"""RBAC semantics (kubeward.kube.rbac), validation and defaulting of the RBAC kinds, and the
simulator's authorizer, escalation check and clusterrole aggregation over a bootstrapped
store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.datastructures import Headers

from kubeward.kube import rbac
from kubeward.kube import status as st
from kubeward.kube.defaults import apply_defaults
from kubeward.kube.rbac import Attributes
from kubeward.kube.registry import REGISTRY
from kubeward.kube.validation import validate_object, validate_update
from kubeward.sim.api.authn import ServiceAccountTokens, User, impersonate
from kubeward.sim.api.authz import REQUESTING_USER
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.api.reviews import subject_access_review, token_request, token_review
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.scenarios.model import load_scenario

G = rbac.GROUP
AUTH = ("system:authenticated",)
CLUSTER_ROLES = REGISTRY.get(G, "v1", "clusterroles")
ROLES = REGISTRY.get(G, "v1", "roles")
ROLE_BINDINGS = REGISTRY.get(G, "v1", "rolebindings")
CLUSTER_ROLE_BINDINGS = REGISTRY.get(G, "v1", "clusterrolebindings")


def rule(groups: list[str], resources: list[str], verbs: list[str], **more: Any) -> dict:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs, **more}


# -- rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted", "asked", "allowed"),
    [
        (rule([""], ["pods"], ["get"]), Attributes("get", "", "pods", namespace="a"), True),
        (rule([""], ["pods"], ["get"]), Attributes("list", "", "pods"), False),
        (rule([""], ["pods"], ["*"]), Attributes("deletecollection", "", "pods"), True),
        (rule(["apps"], ["pods"], ["get"]), Attributes("get", "", "pods"), False),
        (rule(["*"], ["deployments"], ["get"]), Attributes("get", "apps", "deployments"), True),
        # "pods" grants no subresource of pods; "pods/log" and "*/log" do
        (rule([""], ["pods"], ["get"]), Attributes("get", "", "pods", "log"), False),
        (rule([""], ["pods/log"], ["get"]), Attributes("get", "", "pods", "log"), True),
        (
            rule(["*"], ["*/scale"], ["update"]),
            Attributes("update", "apps", "deployments", "scale"),
            True,
        ),
        (rule(["*"], ["*/scale"], ["update"]), Attributes("update", "apps", "deployments"), False),
        (rule(["*"], ["*"], ["get"]), Attributes("get", "", "pods", "status"), True),
        # resourceNames limit to those names; a list has no name
        (
            rule([""], ["configmaps"], ["get"], resourceNames=["a"]),
            Attributes("get", "", "configmaps", name="a"),
            True,
        ),
        (
            rule([""], ["configmaps"], ["get"], resourceNames=["a"]),
            Attributes("get", "", "configmaps", name="b"),
            False,
        ),
        (
            rule([""], ["configmaps"], ["list"], resourceNames=["a"]),
            Attributes("list", "", "configmaps"),
            False,
        ),
        (
            {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
            Attributes("get", path="/healthz"),
            True,
        ),
        (
            {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
            Attributes("get", path="/healthz/etcd"),
            False,
        ),
        (
            {"nonResourceURLs": ["/healthz/*"], "verbs": ["get"]},
            Attributes("get", path="/healthz/etcd"),
            True,
        ),
        ({"nonResourceURLs": ["*"], "verbs": ["get"]}, Attributes("post", path="/x"), False),
        # a resource rule never grants a path, nor a path rule a resource
        (rule(["*"], ["*"], ["*"]), Attributes("get", path="/metrics"), False),
        ({"nonResourceURLs": ["*"], "verbs": ["*"]}, Attributes("get", "", "pods"), False),
    ],
)
def test_a_rule_grants_what_kubernetes_grants(
    granted: dict, asked: Attributes, allowed: bool
) -> None:
    assert rbac.rule_allows(granted, asked) is allowed


def test_subjects_match_users_groups_and_service_accounts() -> None:
    sa = {"kind": "ServiceAccount", "name": "ci"}
    # a RoleBinding's service account without a namespace is in the binding's namespace
    assert rbac.subject_applies(sa, "system:serviceaccount:team:ci", (), "team")
    assert not rbac.subject_applies(sa, "system:serviceaccount:other:ci", (), "team")
    # ... and matches nothing in a ClusterRoleBinding (validation requires the namespace)
    assert not rbac.subject_applies(sa, "system:serviceaccount:team:ci", (), "")
    assert rbac.subject_applies({"kind": "Group", "name": "devs"}, "ann", ("devs",), "")
    assert not rbac.subject_applies({"kind": "User", "name": "devs"}, "ann", ("devs",), "")
    assert rbac.subject_applies({"kind": "User", "name": "ann"}, "ann", (), "x")


def test_covers_breaks_rules_down_and_names_what_is_missing() -> None:
    owner = [rule([""], ["pods", "services"], ["get", "list"]), rule(["apps"], ["*"], ["*"])]
    assert rbac.uncovered(owner, [rule([""], ["pods"], ["list"])]) == []
    assert rbac.uncovered(owner, [rule(["apps"], ["deployments/scale"], ["update"])]) == []
    missing = rbac.uncovered(owner, [rule(["", "batch"], ["pods"], ["get", "delete"])])
    assert missing == [
        rule([""], ["pods"], ["delete"]),
        rule(["batch"], ["pods"], ["get"]),
        rule(["batch"], ["pods"], ["delete"]),
    ]
    message = rbac.escalation_message("ann", ("devs", "system:authenticated"), missing)
    assert message == (
        'user "ann" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC '
        "permissions not currently held:\n"
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}\n'
        '{APIGroups:["batch"], Resources:["pods"], Verbs:["get" "delete"]}'
    )
    # a name-limited owner covers that name only; "*/scale" covers any scale
    named = [
        rule([""], ["configmaps"], ["get"], resourceNames=["a"]),
        rule(["*"], ["*/scale"], ["get"]),
    ]
    assert rbac.uncovered(named, [rule([""], ["configmaps"], ["get"], resourceNames=["a"])]) == []
    assert rbac.uncovered(named, [rule([""], ["configmaps"], ["get"])]) != []
    assert rbac.uncovered(named, [rule(["apps"], ["statefulsets/scale"], ["get"])]) == []
    urls = [{"nonResourceURLs": ["/logs/*"], "verbs": ["get"]}]
    assert rbac.uncovered(urls, [{"nonResourceURLs": ["/logs/a"], "verbs": ["get"]}]) == []
    assert rbac.uncovered(urls, [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]) != []


def test_forbidden_reasons_read_as_kube_apiservers() -> None:
    assert rbac.forbidden_reason("u", Attributes("list", "apps", "deployments")) == (
        'User "u" cannot list resource "deployments" in API group "apps" at the cluster scope'
    )
    assert rbac.forbidden_reason("u", Attributes("get", "", "pods", "log", "ns", "p")) == (
        'User "u" cannot get resource "pods/log" in API group "" in the namespace "ns"'
    )
    assert rbac.forbidden_reason("u", Attributes("get", path="/metrics")) == (
        'User "u" cannot get path "/metrics"'
    )


# -- validation and defaults -----------------------------------------------------------------


def messages(group: str, kind: str, obj: dict, namespaced: bool) -> list[str]:
    return [e.message() for e in validate_object(group, kind, obj, namespaced=namespaced)]


def test_role_validation_follows_the_api_server() -> None:
    role = {"metadata": {"name": "r", "namespace": "a"}, "rules": [{"apiGroups": [""]}]}
    assert messages(G, "Role", role, True) == [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        "rules[0].resources: Required value: resource rules must supply at least one resource",
    ]
    role["rules"] = [{"nonResourceURLs": ["/healthz"], "verbs": ["get"], "resources": ["pods"]}]
    assert messages(G, "Role", role, True) == [
        'rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot '
        "apply to non-resource URLs",
        'rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: rules cannot apply to '
        "both regular resources and non-resource URLs",
    ]
    # names are path segments: "system:x" is fine, "a/b" is not
    ok = {
        "metadata": {"name": "system:x"},
        "rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"]}],
    }
    assert messages(G, "ClusterRole", ok, False) == []
    bad = {"metadata": {"name": "a/b"}, "aggregationRule": {}}
    assert messages(G, "ClusterRole", bad, False) == [
        "metadata.name: Invalid value: \"a/b\": may not contain '/'",
        "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector "
        "required if aggregationRule is non-nil",
    ]


def test_binding_validation_and_defaults() -> None:
    binding: dict[str, Any] = {
        "metadata": {"name": "b"},
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [
            {"kind": "User", "name": "ann"},
            {"kind": "ServiceAccount", "name": "ci"},
            {"kind": "Robot", "name": "x"},
        ],
    }
    apply_defaults(G, "ClusterRoleBinding", binding)
    assert binding["roleRef"]["apiGroup"] == G
    assert binding["subjects"][0]["apiGroup"] == G
    assert "apiGroup" not in binding["subjects"][1]
    assert messages(G, "ClusterRoleBinding", binding, False) == [
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
        "subjects[1].namespace: Required value",
        'subjects[2].kind: Unsupported value: "Robot": supported values: "ServiceAccount", '
        '"User", "Group"',
    ]
    binding["subjects"] = binding["subjects"][:1]
    new = {**binding, "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "view"}}
    errors = validate_update(G, "ClusterRoleBinding", binding, new)
    assert [e.message() for e in errors] == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", '
        'Kind:"ClusterRole", Name:"view"}: cannot change roleRef'
    ]


# -- the authorizer over a bootstrapped cluster ----------------------------------------------


@pytest.fixture
def cluster() -> SimCluster:
    c = SimCluster(load_scenario("tiny"), simulate=False)
    c.bootstrap()
    namespaces = REGISTRY.get("", "v1", "namespaces")
    assert namespaces is not None
    c.api.create(namespaces, "", {"metadata": {"name": "team"}})
    return c


def test_the_bootstrap_policy(cluster: SimCluster) -> None:
    authz = cluster.api.rbac
    assert authz.authorize("ann", AUTH, Attributes("get", path="/apis/apps")).allowed
    assert authz.authorize(
        "ann", AUTH, Attributes("create", "authorization.k8s.io", "selfsubjectaccessreviews")
    ).allowed
    denied = authz.authorize("ann", AUTH, Attributes("list", "", "pods"))
    assert not denied.allowed and denied.reason == ""
    assert authz.authorize("root", ("system:masters",), Attributes("delete", "", "nodes")).allowed
    # aggregated at bootstrap: view < edit < admin
    view = cluster.store.get((G, "clusterroles"), "view")
    admin = cluster.store.get((G, "clusterroles"), "admin")
    assert view is not None and admin is not None
    assert rbac.uncovered(rbac.rules_of(admin.decode()), rbac.rules_of(view.decode())) == []
    assert any("secrets" in r["resources"] for r in rbac.rules_of(admin.decode()))
    assert not any("secrets" in r["resources"] for r in rbac.rules_of(view.decode()))


def bind(cluster: SimCluster, ns: str, role_kind: str, role: str, **subject: str) -> None:
    body = {
        "metadata": {"name": f"{role}-{subject['name']}", "namespace": ns},
        "roleRef": {"kind": role_kind, "name": role},
        "subjects": [subject],
    }
    assert ROLE_BINDINGS and CLUSTER_ROLE_BINDINGS
    cluster.api.create(ROLE_BINDINGS if ns else CLUSTER_ROLE_BINDINGS, ns, body)


def test_role_bindings_grant_in_their_namespace_only(cluster: SimCluster) -> None:
    authz = cluster.api.rbac
    user = "system:serviceaccount:team:ci"
    bind(cluster, "team", "ClusterRole", "edit", kind="ServiceAccount", name="ci")
    decision = authz.authorize(
        user, AUTH, Attributes("create", "apps", "deployments", namespace="team")
    )
    assert decision.allowed
    assert decision.reason == (
        'RBAC: allowed by RoleBinding "edit-ci/team" of ClusterRole "edit" to ServiceAccount '
        '"ci/team"'
    )
    assert not authz.authorize(
        user, AUTH, Attributes("create", "apps", "deployments", namespace="x")
    ).allowed
    assert not authz.authorize(user, AUTH, Attributes("list", "apps", "deployments")).allowed
    # a binding to a role that does not exist grants nothing, and says so
    bind(cluster, "team", "Role", "missing", kind="ServiceAccount", name="ci")
    denied = authz.authorize(user, AUTH, Attributes("list", "", "nodes"))
    assert denied.reason == ""  # cluster scope: the namespace's bindings are not consulted
    denied = authz.authorize(
        user, AUTH, Attributes("get", "", "secrets", namespace="team", name="s")
    )
    assert denied.allowed  # edit reads secrets
    denied = authz.authorize(user, AUTH, Attributes("escalate", G, "roles", namespace="team"))
    assert denied.reason == 'RBAC: role.rbac.authorization.k8s.io "missing" not found'


def test_escalation_needs_the_permissions_or_the_verb(cluster: SimCluster) -> None:
    assert ROLES is not None and CLUSTER_ROLES is not None
    bind(cluster, "team", "ClusterRole", "admin", kind="User", name="lead")
    lead = REQUESTING_USER.set(("lead", AUTH))
    try:
        # admin may make roles within what it holds ...
        cluster.api.create(
            ROLES,
            "team",
            {"metadata": {"name": "readers"}, "rules": [rule([""], ["pods"], ["get"])]},
        )
        # ... but not grant what it does not hold, nor bind to what it does not hold
        with pytest.raises(st.StatusError) as refused:
            cluster.api.create(
                ROLES,
                "team",
                {"metadata": {"name": "nodes"}, "rules": [rule([""], ["nodes"], ["list"])]},
            )
        assert refused.value.code == 403
        assert refused.value.message == (
            'roles.rbac.authorization.k8s.io "nodes" is forbidden: user "lead" '
            '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not '
            'currently held:\n{APIGroups:[""], Resources:["nodes"], Verbs:["list"]}'
        )
        with pytest.raises(st.StatusError) as refused:
            bind(cluster, "team", "ClusterRole", "cluster-admin", kind="User", name="friend")
        assert "is attempting to grant RBAC permissions not currently held" in refused.value.message
        bind(cluster, "team", "Role", "readers", kind="User", name="friend")  # holds those
    finally:
        REQUESTING_USER.reset(lead)
    # "escalate" on roles lifts the check
    cluster.api.create(
        CLUSTER_ROLES,
        "",
        {"metadata": {"name": "escalator"}, "rules": [rule([G], ["roles"], ["escalate"])]},
    )
    bind(cluster, "team", "ClusterRole", "escalator", kind="User", name="lead")
    lead = REQUESTING_USER.set(("lead", AUTH))
    try:
        cluster.api.create(
            ROLES,
            "team",
            {"metadata": {"name": "nodes"}, "rules": [rule([""], ["nodes"], ["list"])]},
        )
    finally:
        REQUESTING_USER.reset(lead)


def test_only_cluster_admins_may_set_an_aggregation_rule(cluster: SimCluster) -> None:
    """An aggregated ClusterRole gathers rules it does not name, so setting one needs full
    authority, even with no rules of its own (kube's policy-based ClusterRole storage)."""
    assert CLUSTER_ROLES is not None
    cluster.api.create(
        CLUSTER_ROLES,
        "",
        {"metadata": {"name": "role-maker"}, "rules": [rule([G], ["clusterroles"], ["create"])]},
    )
    bind(cluster, "", "ClusterRole", "role-maker", kind="User", name="maker")
    gatherer = {
        "metadata": {"name": "gatherer"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"gather": "me"}}]},
    }
    maker = REQUESTING_USER.set(("maker", AUTH))
    try:
        with pytest.raises(st.StatusError) as refused:
            cluster.api.create(CLUSTER_ROLES, "", dict(gatherer))
        assert refused.value.code == 403
        assert refused.value.message == (
            'clusterroles.rbac.authorization.k8s.io "gatherer" is forbidden: must have '
            "cluster-admin privileges to use the aggregationRule"
        )
        cluster.api.create(CLUSTER_ROLES, "", {"metadata": {"name": "plain"}})  # no rule: fine
    finally:
        REQUESTING_USER.reset(maker)
    cluster.api.create(CLUSTER_ROLES, "", dict(gatherer))  # the control plane (no user) may


def test_aggregation_follows_labelled_roles(cluster: SimCluster) -> None:
    assert CLUSTER_ROLES is not None
    cluster.api.create(
        CLUSTER_ROLES,
        "",
        {
            "metadata": {
                "name": "widgets-view",
                "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
            },
            "rules": [rule(["example.com"], ["widgets"], ["get", "list"])],
        },
    )

    async def settle() -> None:
        task = asyncio.get_running_loop().create_task(cluster.role_aggregation.run())
        for _ in range(3):  # view changes, which requeues edit, which requeues admin
            await cluster.role_aggregation.settle()
        task.cancel()

    asyncio.run(settle())
    widgets = rule(["example.com"], ["widgets"], ["get", "list"])
    for name in ("view", "edit", "admin"):
        role = cluster.store.get((G, "clusterroles"), name)
        assert role is not None and widgets in rbac.rules_of(role.decode()), name


def test_impersonation_checks_each_identity_asked_for(cluster: SimCluster) -> None:
    assert CLUSTER_ROLES is not None
    cluster.api.create(
        CLUSTER_ROLES,
        "",
        {
            "metadata": {"name": "as-ci"},
            "rules": [rule([""], ["serviceaccounts"], ["impersonate"], resourceNames=["ci"])],
        },
    )
    bind(cluster, "team", "ClusterRole", "as-ci", kind="User", name="lead")
    lead = User("lead").authenticated()

    def allowed(user: User, attrs: Attributes) -> bool:
        return cluster.api.rbac.authorize(user.name, user.groups, attrs).allowed

    def asked(*pairs: tuple[str, str]) -> Headers:
        return Headers(raw=[(k.lower().encode(), v.encode()) for k, v in pairs])  # as ASGI has them

    # the service account's own groups come with it, unchecked
    acting = impersonate(
        asked(("Impersonate-User", "system:serviceaccount:team:ci")), lead, allowed
    )
    assert acting.name == "system:serviceaccount:team:ci"
    assert acting.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:team",
        "system:authenticated",
    )
    with pytest.raises(st.StatusError) as refused:
        impersonate(
            asked(
                ("Impersonate-User", "system:serviceaccount:team:ci"),
                ("Impersonate-Group", "system:masters"),
            ),
            lead,
            allowed,
        )
    assert refused.value.message == (
        'groups "system:masters" is forbidden: User "lead" cannot impersonate resource "groups" '
        'in API group "" at the cluster scope'
    )
    with pytest.raises(st.StatusError):
        impersonate(asked(("Impersonate-User", "system:serviceaccount:team:other")), lead, allowed)


# -- tokens and reviews ----------------------------------------------------------------------


def test_tokens_expire_on_the_simulated_clock_and_die_with_what_they_are_bound_to() -> None:
    wall = [0.0]
    c = SimCluster(load_scenario("tiny"), clock=SimClock(monotonic=lambda: wall[0]), simulate=False)
    c.bootstrap()
    tokens = ServiceAccountTokens(c.store, c.clock)
    pods = REGISTRY.get("", "v1", "pods")
    assert pods is not None
    c.api.create(
        pods,
        "default",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
    )
    request = {
        "spec": {
            "expirationSeconds": 600,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"},
        }
    }
    accounts = REGISTRY.get("", "v1", "serviceaccounts")
    assert accounts is not None
    c.api.create(accounts, "default", {"metadata": {"name": "bot"}})
    issued = token_request(c.store, tokens, "default", "bot", request)
    token = issued["status"]["token"]
    review = token_review(tokens, {}, {"spec": {"token": token}})
    assert review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == "system:serviceaccount:default:bot"
    wall[0] = 601
    assert tokens.authenticate(token) == (None, "service account token has expired")
    wall[0] = 0
    c.api.delete(pods, "default", "p", DeleteOptions(grace_period=0))
    assert tokens.authenticate(token) == (None, 'pods "p" not found')
    assert token_review(tokens, {}, {"spec": {"token": "junk"}})["status"] == {
        "authenticated": False,
        "user": {},
        "error": "invalid bearer token",
    }
    with pytest.raises(st.StatusError) as short:
        token_request(c.store, tokens, "default", "bot", {"spec": {"expirationSeconds": 60}})
    assert short.value.code == 422
    with pytest.raises(st.StatusError) as missing:
        token_request(c.store, tokens, "default", "nobody", {})
    assert missing.value.code == 404


def test_a_local_review_must_ask_about_its_own_namespace(cluster: SimCluster) -> None:
    asked = {
        "spec": {
            "user": "ann",
            "resourceAttributes": {"namespace": "other", "verb": "get", "resource": "pods"},
        }
    }
    with pytest.raises(st.StatusError) as refused:
        subject_access_review(cluster.api.rbac, asked, "team")
    assert (
        'spec.resourceAttributes.namespace: Invalid value: "other": must match metadata.namespace'
        in refused.value.message
    )
    asked["spec"]["resourceAttributes"]["namespace"] = "team"
    answered = subject_access_review(cluster.api.rbac, asked, "team")
    assert answered["kind"] == "LocalSubjectAccessReview"
    assert answered["status"] == {"allowed": False}
    with pytest.raises(st.StatusError) as neither:
        subject_access_review(cluster.api.rbac, {"spec": {"user": "ann"}}, "")
    assert "exactly one of nonResourceAttributes or resourceAttributes" in neither.value.message
