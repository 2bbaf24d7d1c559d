"""Role-based access control (rbac.authorization.k8s.io/v1): one home for its semantics.

What kube-apiserver's RBAC authorizer and the RBAC registry do, used by the simulator's API
server (authorization, access reviews, escalation checks) and its clusterrole-aggregation
controller:

- a rule matches a request by verb, API group, resource (``pods/log`` for a subresource, ``*``
  for any, ``*/scale`` for one subresource of any resource), resource name, or, for requests
  outside the API, by path (``/healthz``, ``/apis/*``);
- a binding applies to a user by name, to a group, or to a service account
  (``system:serviceaccount:<namespace>:<name>``; a RoleBinding's service account without a
  namespace is in the binding's namespace);
- ClusterRoleBindings grant everywhere; RoleBindings grant in their namespace only, and only
  resource rules;
- a user may create or change a role, or bind one, only if they already hold every permission it
  grants (``Covers``), or may ``escalate`` / ``bind`` it;
- the bootstrap policy: ``cluster-admin`` for ``system:masters``, discovery and self-reviews for
  every authenticated user, and the aggregated ``admin`` / ``edit`` / ``view`` roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a request asks to do (authorizer.AttributesRecord). ``path`` is set, and the
    resource fields empty, for requests outside the API (``/healthz``, ``/metrics``)."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return not self.path


def service_account_user(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}")


def split_service_account(user: str) -> tuple[str, str] | None:
    """(namespace, name) of a service account's user name, else None."""
    if not user.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = user[len(SERVICE_ACCOUNT_PREFIX) :].split(":")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


# -- rules ---------------------------------------------------------------------------------


def _strings(rule: dict[str, Any], key: str) -> list[str]:
    values = rule.get(key) or []
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def _verb_matches(rule: dict[str, Any], verb: str) -> bool:
    verbs = _strings(rule, "verbs")
    return "*" in verbs or verb in verbs


def _resource_matches(rule: dict[str, Any], resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for candidate in _strings(rule, "resources"):
        if candidate in ("*", combined):
            return True
        # "*/scale" grants the scale subresource of every resource ("pods" grants no
        # subresource of pods).
        if subresource and candidate == f"*/{subresource}":
            return True
    return False


def _non_resource_url_matches(rule: dict[str, Any], path: str) -> bool:
    for candidate in _strings(rule, "nonResourceURLs"):
        if candidate in ("*", path):
            return True
        if candidate.endswith("*") and path.startswith(candidate[:-1]):
            return True
    return False


def rule_allows(rule: dict[str, Any], attrs: Attributes) -> bool:
    """RuleAllows: whether one PolicyRule grants the request."""
    if not _verb_matches(rule, attrs.verb):
        return False
    if not attrs.is_resource:
        return _non_resource_url_matches(rule, attrs.path)
    groups = _strings(rule, "apiGroups")
    if "*" not in groups and attrs.group not in groups:
        return False
    if not _resource_matches(rule, attrs.resource, attrs.subresource):
        return False
    names = _strings(rule, "resourceNames")
    return not names or attrs.name in names


def rules_of(role: dict[str, Any] | None) -> list[dict[str, Any]]:
    rules = (role or {}).get("rules") or []
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


# -- subjects ------------------------------------------------------------------------------


def subject_applies(subject: dict[str, Any], user: str, groups: Sequence[str], ns: str) -> bool:
    """appliesToUser: ``ns`` is the binding's namespace ("" for a ClusterRoleBinding)."""
    kind = subject.get("kind")
    name = subject.get("name") or ""
    if kind == "User":
        return bool(name) and name == user
    if kind == "Group":
        return bool(name) and name in groups
    if kind == "ServiceAccount":
        sa_ns = subject.get("namespace") or ns
        return bool(name and sa_ns) and user == service_account_user(sa_ns, name)
    return False


def matching_subject(
    binding: dict[str, Any], user: str, groups: Sequence[str]
) -> dict[str, Any] | None:
    """The first subject of ``binding`` that is the user (or one of their groups), else None."""
    ns = (binding.get("metadata") or {}).get("namespace") or ""
    subjects = binding.get("subjects") or []
    for subject in subjects if isinstance(subjects, list) else []:
        if isinstance(subject, dict) and subject_applies(subject, user, groups, ns):
            return subject
    return None


def describe_grant(binding: dict[str, Any], subject: dict[str, Any]) -> str:
    """The authorizer's reason for an allowed request: ``RBAC: allowed by ClusterRoleBinding
    "x" of ClusterRole "view" to Group "y"`` (a RoleBinding is named ``name/namespace``)."""
    meta = binding.get("metadata") or {}
    ref = binding.get("roleRef") or {}
    ns = meta.get("namespace") or ""
    kind, name = (
        ("RoleBinding", f"{meta.get('name')}/{ns}")
        if ns
        else (
            "ClusterRoleBinding",
            meta.get("name"),
        )
    )
    who = subject.get("name") or ""
    if subject.get("kind") == "ServiceAccount":
        who = f"{who}/{subject.get('namespace') or ns}"
    return (
        f'RBAC: allowed by {kind} "{name}" of {ref.get("kind")} "{ref.get("name")}" '
        f'to {subject.get("kind")} "{who}"'
    )


# -- escalation (validation.Covers) --------------------------------------------------------


def _breakdown(rule: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One rule per verb x group x resource x name (or verb x URL), as BreakdownRule does."""
    verbs = _strings(rule, "verbs")
    for group in _strings(rule, "apiGroups"):
        for resource in _strings(rule, "resources"):
            names = _strings(rule, "resourceNames") or [""]
            for name in names:
                for verb in verbs:
                    yield {
                        "apiGroups": [group],
                        "resources": [resource],
                        "verbs": [verb],
                        **({"resourceNames": [name]} if name else {}),
                    }
    for url in _strings(rule, "nonResourceURLs"):
        for verb in verbs:
            yield {"nonResourceURLs": [url], "verbs": [verb]}


def _has_all(owner: list[str], needed: str) -> bool:
    return "*" in owner or needed in owner


def _owner_covers(owner: dict[str, Any], sub: dict[str, Any]) -> bool:
    """ruleCovers for one broken-down rule."""
    if not _has_all(_strings(owner, "verbs"), sub["verbs"][0]):
        return False
    if "nonResourceURLs" in sub:
        url = sub["nonResourceURLs"][0]
        for candidate in _strings(owner, "nonResourceURLs"):
            if candidate == "*" or candidate == url:
                return True
            if candidate.endswith("*") and url.startswith(candidate[:-1]):
                return True
        return False
    if not _has_all(_strings(owner, "apiGroups"), sub["apiGroups"][0]):
        return False
    resource = sub["resources"][0]
    owned = _strings(owner, "resources")
    if not _has_all(owned, resource):
        _, slash, subresource = resource.partition("/")
        if not (slash and f"*/{subresource}" in owned):
            return False
    owner_names = _strings(owner, "resourceNames")
    if not owner_names:
        return True
    return bool(sub.get("resourceNames")) and sub["resourceNames"][0] in owner_names


def uncovered(
    owner_rules: Iterable[dict[str, Any]], servant_rules: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The parts of ``servant_rules`` that ``owner_rules`` do not grant (empty: covered)."""
    owners = list(owner_rules)
    missing = []
    for rule in servant_rules:
        for sub in _breakdown(rule):
            if not any(_owner_covers(o, sub) for o in owners):
                missing.append(sub)
    return missing


def _go_list(values: Sequence[str]) -> str:
    """Go's ``%q`` of a []string: ``["a" "b"]``."""
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


def describe_rule(rule: dict[str, Any]) -> str:
    """rbacv1helpers.CompactString: ``{APIGroups:[""], Resources:["pods"], Verbs:["get"]}``."""
    parts = []
    for key, label in (
        ("apiGroups", "APIGroups"),
        ("resources", "Resources"),
        ("nonResourceURLs", "NonResourceURLs"),
        ("resourceNames", "ResourceNames"),
        ("verbs", "Verbs"),
    ):
        values = _strings(rule, key)
        if values:
            parts.append(f"{label}:{_go_list(values)}")
    return "{" + ", ".join(parts) + "}"


def _compact(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CompactRules: broken-down rules for one group and resource (no names) merge their
    verbs."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for rule in rules:
        if "resourceNames" in rule or "nonResourceURLs" in rule:
            out.append(rule)
            continue
        key = (rule["apiGroups"][0], rule["resources"][0])
        if key in merged:
            verbs = merged[key]["verbs"]
            verbs.extend(v for v in rule["verbs"] if v not in verbs)
        else:
            merged[key] = {**rule, "verbs": list(rule["verbs"])}
            out.append(merged[key])
    return out


def escalation_message(user: str, groups: Sequence[str], missing: list[dict[str, Any]]) -> str:
    """ConfirmNoEscalation's error, the missing permissions compacted and sorted."""
    listed = "\n".join(sorted({describe_rule(r) for r in _compact(missing)}))
    return (
        f'user "{user}" (groups={_go_list(groups)}) is attempting to grant RBAC '
        f"permissions not currently held:\n{listed}"
    )


# -- denial messages -----------------------------------------------------------------------


def forbidden_reason(user: str, attrs: Attributes) -> str:
    """The authorization filter's message: ``User "u" cannot list resource "pods" ...``."""
    if not attrs.is_resource:
        return f'User "{user}" cannot {attrs.verb} path "{attrs.path}"'
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    where = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return (
        f'User "{user}" cannot {attrs.verb} resource "{resource}" in API group '
        f'"{attrs.group}" {where}'
    )


# -- the bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy) -----------------

_BOOTSTRAP_META = {
    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
}
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _cluster_role(
    name: str,
    rules: list[dict[str, Any]],
    *,
    labels: dict[str, str] | None = None,
    aggregate_from: str = "",
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {**_BOOTSTRAP_META["labels"], **(labels or {})},
        "annotations": dict(_BOOTSTRAP_META["annotations"]),
    }
    role: dict[str, Any] = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": meta,
        "rules": rules,
    }
    if aggregate_from:
        role["aggregationRule"] = {
            "clusterRoleSelectors": [
                {
                    "matchLabels": {
                        f"rbac.authorization.k8s.io/aggregate-to-{aggregate_from}": "true"
                    }
                }
            ]
        }
    return role


def _aggregate_to(role: str) -> dict[str, str]:
    return {f"rbac.authorization.k8s.io/aggregate-to-{role}": "true"}


_VIEW_CORE = [
    "configmaps",
    "endpoints",
    "persistentvolumeclaims",
    "persistentvolumeclaims/status",
    "pods",
    "replicationcontrollers",
    "replicationcontrollers/scale",
    "serviceaccounts",
    "services",
    "services/status",
]
_VIEW_CORE_STATUS = [
    "bindings",
    "events",
    "limitranges",
    "namespaces/status",
    "pods/log",
    "pods/status",
    "replicationcontrollers/status",
    "resourcequotas",
    "resourcequotas/status",
]
_APPS = [
    "controllerrevisions",
    "daemonsets",
    "daemonsets/scale",
    "deployments",
    "deployments/scale",
    "replicasets",
    "replicasets/scale",
    "statefulsets",
    "statefulsets/scale",
]
_APPS_STATUS = [
    "daemonsets/status",
    "deployments/status",
    "replicasets/status",
    "statefulsets/status",
]


def _view_rules() -> list[dict[str, Any]]:
    return [
        _rule([""], _VIEW_CORE, READ),
        _rule([""], _VIEW_CORE_STATUS, READ),
        _rule([""], ["namespaces"], READ),
        _rule(["discovery.k8s.io"], ["endpointslices"], READ),
        _rule(["apps"], _APPS + _APPS_STATUS, READ),
        _rule(
            ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ
        ),
        _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
        _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
        _rule(["events.k8s.io"], ["events"], READ),
        _rule(["metrics.k8s.io"], ["pods", "nodes"], READ),
    ]


def _edit_rules() -> list[dict[str, Any]]:
    return [
        _rule(
            [""],
            [
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
            READ,
        ),
        _rule([""], ["serviceaccounts"], ["impersonate"]),
        _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE),
        _rule([""], ["pods/eviction"], ["create"]),
        _rule(
            [""],
            [
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            WRITE,
        ),
        _rule([""], ["serviceaccounts/token"], ["create"]),
        _rule(["apps"], _APPS, WRITE),
        _rule(["autoscaling"], ["horizontalpodautoscalers"], WRITE),
        _rule(["batch"], ["cronjobs", "jobs"], WRITE),
        _rule(["policy"], ["poddisruptionbudgets"], WRITE),
        _rule(["discovery.k8s.io"], ["endpointslices"], WRITE),
        _rule(["coordination.k8s.io"], ["leases"], READ + WRITE),
    ]


def _admin_rules() -> list[dict[str, Any]]:
    return [
        _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
        _rule([GROUP], ["rolebindings", "roles"], READ + WRITE),
    ]


def bootstrap_cluster_roles() -> list[dict[str, Any]]:
    """The ClusterRoles kube-apiserver's rbac/bootstrap-roles hook creates that matter to an
    API server without nodes or controllers of its own (the simulator's components run
    in-process and are not authorized)."""
    discovery_urls = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ]
    public = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
    return [
        _cluster_role(
            "cluster-admin",
            [_rule(["*"], ["*"], ["*"]), {"nonResourceURLs": ["*"], "verbs": ["*"]}],
        ),
        _cluster_role("system:discovery", [{"nonResourceURLs": discovery_urls, "verbs": ["get"]}]),
        _cluster_role("system:public-info-viewer", [{"nonResourceURLs": public, "verbs": ["get"]}]),
        _cluster_role(
            "system:basic-user",
            [
                _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
                _rule(
                    ["authorization.k8s.io"],
                    ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    ["create"],
                ),
            ],
        ),
        _cluster_role(
            "system:monitoring",
            [
                {
                    "nonResourceURLs": [
                        "/healthz",
                        "/healthz/*",
                        "/livez",
                        "/livez/*",
                        "/metrics",
                        "/metrics/slis",
                        "/readyz",
                        "/readyz/*",
                    ],
                    "verbs": ["get"],
                }
            ],
        ),
        _cluster_role("admin", [], labels={}, aggregate_from="admin"),
        _cluster_role("edit", [], labels=_aggregate_to("admin"), aggregate_from="edit"),
        _cluster_role("view", [], labels=_aggregate_to("edit"), aggregate_from="view"),
        _cluster_role("system:aggregate-to-admin", _admin_rules(), labels=_aggregate_to("admin")),
        _cluster_role("system:aggregate-to-edit", _edit_rules(), labels=_aggregate_to("edit")),
        _cluster_role("system:aggregate-to-view", _view_rules(), labels=_aggregate_to("view")),
    ]


def bootstrap_cluster_role_bindings() -> list[dict[str, Any]]:
    def binding(role: str, *groups: str) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role, **{k: dict(v) for k, v in _BOOTSTRAP_META.items()}},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups],
        }

    return [
        binding("cluster-admin", MASTERS),
        binding("system:discovery", AUTHENTICATED),
        binding("system:basic-user", AUTHENTICATED),
        binding("system:public-info-viewer", AUTHENTICATED, UNAUTHENTICATED),
        binding("system:monitoring", "system:monitoring"),
    ]


def aggregated_rules(
    role: dict[str, Any], others: Iterable[dict[str, Any]], selects: Any
) -> list[dict[str, Any]]:
    """The rules the clusterrole-aggregation controller writes into ``role``: those of every
    other ClusterRole that one of its selectors selects (``selects(selector, labels)``), in
    name order, without repeats."""
    selectors = ((role.get("aggregationRule") or {}).get("clusterRoleSelectors")) or []
    name = (role.get("metadata") or {}).get("name")
    out: list[dict[str, Any]] = []
    for other in sorted(others, key=lambda r: (r.get("metadata") or {}).get("name") or ""):
        meta = other.get("metadata") or {}
        if meta.get("name") == name:
            continue
        labels = meta.get("labels") or {}
        if not any(isinstance(s, dict) and selects(s, labels) for s in selectors):
            continue
        for rule in rules_of(other):
            if rule not in out:
                out.append(rule)
    return out
