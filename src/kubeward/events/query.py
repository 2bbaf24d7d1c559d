"""Reading events back: filters, newest first, and counts by type and reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from kubeward.kube.registry import REGISTRY
from kubeward.store import Store
from kubeward.store.schema import events


@dataclass(frozen=True)
class EventFilter:
    """Each set field narrows the result; ``since``/``until`` bound the last-seen time."""

    cluster: str | None = None
    namespace: str | None = None
    kind: str | None = None
    name: str | None = None
    reason: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, stmt: Select[Any]) -> Select[Any]:
        c = events.c
        for column, value in (
            (c.cluster, self.cluster),
            (c.namespace, self.namespace),
            (c.object_kind, canonical_kind(self.kind) if self.kind else None),
            (c.object_name, self.name),
            (c.reason, self.reason),
            (c.type, self.type),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if self.since is not None:
            stmt = stmt.where(c.last_seen >= self.since)
        if self.until is not None:
            stmt = stmt.where(c.last_seen <= self.until)
        return stmt


def canonical_kind(text: str) -> str:
    """``pod``, ``pods``, ``po`` and ``Pod`` all mean Kind ``Pod`` (as kubectl reads them);
    anything unknown (e.g. a custom resource's Kind) is taken as an exact Kind."""
    lowered = text.lower()
    for rt in REGISTRY:
        if lowered in (rt.kind.lower(), rt.plural, *rt.short_names):
            return rt.kind
    return text


def list_events(store: Store, flt: EventFilter, limit: int | None = 100) -> list[dict[str, Any]]:
    """Matching events as row dicts, newest (by last seen) first.

    Equal last-seen times (core/v1 timestamps have whole seconds) come in the order the API
    server wrote them, the newest first: by resourceVersion, then by cluster and uid so the
    order is stable.
    """
    c = events.c
    stmt = flt.apply(select(events)).order_by(
        c.last_seen.desc(), c.resource_version.desc().nulls_last(), c.cluster, c.uid
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    with store.read() as conn:
        return [dict(row) for row in conn.execute(stmt).mappings()]


@dataclass(frozen=True)
class ReasonCount:
    type: str
    reason: str
    events: int  # stored Event objects
    occurrences: int  # sum of their counts (a series of 40 repeats is 1 event, 40 occurrences)


def stats(store: Store, flt: EventFilter) -> list[ReasonCount]:
    """Counts by (type, reason), most occurrences first."""
    occurrences = func.sum(events.c.count)
    stmt = flt.apply(
        select(events.c.type, events.c.reason, func.count(), occurrences)
        .group_by(events.c.type, events.c.reason)
        .order_by(occurrences.desc(), events.c.type, events.c.reason)
    )
    with store.read() as conn:
        return [ReasonCount(t, r, int(n), int(o)) for t, r, n, o in conn.execute(stmt)]
