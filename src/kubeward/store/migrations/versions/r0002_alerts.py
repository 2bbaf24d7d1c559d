"""Control-plane alerts (kubeward guard watch).

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kubeward.store.coltypes import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.Integer().with_variant(sa.BigInteger(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("cluster", sa.String(253), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime()),
        sa.Column("mitigated_at", UTCDateTime()),
        sa.Column("signals", sa.Text(), nullable=False),
        sa.Column("suspects", sa.Text(), nullable=False),
        sa.Column("protected", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_cluster_opened_at", "alerts", ["cluster", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_cluster_opened_at", table_name="alerts")
    op.drop_table("alerts")
