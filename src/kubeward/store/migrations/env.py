"""Alembic environment: always run with a connection handed over by kubeward.store.migrate."""

from __future__ import annotations

from alembic import context

from kubeward.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "kubeward migrations run when a store is opened (kubeward.store.open_store); "
        "they are not meant for the alembic command line"
    )
# render_as_batch: SQLite cannot ALTER most things; batch mode rebuilds tables instead.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
