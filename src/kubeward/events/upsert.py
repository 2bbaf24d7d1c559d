"""Deduplicating writes: one row per (cluster, uid), and an older version never wins.

A series bumps the same Event object (count, lastTimestamp / series), and a relist or a resumed
watch replays objects already stored, so every write is an upsert on the dialect's native
``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL alike). The update applies only when
the incoming row is newer: a higher resourceVersion, or, when either side has no numeric
resourceVersion, a last-seen time at least as late. A stale version arriving late is ignored.

The statements are SQLAlchemy Core, compiled once per dialect. What is hand-written is how a
batch reaches the driver, because this is the event center's hot path (ADR 0006, measured by
``benchmarks/event_ingest.py``):

- values are bound by position, each timestamp converted once per distinct value by the
  column type's own bind processor (instead of SQLAlchemy's per-row, per-column processing);
- SQLite: one ``executemany`` of the compiled upsert (one prepared statement, stepped per row);
- PostgreSQL: the batch is ``COPY``-ed (binary) into a temporary staging table and merged with
  one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` (one statement per batch instead of one
  round of parse/bind/execute per row). The staging table lives per connection and empties at
  commit, so a failed batch leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateTable

from kubeward.events.normalize import Row
from kubeward.store.coltypes import UTCDateTime
from kubeward.store.schema import events

_KEY = ("cluster", "uid")
COLUMNS = tuple(c.name for c in events.columns)
_UPDATED = [name for name in COLUMNS if name not in _KEY]
_TIME_COLUMNS = {name for name in COLUMNS if isinstance(events.c[name].type, UTCDateTime)}

# Per connection (temporary), emptied at every commit; the columns of ``events``, with
# integers as BIGINT: psycopg's binary int4 dumper wraps an out-of-range Python int silently,
# while int8 refuses it and the merge's cast to the INTEGER column checks the range.
_stage = Table(
    "kubeward_events_stage",
    MetaData(),
    *(
        Column(
            name, BigInteger() if isinstance(events.c[name].type, Integer) else events.c[name].type
        )
        for name in COLUMNS
    ),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


def is_newer(new: Row, old: Row) -> bool:
    """The rule of the SQL ``WHERE`` below, for rows still in memory."""
    if new["resource_version"] is not None and old["resource_version"] is not None:
        return bool(new["resource_version"] > old["resource_version"])
    return bool(new["last_seen"] >= old["last_seen"])


def _on_conflict(stmt: Any) -> Any:
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


def _copy_type(column: Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, BigInteger):
        return "int8"
    if isinstance(kind, String | Text):
        return "text"
    raise TypeError(f"no COPY type for events.{column.name} ({kind!r}): add it to _copy_type")


_COPY_TYPES = [_copy_type(c) for c in _stage.columns]  # at import: a new column type fails here


class _Plan:
    """One dialect's compiled statements and parameter order."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect.name
        time_type = events.c.last_seen.type.dialect_impl(dialect)
        self.time_processor: Callable[[datetime], Any] | None = time_type.bind_processor(dialect)
        self.sql = ""
        order: tuple[str, ...] = COLUMNS
        if dialect.name == "postgresql":
            self.create_stage = str(
                CreateTable(_stage, if_not_exists=True).compile(dialect=dialect)
            )
            self.copy = f"COPY {_stage.name} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            merge = postgresql.insert(events).from_select(list(COLUMNS), select(*_stage.c))
            self.sql = str(_on_conflict(merge).compile(dialect=dialect))
        else:
            compiled = _on_conflict(sqlite.insert(events)).compile(
                dialect=dialect, column_keys=list(COLUMNS)
            )
            assert compiled.positiontup is not None
            order = tuple(compiled.positiontup)
            assert sorted(order) == sorted(COLUMNS), order
            self.sql = str(compiled)
        self.getter = itemgetter(*order)
        self.times = [i for i, name in enumerate(order) if name in _TIME_COLUMNS]

    def params(self, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        """Each row's values in statement order, timestamps as the column type binds them
        (UTC; ``ValueError`` for a naive datetime), converted once per distinct value."""
        process = self.time_processor
        if process is None:
            return [self.getter(row) for row in rows]
        seen: dict[datetime, Any] = {}
        times = self.times
        result = []
        for row in rows:
            values = list(self.getter(row))
            for i in times:
                value = values[i]
                if value is not None:
                    try:
                        values[i] = seen[value]
                    except KeyError:
                        values[i] = seen[value] = process(value)
            result.append(tuple(values))
        return result


_PLANS: dict[str, _Plan] = {}


def _plan(conn: Connection) -> _Plan:
    plan = _PLANS.get(conn.dialect.name)
    if plan is None:
        plan = _PLANS[conn.dialect.name] = _Plan(conn.dialect)
    return plan


def create_stage(conn: Connection) -> None:
    """Give ``conn`` its PostgreSQL staging table (a no-op on SQLite). The table lasts as long
    as the database session once ``conn``'s transaction commits, so a connection kept for many
    batches makes it once and passes ``staged=True`` (one round trip less per batch)."""
    plan = _plan(conn)
    if plan.dialect == "postgresql":
        conn.exec_driver_sql(plan.create_stage)


def is_stage_missing(exc: DBAPIError) -> bool:
    """The error of a statement that needed the staging table in a session without it."""
    return getattr(exc.orig, "sqlstate", None) == "42P01" and _stage.name in str(exc.orig)


def upsert_events(conn: Connection, rows: Sequence[Row], *, staged: bool = False) -> None:
    """Write ``rows`` (normalised events) in ``conn``'s transaction.

    ``rows`` must hold each (cluster, uid) at most once: PostgreSQL refuses to update one row
    twice in a statement (the writer coalesces its buffer by uid for this). ``staged``: the
    connection's session already has the staging table (see :func:`create_stage`).
    """
    if not rows:
        return
    plan = _plan(conn)
    params = plan.params(rows)
    if plan.dialect == "postgresql":
        if not staged:
            create_stage(conn)
        _copy(conn, plan, params)
        conn.exec_driver_sql(plan.sql)
    else:
        conn.exec_driver_sql(plan.sql, params)


def _copy(conn: Connection, plan: _Plan, params: list[tuple[Any, ...]]) -> None:
    """``COPY`` into the staging table, with driver errors raised as SQLAlchemy's (as
    ``exec_driver_sql`` would: a lost connection is invalidated and reported as such)."""
    import psycopg

    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(plan.copy) as copy:
            copy.set_types(_COPY_TYPES)
            write = copy.write_row
            for values in params:
                write(values)
    except psycopg.Error as exc:
        lost = conn.dialect.is_disconnect(cast(Any, exc), conn.connection.dbapi_connection, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            plan.copy, None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc
