"""Opening a store: URL -> engine -> migrated schema, plus the watch resume points."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from kubeward.store import migrate
from kubeward.store.engine import SQLITE_BEGIN, create_store_engine
from kubeward.store.errors import StoreError, StoreNotFoundError
from kubeward.store.schema import resume_versions
from kubeward.store.url import display_url, resolve_url


class Store:
    """A migrated SQL store. Cheap to keep open; thread-safe like its SQLAlchemy engine."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self._migrated = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    def ensure_migrated(self) -> None:
        """Apply pending migrations once per Store (raises the driver's error when down)."""
        if not self._migrated:
            migrate.upgrade(self.engine)
            self._migrated = True

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on success, rolled back on error."""
        self.ensure_migrated()
        with self.engine.connect() as conn:
            conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        self.ensure_migrated()
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def get_resume_version(self, cluster: str, resource: str) -> str | None:
        """The resourceVersion a restarted watch of ``resource`` may resume from, if any."""
        with self.read() as conn:
            return conn.execute(
                select(resume_versions.c.resource_version).where(
                    resume_versions.c.cluster == cluster, resume_versions.c.resource == resource
                )
            ).scalar_one_or_none()

    def set_resume_version(
        self, cluster: str, resource: str, version: str, conn: Connection | None = None
    ) -> None:
        """Record a resume point (in ``conn``'s transaction when given, so it commits together
        with the events it covers)."""
        if conn is None:
            with self.write() as own:
                self.set_resume_version(cluster, resource, version, own)
            return
        values = {
            "cluster": cluster,
            "resource": resource,
            "resource_version": version,
            "updated_at": datetime.now(UTC),
        }
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = insert(resume_versions).values(values)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[resume_versions.c.cluster, resume_versions.c.resource],
                set_={
                    "resource_version": stmt.excluded.resource_version,
                    "updated_at": stmt.excluded.updated_at,
                },
            )
        )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_store(store: str | URL | None = None, *, create: bool = True, lazy: bool = False) -> Store:
    """Open (and migrate) the store named by ``store`` (see :func:`resolve_url`).

    ``create=False``: a missing SQLite file is an error instead of a new empty store (for read
    commands, where a typo in the path should not silently show nothing).
    ``lazy=True``: connect and migrate on first use, so a collector can start (and buffer)
    while its database is still down.
    """
    url = store if isinstance(store, URL) else resolve_url(store)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        path = Path(url.database)
        if not path.exists():
            if not create:
                raise StoreNotFoundError(
                    f"no event store at {path}; pass --store with the path or URL the collector "
                    "writes to (or run `kubeward collect` / `kubeward events import` first)"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
    result = Store(create_store_engine(url), url)
    if not lazy:
        try:
            result.ensure_migrated()
        except DBAPIError as exc:
            result.close()
            raise StoreError(
                f"cannot open store {display_url(url)}: {_first_line(exc)}. " + _fix_hint(url)
            ) from None
    return result


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)


def _fix_hint(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return (
            "Check that the file's directory is writable, that the file is a kubeward store, "
            "and, if it is locked, that no other process holds it in a long write."
        )
    return (
        "Check that PostgreSQL is running and reachable at that host/port, that the database "
        "exists and that the user may connect (URL form: postgresql://USER:PASSWORD@HOST:PORT/DB)."
    )
