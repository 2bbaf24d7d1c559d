"""The API Priority and Fairness objects kube-apiserver creates at start (flowcontrol v1).

Copied from k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/default.go (Kubernetes 1.29+):
the mandatory ``exempt`` and ``catch-all`` configurations plus the suggested ones, carrying
``apf.kubernetes.io/autoupdate-spec: "true"`` as in a real cluster. The simulator creates them
at start; ``kubeward guard`` reads them to know which FlowSchemas system identities use.
"""

from __future__ import annotations

from typing import Any

AUTOUPDATE = {"apf.kubernetes.io/autoupdate-spec": "true"}
_ALL_RESOURCES = {
    "verbs": ["*"],
    "apiGroups": ["*"],
    "resources": ["*"],
    "namespaces": ["*"],
    "clusterScope": True,
}
_ALL_NON_RESOURCES = {"verbs": ["*"], "nonResourceURLs": ["*"]}


def _group(name: str) -> dict[str, Any]:
    return {"kind": "Group", "group": {"name": name}}


def _user(name: str) -> dict[str, Any]:
    return {"kind": "User", "user": {"name": name}}


def _kube_system_sa() -> dict[str, Any]:
    return {"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": "*"}}


def _plc(
    name: str, shares: int, lendable: int, queues: int, hand: int, length: int
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": dict(AUTOUPDATE)},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": shares,
                "lendablePercent": lendable,
                "limitResponse": {
                    "type": "Queue",
                    "queuing": {"queues": queues, "handSize": hand, "queueLengthLimit": length},
                },
            },
        },
    }


def _fs(
    name: str,
    level: str,
    precedence: int,
    distinguisher: str | None,
    subjects: list[dict[str, Any]],
    resource_rules: list[dict[str, Any]] | None = None,
    non_resource_rules: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"subjects": subjects}
    if resource_rules is None and non_resource_rules is None:
        resource_rules, non_resource_rules = [_ALL_RESOURCES], [_ALL_NON_RESOURCES]
    if resource_rules:
        rule["resourceRules"] = resource_rules
    if non_resource_rules:
        rule["nonResourceRules"] = non_resource_rules
    spec: dict[str, Any] = {
        "priorityLevelConfiguration": {"name": level},
        "matchingPrecedence": precedence,
        "rules": [rule],
    }
    if distinguisher:
        spec["distinguisherMethod"] = {"type": distinguisher}
    return {"metadata": {"name": name, "annotations": dict(AUTOUPDATE)}, "spec": spec}


def priority_levels() -> list[dict[str, Any]]:
    exempt = {
        "metadata": {"name": "exempt", "annotations": dict(AUTOUPDATE)},
        "spec": {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}},
    }
    catch_all = {
        "metadata": {"name": "catch-all", "annotations": dict(AUTOUPDATE)},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": 5,
                "lendablePercent": 0,
                "limitResponse": {"type": "Reject"},
            },
        },
    }
    return [
        exempt,
        catch_all,
        _plc("system", 30, 33, 64, 6, 50),
        _plc("node-high", 40, 25, 64, 6, 50),
        _plc("leader-election", 10, 0, 16, 4, 50),
        _plc("workload-high", 40, 50, 128, 6, 50),
        _plc("workload-low", 100, 90, 128, 6, 50),
        _plc("global-default", 20, 50, 128, 6, 50),
    ]


def flow_schemas() -> list[dict[str, Any]]:
    everyone = [_group("system:unauthenticated"), _group("system:authenticated")]
    leader_election_rules = [
        {
            "verbs": ["get", "create", "update"],
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "namespaces": ["*"],
        }
    ]
    return [
        _fs(
            "exempt",
            "exempt",
            1,
            None,
            [_group("system:masters")],
        ),
        _fs(
            "probes",
            "exempt",
            2,
            None,
            everyone,
            resource_rules=[],
            non_resource_rules=[
                {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}
            ],
        ),
        _fs(
            "system-leader-election",
            "leader-election",
            100,
            "ByUser",
            [
                _user("system:kube-controller-manager"),
                _user("system:kube-scheduler"),
                _kube_system_sa(),
            ],
            resource_rules=[
                {
                    "verbs": ["get", "create", "update"],
                    "apiGroups": [""],
                    "resources": ["endpoints", "configmaps"],
                    "namespaces": ["kube-system"],
                },
                *leader_election_rules,
            ],
            non_resource_rules=[],
        ),
        _fs(
            "endpoint-controller",
            "workload-high",
            150,
            "ByUser",
            [
                _user("system:kube-controller-manager"),
                {
                    "kind": "ServiceAccount",
                    "serviceAccount": {"namespace": "kube-system", "name": "endpoint-controller"},
                },
            ],
            resource_rules=[
                {
                    "verbs": ["get", "create", "update"],
                    "apiGroups": [""],
                    "resources": ["endpoints"],
                    "namespaces": ["*"],
                }
            ],
            non_resource_rules=[],
        ),
        _fs(
            "workload-leader-election",
            "leader-election",
            200,
            "ByUser",
            [_kube_system_sa()],
            resource_rules=[
                {
                    "verbs": ["get", "create", "update"],
                    "apiGroups": [""],
                    "resources": ["endpoints", "configmaps"],
                    "namespaces": ["*"],
                },
                *leader_election_rules,
            ],
            non_resource_rules=[],
        ),
        _fs(
            "system-node-high",
            "node-high",
            400,
            "ByUser",
            [_group("system:nodes")],
            resource_rules=[
                {
                    "verbs": ["*"],
                    "apiGroups": [""],
                    "resources": ["nodes", "nodes/status"],
                    "namespaces": ["*"],
                    "clusterScope": True,
                },
                {
                    "verbs": ["*"],
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "namespaces": ["*"],
                },
            ],
            non_resource_rules=[],
        ),
        _fs("system-nodes", "system", 500, "ByUser", [_group("system:nodes")]),
        _fs(
            "kube-controller-manager",
            "workload-high",
            800,
            "ByNamespace",
            [_user("system:kube-controller-manager")],
        ),
        _fs(
            "kube-scheduler", "workload-high", 800, "ByNamespace", [_user("system:kube-scheduler")]
        ),
        _fs(
            "kube-system-service-accounts",
            "workload-high",
            900,
            "ByNamespace",
            [_kube_system_sa()],
        ),
        _fs(
            "service-accounts",
            "workload-low",
            9000,
            "ByUser",
            [_group("system:serviceaccounts")],
        ),
        _fs("global-default", "global-default", 9900, "ByUser", everyone),
        _fs("catch-all", "catch-all", 10000, "ByUser", everyone),
    ]
