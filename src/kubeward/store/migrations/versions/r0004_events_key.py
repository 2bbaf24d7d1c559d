"""Events: (cluster, uid) becomes the primary key; the surrogate ``id`` column goes.

Nothing queried ``id`` except as the newest-first listing's tie-break, while every insert paid
for its sequence and its index: on PostgreSQL the event center's merge ran about 15 % more
rows per second without it (ADR 0006, decision 9). Every row is kept.

PostgreSQL alters the table in place; the key's index is built anew, once, from the rows.
SQLite cannot change a primary key in place, so the table is rebuilt (batch mode). Downgrade
gives every row a new ``id`` (in storage order) and restores the unique constraint.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PK = "pk_events"
_UNIQUE = "uq_events_cluster_uid"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(_PK, "events", type_="primary")
        op.drop_column("events", "id")  # and its sequence, which the column owns
        op.drop_constraint(_UNIQUE, "events", type_="unique")
        op.create_primary_key(_PK, "events", ["cluster", "uid"])
        return
    with op.batch_alter_table("events", recreate="always") as batch:
        batch.drop_constraint(_UNIQUE, type_="unique")
        batch.drop_column("id")
        batch.create_primary_key(_PK, ["cluster", "uid"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(_PK, "events", type_="primary")
        op.create_unique_constraint(_UNIQUE, "events", ["cluster", "uid"])
        op.execute("ALTER TABLE events ADD COLUMN id BIGSERIAL NOT NULL")  # as in 0001
        op.create_primary_key(_PK, "events", ["id"])
        return
    with op.batch_alter_table("events", recreate="always") as batch:
        batch.drop_constraint(_PK, type_="primary")
        # INTEGER PRIMARY KEY is SQLite's rowid: the copied rows get numbers as they arrive.
        batch.add_column(sa.Column("id", sa.Integer(), primary_key=True))
        batch.create_unique_constraint(_UNIQUE, ["cluster", "uid"])
