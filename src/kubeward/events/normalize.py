"""One row shape for core/v1 and events.k8s.io/v1 Events.

Kubernetes serves one Event object through both APIs with renamed fields (involvedObject /
regarding, message / note, source / deprecatedSource, count / deprecatedCount, ...), and two
recorders fill different fields (the legacy one: firstTimestamp/lastTimestamp/count; the new one:
eventTime/series). Both shapes of one object normalise to the same row, so they dedupe by uid.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String

from kubeward.store.schema import events

Row = dict[str, Any]

# Column length limits, so an over-long value is cut here instead of failing a whole batch on
# PostgreSQL (SQLite does not enforce VARCHAR lengths).
_LIMITS = {
    c.name: c.type.length
    for c in events.columns
    if isinstance(c.type, String) and c.type.length is not None
}


class EventShapeError(ValueError):
    """Not an Event kubeward can store (names the offending field)."""


def normalize_event(obj: Mapping[str, Any], cluster: str, now: datetime | None = None) -> Row:
    """The ``events`` row for ``obj`` (a core/v1 or events.k8s.io/v1 Event as a dict).

    ``now`` is used only when the event carries no timestamp at all (then it is "seen" at ingest).
    """
    if not isinstance(obj, Mapping):
        raise EventShapeError(f"expected an Event object, got {type(obj).__name__}")
    kind = obj.get("kind")
    if kind not in (None, "Event"):
        raise EventShapeError(f"kind is {kind!r}, not Event")
    meta = obj.get("metadata") or {}
    name = _str(meta.get("name"))
    if not name:
        raise EventShapeError("metadata.name is missing")
    namespace = _str(meta.get("namespace")) or "default"
    # Every event from an API server has a uid; a hand-written one falls back to its name,
    # which is unique among live events.
    uid = _str(meta.get("uid")) or f"{namespace}/{name}"
    rv = _str(meta.get("resourceVersion"))
    is_new_api = "regarding" in obj or "note" in obj or "deprecatedSource" in obj
    api_version = _str(obj.get("apiVersion")) or ("events.k8s.io/v1" if is_new_api else "v1")

    ref = obj.get("involvedObject") or obj.get("regarding") or {}
    related = obj.get("related") or {}
    source = obj.get("source") or obj.get("deprecatedSource") or {}
    series = obj.get("series") or {}

    first_timestamp = _time(obj, "firstTimestamp") or _time(obj, "deprecatedFirstTimestamp")
    last_timestamp = _time(obj, "lastTimestamp") or _time(obj, "deprecatedLastTimestamp")
    event_time = _time(obj, "eventTime")
    series_last = _time(series, "lastObservedTime", "series.")
    created = _time(meta, "creationTimestamp", "metadata.")
    # kubectl's printEvent: first = firstTimestamp, else eventTime; last = series'
    # lastObservedTime, else lastTimestamp, else first.
    first_seen = first_timestamp or event_time or created or now or datetime.now(UTC)
    last_seen = series_last or last_timestamp or first_seen
    count = _int(series.get("count")) if series else None
    count = count or _int(obj.get("count")) or _int(obj.get("deprecatedCount")) or 1

    row: Row = {
        "cluster": cluster,
        "uid": uid,
        "namespace": namespace,
        "name": name,
        "resource_version": int(rv) if rv.isdigit() else None,
        "api_version": api_version,
        **_ref("object", ref),
        "reason": _str(obj.get("reason")),
        "type": _str(obj.get("type")),
        "message": _str(obj.get("message") or obj.get("note")),
        "action": _str(obj.get("action")),
        "reporting_controller": _str(
            obj.get("reportingController")
            or obj.get("reportingComponent")
            or source.get("component")
        ),
        "reporting_instance": _str(obj.get("reportingInstance") or source.get("host")),
        "count": count,
        "first_timestamp": first_timestamp,
        "last_timestamp": last_timestamp,
        "event_time": event_time,
        "series_last_observed": series_last,
        "first_seen": first_seen,
        "last_seen": last_seen,
        **_ref("related", related),
    }
    for column, limit in _LIMITS.items():
        value = row[column]
        if isinstance(value, str) and len(value) > limit:
            row[column] = value[:limit]
    return row


def _ref(prefix: str, ref: Any) -> Row:
    if not isinstance(ref, Mapping):
        raise EventShapeError(f"{prefix} reference is not an object")
    return {
        f"{prefix}_kind": _str(ref.get("kind")),
        f"{prefix}_namespace": _str(ref.get("namespace")),
        f"{prefix}_name": _str(ref.get("name")),
        f"{prefix}_uid": _str(ref.get("uid")),
        f"{prefix}_api_version": _str(ref.get("apiVersion")),
        f"{prefix}_field_path": _str(ref.get("fieldPath")),
    }


def _str(value: Any) -> str:
    if value is None:
        return ""
    # PostgreSQL text cannot hold NUL; a stray one must not fail the batch it is in.
    return str(value).replace("\x00", "")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _time(obj: Mapping[str, Any], field: str, prefix: str = "") -> datetime | None:
    value = obj.get(field)
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise EventShapeError(
                f"{prefix}{field} is {value!r}, not an RFC 3339 time like 2024-05-01T12:00:00Z"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Kubernetes times are UTC
    parsed = parsed.astimezone(UTC)
    # metav1.Time's zero value serialises as null, but some clients send year 1.
    return None if parsed.year <= 1 else parsed
