"""The ingest hot path (ADR 0006) stores exactly what SQLAlchemy's own binding would.

``upsert_events`` binds by position and converts timestamps itself (SQLite) or COPYs through a
staging table (PostgreSQL); the writer skips a version it already took (both Event APIs deliver
every version). These tests hold that to the plain SQLAlchemy Core path, on both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from test_event_store import T0, core_event, new_event

from kubeward.events import EventWriter, normalize_event, upsert_events
from kubeward.events.upsert import COLUMNS
from kubeward.store import Store, open_store
from kubeward.store.schema import events
from postgres_fixture import postgres_server  # noqa: F401  (fixture)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


def varied_rows() -> list[dict[str, Any]]:
    """Both shapes, series, missing and sub-second timestamps, long and odd strings."""
    objs: list[dict[str, Any]] = [
        core_event(1, rv=10, count=3, last=T0 + timedelta(minutes=5)),
        new_event(2, rv=11, series=4, when=T0 + timedelta(microseconds=123_456)),
        new_event(3, rv=12),
        core_event(4, message="x" * 5000 + "\x00end", reason="R" * 300),
        {**core_event(5, rv=13), "firstTimestamp": "2025-03-01T14:00:00+02:00"},
        {"metadata": {"name": "bare.1", "namespace": "ns"}, "reason": "Bare", "message": "m"},
    ]
    now = T0 + timedelta(hours=1)
    return [normalize_event(obj, "c", now=now) for obj in objs]


def test_stored_rows_equal_sqlalchemy_core_binding(store: Store) -> None:
    rows = varied_rows()
    with store.write() as conn:
        upsert_events(conn, rows)
    with store.read() as conn:
        fast = {r["uid"]: dict(r) for r in conn.execute(select(events)).mappings()}
        raw_fast = conn.execute(text("SELECT * FROM events ORDER BY uid")).all()
    with store.write() as conn:
        conn.execute(events.delete())
        conn.execute(events.insert(), rows)  # SQLAlchemy's own per-column binding
    with store.read() as conn:
        core = {r["uid"]: dict(r) for r in conn.execute(select(events)).mappings()}
        raw_core = conn.execute(text("SELECT * FROM events ORDER BY uid")).all()
    assert fast == core
    # Byte for byte as stored (SQLite keeps times as text: same format, so same ordering).
    assert raw_fast == raw_core
    assert set(COLUMNS) == {c.name for c in events.columns}


def test_naive_datetimes_are_refused(store: Store) -> None:
    row = varied_rows()[0]
    row["last_seen"] = datetime(2025, 3, 1, 12, 0)  # no tzinfo
    with pytest.raises(ValueError, match="naive datetime"), store.write() as conn:
        upsert_events(conn, [row])


def test_postgres_staging_table_is_empty_after_commit_and_failure(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL only: SQLite upserts without a staging table")
    rows = varied_rows()
    with store.engine.connect() as conn:
        with conn.begin():
            upsert_events(conn, rows[:3])
            upsert_events(conn, rows[3:])  # twice in one transaction: table reused
        with conn.begin():
            assert conn.execute(text("SELECT count(*) FROM kubeward_events_stage")).scalar() == 0
        bad = {**rows[0], "uid": "bad", "count": 2**40}  # does not fit INTEGER: the batch fails
        with pytest.raises(Exception, match="out of range"), conn.begin():
            upsert_events(conn, [rows[1], bad])
        with conn.begin():  # the same connection is usable, the failed batch left nothing
            upsert_events(conn, rows[:1])
            assert conn.execute(text("SELECT count(*) FROM kubeward_events_stage")).scalar() == 1
    with store.read() as conn:
        assert conn.execute(select(events.c.uid).where(events.c.uid == "bad")).all() == []
        assert len(conn.execute(select(events.c.uid)).all()) == len(rows)


def both_shapes(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` (core/v1, from the legacy recorder) as events.k8s.io/v1 serves it."""
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": obj["metadata"],
        "regarding": obj["involvedObject"],
        "note": obj["message"],
        "reason": obj["reason"],
        "type": obj["type"],
        "deprecatedSource": obj["source"],
        "deprecatedFirstTimestamp": obj["firstTimestamp"],
        "deprecatedLastTimestamp": obj["lastTimestamp"],
        "deprecatedCount": obj["count"],
    }


def stored(store: Store) -> dict[str, tuple[int, int, str]]:
    with store.read() as conn:
        rows = conn.execute(
            select(events.c.uid, events.c.count, events.c.resource_version, events.c.api_version)
        ).all()
    return {uid: (count, rv, api) for uid, count, rv, api in rows}


def test_writer_skips_the_second_delivery_of_a_version(store: Store) -> None:
    writer = EventWriter(store, cluster="c", batch_size=2, flush_interval=3600)
    first = core_event(1, rv=5, count=1)
    writer.add(first)
    writer.add(both_shapes(first))  # same version through the other API, still buffered
    writer.add(core_event(2, rv=6))
    writer.add(core_event(3, rv=7))  # the batch of 2 was written
    writer.add(both_shapes(core_event(2, rv=6)))  # same version, already written
    assert writer.repeats == 2
    bumped = core_event(1, rv=8, count=2, last=T0 + timedelta(minutes=1))
    writer.add(both_shapes(bumped))  # a newer version is never skipped
    writer.add(bumped)
    writer.add(core_event(1, rv=5, count=1))  # stale: not skipped, but never wins
    assert writer.close()
    assert writer.repeats == 3
    assert stored(store) == {
        "uid-1": (2, 8, "events.k8s.io/v1"),
        "uid-2": (1, 6, "v1"),
        "uid-3": (1, 7, "v1"),
    }


def test_writer_takes_a_dropped_version_again(tmp_path: Any) -> None:
    """A version dropped by overflow is not remembered as taken: its repeat is buffered."""
    store = open_store(str(tmp_path / "k.db"))
    writer = EventWriter(store, cluster="c", buffer_limit=2, batch_size=10, flush_interval=3600)
    writer.add(core_event(1, rv=1))
    writer.add(core_event(2, rv=2))
    writer.add(core_event(3, rv=3))  # full: uid-1 dropped
    assert writer.dropped == 1
    writer.add(both_shapes(core_event(1, rv=1)))  # uid-1 again: taken (uid-2 dropped now)
    writer.add(both_shapes(core_event(3, rv=3)))  # a repeat of a buffered version: skipped
    assert (writer.repeats, writer.dropped) == (1, 2)
    assert writer.close()
    assert set(stored(store)) == {"uid-1", "uid-3"}
    store.close()
