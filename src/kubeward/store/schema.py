"""The store's tables, as SQLAlchemy Core metadata.

This is the *current* shape; ``migrations/versions/`` holds the frozen steps that build it. A test
compares the two (Alembic autogenerate) on SQLite and PostgreSQL, so they cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from kubeward.store.coltypes import KeyString, UTCDateTime

# Stable constraint names, so later migrations can refer to them on both backends.
metadata = MetaData(
    naming_convention={
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

events = Table(
    "events",
    metadata,
    # Identity and primary key: a cluster's Event object. The same object is served as core/v1
    # and as events.k8s.io/v1 with one uid, so both shapes land on one row. No surrogate id:
    # its sequence and index were work on every insert that no query needed (migration 0004).
    Column("cluster", KeyString(253), primary_key=True),
    Column("uid", KeyString(64), primary_key=True),
    Column("namespace", KeyString(253), nullable=False),
    Column("name", String(253), nullable=False),
    # Numeric resourceVersion when the server gives one (all real servers do): orders updates.
    Column("resource_version", BigInteger),
    Column("api_version", String(32), nullable=False),
    # involvedObject (core/v1) / regarding (events.k8s.io/v1)
    Column("object_kind", KeyString(253), nullable=False),
    Column("object_namespace", KeyString(253), nullable=False),
    Column("object_name", KeyString(253), nullable=False),
    Column("object_uid", String(64), nullable=False),
    Column("object_api_version", String(253), nullable=False),
    Column("object_field_path", Text, nullable=False),
    Column("reason", KeyString(128), nullable=False),
    Column("type", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("action", String(128), nullable=False),
    Column("reporting_controller", String(253), nullable=False),
    Column("reporting_instance", String(253), nullable=False),
    Column("count", Integer, nullable=False),
    Column("first_timestamp", UTCDateTime),
    Column("last_timestamp", UTCDateTime),
    Column("event_time", UTCDateTime),
    Column("series_last_observed", UTCDateTime),
    # When the event happened first / last, whichever fields its recorder set (kubectl's rule).
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("related_kind", String(253), nullable=False),
    Column("related_namespace", String(253), nullable=False),
    Column("related_name", String(253), nullable=False),
    Column("related_uid", String(64), nullable=False),
    Column("related_api_version", String(253), nullable=False),
    Column("related_field_path", Text, nullable=False),
    # Newest-first listing, retention and --since/--until all range over last_seen.
    Index("ix_events_last_seen", "last_seen"),
    Index("ix_events_object", "cluster", "object_kind", "object_namespace", "object_name"),
    Index("ix_events_namespace_last_seen", "cluster", "namespace", "last_seen"),
    Index("ix_events_reason", "cluster", "reason"),
)

# Where a restarted collector resumes its watch: the last resourceVersion whose events are all
# durably stored, per (cluster, resource).
resume_versions = Table(
    "resume_versions",
    metadata,
    Column("cluster", KeyString(253), primary_key=True),
    Column("resource", KeyString(253), primary_key=True),
    Column("resource_version", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Control-plane alerts raised by the guard (``kubeward guard watch``): one row per alert,
# inserted when it opens and updated as its signals, suspects and mitigation change and when it
# closes. ``signals``, ``suspects`` and ``protected`` are JSON text (lists), so both backends
# store them alike; ``summary`` is the one-line description printed when the alert opened.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True),
    Column("cluster", KeyString(253), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("mitigated_at", UTCDateTime),
    Column("signals", Text, nullable=False),
    Column("suspects", Text, nullable=False),
    Column("protected", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Index("ix_alerts_cluster_opened_at", "cluster", "opened_at"),
)
