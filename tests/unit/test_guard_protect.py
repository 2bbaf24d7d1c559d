"""kubeward guard protect, offline: the generated FlowSchema and priority level are valid
Kubernetes (kubernetes-validate, strict, and the simulator's own validation), win over the
default schemas an ordinary culprit falls under and never over the system ones, get stable
DNS-safe names; system and exempt identities are refused with the reason; bad input is named."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import typer
import yaml
from typer.testing import CliRunner

from kubeward.guard.apf import (
    GUARD_PRECEDENCE,
    MANAGED_BY_LABEL,
    Culprit,
    GuardInputError,
    Limits,
    build,
    guard_name,
    is_managed,
    shadowing,
)
from kubeward.guard.identities import refusal, system_flow_schemas
from kubeward.guard.protect_cli import EXIT_BAD_INPUT, EXIT_REFUSED, protect
from kubeward.kube.flowcontrol import FlowSchema, Identity, Target, by_precedence
from kubeward.kube.flowcontrol_defaults import flow_schemas
from kubeward.kube.validation import validate_object

AGENT = "system:serviceaccount:monitoring:agent"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(protect)
    return app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_app(), list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("version", ["1.29.0", "1.31.0", "1.33.0"])
@pytest.mark.parametrize(
    "culprit",
    [Culprit(AGENT), Culprit("jane@example.com"), Culprit("oidc:CN=Build Bot,O=CI")],
    ids=["service-account", "email-user", "odd-user"],
)
def test_objects_are_valid_kubernetes(version: str, culprit: Culprit) -> None:
    objects = build(culprit, Limits(shares=2, queues=8, hand_size=3, queue_length=20))
    for obj in objects.objects():
        kubernetes_validate.validate(obj, version, strict=True)
        # and the simulator's copy of kube-apiserver's validation agrees
        assert validate_object(FLOWCONTROL_GROUP, obj["kind"], obj, namespaced=False) == []


FLOWCONTROL_GROUP = "flowcontrol.apiserver.k8s.io"


def test_printed_yaml_is_the_two_objects_level_first() -> None:
    code, out, _ = run("--service-account", "monitoring/agent", "--shares", "3")
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["PriorityLevelConfiguration", "FlowSchema"]
    assert docs == build(Culprit(AGENT), Limits(shares=3)).objects()
    level, schema = docs
    limited = level["spec"]["limited"]
    assert level["spec"]["type"] == "Limited"
    assert limited["lendablePercent"] == 0 and limited["borrowingLimitPercent"] == 0
    assert limited["limitResponse"]["type"] == "Queue"
    assert schema["spec"]["priorityLevelConfiguration"]["name"] == level["metadata"]["name"]
    assert schema["spec"]["rules"][0]["subjects"] == [
        {"kind": "ServiceAccount", "serviceAccount": {"namespace": "monitoring", "name": "agent"}}
    ]
    assert all(is_managed(d) for d in docs)
    assert schema["metadata"]["labels"] == {MANAGED_BY_LABEL: "kubeward-guard"}


def _classify(schemas: list[FlowSchema], who: Identity, target: Target) -> str:
    return next(s.name for s in by_precedence(schemas) if s.matches(who, target))


@pytest.mark.parametrize(
    "culprit",
    [Culprit(AGENT), Culprit("jane"), Culprit("system:serviceaccount:default:default")],
)
def test_the_guard_schema_wins_over_the_defaults_an_ordinary_culprit_matches(
    culprit: Culprit,
) -> None:
    objects = build(culprit)
    schemas = [FlowSchema.of(o) for o in [*flow_schemas(), objects.flow_schema]]
    who = Identity(culprit.user, culprit.groups)
    for target in (
        Target("list", True, "", "pods", ""),
        Target("watch", True, "apps", "deployments", "prod"),
        Target("update", True, "coordination.k8s.io", "leases", "prod"),  # leader election
        Target("get", False, path="/metrics"),
    ):
        assert _classify(schemas, who, target) == objects.name
    # health probes stay exempt for everyone
    assert _classify(schemas, who, Target("get", False, path="/readyz")) == "probes"


def test_the_precedence_sits_between_system_and_ordinary_schemas() -> None:
    defaults = [FlowSchema.of(o) for o in flow_schemas()]
    ordinary = Identity(AGENT, Culprit(AGENT).groups)
    ordinary_schemas = [
        s
        for s in defaults
        if any(s.matches(ordinary, Target("list", True, "", "pods", "")) for _ in [0])
    ]
    assert {s.name for s in ordinary_schemas} == {"service-accounts", "global-default", "catch-all"}
    assert all(s.precedence > GUARD_PRECEDENCE for s in ordinary_schemas)
    system_users = [
        ("system:node:n1", ()),
        ("system:kube-controller-manager", ()),
        ("system:kube-scheduler", ()),
        ("system:serviceaccount:kube-system:coredns", ()),
        ("admin", ("system:masters",)),
    ]
    for user, groups in system_users:
        for schema in system_flow_schemas(user, groups):
            if schema.name != "service-accounts":  # kube-system SAs are SAs too
                assert schema.precedence < GUARD_PRECEDENCE, (user, schema.name)


def test_names_are_stable_dns_labels_and_distinct() -> None:
    users = [
        AGENT,
        "jane",
        "Jane",
        "jane.",
        "oidc:CN=Build Bot,O=CI",
        "x" * 300,
        "---",
        "system:serviceaccount:" + "n" * 63 + ":" + "a" * 253,
    ]
    names = [guard_name(u) for u in users]
    assert names == [guard_name(u) for u in users]  # deterministic
    assert len(set(names)) == len(users)
    for name in names:
        assert DNS_LABEL.match(name) and len(name) <= 63, name
        assert name.startswith("kubeward-guard-")
    assert guard_name(AGENT).startswith("kubeward-guard-sa-monitoring-agent-")
    # --user with a service account's username is the same identity as --service-account
    assert (
        build(AGENT).objects() == build(Culprit.parse_service_account("monitoring/agent")).objects()
    )


@pytest.mark.parametrize(
    ("user", "groups", "schemas"),
    [
        ("kubernetes-admin", ("system:masters",), ["exempt"]),
        ("system:admin", (), ["exempt"]),
        ("system:apiserver", (), ["exempt"]),
        ("system:node:worker-1", (), ["system-node-high", "system-nodes"]),
        ("kubelet-x", ("system:nodes",), ["system-node-high", "system-nodes"]),
        (
            "system:kube-controller-manager",
            (),
            ["system-leader-election", "endpoint-controller", "kube-controller-manager"],
        ),
        ("system:kube-scheduler", (), ["system-leader-election", "kube-scheduler"]),
        (
            "system:serviceaccount:kube-system:coredns",
            (),
            ["system-leader-election", "workload-leader-election", "kube-system-service-accounts"],
        ),
        ("ci-bot", ("system:serviceaccounts:kube-system",), ["kube-system-service-accounts"]),
        ("system:kube-proxy", (), []),
        ("system:bootstrap:abcdef", (), []),
        ("system:anonymous", (), ["probes"]),
        ("system:some-component", (), []),
        ("*", (), []),
    ],
)
def test_system_and_exempt_identities_are_refused_with_the_schema_and_risk(
    user: str, groups: tuple[str, ...], schemas: list[str]
) -> None:
    reason = refusal(user, groups)
    assert reason is not None
    assert reason.startswith(f'refusing to throttle "{user}"')
    for name in schemas:
        assert f'"{name}"' in reason
    code, out, err = run("--user", user, *(f"--group={g}" for g in groups))
    assert code == EXIT_REFUSED and out == ""
    assert "refusing to throttle" in err


def test_risks_are_named() -> None:
    assert "NotReady" in (refusal("system:node:n1") or "")
    assert "lock out" in (refusal("admin", ["system:masters"]) or "")
    assert "leader" in (refusal("system:kube-scheduler") or "")
    assert "DNS" in (refusal("system:serviceaccount:kube-system:coredns") or "")


@pytest.mark.parametrize(
    ("user", "groups"),
    [
        (AGENT, ("system:serviceaccounts", "system:serviceaccounts:monitoring")),
        ("jane", ("system:authenticated", "developers")),
        ("system:serviceaccount:kube-public:reader", ()),
        ("systemic-user", ()),
    ],
)
def test_ordinary_identities_may_be_throttled(user: str, groups: tuple[str, ...]) -> None:
    assert refusal(user, groups) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--service-account", "agent"], "expected NAMESPACE/NAME"),
        (["--service-account", "monitoring/"], "expected NAMESPACE/NAME"),
        (["--service-account", "/agent"], "expected NAMESPACE/NAME"),
        (["--service-account", "a/b/c"], "expected NAMESPACE/NAME"),
        (["--service-account", "Monitoring/agent"], "namespace:"),
        (["--service-account", "monitoring/Agent_1"], "name:"),
        ([], "--user NAME or --service-account"),
        (["--user", "jane", "--service-account", "a/b"], "exactly one"),
        (["--user", "  "], "empty username"),
        (["--user", "jane", "--hand-size", "5", "--queues", "4"], "--hand-size 5"),
        (["--user", "jane", "--shares", "0"], "--shares 0"),
        (["--user", "jane", "--queue-length", "0"], "--queue-length 0"),
        (["--user", "jane", "--queues", "0"], "--queues 0"),
        (["--user", "jane", "--queues", "1000000", "--hand-size", "5"], "60 bits"),
        (["--user", "jane", "--precedence", "1"], "matchingPrecedence 1"),
        (["--user", "jane", "--apply", "--revert"], "choose one"),
        (["--user", "jane", "--apply", "--dry-run"], "choose one"),
    ],
)
def test_bad_input_is_named(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == EXIT_BAD_INPUT, (code, out, err)
    assert message in " ".join(err.split()), err
    assert out == ""


def test_limits_are_checked_in_the_api_too() -> None:
    with pytest.raises(GuardInputError, match="--hand-size 3"):
        build(AGENT, Limits(queues=2, hand_size=3))
    with pytest.raises(GuardInputError):
        Culprit.parse_service_account("kube_system/x")


def test_shadowing_names_custom_schemas_that_come_first() -> None:
    culprit = Culprit(AGENT)
    custom = {
        "metadata": {"name": "all-sas-fast"},
        "spec": {
            "priorityLevelConfiguration": {"name": "workload-high"},
            "matchingPrecedence": 500,
            "rules": [
                {
                    "subjects": [{"kind": "Group", "group": {"name": "system:serviceaccounts"}}],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "clusterScope": True,
                        }
                    ],
                }
            ],
        },
    }
    later = {
        **custom,
        "metadata": {"name": "later"},
        "spec": {**custom["spec"], "matchingPrecedence": 5000},
    }
    schemas = [*flow_schemas(), custom, later, build(culprit).flow_schema]
    assert shadowing(schemas, culprit) == ["all-sas-fast"]
    assert shadowing(flow_schemas(), culprit) == []  # probes only matches health URLs
