"""The ingest writer: batches events into the store, and loses none silently.

- Events are normalised and buffered, coalesced by uid (only the newest version of an Event
  is kept), and written in batches of upserts.
- When the store is down (connection refused, server restarting, SQLite file locked or
  unwritable), the batch stays in the buffer and writes are retried with exponential backoff.
  The buffer is bounded: past ``buffer_limit`` Events the oldest is dropped, and every drop is
  counted (``dropped`` and ``kubeward_events_dropped_total``) and logged.
- On PostgreSQL the buffer is written by ``write_connections`` lanes at once, each on a
  connection it keeps between its transactions: the server's merge (index maintenance, most
  of a row's cost) then runs in several server processes, and one lane's commit or COPY
  overlaps another's merge. The lanes' transactions hold distinct uids, so they never wait on
  each other (ADR 0006, decision 10).
- Watch resume points (:meth:`set_resume_version`) are persisted only in a transaction that
  commits after every event buffered before them is stored, so a stored resume point never
  skips an event that was not stored. After a drop they are no longer advanced: a restarted
  collector then resumes from the last point before the loss (or relists), and dedupe absorbs
  the replay.

Thread safety: ``add`` and ``flush`` may be called from different threads (e.g. an event loop
adds with ``auto_flush=False`` while a thread flushes); a write itself runs outside the lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from itertools import islice
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, ProgrammingError

from kubeward.events.normalize import Row, normalize_event
from kubeward.events.retention import purge_events
from kubeward.events.upsert import create_stage, is_newer, is_stage_missing, upsert_events
from kubeward.store import Store

log = logging.getLogger("kubeward.events.writer")


# SQLite reports "no such table" and syntax errors as OperationalError too: only these
# messages mean the store is unavailable rather than the statement wrong.
_SQLITE_DOWN = ("locked", "busy", "unable to open", "readonly", "disk i/o", "disk is full")


def is_store_down(exc: DBAPIError) -> bool:
    """A failure of the store itself (retry later), not of the statement (a bug: raise).

    PostgreSQL: refused/lost connections, server shutdown, disk full (OperationalError,
    InterfaceError, or an invalidated connection). SQLite: locked, unopenable or read-only file.
    """
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if exc.orig is not None and type(exc.orig).__module__.startswith("sqlite3"):
        return any(phrase in str(exc.orig).lower() for phrase in _SQLITE_DOWN)
    return True


RECENT_VERSIONS = 20_000

# Below this many rows per lane a batch is not split: another transaction's round trips and
# commit would cost more than the parallel merge saves.
MIN_PART_ROWS = 250
# Chunks per lane in one snapshot of the buffer (see EventWriter._write_all).
SNAPSHOT_ROUNDS = 2
# More lanes than cores: a lane spends much of its time waiting (COPY, commit), so four kept
# two cores busier than two did (benchmarks/event_ingest.py, docs/benchmarks.md).
POSTGRES_WRITE_CONNECTIONS = 4


def default_write_connections(store: Store) -> int:
    """PostgreSQL merges in server processes, so several writers use several cores; SQLite has
    a single writer (a second transaction would only wait for the lock)."""
    return POSTGRES_WRITE_CONNECTIONS if store.dialect == "postgresql" else 1


def _version(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(metadata.uid, metadata.resourceVersion) when the Event has both."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    if not isinstance(meta, Mapping):
        return None
    uid, version = meta.get("uid"), meta.get("resourceVersion")
    if type(uid) is str and type(version) is str and uid and version:
        return uid, version
    return None


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.dropped = Counter(
            "kubeward_events_dropped",
            "Events dropped because the store was down and the write buffer was full.",
            registry=registry,
        )
        self.written = Counter(
            "kubeward_events_written",
            "Event rows written (upserted) to the store.",
            registry=registry,
        )
        self.buffered = Gauge(
            "kubeward_events_buffered", "Events waiting to be written.", registry=registry
        )
        self.store_up = Gauge(
            "kubeward_events_store_up",
            "1 if the last write to the event store succeeded, else 0.",
            registry=registry,
        )
        self.store_up.set(1)


class EventWriter:
    def __init__(
        self,
        store: Store,
        *,
        cluster: str = "default",
        buffer_limit: int = 100_000,
        batch_size: int = 2_000,
        flush_interval: float = 1.0,
        auto_flush: bool = True,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        retention: timedelta | None = None,
        purge_interval: float = 300.0,
        write_connections: int | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if buffer_limit < 1 or batch_size < 1:
            raise ValueError("buffer_limit and batch_size must be at least 1")
        if write_connections is None:
            write_connections = default_write_connections(store)
        if write_connections < 1:
            raise ValueError("write_connections must be at least 1")
        if write_connections > 1 and store.dialect != "postgresql":
            raise ValueError(
                f"write_connections={write_connections} needs PostgreSQL: {store.dialect} "
                "has a single writer, use 1"
            )
        self.store = store
        self.cluster = cluster
        self.buffer_limit = buffer_limit
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.auto_flush = auto_flush
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.retention = retention
        self.purge_interval = purge_interval
        self.write_connections = write_connections
        self._clock = clock
        # Threads for the other lanes (the flushing thread is the first), made at the first
        # flush that needs them.
        self._helpers: ThreadPoolExecutor | None = None
        # PostgreSQL connections between the chunks they write (at most one per lane).
        self._kept: list[Connection] = []
        self._staged = True  # each kept connection made its staging table once
        self._metrics = _Metrics(registry) if registry is not None else None

        self.dropped = 0  # events lost to buffer overflow (or to close() with the store down)
        self.written = 0  # rows upserted
        self.purged = 0  # rows deleted by retention
        self.store_down = False
        self.last_error: str | None = None

        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one write at a time
        self._buffer: OrderedDict[str, Row] = OrderedDict()  # uid -> newest row, oldest first
        self._pending_resume: dict[str, str] = {}
        # uid -> metadata.resourceVersion of the version last taken (buffered, then written),
        # for the last RECENT_VERSIONS uids: the collector watches both Event APIs, which
        # deliver every version twice. A repeat of that exact version is skipped before it is
        # even normalised (the store would ignore it: equal resourceVersions are not newer).
        self._taken: dict[str, str] = {}
        self.repeats = 0  # deliveries skipped as such repeats
        self._resume_frozen = False  # set by the first drop
        self._dropped_in_outage = 0
        self._backoff = retry_initial
        self._next_attempt = 0.0
        self._last_flush = clock()
        self._last_purge: float | None = None
        if self._metrics:
            # Read when scraped: nothing to update per event on the ingest path.
            self._metrics.buffered.set_function(lambda: len(self._buffer))

    # -- input ----------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def add(self, obj: Mapping[str, Any]) -> None:
        """Buffer one Event (core/v1 or events.k8s.io/v1 dict); may flush (see auto_flush)."""
        key = _version(obj)
        if key is not None and self._taken.get(key[0]) == key[1]:
            self.repeats += 1  # this very version is buffered or written already
        else:
            self._enqueue(normalize_event(obj, self.cluster), key)
        self._maybe_flush()

    def add_many(self, objs: Iterable[Mapping[str, Any]]) -> None:
        for obj in objs:
            self.add(obj)

    def set_resume_version(self, resource: str, version: str) -> None:
        """The watch of ``resource`` has delivered everything up to ``version``.

        Persisted with the write that stores the events buffered so far (see module doc).
        """
        with self._lock:
            self._pending_resume[resource] = version
        self._maybe_flush()

    def _enqueue(self, row: Row, key: tuple[str, str] | None = None) -> None:
        uid = row["uid"]
        with self._lock:
            old = self._buffer.get(uid)
            if old is not None:
                if not is_newer(row, old):
                    return
                self._buffer[uid] = row
                self._buffer.move_to_end(uid)
            else:
                if len(self._buffer) >= self.buffer_limit:
                    # The oldest: newer events matter more.
                    dropped, _ = self._buffer.popitem(last=False)
                    self._taken.pop(dropped, None)
                    self._record_drop(1)
                self._buffer[uid] = row
            if key is not None and key[0] == uid:
                if len(self._taken) >= RECENT_VERSIONS:
                    self._taken.clear()
                self._taken[uid] = key[1]

    def _record_drop(self, n: int) -> None:
        first = self.dropped == 0 or self._dropped_in_outage == 0
        self.dropped += n
        self._dropped_in_outage += n
        self._resume_frozen = True
        if self._metrics:
            self._metrics.dropped.inc(n)
        if first:
            log.error(
                "event_buffer_overflow store=%s buffer_limit=%d dropped_total=%d msg=%s",
                self.store.display_url,
                self.buffer_limit,
                self.dropped,
                "event store unavailable and buffer full: dropping the oldest buffered events; "
                "the watch resume point is frozen so a restart replays from before the loss",
            )

    # -- output ---------------------------------------------------------------------------

    def _maybe_flush(self) -> None:
        if not self.auto_flush:
            return
        due = self._clock() - self._last_flush >= self.flush_interval
        if len(self._buffer) >= self.batch_size or due:
            self.flush()

    def flush(self, *, force: bool = False) -> bool:
        """Write everything buffered. True when the buffer is empty afterwards.

        While the store is down, attempts are spaced by the backoff unless ``force``.
        """
        now = self._clock()
        if self.store_down and not force and now < self._next_attempt:
            return False
        with self._flush_lock:
            self._last_flush = now
            try:
                self._write_all()
                self._maybe_purge()
            except DBAPIError as exc:
                if not is_store_down(exc):
                    raise
                self._mark_down(exc)
                return False
            self._mark_up()
            return not self._buffer

    def _write_all(self) -> None:
        """Write the buffer, oldest first, a snapshot of its oldest rows at a time, until a
        snapshot reaches its end.

        A snapshot holds each uid once, so its chunks may commit in any order and at once:
        every lane (connection) takes the next chunk as soon as its last one has committed, so
        one lane's commit (a WAL flush) or COPY overlaps another's merge instead of every lane
        waiting for the slowest at each batch. A snapshot is a few chunks per lane, not the
        whole buffer: a row replaced by a newer version while its snapshot is written is
        written twice, and the longer the snapshot takes, the more rows that happens to. The
        resume points pending when a snapshot reaches the buffer's end are stored once every
        chunk of it has committed: every event buffered before them was in it or an earlier
        one (or was replaced by a newer version, which is then in it).
        """
        limit = self.batch_size * (1 if self.write_connections == 1 else
                                   self.write_connections * SNAPSHOT_ROUNDS)  # fmt: skip
        while True:
            with self._lock:
                rows = list(islice(self._buffer.values(), limit))
                last = len(rows) == len(self._buffer)
                resume = dict(self._pending_resume) if last and not self._resume_frozen else {}
            if not rows and not resume:
                with self._lock:
                    if self._resume_frozen:
                        self._pending_resume.clear()
                return
            chunks = self._chunks(rows)
            if len(chunks) == 1:
                self._write_chunk(chunks[0], resume)  # the resume points ride along
            else:
                self._write_lanes(chunks)
                if resume:
                    self._write_chunk([], resume)
            if last:
                return

    def _chunks(self, rows: list[Row]) -> list[list[Row]]:
        """Transactions of at most ``batch_size`` rows, and enough of them for every lane to
        have one, unless that would make them smaller than MIN_PART_ROWS."""
        lanes = min(self.write_connections, len(rows) // MIN_PART_ROWS)
        size = self.batch_size if lanes < 2 else min(self.batch_size, -(-len(rows) // lanes))
        return [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]

    def _write_lanes(self, chunks: list[list[Row]]) -> None:
        """Up to ``write_connections`` lanes (this thread and helpers) take chunks until none is
        left. Rows of committed chunks leave the buffer even when another chunk failed (its rows
        stay); after a failure no lane starts another chunk, and the first error is raised."""
        lanes = min(self.write_connections, len(chunks))
        if lanes > 1 and self._helpers is None:
            self._helpers = ThreadPoolExecutor(
                self.write_connections - 1, thread_name_prefix="event-write"
            )
        queue = deque(chunks)
        errors: list[BaseException] = []

        def lane() -> None:
            while not errors:
                try:
                    chunk = queue.popleft()
                except IndexError:
                    return
                try:
                    self._write_chunk(chunk, {})
                except BaseException as exc:
                    errors.append(exc)

        assert self._helpers is not None or lanes == 1
        futures = [self._helpers.submit(lane) for _ in range(lanes - 1)] if self._helpers else []
        lane()
        for future in futures:
            future.result()
        if errors:
            raise errors[0]

    def _write_chunk(self, rows: list[Row], resume: dict[str, str]) -> None:
        """One transaction: ``rows`` and the resume points; on PostgreSQL on a connection kept
        for the next chunks (no pool checkout and liveness ping, the staging table made once)."""
        if self.store.dialect != "postgresql":
            with self.store.write() as conn:
                upsert_events(conn, rows)
                self._set_resume(conn, resume)
        else:
            conn = self._kept_connection()
            try:
                try:
                    with conn.begin():
                        upsert_events(conn, rows, staged=self._staged)
                        self._set_resume(conn, resume)
                except ProgrammingError as exc:
                    if not self._staged or not is_stage_missing(exc):
                        raise
                    # The session lost its temporary table (a pooler in transaction mode, or
                    # DISCARD ALL): make it in every transaction from now on.
                    log.warning("event staging table lost: creating it per transaction")
                    self._staged = False
                    with conn.begin():
                        upsert_events(conn, rows)
                        self._set_resume(conn, resume)
            except BaseException:
                conn.close()  # dead or mid-error: the pool replaces or resets it
                raise
            self._kept.append(conn)
        self._written(rows, resume)

    def _kept_connection(self) -> Connection:
        try:
            return self._kept.pop()  # list.pop and append are atomic: lanes share the list
        except IndexError:
            pass
        self.store.ensure_migrated()
        conn = self.store.engine.connect()
        try:
            if self._staged:
                with conn.begin():
                    create_stage(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_resume(self, conn: Connection, resume: dict[str, str]) -> None:
        for resource, version in resume.items():
            self.store.set_resume_version(self.cluster, resource, version, conn)

    def _written(self, rows: list[Row], resume: dict[str, str]) -> None:
        """``rows`` and ``resume`` are stored: take them out of what is pending."""
        with self._lock:
            for row in rows:
                # Only if not replaced by a newer version while we were writing.
                if self._buffer.get(row["uid"]) is row:
                    del self._buffer[row["uid"]]
            for resource, version in resume.items():
                if self._pending_resume.get(resource) == version:
                    del self._pending_resume[resource]
            self.written += len(rows)
            if self._metrics:
                self._metrics.written.inc(len(rows))

    def _maybe_purge(self) -> None:
        if self.retention is None:
            return
        now = self._clock()
        if self._last_purge is not None and now - self._last_purge < self.purge_interval:
            return
        self._last_purge = now
        deleted = purge_events(self.store, self.retention, cluster=self.cluster)
        self.purged += deleted
        if deleted:
            log.info("events_purged count=%d retention=%s", deleted, self.retention)

    def _mark_down(self, exc: DBAPIError) -> None:
        self.last_error = str(exc.orig or exc).strip().splitlines()[0]
        if not self.store_down:
            log.warning(
                "event_store_down store=%s buffered=%d buffer_limit=%d error=%r",
                self.store.display_url,
                len(self._buffer),
                self.buffer_limit,
                self.last_error,
            )
            self._backoff = self.retry_initial
        self.store_down = True
        self._next_attempt = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, self.retry_max)
        if self._metrics:
            self._metrics.store_up.set(0)

    def _mark_up(self) -> None:
        if self.store_down:
            log.warning(
                "event_store_recovered store=%s dropped_during_outage=%d dropped_total=%d",
                self.store.display_url,
                self._dropped_in_outage,
                self.dropped,
            )
        self.store_down = False
        self.last_error = None
        self._dropped_in_outage = 0
        self._backoff = self.retry_initial
        if self._metrics:
            self._metrics.store_up.set(1)

    def close(self) -> bool:
        """Final flush. Events that still cannot be written are counted as dropped and logged.

        Returns True when nothing was lost at close.
        """
        try:
            return self._close()
        finally:
            if self._helpers is not None:
                self._helpers.shutdown()
                self._helpers = None
            while self._kept:
                self._kept.pop().close()

    def _close(self) -> bool:
        if self.flush(force=True):
            return True
        with self._lock:
            lost = len(self._buffer)
            self._buffer.clear()
            self._taken.clear()
            if lost:
                self._record_drop(lost)
        log.error(
            "event_writer_closed_with_loss store=%s lost=%d error=%r",
            self.store.display_url,
            lost,
            self.last_error,
        )
        return False
