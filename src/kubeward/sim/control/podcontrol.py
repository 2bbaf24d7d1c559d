"""What workload controllers share about pods: creating them from templates, counting them as
Kubernetes does (active, ready, available) and choosing which to delete first."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Hashable, Iterable
from datetime import datetime
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.clock import parse_time
from kubeward.sim.control.base import Controller
from kubeward.sim.control.events import NORMAL, EventRecorder, ObjectRef
from kubeward.sim.store.objects import StoredObject, StoreEvent
from kubeward.sim.store.store import Store

PODS = REGISTRY.get("", "v1", "pods")
TERMINAL = ("Succeeded", "Failed")


def owner_reference(owner: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_from_template(
    template: dict[str, Any], owner_ref: dict[str, Any], generate_name: str = "", name: str = ""
) -> dict[str, Any]:
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [owner_ref],
    }
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = generate_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def is_active(pod: StoredObject) -> bool:
    return not pod.deleting and pod.fields.get("status.phase", "") not in TERMINAL


def ready_since(pod: dict[str, Any]) -> datetime | None:
    """When the pod became Ready, or None if it is not Ready."""
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            if c.get("status") != "True":
                return None
            ts = c.get("lastTransitionTime")
            return parse_time(ts) if ts else datetime.min
    return None


def is_available(pod: dict[str, Any], min_ready_seconds: int, now: datetime) -> bool:
    return available_since(ready_since(pod), min_ready_seconds, now)


def available_since(since: datetime | None, min_ready_seconds: int, now: datetime) -> bool:
    """Whether a pod Ready since ``since`` (None: not Ready) is available at ``now``."""
    if since is None:
        return False
    if min_ready_seconds <= 0 or since == datetime.min:
        return True
    return (now - since).total_seconds() >= min_ready_seconds


def deletion_rank(pod: dict[str, Any]) -> tuple[Any, ...]:
    """Sort key: pods to delete first sort first (controller.ActivePods ordering): unassigned
    before assigned, Pending before Unknown before Running, not ready before ready, more
    restarts first, newer before older."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Pending"), 0)
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or ())
    created = (pod.get("metadata") or {}).get("creationTimestamp") or ""
    return (
        1 if spec.get("nodeName") else 0,
        phase_rank,
        1 if ready_since(pod) is not None else 0,
        -restarts,
        _negated(created),
    )


def _negated(timestamp: str) -> tuple[int, ...]:
    # newer first: invert the characters of an RFC 3339 timestamp (same length, sortable)
    return tuple(-ord(ch) for ch in timestamp)


class PodsByOwner:
    """An index of pods by controller owner uid, fed by store events (an informer's indexer).

    It also remembers each pod version's Ready time (``ready_since``): an owner's
    status counts all its pods at every reconcile, and most of them have not changed since the
    last one, so decoding each every time was the bulk of the ReplicaSet controller's work.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pods: dict[str, set[str]] = defaultdict(set)
        # pod key -> (resourceVersion, its ready_since); dropped when the pod changes
        self._ready: dict[str, tuple[int, datetime | None]] = {}
        store.add_listener(self._on_event, [("", "pods")])

    def _on_event(self, event: StoreEvent) -> None:
        self._ready.pop(event.obj.key, None)  # a new version, or gone
        if event.prev is not None:
            for uid in event.prev.owner_uids:
                self._pods[uid].discard(event.obj.key)
        if event.type != "DELETED":
            for uid in event.obj.owner_uids:
                self._pods[uid].add(event.obj.key)

    def pods(self, owner_uid: str) -> list[StoredObject]:
        out = []
        for key in self._pods.get(owner_uid, ()):
            obj = self.store.get(("", "pods"), key)
            if obj is not None:
                out.append(obj)
        return out

    def ready_since(self, pod: StoredObject) -> datetime | None:
        """``ready_since`` of this stored pod version, decoding each version at most once."""
        cached = self._ready.get(pod.key)
        if cached is not None and cached[0] == pod.rv:
            return cached[1]
        since = ready_since(pod.decode())
        self._ready[pod.key] = (pod.rv, since)
        return since


def decode_all(objs: Iterable[StoredObject]) -> list[dict[str, Any]]:
    return [o.decode() for o in objs]


class PodOwnerController(Controller):
    """A controller of pod owners (ReplicaSets, Jobs): reconciles an owner when it or one of
    its pods changes."""

    owner_key: tuple[str, str] = ("", "")  # storage key of the owner kind

    def __init__(self, api: ObjectAPI, pods: PodsByOwner, component: str) -> None:
        super().__init__(api.store)
        self.api = api
        self.pods = pods
        self.recorder = EventRecorder(api, component)
        self._by_uid: dict[str, str] = {}

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        if event.storage_key == self.owner_key:
            if event.type == "DELETED":
                self._by_uid.pop(event.obj.uid, None)
                return []
            self._by_uid[event.obj.uid] = event.obj.key
            return [event.obj.key]
        if event.storage_key == ("", "pods"):
            uids = set(event.obj.owner_uids)
            if event.prev is not None:
                uids.update(event.prev.owner_uids)
            return [self._by_uid[u] for u in uids if u in self._by_uid]
        return []

    def delete_pod(self, pod: dict[str, Any], ref: ObjectRef, message: str) -> bool:
        """Delete one of the owner's pods and record ``message`` as SuccessfulDelete; False
        when it was already gone."""
        assert PODS is not None
        meta = pod["metadata"]
        try:
            self.api.delete(PODS, meta["namespace"], meta["name"], DeleteOptions())
        except st.StatusError as exc:
            if exc.code != 404:
                raise
            return False
        self.recorder.event(ref, NORMAL, "SuccessfulDelete", message)
        return True


def pods_matching_selectors(
    selectors: dict[str, dict[str, Any]], event: StoreEvent
) -> list[Hashable]:
    """Keys ``namespace/name`` of the selector owners (Services, budgets) in the pod's namespace
    whose selector matches the pod before or after this change."""
    obj = event.obj
    labels = [obj.labels] + ([event.prev.labels] if event.prev is not None else [])
    return [
        f"{obj.namespace}/{name}"
        for name, sel in selectors.get(obj.namespace, {}).items()
        if any(sel.matches(lbl) for lbl in labels)
    ]
