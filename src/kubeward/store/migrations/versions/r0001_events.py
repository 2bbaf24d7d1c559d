"""Events and watch resume points.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kubeward.store.coltypes import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.Integer().with_variant(sa.BigInteger(), "postgresql")


def _ref(prefix: str) -> list[sa.Column[str]]:
    return [
        sa.Column(f"{prefix}_kind", sa.String(253), nullable=False),
        sa.Column(f"{prefix}_namespace", sa.String(253), nullable=False),
        sa.Column(f"{prefix}_name", sa.String(253), nullable=False),
        sa.Column(f"{prefix}_uid", sa.String(64), nullable=False),
        sa.Column(f"{prefix}_api_version", sa.String(253), nullable=False),
        sa.Column(f"{prefix}_field_path", sa.Text(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("cluster", sa.String(253), nullable=False),
        sa.Column("uid", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("resource_version", sa.BigInteger()),
        sa.Column("api_version", sa.String(32), nullable=False),
        *_ref("object"),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("reporting_controller", sa.String(253), nullable=False),
        sa.Column("reporting_instance", sa.String(253), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_timestamp", UTCDateTime()),
        sa.Column("last_timestamp", UTCDateTime()),
        sa.Column("event_time", UTCDateTime()),
        sa.Column("series_last_observed", UTCDateTime()),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        *_ref("related"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("cluster", "uid", name="uq_events_cluster_uid"),
    )
    op.create_index("ix_events_last_seen", "events", ["last_seen"])
    op.create_index(
        "ix_events_object",
        "events",
        ["cluster", "object_kind", "object_namespace", "object_name"],
    )
    op.create_index(
        "ix_events_namespace_last_seen", "events", ["cluster", "namespace", "last_seen"]
    )
    op.create_index("ix_events_reason", "events", ["cluster", "reason"])
    op.create_table(
        "resume_versions",
        sa.Column("cluster", sa.String(253), nullable=False),
        sa.Column("resource", sa.String(253), nullable=False),
        sa.Column("resource_version", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("cluster", "resource", name="pk_resume_versions"),
    )


def downgrade() -> None:
    op.drop_table("resume_versions")
    op.drop_table("events")
