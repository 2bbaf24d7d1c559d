"""Which fields each resource supports in fieldSelector, and how they are read from an object.

Copied from the field label conversion functions Kubernetes registers per resource; anything else
is rejected with ``field label not supported``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FieldGetter = Callable[[dict[str, Any]], str]


def _path(*keys: str) -> FieldGetter:
    def get(obj: dict[str, Any]) -> str:
        cur: Any = obj
        for k in keys:
            if not isinstance(cur, dict):
                return ""
            cur = cur.get(k)
        if cur is None:
            return ""
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return str(cur)

    return get


_META: dict[str, FieldGetter] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}

_EVENT_FIELDS: dict[str, FieldGetter] = {
    **{
        f"involvedObject.{k}": _path("involvedObject", k)
        for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    },
    "reason": _path("reason"),
    "reportingComponent": _path("reportingComponent"),
    "source": _path("source", "component"),
    "type": _path("type"),
}

# (group, plural) of the storage resource -> extra selectable fields
_EXTRA: dict[tuple[str, str], dict[str, FieldGetter]] = {
    ("", "pods"): {
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "spec.hostNetwork": lambda o: (
            "true" if (o.get("spec") or {}).get("hostNetwork") else "false"
        ),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    ("", "nodes"): {
        "spec.unschedulable": lambda o: (
            "true" if (o.get("spec") or {}).get("unschedulable") else "false"
        ),
    },
    ("", "events"): _EVENT_FIELDS,
    ("", "namespaces"): {"status.phase": _path("status", "phase")},
    ("", "secrets"): {"type": _path("type")},
    ("", "replicationcontrollers"): {"status.replicas": _path("status", "replicas")},
    ("apps", "replicasets"): {"status.replicas": _path("status", "replicas")},
    ("batch", "jobs"): {"status.successful": _path("status", "succeeded")},
    ("", "persistentvolumes"): {},
}


def field_getters(storage_key: tuple[str, str]) -> dict[str, FieldGetter]:
    return {**_META, **_EXTRA.get(storage_key, {})}


_NONE: dict[str, FieldGetter] = {}  # resources with no selectable fields beyond metadata


def resource_fields(storage_key: tuple[str, str], obj: dict[str, Any]) -> dict[str, str]:
    """The non-empty values of ``obj``'s selectable fields beyond metadata.name/namespace (which
    a store keeps anyway). Called for every object written, so it skips the merged mapping."""
    result = {}
    for name, get in _EXTRA.get(storage_key, _NONE).items():
        value = get(obj)
        if value:
            result[name] = value
    return result
