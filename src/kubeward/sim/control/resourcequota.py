"""The resourcequota controller: each ResourceQuota's status is ``hard`` copied from its spec
and ``used`` recounted from the objects of its namespace (``kubeward.kube.quota``), as
kube-controller-manager keeps it.

Quota admission charges a create as it admits it; this controller is what gives the quota
back when an object goes away or a pod finishes, and what first fills in a new quota's status
(until then the quota limits nothing). It recounts a namespace whenever a quota there changes
or an object there is added, deleted, or updated in a way that can change its charge. Each
object's charge is kept by resourceVersion, so a recount decodes only what changed.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from kubeward.kube.quota import Charge, as_strings, matching_resources, parse_list, recount
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.admission import RESOURCE_QUOTAS
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.control.base import Controller
from kubeward.sim.store.objects import StoredObject, StoreEvent

_RQ = REGISTRY.get("", "v1", "resourcequotas")
_PODS = ("", "pods")
# Kinds whose charge can change on an update (spec or phase); other kinds are charged one
# object each, which an update never changes.
_UPDATES_MAY_RECHARGE = {("", "services"), ("", "persistentvolumeclaims")}
_TERMINAL = ("Succeeded", "Failed")


class ResourceQuotaController(Controller):
    name = "resourcequota-controller"
    watches = (RESOURCE_QUOTAS,)

    def __init__(self, api: ObjectAPI) -> None:
        super().__init__(api.store)
        self.api = api
        self._kinds = {
            rt.storage_key: (rt.group, rt.plural)
            for rt in REGISTRY.storage_types()
            if rt.namespaced
        }
        # (storage key, object key) -> (resourceVersion, charge), for objects of namespaces
        # with quotas.
        self._charges: dict[tuple[tuple[str, str], str], tuple[int, Charge]] = {}
        self._hearing_all = False

    def _quotas(self, namespace: str) -> Iterator[StoredObject]:
        quotas = self.store.resource(RESOURCE_QUOTAS).objects
        if not quotas:
            return iter(())
        keys = quotas.irange(f"{namespace}/", f"{namespace}/\uffff")
        return (quotas[key] for key in keys)

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        """ResourceQuota commits: recount the quota's namespace."""
        if event.storage_key != RESOURCE_QUOTAS or not event.obj.namespace:
            return []
        return [event.obj.namespace]

    def _on_object(self, event: StoreEvent) -> None:
        """Every other commit, while some quota exists: recount its namespace if it has a quota
        and the commit can change what is charged there."""
        namespace = event.obj.namespace
        if not namespace or event.storage_key == RESOURCE_QUOTAS:
            return
        if next(self._quotas(namespace), None) is None:
            return
        if event.type == "DELETED":
            self._charges.pop((event.storage_key, event.obj.key), None)
        elif event.type == "MODIFIED" and not self._may_recharge(event):
            return
        self.enqueue(namespace)

    def _hear_all_while_quotas_exist(self) -> None:
        """Called between commits (never from a listener: the store is walking its list)."""
        wanted = bool(self.store.resource(RESOURCE_QUOTAS).objects)
        if wanted and not self._hearing_all:
            self.store.add_listener(self._on_object)
        elif not wanted and self._hearing_all:
            self.store.remove_listener(self._on_object)
        self._hearing_all = wanted

    @staticmethod
    def _may_recharge(event: StoreEvent) -> bool:
        if event.storage_key == _PODS:
            if event.prev is None:
                return True
            # A pod stops being charged compute resources when it finishes.
            was = event.prev.fields.get("status.phase") in _TERMINAL
            return was != (event.obj.fields.get("status.phase") in _TERMINAL)
        return event.storage_key in _UPDATES_MAY_RECHARGE

    def reconcile(self, key: Hashable) -> None:
        assert _RQ is not None
        self._hear_all_while_quotas_exist()
        namespace = str(key)
        quotas = [q.decode() for q in self._quotas(namespace)]
        if not quotas:
            self._forget(namespace)
            return
        hard_names = {n for q in quotas for n in parse_list((q.get("spec") or {}).get("hard"))}
        kinds = {sk: gp for sk, gp in self._kinds.items() if matching_resources(*gp, hard_names)}
        charges = list(self._namespace_charges(namespace, kinds))
        for rq in quotas:
            spec = rq.get("spec") or {}
            used = recount(spec, kinds.values(), charges)
            status = {"hard": as_strings(parse_list(spec.get("hard"))), "used": as_strings(used)}
            old = rq.get("status") or {}
            if _same(old, status):
                continue
            rq["status"] = status
            current = self.store.get(RESOURCE_QUOTAS, f"{namespace}/{rq['metadata']['name']}")
            if current is not None:
                self.api.write_object(_RQ, current, rq, "status", None, False)

    def _namespace_charges(
        self, namespace: str, kinds: dict[tuple[str, str], tuple[str, str]]
    ) -> Iterator[Charge]:
        for storage_key, (group, plural) in kinds.items():
            objects = self.store.resource(storage_key).objects
            for key in objects.irange(f"{namespace}/", f"{namespace}/\uffff"):
                obj = objects[key]
                cached = self._charges.get((storage_key, key))
                if cached is None or cached[0] != obj.rv:
                    cached = (obj.rv, Charge.of(group, plural, obj.decode()))
                    self._charges[(storage_key, key)] = cached
                yield cached[1]

    def _forget(self, namespace: str) -> None:
        prefix = f"{namespace}/"
        for entry in [e for e in self._charges if e[1].startswith(prefix)]:
            del self._charges[entry]


def _same(old: dict[str, object], new: dict[str, dict[str, str]]) -> bool:
    """Equal as quantities (``quota.Equals``): a sum may print in another format."""
    for part in ("hard", "used"):
        mine, theirs = parse_list(new[part]), parse_list(old.get(part))
        if mine.keys() != theirs.keys():
            return False
        if any(mine[n].amount != theirs[n].amount for n in mine):
            return False
    return True
