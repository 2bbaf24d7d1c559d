"""The guard's alerts in the SQL store, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect

from kubeward.guard.alertstore import (
    AlertRecorder,
    get_alert,
    insert_alert,
    list_alerts,
    update_alert,
)
from kubeward.guard.detect import Alert, Suspect
from kubeward.guard.health import Signal
from kubeward.store import Store, open_store

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
AGENT = "system:serviceaccount:monitoring:telemetry-agent"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


def alert(opened: float = T0) -> Alert:
    return Alert(
        opened_at=opened,
        signals=[Signal("memory-growth", "memory 3,000 MiB, up 900 MiB in 120 s")],
        suspects=[
            Suspect(AGENT, "telemetry-agent/2.0.0", 0.71, 40.0, None),
            Suspect("system:node:{node}", "kubelet/v1.31.0", 0.12, 6.6, "a kubelet"),
        ],
        last_signal_at=opened,
    )


def test_alerts_table_exists_after_migration(store: Store) -> None:
    columns = {c["name"] for c in inspect(store.engine).get_columns("alerts")}
    assert columns == {
        "id", "cluster", "opened_at", "closed_at", "mitigated_at", "signals", "suspects",
        "protected", "summary",
    }  # fmt: skip


def test_insert_update_and_read_back(store: Store) -> None:
    a = alert()
    row_id = insert_alert(store, "prod", a)
    stored = get_alert(store, row_id)
    assert stored is not None
    assert stored.cluster == "prod"
    assert stored.opened_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert stored.is_open and stored.mitigated_at is None
    assert stored.signals == [
        {"name": "memory-growth", "detail": "memory 3,000 MiB, up 900 MiB in 120 s"}
    ]
    assert [s["user"] for s in stored.suspects] == [AGENT, "system:node:{node}"]
    assert stored.suspects[0]["costShare"] == 0.71 and stored.suspects[0]["protectable"]
    assert stored.suspects[1]["refusal"] == "a kubelet"
    assert stored.protected == []
    assert AGENT in stored.summary and "71%" in stored.summary

    a.signals.append(Signal("throttling", "12.0 requests/s rejected (429)"))
    a.protected.append(AGENT)
    a.mitigated_at = T0 + 25.5
    a.closed_at = T0 + 600
    assert update_alert(store, row_id, a)
    stored = get_alert(store, row_id)
    assert stored is not None
    assert not stored.is_open
    assert stored.mitigated_at == datetime(2026, 1, 1, 0, 0, 25, 500000, tzinfo=UTC)
    assert stored.closed_at == datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
    assert [s["name"] for s in stored.signals] == ["memory-growth", "throttling"]
    assert stored.protected == [AGENT]
    doc = stored.to_dict()
    assert doc["openedAt"] == "2026-01-01T00:00:00Z" and doc["closedAt"] == "2026-01-01T00:10:00Z"

    assert not update_alert(store, row_id + 1000, a)  # no such row
    assert get_alert(store, row_id + 1000) is None


def test_list_filters_and_orders_newest_first(store: Store) -> None:
    first, second, other = alert(T0), alert(T0 + 3600), alert(T0 + 1800)
    first.closed_at = T0 + 900
    ids = [insert_alert(store, "prod", first), insert_alert(store, "prod", second)]
    insert_alert(store, "staging", other)
    assert [a.id for a in list_alerts(store, cluster="prod")] == ids[::-1]
    assert [a.cluster for a in list_alerts(store)] == ["prod", "staging", "prod"]
    assert [a.id for a in list_alerts(store, cluster="prod", open_only=True)] == [ids[1]]
    since = datetime.fromtimestamp(T0 + 1000, UTC)
    assert {a.cluster for a in list_alerts(store, since=since)} == {"prod", "staging"}
    assert len(list_alerts(store, limit=1)) == 1


def test_recorder_inserts_once_and_updates_on_change_only(store: Store) -> None:
    recorder = AlertRecorder(store, "prod")
    a = alert()
    assert recorder.sync(a) == "inserted"
    assert recorder.sync(a) is None  # nothing changed: no write
    a.suspects[0].share = 0.8
    assert recorder.sync(a) == "updated"
    a.closed_at = T0 + 300
    assert recorder.sync(a) == "updated"
    b = alert(T0 + 900)
    assert recorder.sync(b) == "inserted"
    stored = list_alerts(store, cluster="prod")
    assert [s.id for s in stored] == [recorder.row_id(b), recorder.row_id(a)]
    assert stored[1].suspects[0]["costShare"] == 0.8 and not stored[1].is_open
    assert stored[0].is_open
