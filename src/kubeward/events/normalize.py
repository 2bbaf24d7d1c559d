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
    # The ingest hot path (once per watch delivery): plain dict lookups and one pass per field;
    # benchmarks/event_ingest.py measures it.
    if not isinstance(obj, Mapping):
        raise EventShapeError(f"expected an Event object, got {type(obj).__name__}")
    get = obj.get
    kind = get("kind")
    if kind is not None and kind != "Event":
        raise EventShapeError(f"kind is {kind!r}, not Event")
    meta = get("metadata") or {}
    name = _str(meta.get("name"), _NAME)
    if not name:
        raise EventShapeError("metadata.name is missing")
    namespace = _str(meta.get("namespace"), _NAMESPACE) or "default"
    # Every event from an API server has a uid; a hand-written one falls back to its name,
    # which is unique among live events.
    uid = _str(meta.get("uid")) or f"{namespace}/{name}"
    if len(uid) > _UID:
        uid = uid[:_UID]
    rv = _str(meta.get("resourceVersion"))
    api_version = _str(get("apiVersion"), _API_VERSION)
    if not api_version:
        is_new_api = "regarding" in obj or "note" in obj or "deprecatedSource" in obj
        api_version = "events.k8s.io/v1" if is_new_api else "v1"

    ref = get("involvedObject") or get("regarding") or {}
    related = get("related") or {}
    source = get("source") or get("deprecatedSource") or {}
    series = get("series") or {}

    first_timestamp = _time(obj, "firstTimestamp") or _time(obj, "deprecatedFirstTimestamp")
    last_timestamp = _time(obj, "lastTimestamp") or _time(obj, "deprecatedLastTimestamp")
    event_time = _time(obj, "eventTime")
    series_last = _time(series, "lastObservedTime", "series.")
    # kubectl's printEvent: first = firstTimestamp, else eventTime; last = series'
    # lastObservedTime, else lastTimestamp, else first.
    created = _time(meta, "creationTimestamp", "metadata.")
    first_seen = first_timestamp or event_time or created or now or datetime.now(UTC)
    last_seen = series_last or last_timestamp or first_seen
    count = _int(series.get("count")) if series else None
    count = count or _int(get("count")) or _int(get("deprecatedCount")) or 1

    row: Row = {
        "cluster": cluster,
        "uid": uid,
        "namespace": namespace,
        "name": name,
        "resource_version": int(rv) if rv.isdigit() else None,
        "api_version": api_version,
    }
    _ref(row, "object", ref)
    row["reason"] = _str(get("reason"), _REASON)
    row["type"] = _str(get("type"), _TYPE)
    row["message"] = _str(get("message") or get("note"))
    row["action"] = _str(get("action"), _ACTION)
    row["reporting_controller"] = _str(
        get("reportingController") or get("reportingComponent") or source.get("component"),
        _CONTROLLER,
    )
    row["reporting_instance"] = _str(get("reportingInstance") or source.get("host"), _INSTANCE)
    row["count"] = count
    row["first_timestamp"] = first_timestamp
    row["last_timestamp"] = last_timestamp
    row["event_time"] = event_time
    row["series_last_observed"] = series_last
    row["first_seen"] = first_seen
    row["last_seen"] = last_seen
    _ref(row, "related", related)
    if len(cluster) > _CLUSTER:
        row["cluster"] = cluster[:_CLUSTER]
    return row


_NAME, _NAMESPACE, _UID, _API_VERSION, _CLUSTER = (
    _LIMITS[c] for c in ("name", "namespace", "uid", "api_version", "cluster")
)
_REASON, _TYPE, _ACTION, _CONTROLLER, _INSTANCE = (
    _LIMITS[c] for c in ("reason", "type", "action", "reporting_controller", "reporting_instance")
)
# Both references have the same columns and limits (object_* and related_*).
_REF_KIND, _REF_NAMESPACE, _REF_NAME, _REF_UID, _REF_API_VERSION = (
    _LIMITS[f"object_{c}"] for c in ("kind", "namespace", "name", "uid", "api_version")
)
assert all(
    _LIMITS[f"related_{c}"] == _LIMITS[f"object_{c}"]
    for c in ("kind", "namespace", "name", "uid", "api_version")
)
# Every length-limited column is cut above (a new one must be added there too).
assert set(_LIMITS) == {
    "cluster", "uid", "namespace", "name", "api_version", "reason", "type", "action",
    "reporting_controller", "reporting_instance",
    *(f"{p}_{c}" for p in ("object", "related")
      for c in ("kind", "namespace", "name", "uid", "api_version")),
}, sorted(_LIMITS)  # fmt: skip


# (field of the reference, row column suffix, length limit): one table for both references.
_REF_FIELDS = (
    ("kind", "_kind", _REF_KIND),
    ("namespace", "_namespace", _REF_NAMESPACE),
    ("name", "_name", _REF_NAME),
    ("uid", "_uid", _REF_UID),
    ("apiVersion", "_api_version", _REF_API_VERSION),
    ("fieldPath", "_field_path", 0),
)
# The row's column names per prefix, built once (this runs twice per ingested event).
_REF_COLUMNS = {
    prefix: tuple((field, prefix + suffix, limit) for field, suffix, limit in _REF_FIELDS)
    for prefix in ("object", "related")
}


def _ref(row: Row, prefix: str, ref: Any) -> None:
    if not isinstance(ref, Mapping):
        raise EventShapeError(f"{prefix} reference is not an object")
    get = ref.get
    for field, column, limit in _REF_COLUMNS[prefix]:
        row[column] = _str(get(field), limit)


def _str(value: Any, limit: int = 0) -> str:
    """``value`` as text without NUL (PostgreSQL text cannot hold it: a stray one must not fail
    the batch it is in), cut to ``limit`` characters when given."""
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    if limit and len(text) > limit:
        text = text[:limit]
    return text


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# Parsed timestamps by their text: a watch stream repeats the same second-precision times
# (creation, first and last timestamps of one burst) over and over.
_TIMES: dict[str, datetime | None] = {}
_TIMES_MAX = 4096


def _time(obj: Mapping[str, Any], field: str, prefix: str = "") -> datetime | None:
    value = obj.get(field)
    if value is None or value == "":
        return None
    if type(value) is str:
        try:
            return _TIMES[value]
        except KeyError:
            pass
        parsed = _parse_time(value, field, prefix)
        if len(_TIMES) >= _TIMES_MAX:
            _TIMES.clear()
        _TIMES[value] = parsed
        return parsed
    return _parse_time(value, field, prefix)


def _parse_time(value: Any, field: str, prefix: str) -> datetime | None:
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
