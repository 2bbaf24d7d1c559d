"""Column types shared by the tables and the migrations (which must not import the tables)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, String, TypeDecorator
from sqlalchemy.types import TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no timezone, so values are stored as naive UTC
    (SQLAlchemy's fixed-width ISO text, which also sorts and compares correctly as text).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def KeyString(length: int) -> TypeEngine[str]:  # used like a type: KeyString(253)
    """A string column that is indexed or compared as a key: byte order (collation "C").

    Kubernetes names, uids, kinds and reasons are ASCII identifiers, so byte order loses
    nothing, and it is what SQLite's default (BINARY) already does. PostgreSQL databases are
    usually created with the system locale (en_US.UTF-8 and the like), whose collation makes
    every btree comparison a locale-aware one: on such a database, the event merge's index
    work cost about 16 % more (``benchmarks/event_ingest.py --pg-locale``).
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")
