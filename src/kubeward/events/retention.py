"""Retention: events whose last occurrence is older than the retention period are deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from kubeward.store import Store
from kubeward.store.schema import events


def purge_events(
    store: Store,
    retention: timedelta,
    *,
    now: datetime | None = None,
    cluster: str | None = None,
) -> int:
    """Delete events last seen before ``now - retention``; returns how many were deleted.

    By last-seen time, not first: a series that started long ago but still repeats is current.
    """
    if retention <= timedelta(0):
        raise ValueError(f"retention must be positive, got {retention}")
    cutoff = (now or datetime.now(UTC)) - retention
    stmt = delete(events).where(events.c.last_seen < cutoff)
    if cluster is not None:
        stmt = stmt.where(events.c.cluster == cluster)
    with store.write() as conn:
        return conn.execute(stmt).rowcount
