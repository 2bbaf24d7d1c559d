"""Engines tuned per backend.

SQLite: WAL journal (readers never block the writer, the writer never blocks readers),
``synchronous=NORMAL`` (durable at checkpoints, safe against corruption), a larger page
cache and less frequent checkpoints for the event ingest (ADR 0006,
``benchmarks/event_ingest.py``). pysqlite's own
transaction handling is switched off so that SQLAlchemy's ``begin`` emits ``BEGIN`` itself: that
makes DDL transactional (a failed migration leaves nothing half-built) and lets writers ask for
``BEGIN IMMEDIATE`` (take the write lock up front instead of failing to upgrade a read lock).

PostgreSQL: psycopg 3, pre-ping so pooled connections that died with a server restart are
replaced instead of failing the next write, and a connect timeout so a dead host is noticed.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL

# Page cache per connection, at most (SQLite's default is 2 MiB): the events table's five
# indexes take random keys (uids, object names), so a batch touches pages all over them.
SQLITE_CACHE_KIB = 64 * 1024
# Checkpoint the WAL into the database every ~40 MiB of WAL (SQLite's default: ~4 MiB), so a
# page that every batch rewrites (index interior pages) is copied and synced once per
# checkpoint rather than every few batches. The WAL file may reach that size.
SQLITE_CHECKPOINT_PAGES = 10_000

# How long a connection waits for another to release the lock it needs (pysqlite's default).
SQLITE_BUSY_SECONDS = 5.0

# Execution option naming the SQLite BEGIN mode of a connection ("", "IMMEDIATE", "EXCLUSIVE").
SQLITE_BEGIN = "kubeward_sqlite_begin"


def create_store_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 5
    if "application_name" not in url.query:
        connect_args["application_name"] = "kubeward"
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" hook below emits BEGIN
        cursor = dbapi_conn.cursor()
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL (it stays so). SQLite answers the switch with SQLITE_BUSY at
    once, without waiting as it does for other statements, while another connection holds a
    lock: two processes opening a new store together hit that. Wait as for any lock."""
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorname != "SQLITE_BUSY" or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
