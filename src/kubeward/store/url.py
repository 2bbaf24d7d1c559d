"""Turning what a user types for ``--store`` into a SQLAlchemy URL, or a clear error.

Accepted: a plain file path (SQLite), ``sqlite:///PATH``, and ``postgresql://`` /
``postgres://`` / ``postgresql+psycopg://`` URLs, which all end up on psycopg 3 (the only
PostgreSQL driver kubeward ships).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from kubeward.store.errors import StoreURLError

DEFAULT_STORE = ".kubeward/kubeward.db"

_HINT = (
    "use a SQLite file path (e.g. .kubeward/kubeward.db), sqlite:///PATH, "
    "or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
)


def resolve_url(store: str | None) -> URL:
    """The SQLAlchemy URL for ``store`` (``None`` or empty: the default SQLite file)."""
    text = (store or "").strip() or DEFAULT_STORE
    if "://" not in text:
        # A bare path: SQLite. Resolved now so the URL does not depend on a later chdir.
        return URL.create("sqlite", database=str(Path(text).expanduser().resolve()))
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise StoreURLError(f"cannot parse store URL {text!r}: {exc}; {_HINT}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise StoreURLError(
                f"PostgreSQL driver {driver!r} is not supported (in {_safe(url)}); "
                "use postgresql+psycopg:// or plain postgresql://"
            )
        if not url.database:
            raise StoreURLError(f"store URL {_safe(url)} names no database; {_HINT}")
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise StoreURLError(f"SQLite driver {driver!r} is not supported; use sqlite:///PATH")
        if not url.database or url.database == ":memory:":
            raise StoreURLError(
                f"store URL {text!r} is an in-memory SQLite database, which would lose every "
                "event on exit; give a file, e.g. sqlite:///.kubeward/kubeward.db"
            )
        return url.set(drivername="sqlite", database=str(Path(url.database).expanduser().resolve()))
    raise StoreURLError(f"unsupported store URL scheme {url.drivername!r}; {_HINT}")


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def display_url(url: URL) -> str:
    """The URL for messages and logs: never with the password."""
    return _safe(url)
