"""The clusterrole-aggregation controller: a ClusterRole with an ``aggregationRule`` gets the
rules of every ClusterRole its selectors select, as kube-controller-manager keeps ``admin``,
``edit`` and ``view`` up to date when a CRD's installer labels a role
``rbac.authorization.k8s.io/aggregate-to-view: "true"``. Aggregated roles may aggregate each
other (``view`` into ``edit`` into ``admin``): a change requeues every aggregated role until
nothing changes."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from kubeward.kube import rbac
from kubeward.kube.registry import REGISTRY
from kubeward.kube.selectors import SelectorError, label_selector_from_dict
from kubeward.sim.api.authz import CLUSTER_ROLES
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.control.base import Controller
from kubeward.sim.store.objects import StoreEvent

_CLUSTER_ROLE = REGISTRY.get(rbac.GROUP, "v1", "clusterroles")


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    try:
        return label_selector_from_dict(selector).matches(labels)
    except (SelectorError, TypeError, ValueError):
        return False  # validation refuses such selectors; an odd stored one selects nothing


class ClusterRoleAggregationController(Controller):
    name = "clusterrole-aggregation-controller"
    watches = (CLUSTER_ROLES,)

    def __init__(self, api: ObjectAPI) -> None:
        super().__init__(api.store)
        self.api = api

    def _aggregated(self) -> list[str]:
        return [
            obj.name
            for obj in self.store.resource(CLUSTER_ROLES).objects.values()
            if b'"aggregationRule"' in obj.raw
        ]

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        if event.storage_key != CLUSTER_ROLES:
            return []
        return list(self._aggregated())

    def sync_all(self) -> None:
        """Aggregate every role until nothing changes (at bootstrap, before serving)."""
        for _ in range(len(self._aggregated()) + 1):
            if not any([self._aggregate(name) for name in self._aggregated()]):
                return

    def reconcile(self, key: Hashable) -> None:
        self._aggregate(str(key))

    def _aggregate(self, key: str) -> bool:
        """Write the role's aggregated rules; whether they changed."""
        assert _CLUSTER_ROLE is not None
        current = self.store.get(CLUSTER_ROLES, str(key))
        if current is None:
            return False
        role = current.decode()
        if not isinstance(role.get("aggregationRule"), dict):
            return False
        others = (obj.decode() for obj in self.store.resource(CLUSTER_ROLES).objects.values())
        rules = rbac.aggregated_rules(role, others, _selects)
        if rules == rbac.rules_of(role):
            return False
        role["rules"] = rules
        self.api.update(_CLUSTER_ROLE, "", current.name, role)
        return True
