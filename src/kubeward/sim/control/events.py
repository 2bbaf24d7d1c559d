"""Events as Kubernetes components record them, written through the simulator's API.

Two recorders exist in Kubernetes and both are modelled:
- the legacy ``record.EventRecorder`` (kubelet, most kube-controller-manager controllers): a
  core/v1 Event named ``<object>.<hex nanoseconds>`` with ``source``, ``firstTimestamp``,
  ``lastTimestamp`` and ``count``; an identical repeat (same object, reason and message) bumps
  ``count`` and ``lastTimestamp`` of the existing Event instead of creating one; a token bucket
  per (component, object) drops spam (burst 25, one token per 5 minutes); from the tenth
  different message of one object, type and reason within 10 minutes, the events are combined
  into one, ``(combined from similar events): <latest message>``, whose count goes up
  (client-go's EventAggregator: a ReplicaSet creating many pods);
- the ``events.k8s.io/v1`` recorder (kube-scheduler): ``eventTime``, ``action``,
  ``reportingController``, and repeats grouped into ``series`` instead of ``count``.

A recorder never fails its caller: an event that cannot be written (namespace terminating,
object gone) is dropped, as client-go drops it after logging.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.store.objects import StoredObject

log = logging.getLogger("kubeward.sim.events")

EVENTS = REGISTRY.get("", "v1", "events")
NORMAL = "Normal"
WARNING = "Warning"

# client-go's defaults (tools/record/events_cache.go)
_SPAM_BURST = 25
_SPAM_REFILL_SECONDS = 300.0
_CACHE_LIMIT = 4096
_AGGREGATE_MAX_EVENTS = 10
_AGGREGATE_INTERVAL_SECONDS = 600.0
COMBINED_PREFIX = "(combined from similar events): "

# kind -> apiVersion for involvedObject references
_API_VERSIONS = {
    "Pod": "v1",
    "Node": "v1",
    "Service": "v1",
    "Endpoints": "v1",
    "Namespace": "v1",
    "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
}


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The ``involvedObject`` / ``regarding`` of an event."""

    kind: str
    namespace: str
    name: str
    uid: str = ""
    api_version: str = ""
    resource_version: str = ""
    field_path: str = ""

    @classmethod
    def of(
        cls, obj: dict[str, Any] | StoredObject, kind: str = "", field_path: str = ""
    ) -> ObjectRef:
        """A reference to a decoded object (its ``kind`` is used) or a stored one (pass kind)."""
        if isinstance(obj, StoredObject):
            if not kind:
                raise ValueError("ObjectRef.of(StoredObject) needs kind=")
            return cls(
                kind,
                obj.namespace,
                obj.name,
                obj.uid,
                _API_VERSIONS.get(kind, ""),
                str(obj.rv),
                field_path,
            )
        meta = obj.get("metadata") or {}
        kind = kind or obj.get("kind", "")
        return cls(
            kind,
            meta.get("namespace", ""),
            meta.get("name", ""),
            meta.get("uid", ""),
            obj.get("apiVersion") or _API_VERSIONS.get(kind, ""),
            str(meta.get("resourceVersion", "")),
            field_path,
        )

    def as_dict(self) -> dict[str, str]:
        out = {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "apiVersion": self.api_version,
            "resourceVersion": self.resource_version,
            "fieldPath": self.field_path,
        }
        return {k: v for k, v in out.items() if v}


@dataclass(slots=True)
class _Similar:
    """EventAggregator's record: the messages of one object, type and reason lately seen."""

    messages: set[str]
    last: float  # simulated seconds


@dataclass(slots=True)
class _Seen:
    name: str
    namespace: str
    count: int


class EventRecorder:
    """Records events for one component instance (e.g. ``kubelet`` on ``node-3``).

    ``series=True`` selects the events.k8s.io/v1 style (kube-scheduler); otherwise the legacy
    core/v1 style.
    """

    def __init__(
        self,
        api: ObjectAPI,
        component: str,
        host: str = "",
        *,
        series: bool = False,
    ) -> None:
        assert EVENTS is not None
        self.api = api
        self.component = component
        self.host = host
        self.series = series
        self._seen: dict[tuple[Any, ...], _Seen] = {}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # tokens, last sim time
        self._similar: dict[tuple[Any, ...], _Similar] = {}
        self.dropped = 0

    def event(
        self,
        ref: ObjectRef,
        type_: str,
        reason: str,
        message: str,
        *,
        action: str = "",
        host: str = "",
        related: ObjectRef | None = None,
    ) -> None:
        """Record one occurrence. ``host`` overrides the recorder's host (one fleet recorder can
        speak for many kubelets); ``related`` is a second object the event is about (the
        preemptor of a Preempted pod)."""
        host = host or self.host
        if not self._allow(ref, host):
            self.dropped += 1
            return
        key = (
            ref.kind,
            ref.namespace,
            ref.name,
            ref.uid,
            ref.field_path,
            type_,
            reason,
            message,
            host,
        )
        if not self.series:
            similar = (
                ref.kind,
                ref.namespace,
                ref.name,
                ref.uid,
                ref.api_version,
                type_,
                reason,
                host,
            )
            if self._combine(similar, message):
                message = COMBINED_PREFIX + message
                key = (*similar, COMBINED_PREFIX)  # one combined event, whatever the message
        try:
            seen = self._seen.get(key)
            if seen is not None and self._bump(seen, message):
                return
            self._create(key, ref, type_, reason, message, action, host, related)
        except st.StatusError as exc:
            log.debug(
                "event dropped reason=%s object=%s/%s: %s",
                reason,
                ref.namespace,
                ref.name,
                exc.reason,
            )

    def _allow(self, ref: ObjectRef, host: str) -> bool:
        bucket_key = (
            f"{self.component}/{host}",
            ref.uid or f"{ref.kind}/{ref.namespace}/{ref.name}",
        )
        now = self.api.clock.elapsed()
        tokens, last = self._buckets.get(bucket_key, (float(_SPAM_BURST), now))
        tokens = min(float(_SPAM_BURST), tokens + (now - last) / _SPAM_REFILL_SECONDS)
        if tokens < 1:
            self._buckets[bucket_key] = (tokens, now)
            return False
        self._buckets[bucket_key] = (tokens - 1, now)
        if len(self._buckets) > 4 * _CACHE_LIMIT:
            self._buckets.clear()  # bounded memory; forgetting a bucket only refills it early
        return True

    def _combine(self, similar: tuple[Any, ...], message: str) -> bool:
        """EventAggregate: whether this is the tenth or later different message of its object,
        type and reason (``similar``) within the interval."""
        now = self.api.clock.elapsed()
        record = self._similar.get(similar)
        if record is None or now - record.last > _AGGREGATE_INTERVAL_SECONDS:
            if len(self._similar) >= _CACHE_LIMIT:
                self._similar.pop(next(iter(self._similar)))  # bounded, as client-go's LRU
            record = self._similar[similar] = _Similar(set(), now)
        record.messages.add(message)
        record.last = now
        if len(record.messages) < _AGGREGATE_MAX_EVENTS:
            return False
        record.messages.pop()  # never grow past the threshold
        return True

    def _bump(self, seen: _Seen, message: str) -> bool:
        assert EVENTS is not None
        current = self.api.store.get(EVENTS.storage_key, f"{seen.namespace}/{seen.name}")
        if current is None:
            return False
        obj = current.decode()
        seen.count += 1
        if self.series:
            obj["series"] = {
                "count": seen.count,
                "lastObservedTime": self.api.clock.timestamp_micro(),
            }
        else:
            obj["count"] = seen.count
            obj["lastTimestamp"] = self.api.clock.timestamp()
            obj["message"] = message[:1024]  # a combined event shows the latest message
        self.api.update(EVENTS, seen.namespace, seen.name, obj)
        return True

    def _create(
        self,
        key: tuple[Any, ...],
        ref: ObjectRef,
        type_: str,
        reason: str,
        message: str,
        action: str,
        host: str,
        related: ObjectRef | None = None,
    ) -> None:
        assert EVENTS is not None
        namespace = ref.namespace or "default"
        name = f"{ref.name}.{time.time_ns():x}"
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref.as_dict(),
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "reportingComponent": self.component,
            "reportingInstance": host,
        }
        if related is not None:
            event["related"] = related.as_dict()
        if self.series:
            event.update(
                eventTime=self.api.clock.timestamp_micro(),
                action=action or reason,
                firstTimestamp=None,
                lastTimestamp=None,
            )
            event["reportingInstance"] = f"{self.component}-{host}" if host else self.component
        else:
            now = self.api.clock.timestamp()
            event.update(
                source={"component": self.component, **({"host": host} if host else {})},
                firstTimestamp=now,
                lastTimestamp=now,
                count=1,
                eventTime=None,
            )
        self.api.create(EVENTS, namespace, event)
        if len(self._seen) >= _CACHE_LIMIT:
            self._seen.pop(next(iter(self._seen)))  # oldest first: dicts keep insertion order
        self._seen[key] = _Seen(name, namespace, 1)
