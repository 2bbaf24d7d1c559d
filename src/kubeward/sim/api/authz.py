"""The simulator's authorizer: kube-apiserver's ``--authorization-mode=RBAC`` over its store.

``system:masters`` is allowed everything before RBAC is asked, as kube-apiserver's privileged
group authorizer does (so the admin kubeconfig costs nothing per request). Everyone else gets
what the stored ClusterRoleBindings and RoleBindings grant, read through an index rebuilt when an
RBAC object changes. The semantics (rule matching, subjects, Covers) are in ``kubeward.kube.rbac``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from kubeward.kube import rbac
from kubeward.kube import status as st
from kubeward.kube.rbac import Attributes
from kubeward.kube.registry import ResourceType
from kubeward.sim.store.objects import StoreEvent
from kubeward.sim.store.store import Store

ROLES = (rbac.GROUP, "roles")
CLUSTER_ROLES = (rbac.GROUP, "clusterroles")
ROLE_BINDINGS = (rbac.GROUP, "rolebindings")
CLUSTER_ROLE_BINDINGS = (rbac.GROUP, "clusterrolebindings")
RBAC_KINDS = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)
_ALL_URLS = {"nonResourceURLs": ["*"], "verbs": ["*"]}
_FULL_AUTHORITY = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, _ALL_URLS]

# Who the HTTP request being served is (name, groups); unset for the simulator's own
# components, which write as the trusted control plane.
REQUESTING_USER: ContextVar[tuple[str, tuple[str, ...]] | None] = ContextVar(
    "requesting_user", default=None
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""  # why it was allowed (the binding), or the RBAC errors met on the way


@dataclass
class _Grant:
    """One binding with the rules of the role it names (none if that role is missing)."""

    binding: dict[str, Any]
    rules: list[dict[str, Any]]
    error: str = ""


@dataclass
class _Index:
    cluster: list[_Grant] = field(default_factory=list)
    by_namespace: dict[str, list[_Grant]] = field(default_factory=dict)


class RBACAuthorizer:
    def __init__(self, store: Store, *, enabled: bool = True) -> None:
        """``enabled=False`` is ``--authorization-mode=AlwaysAllow``."""
        self.store = store
        self.enabled = enabled
        self._index: _Index | None = None
        store.add_listener(self._on_change, RBAC_KINDS)

    def _on_change(self, _event: StoreEvent) -> None:
        self._index = None

    # -- decisions ------------------------------------------------------------------------

    def authorize(self, user: str, groups: Sequence[str], attrs: Attributes) -> Decision:
        if not self.enabled or rbac.MASTERS in groups:
            return Decision(True)
        index = self._current()
        errors: list[str] = []
        for grant in self._grants(index, attrs.namespace if attrs.is_resource else ""):
            subject = rbac.matching_subject(grant.binding, user, groups)
            if subject is None:
                continue
            if grant.error:
                errors.append(grant.error)
                continue
            if any(rbac.rule_allows(rule, attrs) for rule in grant.rules):
                return Decision(True, rbac.describe_grant(grant.binding, subject))
        reason = f"RBAC: {errors[0]}" if len(errors) == 1 else ""
        if len(errors) > 1:
            reason = "RBAC: [" + ", ".join(errors) + "]"
        return Decision(False, reason)

    def rules_for(
        self, user: str, groups: Sequence[str], namespace: str
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Every rule granted to the user in ``namespace`` (cluster-wide ones included), and
        the errors met (bindings to missing roles): what SelfSubjectRulesReview and the
        escalation check read."""
        if rbac.MASTERS in groups or not self.enabled:
            return list(_FULL_AUTHORITY), []
        rules: list[dict[str, Any]] = []
        errors: list[str] = []
        for grant in self._grants(self._current(), namespace):
            if rbac.matching_subject(grant.binding, user, groups) is not None:
                if grant.error:
                    errors.append(grant.error)
                rules.extend(grant.rules)
        return rules, errors

    # -- escalation (the RBAC registry's policy-based storage) -----------------------------

    def check_grant(
        self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> None:
        """Refuse a role that grants, or a binding to a role that grants, more than the
        requesting user holds, unless they may ``escalate`` (roles) or ``bind`` (bindings) it.
        Writes that change no rules or subjects are not checked, nor the control plane's."""
        who = REQUESTING_USER.get()
        if who is None or not self.enabled or rbac.MASTERS in who[1]:
            return
        user, groups = who
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace") or "", meta.get("name") or ""
        if rt.kind in ("Role", "ClusterRole"):
            if (
                old is not None
                and rbac.rules_of(old) == rbac.rules_of(obj)
                and old.get("aggregationRule") == obj.get("aggregationRule")
            ):
                return
            may = Attributes("escalate", rbac.GROUP, rt.plural, namespace=ns, name=name)
            granted = rbac.rules_of(obj)
        else:
            if old is not None and old.get("subjects") == obj.get("subjects"):
                return
            ref = obj.get("roleRef") or {}
            plural = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
            may = Attributes("bind", rbac.GROUP, plural, namespace=ns, name=ref.get("name", ""))
            granted = self._role_rules(ref, ns)
        if self.authorize(user, groups, may).allowed:
            return
        held, _errors = self.rules_for(user, groups, ns)
        missing = rbac.uncovered(held, granted)
        if missing:
            raise st.forbidden_error(
                f'{rt.plural}.{rbac.GROUP} "{name}" is forbidden: '
                + rbac.escalation_message(user, groups, missing),
                rt.plural,
                rbac.GROUP,
                name,
            )
        aggregates = any(o is not None and o.get("aggregationRule") for o in (obj, old))
        if rt.kind == "ClusterRole" and aggregates and rbac.uncovered(held, _FULL_AUTHORITY):
            # An aggregated role gathers rules it does not name: only cluster admins may set it.
            raise st.forbidden_error(
                f'{rt.plural}.{rbac.GROUP} "{name}" is forbidden: must have cluster-admin '
                "privileges to use the aggregationRule",
                rt.plural,
                rbac.GROUP,
                name,
            )

    def _role_rules(self, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
        """The rules of the role a binding names (GetRoleReferenceRules): 404 if missing."""
        name = str(ref.get("name") or "")
        if ref.get("kind") == "ClusterRole":
            found = self.store.get(CLUSTER_ROLES, name)
            plural = "clusterroles"
        else:
            found = self.store.get(ROLES, f"{namespace}/{name}")
            plural = "roles"
        if found is None:
            raise st.not_found(plural, rbac.GROUP, name)
        return rbac.rules_of(found.decode())

    # -- the index ------------------------------------------------------------------------

    @staticmethod
    def _grants(index: _Index, namespace: str) -> Iterator[_Grant]:
        yield from index.cluster
        if namespace:
            yield from index.by_namespace.get(namespace, ())

    def _current(self) -> _Index:
        if self._index is None:
            self._index = self._build()
        return self._index

    def _objects(self, key: tuple[str, str]) -> Iterator[dict[str, Any]]:
        for obj in self.store.resource(key).objects.values():
            yield obj.decode()

    def _build(self) -> _Index:
        cluster_roles = {
            (r.get("metadata") or {}).get("name"): rbac.rules_of(r)
            for r in self._objects(CLUSTER_ROLES)
        }
        roles = {
            ((r["metadata"].get("namespace")), r["metadata"].get("name")): rbac.rules_of(r)
            for r in self._objects(ROLES)
        }
        index = _Index()
        for binding in self._objects(CLUSTER_ROLE_BINDINGS):
            index.cluster.append(_grant(binding, cluster_roles, roles, ""))
        for binding in self._objects(ROLE_BINDINGS):
            ns = binding["metadata"].get("namespace") or ""
            index.by_namespace.setdefault(ns, []).append(_grant(binding, cluster_roles, roles, ns))
        return index


def _grant(
    binding: dict[str, Any],
    cluster_roles: dict[Any, list[dict[str, Any]]],
    roles: dict[tuple[Any, Any], list[dict[str, Any]]],
    namespace: str,
) -> _Grant:
    """A binding with its role's rules; a RoleBinding grants resource rules only."""
    ref = binding.get("roleRef") or {}
    name = ref.get("name")
    if ref.get("kind") == "ClusterRole":
        found = cluster_roles.get(name)
        missing = f'clusterrole.rbac.authorization.k8s.io "{name}" not found'
    else:
        found = roles.get((namespace, name))
        missing = f'role.rbac.authorization.k8s.io "{name}" not found'
    if found is None:
        return _Grant(binding, [], missing)
    if namespace:
        found = [r for r in found if not r.get("nonResourceURLs")]
    return _Grant(binding, found)
