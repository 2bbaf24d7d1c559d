"""The ingest writer: batching, coalescing, store outages, bounded buffer, resume points."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select, text
from test_event_store import core_event, new_event

from kubeward.events import EventFilter, EventWriter, list_events
from kubeward.events.writer import is_store_down
from kubeward.store import Store, open_store
from kubeward.store.schema import events
from postgres_fixture import PostgresServer, postgres_server  # noqa: F401  (fixture)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


def stored(store: Store) -> dict[str, int]:
    """uid -> count, asserting one row per uid."""
    with store.read() as conn:
        rows = conn.execute(select(events.c.uid, events.c.count)).all()
        distinct = conn.execute(select(func.count(events.c.uid.distinct()))).scalar_one()
    assert distinct == len(rows)
    return {uid: count for uid, count in rows}


def metric(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name)


def test_batches_coalesce_by_uid_keeping_the_newest(store: Store) -> None:
    registry = CollectorRegistry()
    writer = EventWriter(store, batch_size=1000, flush_interval=3600, registry=registry)
    writer.add(core_event(1, rv=5, count=1))
    writer.add(core_event(1, rv=9, count=4))
    writer.add(core_event(1, rv=7, count=3))  # stale: dropped from the buffer, not counted
    writer.add(new_event(2, rv=3, series=2))
    assert writer.buffered == 2
    assert stored(store) == {}  # nothing written before a batch fills or the interval passes
    assert writer.flush()
    assert stored(store) == {"uid-1": 4, "uid-2": 2}
    assert (writer.written, writer.dropped) == (2, 0)
    assert metric(registry, "kubeward_events_written_total") == 2
    assert metric(registry, "kubeward_events_buffered") == 0
    assert metric(registry, "kubeward_events_store_up") == 1
    assert metric(registry, "kubeward_events_dropped_total") == 0


def test_auto_flush_on_batch_size_and_interval(store: Store) -> None:
    clock = FakeClock()
    writer = EventWriter(store, batch_size=10, flush_interval=5, clock=clock)
    writer.add_many(core_event(i, rv=i + 1) for i in range(25))
    assert len(stored(store)) == 20 and writer.buffered == 5
    clock.now += 6
    writer.add(core_event(99, rv=200))
    assert len(stored(store)) == 26 and writer.buffered == 0


def test_resume_point_is_written_with_the_events_it_covers(store: Store) -> None:
    writer = EventWriter(store, cluster="prod", batch_size=3, flush_interval=3600)
    writer.add_many([core_event(1, rv=1), core_event(2, rv=2)])
    writer.set_resume_version("events", "2")
    assert store.get_resume_version("prod", "events") is None  # events 1, 2 not stored yet
    writer.add(core_event(3, rv=3))  # third event: batch full, flushed with the resume point
    assert store.get_resume_version("prod", "events") == "2"
    assert len(stored(store)) == 3
    writer.set_resume_version("events", "3")
    assert writer.close()
    assert store.get_resume_version("prod", "events") == "3"


def test_statement_errors_are_raised_not_buffered(store: Store) -> None:
    writer = EventWriter(store, flush_interval=3600)
    writer.add(core_event(1))
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE events"))
    with pytest.raises(Exception, match="events") as info:
        writer.flush()
    assert not is_store_down(info.value)  # type: ignore[arg-type]
    assert not writer.store_down


def test_writer_retention(store: Store) -> None:
    clock = FakeClock()
    old = core_event(1, first=datetime.now(UTC) - timedelta(days=9))
    writer = EventWriter(
        store, retention=timedelta(days=7), purge_interval=60, clock=clock, flush_interval=3600
    )
    writer.add(old)
    writer.add(core_event(2, first=datetime.now(UTC)))
    writer.flush()  # writes both, then purges: the old one goes
    assert set(stored(store)) == {"uid-2"} and writer.purged == 1
    writer.add(old)
    writer.flush()  # within purge_interval: kept for now
    assert set(stored(store)) == {"uid-1", "uid-2"}
    clock.now += 61
    writer.flush()
    assert set(stored(store)) == {"uid-2"} and writer.purged == 2


def test_concurrent_add_and_flush_lose_nothing(store: Store) -> None:
    writer = EventWriter(store, auto_flush=False, batch_size=200)
    done = threading.Event()

    def flusher() -> None:
        while not done.is_set():
            writer.flush()
        writer.flush()

    thread = threading.Thread(target=flusher)
    thread.start()
    for rv in range(1, 4):  # three versions of each event
        for i in range(600):
            writer.add(core_event(i, rv=rv * 1000 + i, count=rv))
    done.set()
    thread.join()
    assert writer.buffered == 0
    assert stored(store) == {f"uid-{i}": 3 for i in range(600)}


# -- a batch split over several connections (PostgreSQL) -------------------------------------


def test_write_connections_default_per_backend(store: Store) -> None:
    expected = 4 if store.dialect == "postgresql" else 1
    assert EventWriter(store).write_connections == expected


def test_sqlite_refuses_more_than_one_write_connection(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "k.db"))
    with pytest.raises(ValueError, match=r"write_connections=2 needs PostgreSQL: sqlite .* use 1"):
        EventWriter(store, write_connections=2)


# Records which server process stored each row, refuses one uid on demand (a statement error
# in one lane's chunk while the others commit), and makes every successful statement last
# SLOW seconds, so that each lane holds its chunk long enough for the others to take theirs.
SLOW = 0.5
_PG_TRIGGER = f"""
CREATE TABLE writer_pids (uid text, pid int);
CREATE TABLE refused (uid text);
CREATE TABLE slow (on_off bool);
CREATE FUNCTION note_writer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM refused WHERE refused.uid = NEW.uid) THEN
        RAISE EXCEPTION USING MESSAGE = 'refused uid ' || NEW.uid;
    END IF;
    INSERT INTO writer_pids VALUES (NEW.uid, pg_backend_pid());
    RETURN NEW;
END $$;
CREATE FUNCTION slow_writer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM slow WHERE on_off) THEN PERFORM pg_sleep({SLOW}); END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER note_writer BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION note_writer();
CREATE TRIGGER slow_writer AFTER INSERT ON events FOR EACH STATEMENT
    EXECUTE FUNCTION slow_writer();
"""


def traced_store(url: str, *, refused: str | None = None, slow: bool = False) -> Store:
    """A migrated store with _PG_TRIGGER installed, refusing ``refused``, slow if ``slow``."""
    store = open_store(url)
    store.ensure_migrated()
    with store.write() as conn:
        conn.exec_driver_sql(_PG_TRIGGER)
        if refused is not None:
            conn.execute(text("INSERT INTO refused VALUES (:uid)"), {"uid": refused})
        conn.execute(text("INSERT INTO slow VALUES (:on)"), {"on": slow})
    return store


def writer_pids(store: Store) -> list[int]:
    """Rows stored by each server process, fewest first."""
    with store.read() as conn:
        return list(
            conn.execute(text("SELECT count(*) FROM writer_pids GROUP BY pid ORDER BY 1")).scalars()
        )


def test_postgres_lanes_write_at_once_and_resume_after_all_chunks(postgres_url: str) -> None:
    store = traced_store(postgres_url, refused="uid-1700", slow=True)
    writer = EventWriter(store, cluster="c", auto_flush=False, batch_size=2000)
    assert writer.write_connections == 4
    writer.add_many(core_event(i, rv=i + 1) for i in range(2000))
    writer.set_resume_version("events", "2000")

    # Four chunks of 500 on four connections at once; the last holds the refused uid: its
    # transaction fails, the three others commit.
    with pytest.raises(Exception, match="refused uid uid-1700"):
        writer.flush()
    assert stored(store) == {f"uid-{i}": 1 for i in range(1500)}
    assert writer_pids(store) == [500, 500, 500]
    assert writer.buffered == 500 and writer.written == 1500
    assert store.get_resume_version("c", "events") is None  # events 1500.. are not stored

    with store.write() as conn:
        conn.exec_driver_sql("DELETE FROM refused")
    writer.add_many(core_event(i, rv=i + 1) for i in range(2000, 3000))
    assert writer.flush()
    assert stored(store) == {f"uid-{i}": 1 for i in range(3000)}
    assert store.get_resume_version("c", "events") == "2000"
    assert writer.close()
    store.close()


def test_postgres_no_lane_starts_a_chunk_after_another_failed(postgres_url: str) -> None:
    store = traced_store(postgres_url, refused="uid-0", slow=True)
    writer = EventWriter(store, auto_flush=False, batch_size=500, write_connections=2)
    writer.add_many(core_event(i, rv=i + 1) for i in range(4000))  # eight chunks of 500

    # One lane fails on the first chunk at once; the other commits the second (slowly), then
    # sees the failure and leaves the six others buffered for the next flush.
    with pytest.raises(Exception, match="refused uid uid-0"):
        writer.flush()
    assert stored(store) == {f"uid-{i}": 1 for i in range(500, 1000)}
    assert writer.buffered == 3500

    with store.write() as conn:
        conn.exec_driver_sql("DELETE FROM refused")
        conn.exec_driver_sql("UPDATE slow SET on_off = false")
    assert writer.flush() and len(stored(store)) == 4000
    assert writer.close()
    store.close()


def test_postgres_writer_survives_losing_its_staging_table(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A pooler in transaction mode (or DISCARD ALL) takes the kept connection's temporary
    staging table away: the writer then makes it in every transaction."""
    store = open_store(postgres_url)
    writer = EventWriter(store, auto_flush=False, write_connections=1)
    writer.add_many(core_event(i, rv=i + 1) for i in range(10))
    assert writer.flush()
    # What a pooler does between clients; the kept connection is the writer's own.
    (kept,) = writer._kept
    kept.exec_driver_sql("DISCARD TEMP")
    kept.commit()
    with caplog.at_level(logging.WARNING, logger="kubeward.events.writer"):
        writer.add_many(core_event(i, rv=i + 1) for i in range(10, 20))
        assert writer.flush()
        writer.add_many(core_event(i, rv=i + 1) for i in range(20, 30))
        assert writer.flush()
    assert len(stored(store)) == 30
    assert caplog.text.count("event staging table lost") == 1
    assert writer.close()
    store.close()


def test_postgres_small_batches_are_not_split(postgres_url: str) -> None:
    store = traced_store(postgres_url)
    writer = EventWriter(store, auto_flush=False, batch_size=2000)
    writer.add_many(core_event(i, rv=i + 1) for i in range(499))  # under two parts of 250
    assert writer.flush()
    assert writer_pids(store) == [499] and len(stored(store)) == 499
    assert writer.close()
    store.close()


# -- store down: SQLite ----------------------------------------------------------------------


def lock_sqlite(path: Path) -> sqlite3.Connection:
    """Hold SQLite's write lock from another connection: the store is down for writers."""
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    return lock


def test_sqlite_locked_store_buffers_counts_overflow_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "k.db"
    store = open_store(f"sqlite:///{path}?timeout=0.05")
    registry, clock = CollectorRegistry(), FakeClock()
    writer = EventWriter(store, cluster="c", batch_size=10, buffer_limit=25, flush_interval=3600,
                         retry_initial=1, clock=clock, registry=registry)  # fmt: skip
    writer.add_many(core_event(i, rv=i + 1) for i in range(10))
    writer.set_resume_version("events", "10")
    writer.flush()
    assert store.get_resume_version("c", "events") == "10"

    lock = lock_sqlite(path)
    try:
        with caplog.at_level(logging.WARNING, logger="kubeward.events.writer"):
            writer.add_many(core_event(i, rv=i + 1) for i in range(10, 50))
            writer.add(core_event(45, rv=1000, count=9))  # newer version of a buffered one
            writer.set_resume_version("events", "1000")
        assert writer.store_down
        assert writer.last_error is not None and "locked" in writer.last_error
        # 40 new events into 25 slots: the 15 oldest (uid-10 .. uid-24) dropped and counted.
        assert (writer.buffered, writer.dropped) == (25, 15)
        assert metric(registry, "kubeward_events_dropped_total") == 15
        assert metric(registry, "kubeward_events_buffered") == 25
        assert metric(registry, "kubeward_events_store_up") == 0
    finally:
        lock.rollback()
        lock.close()

    assert not writer.flush()  # backoff: no new attempt before the retry time
    assert writer.buffered == 25
    clock.now += 2
    assert writer.flush()
    expected = {f"uid-{i}": 1 for i in [*range(10), *range(25, 50)]}
    expected["uid-45"] = 9
    assert stored(store) == expected
    assert metric(registry, "kubeward_events_store_up") == 1
    # Events were lost after version 10: the resume point stays there, so a restarted
    # collector replays (and dedupes) rather than skipping the lost ones.
    assert store.get_resume_version("c", "events") == "10"
    assert "event_store_down" in caplog.text and "event_buffer_overflow" in caplog.text
    assert "event_store_recovered" in caplog.text and "dropped_during_outage=15" in caplog.text


def test_close_while_store_down_reports_the_loss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "k.db"
    store = open_store(f"sqlite:///{path}?timeout=0.05")
    registry = CollectorRegistry()
    writer = EventWriter(store, flush_interval=3600, registry=registry)
    writer.add_many(core_event(i) for i in range(3))
    lock = lock_sqlite(path)
    try:
        assert not writer.close()
    finally:
        lock.rollback()
        lock.close()
    assert writer.dropped == 3 and writer.buffered == 0
    assert metric(registry, "kubeward_events_dropped_total") == 3
    assert "event_writer_closed_with_loss" in caplog.text and "lost=3" in caplog.text
    assert stored(store) == {}


# -- store down: PostgreSQL ------------------------------------------------------------------


# 600: every full batch is split over at least two lanes (chunks of at most 300), so the outage
# also catches chunks in flight on several connections.
@pytest.mark.parametrize("batch_size", [100, 600])
def test_postgres_restarted_mid_ingest_every_event_arrives_exactly_once(
    postgres_server: PostgresServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    batch_size: int,
) -> None:
    store = open_store(postgres_server.create_database())
    registry = CollectorRegistry()
    writer = EventWriter(store, batch_size=batch_size, flush_interval=0.2, retry_initial=0.05,
                         retry_max=0.2, registry=registry)  # fmt: skip
    saw_down = threading.Event()
    failures: list[BaseException] = []

    def ingest() -> None:
        try:
            for i in range(3000):
                writer.add(core_event(i, rv=i + 1))
                if i % 3 == 0:  # a series bump of an earlier event
                    writer.add(core_event(i // 2, rv=10_000 + i, count=2 + i % 5))
                if writer.store_down:
                    saw_down.set()
                if i % 100 == 0:
                    threading.Event().wait(0.01)  # let the outage overlap the ingest
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=ingest)
    with caplog.at_level(logging.WARNING, logger="kubeward.events.writer"):
        thread.start()
        while writer.written < 500 and thread.is_alive():
            threading.Event().wait(0.01)
        assert thread.is_alive(), "ingest finished before the outage: make it longer"
        postgres_server.stop()  # fast shutdown: in-flight transactions are aborted
        try:
            assert saw_down.wait(20), "the writer never noticed the store was down"
        finally:
            postgres_server.start()
        thread.join(60)
    assert not failures
    assert writer.close()

    expected = {f"uid-{i}": 1 for i in range(3000)}
    for i in range(0, 3000, 3):
        expected[f"uid-{i // 2}"] = 2 + i % 5  # the last bump of each wins
    assert stored(store) == expected
    assert writer.dropped == 0 and metric(registry, "kubeward_events_dropped_total") == 0
    assert "event_store_down" in caplog.text and "event_store_recovered" in caplog.text
    store.close()


def test_postgres_outage_with_small_buffer_counts_overflow(
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    store = open_store(postgres_server.create_database())
    registry = CollectorRegistry()
    writer = EventWriter(store, cluster="c", batch_size=20, buffer_limit=30, flush_interval=3600,
                         retry_initial=0, registry=registry)  # fmt: skip
    writer.add_many(core_event(i, rv=i + 1) for i in range(40))
    writer.set_resume_version("events", "40")
    assert writer.flush() and store.get_resume_version("c", "events") == "40"
    postgres_server.stop()
    try:
        writer.add_many(core_event(i, rv=i + 1) for i in range(40, 140))
        writer.set_resume_version("events", "140")
        assert writer.store_down and (writer.buffered, writer.dropped) == (30, 70)
    finally:
        postgres_server.start()
    assert writer.close()
    assert stored(store) == {f"uid-{i}": 1 for i in [*range(40), *range(110, 140)]}
    assert metric(registry, "kubeward_events_dropped_total") == 70
    assert store.get_resume_version("c", "events") == "40"
    store.close()


def test_collector_can_start_while_postgres_is_down(
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    url = postgres_server.create_database()  # fresh: not even migrated yet
    postgres_server.stop()
    try:
        store = open_store(url, lazy=True)
        writer = EventWriter(store, cluster="c", batch_size=5, retry_initial=0)
        writer.add_many(new_event(i, rv=i + 1) for i in range(12))
        writer.set_resume_version("events.events.k8s.io", "12")
        assert writer.store_down and writer.buffered == 12
    finally:
        postgres_server.start()
    assert writer.close()
    assert len(stored(store)) == 12
    assert store.get_resume_version("c", "events.events.k8s.io") == "12"
    rows = list_events(store, EventFilter(reason="FailedScheduling"), limit=None)
    assert len(rows) == 12 and rows[0]["api_version"] == "events.k8s.io/v1"
    store.close()


def test_retries_back_off_exponentially(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "k.db"
    store = open_store(f"sqlite:///{path}?timeout=0.01")
    clock = FakeClock()
    writer = EventWriter(store, flush_interval=3600, retry_initial=1, retry_max=4, clock=clock)
    attempts: list[float] = []
    real_write = store.write

    def counting_write() -> Any:
        attempts.append(clock.now)
        return real_write()

    monkeypatch.setattr(store, "write", counting_write)
    writer.add(core_event(1))
    lock = lock_sqlite(path)
    try:
        start = clock.now
        for _ in range(40):  # poll every 0.5 s for 20 s
            writer.flush()
            clock.now += 0.5
        offsets = [t - start for t in attempts]
        # Waits of 1, 2, 4, then capped at 4 seconds.
        assert offsets[:6] == [0, 1, 3, 7, 11, 15]
        assert writer.flush(force=True) is False and len(attempts) == len(offsets) + 1
    finally:
        lock.rollback()
        lock.close()
    clock.now += 4
    assert writer.flush() and stored(store) == {"uid-1": 1}
