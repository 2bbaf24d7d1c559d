"""Turning Kubernetes field values into what kube-state-metrics exposes.

- label values escaped for the Prometheus text format once, when a row is built, so rendering
  never has to look at them again;
- timestamps as Unix seconds (Go's ``Time.Unix()``: whole seconds, rounded down);
- resource quantities in base units with KSM's ``resource``/``unit`` labels, following its
  ``pod.go`` / ``node.go`` rules (which differ: pods use ``Value()`` for bytes, nodes
  ``MilliValue()/1000`` for everything).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any

from kubeward.kube.quantity import QuantityError, to_int, to_milli

_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

CORE, BYTE, INTEGER = "core", "byte", "integer"  # KSM's constant.UnitCore/UnitByte/UnitInteger


def esc(value: object) -> str:
    """A label value for the text format: ``\\``, ``"`` and newlines escaped; None -> ""."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or '"' in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return text


# Go's zero time.Time as Unix seconds: what KSM exposes for a timestamp field that a present
# struct (a container state, a condition) leaves unset.
GO_ZERO_UNIX = -62135596800


def unix_seconds(timestamp: object) -> int | None:
    """RFC 3339 (``2024-05-01T10:00:00Z``) to Unix seconds; None when absent or unparseable."""
    if not isinstance(timestamp, str) or not timestamp:
        return None
    return _parse_unix(timestamp)


@lru_cache(maxsize=16384)
def _parse_unix(timestamp: str) -> int | None:
    # Cached: the pods of one rollout share their seconds, and a pod carries several stamps.
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() // 1)
    except ValueError:
        return None


def go_unix(timestamp: object) -> int:
    """``metav1.Time.Unix()`` of a field inside a present struct: Go's zero time when unset."""
    seconds = unix_seconds(timestamp)
    return GO_ZERO_UNIX if seconds is None else seconds


def sanitize(name: str) -> str:
    """KSM's ``sanitizeLabelName``: ``ephemeral-storage`` -> ``ephemeral_storage``."""
    return _INVALID_LABEL_CHARS.sub("_", name)


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _is_extended(name: str) -> bool:
    """``v1helper.IsExtendedResourceName``: e.g. ``nvidia.com/gpu``."""
    if _is_native(name) or name.startswith("requests."):
        return False
    prefix, _, short = f"requests.{name}".rpartition("/")
    return (
        len(prefix) <= 253
        and bool(_DNS_SUBDOMAIN.match(prefix))
        and len(short) <= 63
        and bool(_QUALIFIED_NAME.match(short))
    )


def _unit(name: str, *, node: bool) -> str | None:
    """The KSM unit of a resource name, or None when KSM does not expose it."""
    if name == "cpu":
        return CORE
    if name in ("memory", "storage", "ephemeral-storage"):
        return BYTE
    if node and name == "pods":
        return INTEGER
    if name.startswith(("hugepages-", "attachable-volumes-")):
        return BYTE
    if _is_extended(name):
        return INTEGER
    return None


@lru_cache(maxsize=16384)
def container_resource(name: str, quantity: str) -> tuple[str, str, float] | None:
    """(resource, unit, value) of a container request/limit as ``kube_pod_container_resource_*``
    shows it: cpu in cores (``MilliValue()/1000``), everything else ``Value()`` (rounded up)."""
    unit = _unit(name, node=False)
    if unit is None:
        return None
    try:
        value = to_milli(quantity) / 1000 if unit == CORE else float(to_int(quantity))
    except (QuantityError, TypeError, ValueError):
        return None
    return sanitize(name), unit, value


@lru_cache(maxsize=16384)
def node_resource(name: str, quantity: str) -> tuple[str, str, float] | None:
    """(resource, unit, value) of a node capacity/allocatable entry: ``MilliValue()/1000``."""
    unit = _unit(name, node=True)
    if unit is None:
        return None
    try:
        value = to_milli(quantity) / 1000
    except (QuantityError, TypeError, ValueError):
        return None
    return sanitize(name), unit, value


# resource.MaxMilliValue: above it MilliValue() would overflow int64.
_MAX_MILLI_VALUE = (2**63 - 1) // 1000


@lru_cache(maxsize=4096)
def quantity_value(quantity: str) -> float | None:
    """A quantity as KSM's ``convertValueToFloat64`` gives it (HPA metric targets, quota hard
    and used): ``MilliValue()/1000`` (``"500m"`` -> 0.5), or ``Value()`` when that would
    overflow."""
    try:
        whole = to_int(quantity)
        return float(whole) if whole > _MAX_MILLI_VALUE else to_milli(quantity) / 1000
    except (QuantityError, TypeError, ValueError):
        return None


def condition_status(status: object) -> str:
    """A condition's status lower-cased as KSM's ``condition``/``status`` label compares it."""
    return status.lower() if isinstance(status, str) else ""


NONE = "<none>"  # KSM's value for a missing controller / owner
# The columns of an ``*_owners`` child table, one row per :func:`owner_rows` entry.
OWNER_COLUMNS = "owner_kind:dict owner_name:dict owner_is_controller:dict"


def owner_rows(obj: dict[str, Any], missing: str) -> list[tuple[str, str, str]]:
    """``(owner_kind, owner_name, owner_is_controller)`` per ownerReference; an object without
    any has one row of ``missing`` (KSM: ``<none>`` for pods and ReplicaSets, empty for Jobs)."""
    owners = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return [
        (esc(o.get("kind")), esc(o.get("name")), "true" if o.get("controller") else "false")
        for o in owners
    ] or [(missing, missing, missing)]
