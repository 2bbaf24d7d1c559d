"""API Priority and Fairness semantics shared by the simulator and the platform.

How kube-apiserver classifies a request (k8s.io/apiserver/pkg/util/flowcontrol): the first
FlowSchema, by ascending ``matchingPrecedence`` then name, one of whose rules matches both the
request's user/groups (a subject) and its verb and target (a resource or non-resource rule);
its flow is (schema, distinguisher). The simulator's load model runs requests through this;
``kubeward guard`` uses it to tell which FlowSchemas an identity falls under.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

FLOWCONTROL = "flowcontrol.apiserver.k8s.io"


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    """What a request asks for, as APF's RequestDigest sees it."""

    verb: str  # Kubernetes verb: get, list, watch, create, update, patch, delete, ...
    is_resource: bool = True
    api_group: str = ""
    resource: str = ""  # with "/subresource" when there is one
    namespace: str = ""
    path: str = ""  # non-resource requests


def service_account_groups(user: str) -> tuple[str, ...]:
    """The groups the service-account authenticator adds (``system:serviceaccount:ns:name``)."""
    parts = user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        return ("system:serviceaccounts", f"system:serviceaccounts:{parts[2]}")
    return ()


def subject_matches(subject: dict[str, Any], who: Identity) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        name = (subject.get("user") or {}).get("name", "")
        return name in ("*", who.user)
    if kind == "Group":
        name = (subject.get("group") or {}).get("name", "")
        return name == "*" or name in who.groups
    if kind == "ServiceAccount":
        sa = subject.get("serviceAccount") or {}
        parts = who.user.split(":")
        if len(parts) != 4 or parts[:2] != ["system", "serviceaccount"]:
            return False
        return sa.get("namespace") == parts[2] and sa.get("name") in ("*", parts[3])
    return False


def _in(values: list[str] | None, value: str) -> bool:
    return bool(values) and ("*" in values or value in values)  # type: ignore[operator]


def _resource_rule_matches(rule: dict[str, Any], target: Target) -> bool:
    if not (_in(rule.get("verbs"), target.verb) and _in(rule.get("apiGroups"), target.api_group)):
        return False
    if not _in(rule.get("resources"), target.resource):
        return False
    if not target.namespace:
        return bool(rule.get("clusterScope"))
    return _in(rule.get("namespaces"), target.namespace)


def _non_resource_rule_matches(rule: dict[str, Any], target: Target) -> bool:
    if not _in(rule.get("verbs"), target.verb):
        return False
    for url in rule.get("nonResourceURLs") or ():
        if url == "*" or url == target.path:
            return True
        if url.endswith("/*") and target.path.startswith(url[:-1]):
            return True
    return False


@dataclass
class FlowSchema:
    name: str
    uid: str
    precedence: int
    level: str
    distinguisher: str  # "", "ByUser" or "ByNamespace"
    rules: list[dict[str, Any]]

    @classmethod
    def of(cls, obj: dict[str, Any]) -> FlowSchema:
        spec = obj.get("spec") or {}
        return cls(
            name=obj["metadata"]["name"],
            uid=obj["metadata"].get("uid", ""),
            precedence=int(spec.get("matchingPrecedence") or 1000),
            level=(spec.get("priorityLevelConfiguration") or {}).get("name", ""),
            distinguisher=(spec.get("distinguisherMethod") or {}).get("type", ""),
            rules=list(spec.get("rules") or ()),
        )

    def matches(self, who: Identity, target: Target) -> bool:
        for rule in self.rules:
            if not any(subject_matches(s, who) for s in rule.get("subjects") or ()):
                continue
            if target.is_resource:
                if any(_resource_rule_matches(r, target) for r in rule.get("resourceRules") or ()):
                    return True
            elif any(
                _non_resource_rule_matches(r, target) for r in rule.get("nonResourceRules") or ()
            ):
                return True
        return False

    def flow(self, who: Identity, target: Target) -> str:
        if self.distinguisher == "ByUser":
            return who.user
        if self.distinguisher == "ByNamespace":
            return target.namespace
        return ""


def subjects_match(schema: FlowSchema, who: Identity) -> bool:
    """Whether any rule of ``schema`` names ``who`` as a subject, whatever the request: the
    schemas that can classify some request of ``who``."""
    return any(subject_matches(s, who) for rule in schema.rules for s in rule.get("subjects") or ())


def by_precedence(schemas: Iterable[FlowSchema]) -> list[FlowSchema]:
    """Matching order: ascending ``matchingPrecedence``, ties broken by name."""
    return sorted(schemas, key=lambda s: (s.precedence, s.name))
