"""Object semantics of kube-apiserver's generic registry, independent of HTTP.

create / update / patch / delete / list over the store, with Kubernetes' metadata rules (uid,
resourceVersion, generation, generateName, deletionTimestamp, finalizers), defaulting and
validation before anything is written, optimistic concurrency, and dry-run. The HTTP layer and
the simulator's in-process controllers both write through here, so a watcher sees what it would
see on a real cluster.
"""

from __future__ import annotations

import base64
import bisect
import copy
import ipaddress
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import yaml

from kubeward.kube import status as st
from kubeward.kube.apply import ApplyConflict, server_side_apply, track_update
from kubeward.kube.defaults import apply_defaults, generate_job_selector
from kubeward.kube.fields import field_getters
from kubeward.kube.patch import (
    PatchError,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)
from kubeward.kube.quota import ResourceList, as_strings
from kubeward.kube.rbac import GROUP as RBAC_GROUP
from kubeward.kube.registry import REGISTRY, ResourceType
from kubeward.kube.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from kubeward.kube.uid import random_suffix, uid4
from kubeward.kube.validation import validate_object, validate_update
from kubeward.sim.api.admission import RESOURCE_QUOTAS, Admission
from kubeward.sim.api.authz import RBACAuthorizer
from kubeward.sim.api.convert import from_storage, needs_conversion, storage_type, to_storage
from kubeward.sim.clock import SimClock, format_time
from kubeward.sim.store.objects import StoredObject
from kubeward.sim.store.store import Snapshot, Store, TooOld

NAMESPACES = ("", "namespaces")

# Kinds whose metadata.generation tracks spec changes.
_GENERATION = {
    ("", "pods"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "daemonsets"),
    ("apps", "statefulsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("policy", "poddisruptionbudgets"),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"),
    ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
}
_RESOURCE_QUOTA = REGISTRY.get("", "v1", "resourcequotas")
# Kinds whose status a client may set on create (everything else starts with an empty status).
_STATUS_ON_CREATE = {("", "nodes"), ("", "events"), ("", "namespaces")}
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply",
}
_STRATEGIC_UNSUPPORTED = {("apiextensions.k8s.io", "customresourcedefinitions")}


@dataclass
class ListResult:
    rv: int
    items: list[StoredObject]
    continue_token: str = ""
    remaining: int | None = None


@dataclass
class DeleteOptions:
    grace_period: int | None = None
    propagation: str | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False

    @classmethod
    def parse(cls, body: dict[str, Any] | None, query: dict[str, str]) -> DeleteOptions:
        body = body or {}
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        policy = body.get("propagationPolicy", query.get("propagationPolicy"))
        orphan = body.get("orphanDependents", query.get("orphanDependents"))
        if policy is None and orphan is not None:
            policy = "Orphan" if str(orphan).lower() == "true" else "Background"
        if policy is not None and policy not in ("Foreground", "Background", "Orphan"):
            raise st.bad_request(
                f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                '"Foreground", "Background", "Orphan"'
            )
        try:
            grace_i = int(grace) if grace is not None else None
        except (TypeError, ValueError) as exc:
            raise st.bad_request(f"gracePeriodSeconds: invalid value {grace!r}") from exc
        pre = body.get("preconditions") or {}
        dry = body.get("dryRun") or query.get("dryRun")
        return cls(grace_i, policy, pre.get("uid"), pre.get("resourceVersion"), bool(dry))


def encode_continue(rv: int, start_key: str) -> str:
    token = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start_key})
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode()


def decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError(
                "continue key is not valid: incorrect encoded start resourceVersion "
                "(version meta.k8s.io/v1)"
            )
        rv, start = int(data["rv"]), str(data["start"])
        if rv <= 0:
            raise ValueError("continue key is not valid: incorrect encoded start resourceVersion")
        return rv, start
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        msg = (
            str(exc) if str(exc).startswith("continue key") else f"continue key is not valid: {exc}"
        )
        raise st.bad_request(msg) from exc


class Filter:
    """Namespace + label selector + field selector, evaluated on stored objects."""

    def __init__(
        self, rt: ResourceType, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> None:
        try:
            self.labels: LabelSelector = parse_label_selector(label_selector or "")
        except SelectorError as exc:
            raise st.bad_request(
                f"unable to parse requirement: {exc}"
                if "unable to parse" not in str(exc)
                else str(exc)
            ) from exc
        try:
            self.fields: FieldSelector = parse_field_selector(field_selector or "")
        except SelectorError as exc:
            raise st.bad_request(str(exc)) from exc
        supported = field_getters(rt.storage_key)
        for name in self.fields.fields:
            if name not in supported:
                raise st.bad_request(f"field label not supported: {name}")
        self.namespace = namespace
        self.selects_all = self.labels.empty and self.fields.empty

    def __call__(self, obj: StoredObject) -> bool:
        if self.namespace and obj.namespace != self.namespace:
            return False
        if not self.labels.empty and not self.labels.matches(obj.labels):
            return False
        if not self.fields.empty:
            values = dict(obj.fields)
            values["metadata.name"] = obj.name
            values["metadata.namespace"] = obj.namespace
            return self.fields.matches(values)
        return True


class ObjectAPI:
    def __init__(self, store: Store, clock: SimClock, service_cidr: str = "10.96.0.0/12") -> None:
        self.store = store
        self.clock = clock
        self._cluster_ips = ipaddress.ip_network(service_cidr).hosts()
        self._used_ips: set[str] = set()
        self._rand = random.Random()
        self.admission = Admission(store)
        self.rbac = RBACAuthorizer(store)

    # -- reads --------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> StoredObject:
        obj = self.store.get(rt.storage_key, _key(rt, namespace, name))
        if obj is None:
            raise st.not_found(rt.plural, rt.group, name)
        return obj

    def render(self, rt: ResourceType, obj: StoredObject) -> bytes:
        """The object's JSON as served at ``rt``'s version."""
        if not needs_conversion(rt):
            return obj.raw
        return orjson.dumps(from_storage(rt, obj.decode()))

    def render_dict(self, rt: ResourceType, obj: StoredObject) -> dict[str, Any]:
        return from_storage(rt, obj.decode())

    def list_objects(
        self,
        rt: ResourceType,
        flt: Filter,
        *,
        resource_version: str = "",
        match: str = "",
        limit: int = 0,
        continue_token: str = "",
    ) -> ListResult:
        res = self.store.resource(rt.storage_key)
        if match and not resource_version:
            raise st.bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided"
            )
        if match and match not in ("NotOlderThan", "Exact"):
            raise st.bad_request(
                f'resourceVersionMatch: Unsupported value: "{match}": '
                'supported values: "Exact", "NotOlderThan"'
            )
        if continue_token:
            if resource_version and resource_version != "0":
                raise st.bad_request(
                    "specifying resource version is not allowed when using continue"
                )
            rv, start = decode_continue(continue_token)
            return self._page(rt, self._snapshot(res, rv, continuing=True), flt, limit, start)
        if resource_version == "0" and match != "Exact":
            # Served from the watch cache: complete, any freshness, limit ignored.
            snap = res.snapshot(self.store.revision)
            items = list(self._select(snap, flt, ""))
            return ListResult(self.store.revision, items)
        if resource_version:
            try:
                requested = int(resource_version)
            except ValueError as exc:
                raise st.bad_request(f"invalid resource version: {resource_version}") from exc
            if match == "Exact" and requested == 0:
                raise st.bad_request(
                    'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'
                )
            if requested > self.store.revision:
                raise st.timeout(
                    f"Too large resource version: {requested}, current: {self.store.revision}"
                )
            if match == "Exact" or (not match and limit):
                return self._page(rt, self._snapshot(res, requested), flt, limit, "")
        return self._page(rt, res.snapshot(self.store.revision), flt, limit, "")

    def _snapshot(self, res: Any, rv: int, continuing: bool = False) -> Snapshot:
        try:
            snap: Snapshot = res.snapshot(rv)
            return snap
        except TooOld as exc:
            if continuing:
                raise st.gone(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use "
                    "the continue token in this response to retrieve the remainder of the "
                    "results. Continuing with the provided token results in an inconsistent "
                    "list - objects that were created, modified, or deleted between the time "
                    "the first chunk was returned and now may show up in the list."
                ) from exc
            raise st.gone(f"The resourceVersion for the provided list is too old. {exc}") from exc

    @staticmethod
    def _select(snap: Snapshot, flt: Filter, start: str) -> Any:
        prefix = f"{flt.namespace}/" if flt.namespace else ""
        for obj in snap.range(start, prefix):
            if flt(obj):
                yield obj

    def _page(
        self, rt: ResourceType, snap: Snapshot, flt: Filter, limit: int, start: str
    ) -> ListResult:
        if limit <= 0:
            return ListResult(snap.rv, list(self._select(snap, flt, start)))
        items: list[StoredObject] = []
        it = self._select(snap, flt, start)
        for obj in it:
            if len(items) == limit:
                # One more match exists: hand out a continue token after the last returned key.
                remaining = None
                if flt.selects_all and not flt.namespace:
                    remaining = len(snap.keys) - bisect.bisect_right(snap.keys, items[-1].key)
                elif flt.selects_all:
                    remaining = 1 + sum(1 for _ in it)
                return ListResult(
                    snap.rv, items, encode_continue(snap.rv, items[-1].key + "\x00"), remaining
                )
            items.append(obj)
        return ListResult(snap.rv, items)

    # -- writes -------------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str,
        obj: Any,
        *,
        manager: str | None = None,
        dry_run: bool = False,
    ) -> StoredObject:
        obj = self._check_body(rt, namespace, obj, name="")
        obj = to_storage(rt, obj)
        srt = storage_type(rt)
        meta = obj["metadata"]
        # Admission errors name the object as sent (generateName before a name is generated).
        sent_name = str(meta.get("name") or meta.get("generateName") or "")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = str(meta["generateName"]) + random_suffix(self._rand)
        for field in (
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "creationTimestamp",
            "generation",
            "selfLink",
        ):
            meta.pop(field, None)
        if srt.storage_key not in _STATUS_ON_CREATE and srt.has_status:
            obj.pop("status", None)
        if manager:
            # Ownership is recorded for what the client sent, before defaulting and admission
            # fill in the rest; a later apply can then never prune a defaulted field.
            obj = track_update(
                None, obj, manager, api_version=rt.api_version, now=self.clock.timestamp()
            )
            meta = obj["metadata"]
        self.admission.create(srt, obj, sent_name)
        apply_defaults(srt.group, srt.kind, obj)
        self.admission.default_limits(srt, obj)
        errors = validate_object(srt.group, srt.kind, obj, namespaced=srt.namespaced)
        if errors:
            raise st.invalid_object(srt.kind, srt.group, str(meta.get("name", "")), errors)
        self.admission.check_limits(srt, obj)
        if srt.group == RBAC_GROUP:
            self.rbac.check_grant(srt, obj)
        name = meta["name"]
        if srt.namespaced:
            self._check_namespace_open(meta["namespace"])
        charges = self.admission.quota(srt, obj) if srt.namespaced else []
        if self.store.get(srt.storage_key, _key(srt, meta.get("namespace", ""), name)):
            raise st.already_exists(rt.plural, rt.group, name)
        meta["uid"] = uid4(self._rand.getrandbits(128))
        if srt.storage_key == ("batch", "jobs"):
            generate_job_selector(obj)  # as the Job strategy, once the UID exists
        meta["creationTimestamp"] = self.clock.timestamp()
        if srt.storage_key in _GENERATION:
            meta["generation"] = 1
        if srt.storage_key == ("", "services"):
            self._allocate_cluster_ip(obj, dry_run)
        if dry_run:
            return self.store_preview(srt, obj)
        stored = self.store.create(srt.storage_key, obj)
        if charges:
            self._charge_quotas(meta["namespace"], charges)
        return stored

    def _charge_quotas(self, namespace: str, charges: list[tuple[str, ResourceList]]) -> None:
        """Write what quota admission charged to each quota's status, as the plugin does once
        the create is admitted (the quota controller's recount later agrees with it)."""
        assert _RESOURCE_QUOTA is not None
        for name, used in charges:
            current = self.store.get(RESOURCE_QUOTAS, f"{namespace}/{name}")
            if current is None:
                continue
            data = current.decode()
            data.setdefault("status", {})["used"] = as_strings(used)
            self.write_object(_RESOURCE_QUOTA, current, data, "status", None, False)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        obj: Any,
        *,
        subresource: str = "",
        manager: str | None = None,
        dry_run: bool = False,
    ) -> StoredObject:
        current = self.get(rt, namespace, name)
        obj = self._check_body(rt, namespace, obj, name=name)
        check_resource_version(rt, current, obj)
        return self.write_object(rt, current, to_storage(rt, obj), subresource, manager, dry_run)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        patch_type: str,
        body: bytes,
        *,
        subresource: str = "",
        manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> tuple[StoredObject, bool]:
        """Returns (object, created). Only apply patches may create."""
        kind = PATCH_TYPES.get(patch_type)
        if kind is None:
            raise st.StatusError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted "
                f"media types include: {', '.join(PATCH_TYPES)}",
            )
        if kind == "strategic" and rt.storage_key in _STRATEGIC_UNSUPPORTED:
            raise st.StatusError(
                415,
                "UnsupportedMediaType",
                "strategic merge patch is not supported for this resource",
            )
        patch = decode_patch(body, kind)
        current = self.store.get(rt.storage_key, _key(rt, namespace, name))
        if kind == "apply":
            if not manager:
                raise st.bad_request(
                    "PATCH, application/apply-patch+yaml requires fieldManager parameter"
                )
            if not isinstance(patch, dict):
                raise st.bad_request("apply patch must be an object")
            patch = self._check_body(rt, namespace, copy.deepcopy(patch), name=name)
            if current is None:
                if subresource:
                    raise st.not_found(rt.plural, rt.group, name)
                try:
                    applied = server_side_apply(
                        None,
                        patch,
                        manager,
                        force=force,
                        api_version=rt.api_version,
                        now=self.clock.timestamp(),
                    )
                except PatchError as exc:
                    raise _patch_status(exc, rt, name) from exc
                return self.create(rt, namespace, applied, dry_run=dry_run), True
            live = from_storage(rt, current.decode())
            try:
                new = server_side_apply(
                    live,
                    patch,
                    manager,
                    force=force,
                    api_version=rt.api_version,
                    now=self.clock.timestamp(),
                )
            except PatchError as exc:
                raise _patch_status(exc, rt, name) from exc
            return self.write_object(
                rt, current, to_storage(rt, new), subresource, None, dry_run
            ), False
        if current is None:
            raise st.not_found(rt.plural, rt.group, name)
        live = from_storage(rt, current.decode())
        try:
            if kind == "json":
                if not isinstance(patch, list):
                    raise PatchError("json patch must be a list of operations")
                new = json_patch(live, patch)
            elif kind == "merge":
                new = json_merge_patch(live, patch)
            else:
                if not isinstance(patch, dict):
                    raise PatchError("strategic merge patch must be an object")
                new = strategic_merge_patch(live, patch)
        except PatchError as exc:
            raise _patch_status(exc, rt, name) from exc
        if not isinstance(new, dict):
            raise st.bad_request("patch produced a non-object")
        check_resource_version(rt, current, new)
        self._check_body(rt, namespace, new, name=name)
        return self.write_object(
            rt, current, to_storage(rt, new), subresource, manager, dry_run
        ), False

    def write_object(
        self,
        rt: ResourceType,
        current: StoredObject,
        new: dict[str, Any],
        subresource: str,
        manager: str | None,
        dry_run: bool,
    ) -> StoredObject:
        """Shared tail of update and patch: carry over what clients cannot change, then write."""
        srt = storage_type(rt)
        old = current.decode()
        if subresource == "status":
            # The status endpoint changes status only; everything else comes from the old object.
            # A second decode is a cheaper private copy than deepcopy.
            merged = current.decode()
            merged["status"] = new.get("status", {})
            new = merged
        elif subresource == "finalize":
            merged = current.decode()
            merged.setdefault("spec", {})["finalizers"] = (new.get("spec") or {}).get(
                "finalizers", []
            )
            new = merged
        elif srt.has_status and srt.storage_key not in _STATUS_ON_CREATE:
            new.pop("status", None)
            if "status" in old:
                new["status"] = current.decode()["status"]
        meta = new["metadata"]
        old_meta = old["metadata"]
        for field in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        ):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if "managedFields" not in meta and "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        if old_meta.get("deletionTimestamp"):
            # Finalizers may only be removed from an object being deleted, never added.
            added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if added:
                raise st.invalid_object(
                    srt.kind,
                    srt.group,
                    current.name,
                    [
                        st.forbidden(
                            "metadata.finalizers",
                            f"no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers {sorted(added)}",
                        )
                    ],
                )
        meta["resourceVersion"] = str(current.rv)
        self.admission.update(srt, old, new, subresource)
        apply_defaults(srt.group, srt.kind, new)
        errors = validate_update(srt.group, srt.kind, old, new)
        if errors:
            raise st.invalid_object(srt.kind, srt.group, current.name, errors)
        if srt.group == RBAC_GROUP:
            self.rbac.check_grant(srt, new, old)
        if not subresource:
            self.admission.check_limits(srt, new, update=True)
        if srt.storage_key in _GENERATION and _spec_changed(old, new):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if manager:
            new = track_update(
                old,
                new,
                manager,
                api_version=rt.api_version,
                now=self.clock.timestamp(),
                subresource=subresource,
            )
        if new == old:
            return current  # no-op writes do not bump resourceVersion, as in Kubernetes
        charges = self.admission.quota(srt, new, old) if not subresource else []
        if dry_run:
            return self.store_preview(srt, new)
        if _finalized(new):
            return self.store.delete(
                srt.storage_key, self.store.update(srt.storage_key, new, current)
            )
        stored = self.store.update(srt.storage_key, new, current)
        if charges:
            self._charge_quotas(current.namespace, charges)
        return stored

    def delete(
        self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions
    ) -> StoredObject:
        current = self.get(rt, namespace, name)
        srt = storage_type(rt)
        self.admission.delete(srt, name)
        if options.precondition_uid and options.precondition_uid != current.uid:
            raise st.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: "
                f"{options.precondition_uid}, UID in object meta: {current.uid}",
            )
        if options.precondition_rv and options.precondition_rv != str(current.rv):
            raise st.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: ResourceVersion in precondition: "
                f"{options.precondition_rv}, ResourceVersion in object meta: "
                f"{current.rv}",
            )
        obj = current.decode()
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        for policy, finalizer in (("Orphan", "orphan"), ("Foreground", "foregroundDeletion")):
            if options.propagation == policy and finalizer not in finalizers:
                finalizers.append(finalizer)
        grace = self._grace_period(srt, obj, options.grace_period)
        namespace_pending = srt.storage_key == NAMESPACES and (obj.get("spec") or {}).get(
            "finalizers"
        )
        if meta.get("deletionTimestamp"):
            # Already being deleted: a shorter grace period may bring the deadline forward.
            if grace is not None and grace < int(meta.get("deletionGracePeriodSeconds") or 0):
                meta["deletionGracePeriodSeconds"] = grace
                meta["deletionTimestamp"] = format_time(self.clock.now() + timedelta(seconds=grace))
                if grace == 0 and not finalizers:
                    return (
                        current if options.dry_run else self.store.delete(srt.storage_key, current)
                    )
                return (
                    current if options.dry_run else self.store.update(srt.storage_key, obj, current)
                )
            return current
        if not finalizers and not grace and not namespace_pending:
            return current if options.dry_run else self.store.delete(srt.storage_key, current)
        meta["finalizers"] = finalizers
        if not finalizers:
            del meta["finalizers"]
        meta["deletionTimestamp"] = format_time(self.clock.now() + timedelta(seconds=grace or 0))
        meta["deletionGracePeriodSeconds"] = grace or 0
        if namespace_pending:
            obj.setdefault("status", {})["phase"] = "Terminating"
        if options.dry_run:
            return self.store_preview(srt, obj)
        return self.store.update(srt.storage_key, obj, current)

    def delete_collection(
        self, rt: ResourceType, flt: Filter, options: DeleteOptions
    ) -> list[StoredObject]:
        result = self.list_objects(rt, flt)
        out = []
        for obj in result.items:
            try:
                out.append(self.delete(rt, obj.namespace, obj.name, options))
            except st.StatusError as exc:
                if exc.code != 404:
                    raise
        return out

    # -- helpers ------------------------------------------------------------------------------

    def store_preview(self, srt: ResourceType, obj: dict[str, Any]) -> StoredObject:
        """What a dry-run write would have stored (the resourceVersion stays unassigned)."""
        meta = obj["metadata"]
        meta.setdefault("resourceVersion", "0")
        preview = self.store._encode(srt.storage_key, obj)
        if meta["resourceVersion"] == "0":
            meta.pop("resourceVersion")
            preview.raw = orjson.dumps(obj)
        return preview

    def _check_body(self, rt: ResourceType, namespace: str, obj: Any, name: str) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise st.bad_request(f"the body of the request must be a {rt.kind} object")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rt.api_version:
            raise st.bad_request(
                f"the API version in the data ({api_version}) does not match "
                f"the expected API version ({rt.api_version})"
            )
        if kind and kind != rt.kind:
            raise st.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise st.bad_request("metadata: must be an object")
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise st.bad_request(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if name:
            body_name = meta.get("name")
            if body_name and body_name != name:
                raise st.bad_request(
                    f"the name of the object ({body_name}) does not match the "
                    f"name on the URL ({name})"
                )
            meta["name"] = name
        return obj

    def _check_namespace_open(self, namespace: str) -> None:
        ns = self.store.get(NAMESPACES, namespace)
        if ns is None:
            raise st.not_found("namespaces", "", namespace)
        if ns.deleting:
            raise st.StatusError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
                {
                    "name": namespace,
                    "kind": "namespaces",
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def _grace_period(
        self, srt: ResourceType, obj: dict[str, Any], requested: int | None
    ) -> int | None:
        if srt.storage_key != ("", "pods"):
            return 0  # only pods are deleted gracefully
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        # Unscheduled or finished pods have no kubelet to wait for: delete at once.
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(requested, 0)
        return int(spec.get("terminationGracePeriodSeconds", 30))

    def _allocate_cluster_ip(self, svc: dict[str, Any], dry_run: bool) -> None:
        spec = svc.setdefault("spec", {})
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
            if spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
            return
        if spec.get("clusterIP"):
            ip = spec["clusterIP"]
            if ip in self._used_ips:
                raise st.invalid_object(
                    "Service",
                    "",
                    svc["metadata"]["name"],
                    [
                        st.invalid(
                            "spec.clusterIPs",
                            [ip],
                            f"failed to allocate IP {ip}: provided IP is already allocated",
                        )
                    ],
                )
        else:
            ip = str(next(self._cluster_ips))
            while ip in self._used_ips:
                ip = str(next(self._cluster_ips))
        if not dry_run:
            self._used_ips.add(ip)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]


def check_resource_version(rt: ResourceType, current: StoredObject, body: dict[str, Any]) -> None:
    """Optimistic concurrency: a write naming a resourceVersion must name the current one."""
    meta = body.get("metadata")
    requested = meta.get("resourceVersion") if isinstance(meta, dict) else None
    if requested and requested != str(current.rv):
        raise st.conflict(rt.plural, rt.group, current.name, st.STALE_OBJECT)


def _key(rt: ResourceType, namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if rt.namespaced else name


def _spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    ignore = ("metadata", "status")
    return {k: v for k, v in old.items() if k not in ignore} != {
        k: v for k, v in new.items() if k not in ignore
    }


def _finalized(obj: dict[str, Any]) -> bool:
    """Deleted, no grace period left to wait, and no finalizer still holding it."""
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp") or meta.get("finalizers"):
        return False
    if meta.get("deletionGracePeriodSeconds", 0) != 0:
        return False
    return not (obj.get("kind") == "Namespace" and (obj.get("spec") or {}).get("finalizers"))


def decode_patch(body: bytes, kind: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        if kind != "apply":
            raise st.bad_request(f"error decoding patch: invalid JSON: {body[:80]!r}") from None
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise st.bad_request(f"error decoding YAML: {exc}") from exc


def _patch_status(exc: PatchError, rt: ResourceType, name: str) -> st.StatusError:
    if isinstance(exc, ApplyConflict):
        conflict = st.StatusError(
            409, "Conflict", str(exc), {"name": name, "kind": rt.plural, "group": rt.group}
        )
        causes = [{"reason": "FieldManagerConflict", "message": str(exc)}]
        conflict.details = {**(conflict.details or {}), "causes": causes}
        return conflict
    return st.StatusError(422, "Invalid", str(exc))
