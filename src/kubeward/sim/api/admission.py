"""Admission plugins of kube-apiserver that need other objects than the one written.

- Priority (``kubeward.kube.priority`` holds its semantics): pods get their priority from
  their PriorityClass on create and keep it on update; a second global-default PriorityClass
  is refused; the built-in system classes cannot be deleted.
- ServiceAccount: a pod naming a service account that does not exist is refused.
- DefaultStorageClass and StorageObjectInUseProtection: a claim without a class gets the
  default StorageClass; claims and volumes get their protection finalizers.
- LimitRanger (``kubeward.kube.limitrange``): a new pod gets the requests and limits it leaves
  out from its namespace's LimitRanges; pods (created) and claims (created or updated) outside
  their bounds are refused.
- ResourceQuota (``kubeward.kube.quota``): a create that would take a quota of its namespace
  over its hard limits is refused; one that fits is charged to the quotas' ``status.used``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.limitrange import aggregate, check_claim, check_pod, default_pod
from kubeward.kube.priority import (
    SYSTEM_PRIORITIES,
    PriorityForbidden,
    admit_pod,
    check_priority_class_admission,
    forbidden_message,
    keep_priority_on_update,
)
from kubeward.kube.quota import QuotaRefused, ResourceList, admit, claim_storage
from kubeward.kube.registry import ResourceType
from kubeward.sim.store.store import Store

PODS = ("", "pods")
PRIORITY_CLASSES = ("scheduling.k8s.io", "priorityclasses")
RESOURCE_QUOTAS = ("", "resourcequotas")
LIMIT_RANGES = ("", "limitranges")
PVCS = ("", "persistentvolumeclaims")
PVS = ("", "persistentvolumes")
SERVICE_ACCOUNTS = ("", "serviceaccounts")
STORAGE_CLASSES = ("storage.k8s.io", "storageclasses")
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
_DEFAULT_CLASS_MARK = f'"{DEFAULT_CLASS_ANNOTATION}":"true"'.encode()
_RECHARGED_ON_UPDATE = (PVCS, ("", "services"))
_PROTECTION = {PVCS: "kubernetes.io/pvc-protection", PVS: "kubernetes.io/pv-protection"}


class Admission:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _get_class(self, name: str) -> dict[str, Any] | None:
        obj = self.store.get(PRIORITY_CLASSES, name)
        return obj.decode() if obj is not None else None

    def _default_candidates(self) -> Iterator[dict[str, Any]]:
        for obj in self.store.resource(PRIORITY_CLASSES).objects.values():
            if b'"globalDefault":true' in obj.raw:
                yield obj.decode()

    def _default_storage_class(self) -> str | None:
        """DefaultStorageClass: the class annotated as default (the newest if several)."""
        defaults = [
            obj.decode()
            for obj in self.store.resource(STORAGE_CLASSES).objects.values()
            if _DEFAULT_CLASS_MARK in obj.raw
        ]
        if not defaults:
            return None
        newest = max(
            defaults,
            key=lambda c: (c["metadata"].get("creationTimestamp", ""), c["metadata"]["name"]),
        )
        return str(newest["metadata"]["name"])

    def create(self, srt: ResourceType, obj: dict[str, Any], sent_name: str = "") -> None:
        """Mutating and validating admission on create, before defaulting and validation.
        ``sent_name``: the name (or generateName) the client sent, for error messages."""
        key = srt.storage_key
        if key == PODS:
            spec = obj.get("spec")
            if not isinstance(spec, dict):
                return  # validation reports it
            try:
                admit_pod(spec, self._get_class, self._default_candidates)
            except PriorityForbidden as exc:
                raise _forbidden(srt, sent_name, str(exc)) from None
            self._check_service_account(srt, obj, spec, sent_name)
        elif key in _PROTECTION:
            meta = obj.setdefault("metadata", {})
            finalizers = meta.get("finalizers") or []
            if isinstance(finalizers, list) and _PROTECTION[key] not in finalizers:
                meta["finalizers"] = [*finalizers, _PROTECTION[key]]
            spec = obj.get("spec")
            if key == PVCS and isinstance(spec, dict) and "storageClassName" not in spec:
                default = self._default_storage_class()
                if default:
                    spec["storageClassName"] = default
        elif key == PRIORITY_CLASSES:
            try:
                check_priority_class_admission(obj, self._default_candidates(), creating=True)
            except PriorityForbidden as exc:
                raise _forbidden(srt, sent_name, str(exc)) from None

    def _check_service_account(
        self, srt: ResourceType, obj: dict[str, Any], spec: dict[str, Any], sent_name: str
    ) -> None:
        """ServiceAccount admission: a pod's service account must exist. ``default`` is not
        checked: the plugin waits up to a second or so for the controller to create it in a
        new namespace, and the simulator's namespace controller always does."""
        name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        if not isinstance(name, str) or name == "default":
            return  # validation reports a name of the wrong type
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        if self.store.get(SERVICE_ACCOUNTS, f"{namespace}/{name}") is None:
            raise _forbidden(
                srt,
                sent_name,
                f"error looking up service account {namespace}/{name}: "
                f'serviceaccount "{name}" not found',
            )

    def _in_namespace(self, storage_key: tuple[str, str], obj: dict[str, Any]) -> list[Any]:
        """The decoded objects of ``storage_key`` in ``obj``'s namespace, by name."""
        namespace = (obj.get("metadata") or {}).get("namespace")
        objects = self.store.resource(storage_key).objects
        if not namespace or not objects:
            return []
        keys = objects.irange(f"{namespace}/", f"{namespace}/\uffff")
        return [objects[key].decode() for key in keys]

    def default_limits(self, srt: ResourceType, obj: dict[str, Any]) -> None:
        """LimitRanger's mutating half, on a pod create after the pod's own defaulting."""
        if srt.storage_key == PODS:
            ranges = self._in_namespace(LIMIT_RANGES, obj)
            if ranges:
                default_pod(ranges, obj)

    def check_limits(self, srt: ResourceType, obj: dict[str, Any], *, update: bool = False) -> None:
        """LimitRanger's validating half, after validation: 403 for a pod or claim outside
        the bounds of a LimitRange of its namespace. Updates are checked for claims only (a
        pod's containers cannot change)."""
        if srt.storage_key not in (PODS, PVCS) or (update and srt.storage_key == PODS):
            return
        ranges = self._in_namespace(LIMIT_RANGES, obj)
        if not ranges:
            return
        problems = check_pod(ranges, obj) if srt.storage_key == PODS else check_claim(ranges, obj)
        if problems:
            name = str(obj["metadata"].get("name", ""))
            raise _forbidden(srt, name, aggregate(problems))

    def quota(
        self, srt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> list[tuple[str, ResourceList]]:
        """The ResourceQuota plugin on a create, after validation (the name is generated by
        then), or on an update of what its evaluators re-charge (``old``: Services and claims,
        whose type or size may grow): the new ``status.used`` of each quota of the namespace
        that tracks ``obj``, for the caller to write once the object is stored; 403 if one
        would be exceeded."""
        if old is not None and srt.storage_key not in _RECHARGED_ON_UPDATE:
            return []
        found = self._in_namespace(RESOURCE_QUOTAS, obj)
        if not found:
            return []
        try:
            return admit(found, srt.group, srt.plural, obj, old)
        except QuotaRefused as exc:
            raise _forbidden(srt, str(obj["metadata"].get("name", "")), str(exc)) from None

    def update(
        self, srt: ResourceType, old: dict[str, Any], new: dict[str, Any], subresource: str
    ) -> None:
        key = srt.storage_key
        if key == PODS and not subresource:
            old_spec, new_spec = old.get("spec"), new.get("spec")
            if isinstance(old_spec, dict) and isinstance(new_spec, dict):
                keep_priority_on_update(old_spec, new_spec)
        elif key == PVCS and not subresource and _grows(old, new):
            # PersistentVolumeClaimResize: a bound claim grows only if its class allows it.
            class_name = (new.get("spec") or {}).get("storageClassName") or ""
            sc = self.store.get(STORAGE_CLASSES, class_name) if class_name else None
            if sc is None or b'"allowVolumeExpansion":true' not in sc.raw:
                raise _forbidden(
                    srt,
                    str(new["metadata"].get("name", "")),
                    "only dynamically provisioned pvc can be resized and the storageclass that "
                    "provisions the pvc must support resize",
                )
        elif key == PRIORITY_CLASSES:
            try:
                check_priority_class_admission(new, self._default_candidates(), creating=False)
            except PriorityForbidden as exc:
                raise _forbidden(srt, str(new["metadata"].get("name", "")), str(exc)) from None

    def delete(self, srt: ResourceType, name: str) -> None:
        if srt.storage_key == PRIORITY_CLASSES and name in SYSTEM_PRIORITIES:
            raise st.forbidden_error(
                forbidden_message(
                    "priorityclasses.scheduling.k8s.io",
                    name,
                    "this is a system priority class and cannot be deleted",
                ),
                srt.plural,
                srt.group,
                name,
            )


def _grows(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """A bound claim whose storage request goes up (what the resize plugin looks at)."""
    if (old.get("status") or {}).get("phase") != "Bound":
        return False
    before, after = claim_storage(old), claim_storage(new)
    return before is not None and after is not None and after.amount > before.amount


def _forbidden(srt: ResourceType, name: str, reason: str) -> st.StatusError:
    """admission.NewForbidden: named after the object, or its generateName before a name is
    generated."""
    name = name or "Unknown"
    resource = f"{srt.plural}.{srt.group}" if srt.group else srt.plural
    return st.forbidden_error(
        forbidden_message(resource, name, reason), srt.plural, srt.group, name
    )
