"""Key columns compare bytes on PostgreSQL (collation "C"), as they already do on SQLite.

See ``kubeward.store.coltypes.KeyString`` for why. Changing a column's collation rebuilds the
indexes that use it; the table itself is not rewritten. SQLite: nothing to do.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# table -> (column, length): every indexed string column at revision 0002.
_KEYS = {
    "events": [
        ("cluster", 253),
        ("uid", 64),
        ("namespace", 253),
        ("object_kind", 253),
        ("object_namespace", 253),
        ("object_name", 253),
        ("reason", 128),
    ],
    "resume_versions": [("cluster", 253), ("resource", 253)],
    "alerts": [("cluster", 253)],
}


def _set_collation(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in _KEYS.items():
        for name, length in columns:
            op.alter_column(
                table,
                name,
                type_=sa.String(length, collation=collation),
                existing_type=sa.String(length),
                existing_nullable=False,
            )


def upgrade() -> None:
    _set_collation("C")


def downgrade() -> None:
    _set_collation("default")
