"""Adoption and release by label selector, as client-go's ControllerRefManager does it.

A controller claims the objects its selector matches that have no controller yet (adopt: add
a controllerRef) and lets go of the objects it controls that no longer match (release: drop its
ownerReference). Only objects without any ownerReference are tracked as orphans: checking for a
non-controller reference would mean decoding every pod on every change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import ResourceType
from kubeward.kube.selectors import (
    LabelSelector,
    SelectorError,
    SelectorIndex,
    label_selector_from_dict,
)
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.store.objects import StoredObject, StoreEvent


class OwnerSelectors:
    """Selectors of one owner kind per namespace: which owners may adopt an orphan."""

    def __init__(self) -> None:
        self._by_ns: dict[str, SelectorIndex[str]] = defaultdict(SelectorIndex)

    def set(self, namespace: str, name: str, selector: Mapping[str, Any] | None) -> None:
        try:
            sel = label_selector_from_dict(selector)
        except SelectorError:
            sel = LabelSelector.nothing()
        if sel.empty:
            # An empty selector would adopt everything; Kubernetes refuses to act on it.
            sel = LabelSelector.nothing()
        self._by_ns[namespace].set(name, sel)

    def remove(self, namespace: str, name: str) -> None:
        index = self._by_ns.get(namespace)
        if index is not None:
            index.remove(name)

    def get(self, namespace: str, name: str) -> LabelSelector | None:
        index = self._by_ns.get(namespace)
        return index.get(name) if index is not None else None

    def owners_for(self, namespace: str, labels: Mapping[str, str]) -> list[str]:
        """Keys ``namespace/name`` of the owners whose selector matches ``labels``, sorted."""
        index = self._by_ns.get(namespace)
        if index is None:
            return []
        return [f"{namespace}/{name}" for name in sorted(index.matching(labels))]


class Orphans:
    """Objects of one kind without any ownerReference, per namespace, fed by store events."""

    def __init__(self, storage_key: tuple[str, str]) -> None:
        self.storage_key = storage_key
        self._by_ns: dict[str, set[str]] = defaultdict(set)

    def observe(self, event: StoreEvent) -> bool:
        """Track the object; True when it is (still) an orphan that an owner could adopt."""
        obj = event.obj
        orphan = event.type != "DELETED" and not obj.owner_uids and not obj.deleting
        if orphan:
            self._by_ns[obj.namespace].add(obj.key)
        else:
            self._by_ns.get(obj.namespace, set()).discard(obj.key)
        return orphan

    def keys(self, namespace: str) -> list[str]:
        return sorted(self._by_ns.get(namespace, ()))


def adopt(
    api: ObjectAPI, rt: ResourceType, obj: StoredObject, owner_ref: dict[str, Any]
) -> StoredObject | None:
    """Add ``owner_ref`` as controller of ``obj``; None when the object changed meanwhile
    (gone, or someone else adopted it)."""
    body = obj.decode()
    meta = body["metadata"]
    refs = meta.get("ownerReferences") or []
    if any(r.get("controller") for r in refs) or meta.get("deletionTimestamp"):
        return None
    meta["ownerReferences"] = [*refs, owner_ref]
    return _write(api, rt, obj, body)


def release(
    api: ObjectAPI, rt: ResourceType, obj: StoredObject, owner_uid: str
) -> StoredObject | None:
    """Drop the owner's reference from ``obj``."""
    body = obj.decode()
    meta = body["metadata"]
    refs = [r for r in meta.get("ownerReferences") or () if r.get("uid") != owner_uid]
    if refs:
        meta["ownerReferences"] = refs
    else:
        meta.pop("ownerReferences", None)
    return _write(api, rt, obj, body)


def _write(
    api: ObjectAPI, rt: ResourceType, obj: StoredObject, body: dict[str, Any]
) -> StoredObject | None:
    try:
        return api.update(rt, obj.namespace, obj.name, body)
    except st.StatusError as exc:
        # Conflict or gone: the next event for the object brings the owner back here.
        if exc.code in (404, 409):
            return None
        raise
