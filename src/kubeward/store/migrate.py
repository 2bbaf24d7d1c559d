"""Applying the Alembic migrations in ``migrations/`` programmatically, when a store opens.

The whole upgrade runs in one transaction under a lock (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-scoped advisory lock), so two processes opening a fresh store at once
do not both try to create it, and a failed step leaves the previous schema intact.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

from kubeward.store.engine import SQLITE_BEGIN
from kubeward.store.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
# Arbitrary constant naming kubeward's migration lock among PostgreSQL advisory locks.
_PG_LOCK_KEY = 0x6B75_6265_7761_7264 & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@functools.cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the store's schema to the newest revision this kubeward knows."""
    with engine.connect() as conn:
        # Already current (the usual case): no write lock, so opening a store for reading
        # does not wait for (or block) a collector that is writing to it.
        if current_revision(conn) == head_revision():
            return
    cfg = alembic_config()
    with engine.connect() as conn:
        conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, "head")
            except CommandError as exc:
                raise StoreError(
                    f"the store's schema is at revision {current_revision(conn)!r}, which this "
                    f"kubeward does not know (newest known: {head_revision()!r}): it was written "
                    f"by a newer kubeward. Upgrade kubeward, or use another --store. ({exc})"
                ) from None
