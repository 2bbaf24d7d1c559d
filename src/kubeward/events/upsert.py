"""Deduplicating writes: one row per (cluster, uid), and an older version never wins.

A series bumps the same Event object (count, lastTimestamp / series), and a relist or a resumed
watch replays objects already stored, so every write is an upsert on the dialect's native
``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL alike). The update applies only when
the incoming row is newer: a higher resourceVersion, or, when either side has no numeric
resourceVersion, a last-seen time at least as late. A stale version arriving late is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, or_
from sqlalchemy.dialects import postgresql, sqlite

from kubeward.events.normalize import Row
from kubeward.store.schema import events

_KEY = ("cluster", "uid")
_UPDATED = [c.name for c in events.columns if c.name not in (*_KEY, "id")]


def is_newer(new: Row, old: Row) -> bool:
    """The rule of the SQL ``WHERE`` below, for rows still in memory."""
    if new["resource_version"] is not None and old["resource_version"] is not None:
        return bool(new["resource_version"] > old["resource_version"])
    return bool(new["last_seen"] >= old["last_seen"])


def _statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(events)
    new, old = stmt.excluded, events.c
    newer = or_(
        and_(
            new.resource_version.is_not(None),
            old.resource_version.is_not(None),
            new.resource_version > old.resource_version,
        ),
        and_(
            or_(new.resource_version.is_(None), old.resource_version.is_(None)),
            new.last_seen >= old.last_seen,
        ),
    )
    return stmt.on_conflict_do_update(
        index_elements=[events.c[k] for k in _KEY],
        set_={name: new[name] for name in _UPDATED},
        where=newer,
    )


_STATEMENTS = {name: _statement(name) for name in ("sqlite", "postgresql")}


def upsert_events(conn: Connection, rows: Sequence[Row]) -> None:
    """Write ``rows`` (normalised events) in ``conn``'s transaction.

    ``rows`` must hold each (cluster, uid) at most once: PostgreSQL refuses to update one row
    twice in a statement (the writer coalesces its buffer by uid for this).
    """
    if rows:
        conn.execute(_STATEMENTS[conn.dialect.name], list(rows))
