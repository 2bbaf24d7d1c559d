"""Control-plane alerts in the SQL store (table ``alerts``, see docs/guard.md).

One row per :class:`kubeward.guard.detect.Alert`: inserted when it opens, updated when its
signals, suspects, mitigation or summary change and when it closes. Signals, suspects and the
protected users are stored as JSON text (the same shapes as ``Alert.to_dict()``), so SQLite and
PostgreSQL hold them alike. Times are the API server's (the simulator's modelled time in a
replay), as timezone-aware UTC datetimes.

SQLAlchemy Core over a :class:`kubeward.store.Store`, like ``kubeward.events``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from kubeward.guard.detect import Alert
from kubeward.store import Store
from kubeward.store.schema import alerts


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def alert_values(alert: Alert) -> dict[str, Any]:
    """The row an alert is stored as (without its cluster)."""
    doc = alert.to_dict()
    return {
        "opened_at": _time(alert.opened_at),
        "closed_at": _time(alert.closed_at),
        "mitigated_at": _time(alert.mitigated_at),
        "signals": json.dumps(doc["signals"]),
        "suspects": json.dumps(doc["suspects"]),
        "protected": json.dumps(doc["protected"]),
        "summary": alert.summary(),
    }


@dataclass(frozen=True)
class StoredAlert:
    id: int
    cluster: str
    opened_at: datetime
    closed_at: datetime | None
    mitigated_at: datetime | None
    signals: list[dict[str, Any]]  # {"name", "detail"}
    suspects: list[dict[str, Any]]  # Suspect.to_dict(): user, userAgent, costShare, ...
    protected: list[str]  # users the guard throttled for this alert
    summary: str

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @classmethod
    def from_row(cls, row: Any) -> StoredAlert:
        return cls(
            id=int(row["id"]),
            cluster=row["cluster"],
            opened_at=row["opened_at"],
            closed_at=row["closed_at"],
            mitigated_at=row["mitigated_at"],
            signals=json.loads(row["signals"]),
            suspects=json.loads(row["suspects"]),
            protected=json.loads(row["protected"]),
            summary=row["summary"],
        )

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat().replace("+00:00", "Z")

        return {
            "id": self.id,
            "cluster": self.cluster,
            "openedAt": iso(self.opened_at),
            "closedAt": iso(self.closed_at),
            "mitigatedAt": iso(self.mitigated_at),
            "signals": self.signals,
            "suspects": self.suspects,
            "protected": self.protected,
            "summary": self.summary,
        }


def insert_alert(store: Store, cluster: str, alert: Alert, conn: Connection | None = None) -> int:
    """Store a newly opened alert; returns its row id."""
    if conn is None:
        with store.write() as own:
            return insert_alert(store, cluster, alert, own)
    result = conn.execute(insert(alerts).values(cluster=cluster, **alert_values(alert)))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def update_alert(store: Store, alert_id: int, alert: Alert, conn: Connection | None = None) -> bool:
    """Overwrite row ``alert_id`` with the alert's current state; False if there is no such row."""
    if conn is None:
        with store.write() as own:
            return update_alert(store, alert_id, alert, own)
    result = conn.execute(
        update(alerts).where(alerts.c.id == alert_id).values(**alert_values(alert))
    )
    return bool(result.rowcount)


def get_alert(store: Store, alert_id: int) -> StoredAlert | None:
    with store.read() as conn:
        row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().first()
    return None if row is None else StoredAlert.from_row(row)


def list_alerts(
    store: Store,
    *,
    cluster: str | None = None,
    open_only: bool = False,
    since: datetime | None = None,
    limit: int | None = 100,
) -> list[StoredAlert]:
    """Stored alerts, newest opened first; ``since`` bounds the opening time."""
    stmt = select(alerts)
    if cluster is not None:
        stmt = stmt.where(alerts.c.cluster == cluster)
    if open_only:
        stmt = stmt.where(alerts.c.closed_at.is_(None))
    if since is not None:
        stmt = stmt.where(alerts.c.opened_at >= since)
    stmt = stmt.order_by(alerts.c.opened_at.desc(), alerts.c.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    with store.read() as conn:
        return [StoredAlert.from_row(row) for row in conn.execute(stmt).mappings()]


class AlertRecorder:
    """Keeps the store in step with a guard's alerts: :meth:`sync` inserts an alert the first
    time it sees it and updates its row whenever its stored values changed since."""

    def __init__(self, store: Store, cluster: str) -> None:
        self.store = store
        self.cluster = cluster
        # id(alert) -> (the alert, kept so its id is never reused; row id; values stored)
        self._rows: dict[int, tuple[Alert, int, dict[str, Any]]] = {}

    def row_id(self, alert: Alert) -> int | None:
        entry = self._rows.get(id(alert))
        return entry[1] if entry else None

    def sync(self, alert: Alert) -> str | None:
        """``"inserted"``, ``"updated"`` or None (nothing changed). Store errors propagate,
        and the next call tries again (an alert not yet inserted is inserted then)."""
        values = alert_values(alert)
        entry = self._rows.get(id(alert))
        if entry is None:
            with self.store.write() as conn:
                row_id = insert_alert(self.store, self.cluster, alert, conn)
            self._rows[id(alert)] = (alert, row_id, values)
            return "inserted"
        _, row_id, stored = entry
        if values == stored:
            return None
        with self.store.write() as conn:
            update_alert(self.store, row_id, alert, conn)
        self._rows[id(alert)] = (alert, row_id, values)
        return "updated"
