"""kubeward's SQL store: SQLAlchemy Core tables, engine/URL handling and Alembic migrations.

SQLite (WAL) in ``.kubeward/kubeward.db`` by default, PostgreSQL (psycopg 3) by URL. Opening a
store applies any pending migration, so a store is always at the schema this code expects.
"""

from kubeward.store.db import Store, open_store
from kubeward.store.errors import StoreError, StoreNotFoundError, StoreURLError
from kubeward.store.url import DEFAULT_STORE, resolve_url

__all__ = [
    "DEFAULT_STORE",
    "Store",
    "StoreError",
    "StoreNotFoundError",
    "StoreURLError",
    "open_store",
    "resolve_url",
]
