"""The SQL store and the event center on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import String, func, inspect, select, text

from kubeward.events import (
    EventFilter,
    EventShapeError,
    list_events,
    normalize_event,
    purge_events,
    stats,
    upsert_events,
)
from kubeward.events.timeparse import human_duration, parse_duration, parse_time
from kubeward.store import (
    Store,
    StoreError,
    StoreNotFoundError,
    StoreURLError,
    open_store,
    resolve_url,
)
from kubeward.store.migrate import alembic_config, head_revision
from kubeward.store.schema import events, metadata
from postgres_fixture import PostgresServer

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def core_event(
    i: int,
    *,
    rv: int | None = None,
    count: int = 1,
    namespace: str = "default",
    kind: str = "Pod",
    obj: str | None = None,
    reason: str = "BackOff",
    type_: str = "Warning",
    first: datetime = T0,
    last: datetime | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """A core/v1 Event as the legacy recorder (kubelet, controllers) writes it."""
    name = obj or f"web-{i}"
    meta: dict[str, Any] = {"name": f"{name}.{i:x}", "namespace": namespace, "uid": f"uid-{i}"}
    if rv is not None:
        meta["resourceVersion"] = str(rv)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta,
        "involvedObject": {
            "kind": kind,
            "namespace": namespace,
            "name": name,
            "uid": f"obj-{name}",
            "apiVersion": "v1",
            "fieldPath": "spec.containers{app}",
        },
        "reason": reason,
        "message": message or f"Back-off restarting failed container app in pod {name}",
        "type": type_,
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ts(first),
        "lastTimestamp": ts(last or first),
        "count": count,
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1",
    }


def new_event(i: int, *, rv: int | None = None, series: int = 0, when: datetime = T0) -> dict:
    """An events.k8s.io/v1 Event as kube-scheduler's recorder writes it."""
    meta: dict[str, Any] = {"name": f"web-{i}.{i:x}", "namespace": "default", "uid": f"uid-{i}"}
    if rv is not None:
        meta["resourceVersion"] = str(rv)
    obj: dict[str, Any] = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta,
        "eventTime": micro(when),
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-cp-1",
        "action": "Scheduling",
        "reason": "FailedScheduling",
        "regarding": {"kind": "Pod", "namespace": "default", "name": f"web-{i}", "uid": "p1"},
        "related": {"kind": "Node", "name": "node-3", "apiVersion": "v1"},
        "note": "0/3 nodes are available: 3 Insufficient cpu.",
        "type": "Warning",
    }
    if series:
        obj["series"] = {
            "count": series,
            "lastObservedTime": micro(when + timedelta(minutes=series)),
        }
    return obj


# -- backends ---------------------------------------------------------------------------------


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        yield opened


def write(store: Store, *objs: dict[str, Any], cluster: str = "default") -> None:
    for obj in objs:  # one statement per row: a batch must not hold a uid twice
        with store.write() as conn:
            upsert_events(conn, [normalize_event(obj, cluster)])


def all_rows(store: Store) -> list[dict[str, Any]]:
    return list_events(store, EventFilter(), limit=None)


# -- URLs -------------------------------------------------------------------------------------


def test_default_store_is_sqlite_file_under_dot_kubeward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = resolve_url(None)
    assert url.drivername == "sqlite"
    assert url.database == str(tmp_path / ".kubeward/kubeward.db")
    with open_store() as opened:
        assert opened.dialect == "sqlite"
    assert (tmp_path / ".kubeward/kubeward.db").exists()


def test_postgres_urls_use_psycopg3() -> None:
    for text_ in ("postgresql://u:p@h:5433/db", "postgres://u:p@h:5433/db"):
        url = resolve_url(text_)
        assert url.drivername == "postgresql+psycopg"
        assert (url.host, url.port, url.database) == ("h", 5433, "db")
    assert resolve_url("postgresql+psycopg://h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("mysql://h/db", "unsupported store URL scheme 'mysql'"),
        ("postgresql+psycopg2://u:secret@h/db", "use postgresql+psycopg://"),
        ("postgresql://h", "names no database"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("://x", "cannot parse store URL"),
    ],
)
def test_bad_store_urls_are_explained(bad: str, expected: str) -> None:
    with pytest.raises(StoreURLError) as info:
        resolve_url(bad)
    assert expected in str(info.value)
    assert "secret" not in str(info.value)


def test_unreachable_postgres_is_a_clear_store_error() -> None:
    with socket_port() as port, pytest.raises(StoreError) as info:
        open_store(f"postgresql://kubeward:secret@127.0.0.1:{port}/db")
    message = str(info.value)
    assert f"cannot open store postgresql+psycopg://kubeward:***@127.0.0.1:{port}/db" in message
    assert "Check that PostgreSQL is running" in message
    assert "secret" not in message


class socket_port:
    """A loopback port with nothing listening on it."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        return int(self.sock.getsockname()[1])

    def __exit__(self, *_: object) -> None:
        self.sock.close()


def test_read_only_open_of_missing_sqlite_store_fails(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError, match="no event store at"):
        open_store(str(tmp_path / "nope.db"), create=False)
    assert not (tmp_path / "nope.db").exists()


# -- schema and migrations --------------------------------------------------------------------


def test_open_migrates_to_head_and_matches_the_tables(store: Store) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        assert ctx.get_current_revision() == head_revision()
        # The migrations build exactly what schema.py declares (columns, types, indexes).
        assert compare_metadata(ctx, metadata) == []
    names = set(inspect(store.engine).get_table_names())
    assert {"events", "resume_versions", "alembic_version"} <= names


def test_key_columns_compare_bytes_on_a_postgresql_database_with_a_locale(
    postgres_server: PostgresServer,
) -> None:
    """Every indexed string column is created, or migrated, with collation "C" (KeyString),
    whatever the database's own collation: here glibc's C.UTF-8, the Debian default."""
    url = postgres_server.create_database(locale="C.utf8")
    keyed = {
        (table.name, column.name)
        for table in metadata.tables.values()
        for index in [*table.indexes, *table.constraints]
        for column in getattr(index, "columns", [])
        if isinstance(column.type, String)
    }
    assert ("events", "uid") in keyed and ("resume_versions", "resource") in keyed
    with open_store(url) as store, store.read() as conn:
        assert conn.execute(text("SELECT datcollate FROM pg_database WHERE datname = "
                                 "current_database()")).scalar_one() == "C.utf8"  # fmt: skip
        collations = {
            (table, column): collation
            for table, column, collation in conn.execute(
                text(
                    "SELECT table_name, column_name, collation_name FROM "
                    "information_schema.columns WHERE table_schema = 'public'"
                )
            )
        }
    assert {key: collations[key] for key in keyed} == dict.fromkeys(keyed, "C")
    # Only those: other text columns keep the database's collation.
    assert collations["events", "message"] is None


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "k.db")):
        pass
    mode = sqlite3.connect(tmp_path / "k.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_migrations_downgrade_and_upgrade_again(store: Store) -> None:
    write(store, core_event(1))
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "events" not in inspect(store.engine).get_table_names()
    store._migrated = False  # reopen semantics: the next use migrates again
    write(store, core_event(2))
    assert [r["uid"] for r in all_rows(store)] == ["uid-2"]


def _migrate(store: Store, action: str, revision: str) -> None:
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def test_events_keep_every_row_across_the_key_migration(store: Store) -> None:
    # 0004 drops the surrogate id (the key becomes cluster, uid); down and up keep every row.
    write(store, *(core_event(i, rv=i, count=i) for i in range(1, 6)))
    write(store, core_event(1, rv=9, count=7), cluster="other")
    before = all_rows(store)
    _migrate(store, "downgrade", "0003")
    with store.read() as conn:
        ids = conn.execute(text("SELECT id FROM events")).scalars().all()
    assert sorted(ids) == list(range(1, 7))
    # The old schema numbers a new row itself, as kubeward 0003 wrote them (without an id).
    with store.engine.begin() as conn:
        columns = [c for c in before[0] if c != "uid"]
        conn.execute(
            text(
                f"INSERT INTO events (uid, {', '.join(columns)}) "
                f"SELECT 'uid-new', {', '.join(columns)} FROM events WHERE uid = 'uid-2'"
            )
        )
        assert conn.execute(text("SELECT max(id) FROM events")).scalar_one() == 7
    _migrate(store, "upgrade", "head")
    after = all_rows(store)
    assert [r for r in after if r["uid"] != "uid-new"] == before
    assert [r["uid"] for r in after].count("uid-new") == 1
    write(store, core_event(1, rv=20, count=8))  # the upsert finds rows by the new key
    assert [(r["cluster"], r["count"]) for r in all_rows(store) if r["uid"] == "uid-1"] == [
        ("default", 8),
        ("other", 7),
    ]


def test_store_from_a_newer_kubeward_is_refused(store_url: str) -> None:
    with open_store(store_url) as opened, opened.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="written by a newer kubeward"):
        open_store(store_url)


def test_concurrent_first_opens_migrate_once(store_url: str) -> None:
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            with open_store(store_url) as opened:
                opened.set_resume_version("c", "events", "1")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(store_url) as opened:
        assert opened.get_resume_version("c", "events") == "1"


def test_first_open_waits_for_a_lock_another_connection_holds(tmp_path: Path) -> None:
    """Switching a new file to WAL fails at once while another connection holds the write
    lock (as a concurrent opener migrating the store does; SQLite does not wait for that one
    statement): the opener must wait as for any other lock."""
    path = tmp_path / "kubeward.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, holder.commit)
    release.start()
    try:
        with open_store(str(path)) as opened:
            opened.set_resume_version("c", "events", "1")
            assert opened.get_resume_version("c", "events") == "1"
    finally:
        release.join()
        holder.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# -- resume points ----------------------------------------------------------------------------


def test_resume_versions_per_cluster_and_resource(store: Store) -> None:
    assert store.get_resume_version("prod", "events") is None
    store.set_resume_version("prod", "events", "100")
    store.set_resume_version("prod", "events.events.k8s.io", "7")
    store.set_resume_version("dev", "events", "5")
    store.set_resume_version("prod", "events", "250")
    assert store.get_resume_version("prod", "events") == "250"
    assert store.get_resume_version("prod", "events.events.k8s.io") == "7"
    assert store.get_resume_version("dev", "events") == "5"


# -- normalisation ----------------------------------------------------------------------------


def test_core_v1_event_is_normalised() -> None:
    row = normalize_event(core_event(1, rv=42, count=3, last=T0 + timedelta(minutes=5)), "c1")
    assert row["cluster"] == "c1"
    assert row["uid"] == "uid-1"
    assert row["resource_version"] == 42
    assert row["api_version"] == "v1"
    assert (row["object_kind"], row["object_name"], row["object_uid"]) == (
        "Pod",
        "web-1",
        "obj-web-1",
    )
    assert row["object_field_path"] == "spec.containers{app}"
    assert (row["reason"], row["type"], row["count"]) == ("BackOff", "Warning", 3)
    assert (row["reporting_controller"], row["reporting_instance"]) == ("kubelet", "node-1")
    assert row["first_seen"] == T0 and row["last_seen"] == T0 + timedelta(minutes=5)
    assert row["event_time"] is None and row["series_last_observed"] is None


def test_events_k8s_io_event_with_series_is_normalised() -> None:
    row = normalize_event(new_event(2, rv=7, series=4), "c1")
    assert row["api_version"] == "events.k8s.io/v1"
    assert row["message"] == "0/3 nodes are available: 3 Insufficient cpu."
    assert row["count"] == 4  # series.count
    assert row["event_time"] == T0
    assert row["first_seen"] == T0  # no firstTimestamp: eventTime
    assert row["last_seen"] == T0 + timedelta(minutes=4)  # series.lastObservedTime
    assert row["action"] == "Scheduling"
    assert row["reporting_controller"] == "default-scheduler"
    assert (row["related_kind"], row["related_name"]) == ("Node", "node-3")


def test_both_apis_give_the_same_row_for_one_object() -> None:
    """One stored Event, served as core/v1 and as events.k8s.io/v1 (renamed fields)."""
    core = core_event(3, rv=9, count=2)
    renamed = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": core["metadata"],
        "regarding": core["involvedObject"],
        "note": core["message"],
        "reason": core["reason"],
        "type": core["type"],
        "deprecatedSource": core["source"],
        "deprecatedFirstTimestamp": core["firstTimestamp"],
        "deprecatedLastTimestamp": core["lastTimestamp"],
        "deprecatedCount": core["count"],
        "reportingController": "kubelet",
        "reportingInstance": "node-1",
    }
    a, b = normalize_event(core, "c"), normalize_event(renamed, "c")
    assert a.pop("api_version") == "v1" and b.pop("api_version") == "events.k8s.io/v1"
    assert a == b


def test_normalisation_edge_cases() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    bare = {"metadata": {"name": "x.1", "namespace": "ns"}, "reason": "R\x00", "message": "m"}
    row = normalize_event(bare, "c", now=now)
    assert row["uid"] == "ns/x.1"  # no uid: name within namespace
    assert row["first_seen"] == row["last_seen"] == now  # no timestamp at all: ingest time
    assert row["reason"] == "R"  # NUL removed (PostgreSQL text cannot hold it)
    assert row["count"] == 1
    long = normalize_event({**bare, "reason": "x" * 500}, "c")
    assert len(long["reason"]) == 128
    zero = normalize_event({**bare, "firstTimestamp": "0001-01-01T00:00:00Z"}, "c", now=now)
    assert zero["first_timestamp"] is None
    with pytest.raises(EventShapeError, match="kind is 'Pod'"):
        normalize_event({"kind": "Pod", "metadata": {"name": "p"}}, "c")
    with pytest.raises(EventShapeError, match=r"metadata\.name is missing"):
        normalize_event({"kind": "Event", "metadata": {}}, "c")
    with pytest.raises(EventShapeError, match="lastTimestamp is 'yesterday'"):
        normalize_event({**bare, "lastTimestamp": "yesterday"}, "c")


# -- dedupe -----------------------------------------------------------------------------------


def test_series_updates_one_row(store: Store) -> None:
    write(store, core_event(1, rv=10, count=1))
    write(store, core_event(1, rv=11, count=2, last=T0 + timedelta(minutes=1)))
    write(store, core_event(1, rv=15, count=7, last=T0 + timedelta(minutes=9)))
    [row] = all_rows(store)
    assert (row["count"], row["resource_version"]) == (7, 15)
    assert row["first_seen"] == T0 and row["last_seen"] == T0 + timedelta(minutes=9)


def test_older_version_arriving_late_is_ignored(store: Store) -> None:
    write(store, core_event(1, rv=20, count=5, last=T0 + timedelta(minutes=5)))
    write(store, core_event(1, rv=12, count=2, last=T0 + timedelta(minutes=2)))
    [row] = all_rows(store)
    assert (row["count"], row["resource_version"]) == (5, 20)


def test_without_resource_version_the_later_last_seen_wins(store: Store) -> None:
    write(store, core_event(1, count=5, last=T0 + timedelta(minutes=5)))
    write(store, core_event(1, count=2, last=T0 + timedelta(minutes=2)))
    assert all_rows(store)[0]["count"] == 5
    write(store, core_event(1, count=6, last=T0 + timedelta(minutes=6)))
    assert all_rows(store)[0]["count"] == 6


def test_same_uid_in_two_clusters_is_two_events(store: Store) -> None:
    write(store, core_event(1, rv=1), cluster="a")
    write(store, core_event(1, rv=1), cluster="b")
    assert sorted(r["cluster"] for r in all_rows(store)) == ["a", "b"]


def test_both_shapes_of_one_object_are_one_row(store: Store) -> None:
    write(store, new_event(4, rv=30, series=2))
    write(store, {**new_event(4, rv=30, series=2), "apiVersion": "v1"})  # replay via core/v1
    write(store, new_event(4, rv=31, series=3))
    [row] = all_rows(store)
    assert row["count"] == 3


def test_batch_upsert(store: Store) -> None:
    rows = [normalize_event(core_event(i, rv=i + 1), "c") for i in range(500)]
    with store.write() as conn:
        upsert_events(conn, rows)
    rows = [normalize_event(core_event(i, rv=i + 1000, count=2), "c") for i in range(250, 750)]
    with store.write() as conn:
        upsert_events(conn, rows)
    with store.read() as conn:
        total = conn.execute(select(func.count(), func.sum(events.c.count))).one()
    assert tuple(total) == (750, 250 + 500 * 2)


# -- queries ----------------------------------------------------------------------------------


@pytest.fixture
def populated(store: Store) -> Store:
    write(
        store,
        core_event(1, namespace="shop", obj="web-1", reason="BackOff", last=T0),
        core_event(
            2,
            namespace="shop",
            obj="web-1",
            reason="Pulled",
            type_="Normal",
            last=T0 + timedelta(minutes=1),
        ),
        core_event(
            3,
            namespace="shop",
            kind="Deployment",
            obj="web",
            reason="ScalingReplicaSet",
            type_="Normal",
            count=4,
            last=T0 + timedelta(minutes=2),
        ),
        core_event(
            4,
            namespace="blog",
            obj="db-0",
            reason="BackOff",
            count=10,
            last=T0 + timedelta(minutes=3),
        ),
        core_event(
            5,
            namespace="default",
            kind="Node",
            obj="node-1",
            reason="NodeNotReady",
            last=T0 - timedelta(days=2),
        ),
    )
    write(store, core_event(6, namespace="shop", obj="web-1"), cluster="other")
    return store


def uids(store: Store, **kw: Any) -> list[str]:
    limit = kw.pop("limit", None)
    return [r["uid"] for r in list_events(store, EventFilter(**kw), limit=limit)]


def test_queries_filter_and_sort_newest_first(populated: Store) -> None:
    s = populated
    assert uids(s, cluster="default") == ["uid-4", "uid-3", "uid-2", "uid-1", "uid-5"]
    assert uids(s, cluster="default", namespace="shop") == ["uid-3", "uid-2", "uid-1"]
    assert uids(s, cluster="default", kind="po", name="web-1") == ["uid-2", "uid-1"]
    assert uids(s, cluster="default", kind="pods") == ["uid-4", "uid-2", "uid-1"]
    assert uids(s, cluster="default", kind="deploy") == ["uid-3"]
    assert uids(s, cluster="default", kind="Node") == ["uid-5"]
    assert uids(s, cluster="default", reason="BackOff") == ["uid-4", "uid-1"]
    assert uids(s, cluster="default", type="Normal") == ["uid-3", "uid-2"]
    assert uids(s, cluster="default", since=T0 + timedelta(minutes=1)) == [
        "uid-4",
        "uid-3",
        "uid-2",
    ]
    assert uids(s, cluster="default", until=T0) == ["uid-1", "uid-5"]
    assert uids(s, cluster="default", limit=2) == ["uid-4", "uid-3"]
    # No cluster filter: both clusters. Equal last-seen times and no resourceVersions: by
    # cluster, then uid.
    assert uids(s, name="web-1", reason="BackOff") == ["uid-1", "uid-6"]


def test_equal_last_seen_times_list_the_latest_written_first(store: Store) -> None:
    # core/v1 timestamps have whole seconds: a pod's Created and Started share one.
    for i, rv in ((1, 30), (2, 10), (3, None), (4, 20)):
        write(store, core_event(i, rv=rv, last=T0))
    write(store, core_event(5, rv=5, last=T0 + timedelta(seconds=1)))
    assert uids(store) == ["uid-5", "uid-1", "uid-4", "uid-2", "uid-3"]


def test_query_returns_aware_utc_times(populated: Store) -> None:
    row = list_events(populated, EventFilter(cluster="default"), limit=1)[0]
    assert row["last_seen"] == T0 + timedelta(minutes=3)
    assert row["last_seen"].tzinfo is not None


def test_stats_by_type_and_reason(populated: Store) -> None:
    counts = stats(populated, EventFilter(cluster="default"))
    assert [(c.type, c.reason, c.events, c.occurrences) for c in counts] == [
        ("Warning", "BackOff", 2, 11),
        ("Normal", "ScalingReplicaSet", 1, 4),
        ("Normal", "Pulled", 1, 1),
        ("Warning", "NodeNotReady", 1, 1),
    ]
    shop = stats(populated, EventFilter(cluster="default", namespace="shop", type="Warning"))
    assert [(c.reason, c.events) for c in shop] == [("BackOff", 1)]


# -- retention --------------------------------------------------------------------------------


def test_retention_purges_by_last_seen(store: Store) -> None:
    now = T0 + timedelta(days=10)
    write(
        store,
        core_event(1, first=T0, last=T0 + timedelta(days=1)),  # last seen 9 days ago
        core_event(2, first=T0, last=T0 + timedelta(days=9)),  # old series, seen yesterday
        core_event(3, first=T0 + timedelta(days=9, hours=23)),
    )
    assert purge_events(store, timedelta(days=7), now=now) == 1
    assert sorted(r["uid"] for r in all_rows(store)) == ["uid-2", "uid-3"]
    assert purge_events(store, timedelta(hours=2), now=now) == 1
    assert [r["uid"] for r in all_rows(store)] == ["uid-3"]
    with pytest.raises(ValueError, match="positive"):
        purge_events(store, timedelta(0))


# -- durations and ages -----------------------------------------------------------------------


def test_durations() -> None:
    assert parse_duration("30s") == timedelta(seconds=30)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("2w") == timedelta(days=14)
    for bad in ("", "7", "d", "1y", "-1h", "1.5h", "0s"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    now = datetime(2025, 1, 2, tzinfo=UTC)
    assert parse_time("1d", now) == datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_time("2025-01-01T06:00:00Z") == datetime(2025, 1, 1, 6, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a duration"):
        parse_time("yesterday")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(5, "5s"), (119, "119s"), (150, "2m30s"), (180, "3m"), (3600, "60m"), (4 * 3600 + 60, "4h1m"),
     (30 * 3600, "30h"), (3 * 86400 + 3600, "3d1h"), (40 * 86400, "40d"),
     (3 * 365 * 86400 + 86400, "3y1d"), (10 * 365 * 86400, "10y"), (-5, "<invalid>")],
)  # fmt: skip
def test_ages_as_kubectl_prints_them(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_postgres_connections_name_kubeward_and_time_out(
    postgres_server: PostgresServer,
) -> None:
    with open_store(postgres_server.create_database()) as opened, opened.read() as conn:
        assert conn.execute(text("SHOW application_name")).scalar_one() == "kubeward"
        assert opened.engine.dialect.name == "postgresql"
        assert conn.connection.dbapi_connection.info.get_parameters()["connect_timeout"] == "5"


def test_table_fits_a_terminal_by_wrapping_messages(populated: Store) -> None:
    import io

    from rich.console import Console

    from kubeward.events.render import events_table, print_table

    out = io.StringIO()
    console = Console(file=out, width=90, force_terminal=True, color_system=None)
    rows = list_events(populated, EventFilter(cluster="default"), limit=None)
    print_table(console, events_table(rows, show_namespace=True, now=T0 + timedelta(minutes=4)))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 90 for line in lines)
    assert len(lines) > len(rows) + 1  # long messages wrapped onto more lines
    assert lines[1].split()[:5] == ["blog", "60s", "Warning", "BackOff", "pod/db-0"]
