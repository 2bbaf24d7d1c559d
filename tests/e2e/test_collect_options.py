"""``kubeward collect`` options end to end: ``--context`` picks a kubeconfig context,
``--event-retention`` purges the collector's old events, and with the event store down events
are buffered up to ``--event-buffer``, the overflow is counted on /metrics, and a restart
relists so that nothing dropped stays missing."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from e2e.test_collect_support import collect_command, start_collector, value
from kubeward.events import EventWriter
from kubeward.store import open_store
from kubeward.store.schema import events
from simproc import SimProcess, eventually

pytestmark = pytest.mark.e2e


def event(name: str, ns: str, last: datetime, uid: str | None = None) -> dict[str, Any]:
    stamp = last.strftime("%Y-%m-%dT%H:%M:%SZ")
    meta: dict[str, Any] = {"name": name, "namespace": ns, "resourceVersion": "1"}
    if uid:
        meta["uid"] = uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta,
        "involvedObject": {"kind": "Pod", "namespace": ns, "name": "app-1"},
        "reason": "Tested",
        "message": f"{name} happened",
        "type": "Normal",
        "source": {"component": "e2e"},
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
    }


def stored_uids(db: Path, cluster: str = "default") -> set[str]:
    with open_store(str(db), create=False) as store, store.read() as conn:
        rows = conn.execute(select(events.c.uid).where(events.c.cluster == cluster))
        return {row[0] for row in rows}


def listed_uids(kube: httpx.Client) -> set[str]:
    items = kube.get("/api/v1/events").json()["items"]
    return {e["metadata"]["uid"] for e in items}


def test_context_option_selects_the_kubeconfig_context(sim: SimProcess, tmp_path: Path) -> None:
    config = yaml.safe_load(sim.kubeconfig.read_text())
    good = config["current-context"]
    user = next(c for c in config["contexts"] if c["name"] == good)["context"]["user"]
    config["clusters"].append({"name": "nowhere", "cluster": {"server": "http://127.0.0.1:1"}})
    config["contexts"].append({"name": "nowhere", "context": {"cluster": "nowhere", "user": user}})
    config["current-context"] = "nowhere"
    kubeconfig = tmp_path / "two-contexts.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))

    # The current context points nowhere: a clear error naming it, exit 1.
    cmd = collect_command(kubeconfig, "--listen", "127.0.0.1:0", "--no-store")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert 'context "nowhere"' in result.stderr and "127.0.0.1:1" in result.stderr

    collector = start_collector(tmp_path, kubeconfig, "--context", good, "--no-store")
    try:
        collector.wait_ready(60)
        assert value(collector.scrape(), "kube_node_info") >= 1
    finally:
        assert collector.stop() == 0, collector.log()


def test_event_retention_purges_this_clusters_old_events(sim: SimProcess, tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    old = datetime.now(UTC) - timedelta(days=30)
    with open_store(str(db)) as store:
        for cluster in ("default", "other"):
            writer = EventWriter(store, cluster=cluster)
            writer.add(event("ancient", "gone", old, uid=f"old-{cluster}"))
            assert writer.close()
    assert "old-default" in stored_uids(db) and "old-other" in stored_uids(db, "other")

    collector = start_collector(
        tmp_path, sim.kubeconfig, "--store", str(db), "--event-retention", "7d"
    )
    try:
        collector.wait_ready(60)
        with sim.client() as kube:
            live = listed_uids(kube)
        # The simulator's events (recent) are stored; the 30-day-old one of this --cluster is
        # purged; another cluster's is not the collector's to delete.
        eventually(lambda: live <= stored_uids(db) and "old-default" not in stored_uids(db))
        assert stored_uids(db, "other") == {"old-other"}
    finally:
        assert collector.stop() == 0, collector.log()


@pytest.mark.parametrize("bad", ["soon", "0s", "-1d"])
def test_bad_event_retention_names_the_option(tmp_path: Path, bad: str) -> None:
    kubeconfig = tmp_path / "unused.kubeconfig"
    kubeconfig.write_text("{}")
    cmd = collect_command(kubeconfig, "--event-retention", bad)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "--event-retention" in result.stderr


def test_store_down_buffers_counts_overflow_and_a_restart_recovers_the_dropped(
    sim: SimProcess, tmp_path: Path
) -> None:
    ns = "ev-overflow"
    db = tmp_path / "events.db"
    open_store(str(db)).close()  # migrated, then held locked: the store is down for writers
    url = f"sqlite:///{db}?timeout=0.05"
    with sim.client() as kube:
        assert kube.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code == 201
        now = datetime.now(UTC)
        for i in range(20):
            r = kube.post(f"/api/v1/namespaces/{ns}/events", json=event(f"e{i}", ns, now))
            assert r.status_code == 201, r.text

        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        first = start_collector(
            tmp_path, sim.kubeconfig, "--store", url, "--event-buffer", "5", name="first"
        )
        try:
            first.wait_ready(60)

            def overflowing() -> bool:
                text = first.scrape()
                return (
                    value(text, "kubeward_events_store_up") == 0
                    and value(text, "kubeward_events_buffered") == 5
                    and value(text, "kubeward_events_dropped_total") >= 15
                )

            eventually(overflowing, timeout=20)
            lock.rollback()

            def drained() -> bool:
                text = first.scrape()
                up = value(text, "kubeward_events_store_up")
                return up == 1 and value(text, "kubeward_events_buffered") == 0

            # The store is back: the buffer drains; what overflowed is missing for now.
            eventually(drained, timeout=30)
            assert len(stored_uids(db)) < len(listed_uids(kube))
        finally:
            lock.close()  # rolls back if the test failed while holding the lock
            assert first.stop() == 0, first.log()
        assert "event_buffer_overflow" in first.log()

        # After a loss the resume point was not advanced, so the next run relists and the
        # store's uid dedupe absorbs the replay: every event the API holds is stored.
        second = start_collector(tmp_path, sim.kubeconfig, "--store", url, name="second")
        try:
            second.wait_ready(60)
            eventually(lambda: listed_uids(kube) <= stored_uids(db), timeout=30)
            assert value(second.scrape(), "kubeward_events_dropped_total") == 0
        finally:
            assert second.stop() == 0, second.log()


def test_events_lost_at_shutdown_make_the_exit_code_3(sim: SimProcess, tmp_path: Path) -> None:
    """Stopped while the store is down, the buffered Events cannot be written: the collector
    says so and exits 3, not 0, so a supervisor or a script sees the loss."""
    ns = "ev-lost"
    db = tmp_path / "events.db"
    open_store(str(db)).close()
    url = f"sqlite:///{db}?timeout=0.05"
    with sim.client() as kube:
        assert kube.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code == 201
        now = datetime.now(UTC)
        for i in range(3):
            r = kube.post(f"/api/v1/namespaces/{ns}/events", json=event(f"e{i}", ns, now))
            assert r.status_code == 201, r.text
    lock = sqlite3.connect(db, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # the store is down for writers until the end
        collector = start_collector(tmp_path, sim.kubeconfig, "--store", url)
        try:
            collector.wait_ready(60)
            eventually(lambda: value(collector.scrape(), "kubeward_events_buffered") >= 3)
        finally:
            code = collector.stop()
    finally:
        lock.close()
    log = collector.log()
    assert code == 3, log
    assert "some Events could not be written to the store before exit" in log
    assert "event_writer_closed_with_loss" in log
    assert not stored_uids(db)


def test_metric_denylist_leaves_families_out_of_master_and_shards(
    sim: SimProcess, tmp_path: Path
) -> None:
    collector = start_collector(
        tmp_path,
        sim.kubeconfig,
        "--no-store",
        "--metric-denylist",
        "^kube_pod_container_,kube_node_status_capacity",
        workers=2,
    )
    try:
        collector.wait_ready(60)
        for url in (collector.url, *collector.workers):
            text = collector.scrape(url)
            helped = set(re.findall(r"^# HELP (kube_\S+)", text, re.M))
            assert not any(n.startswith("kube_pod_container_") for n in helped), url
            assert "kube_node_status_capacity" not in helped
            assert {"kube_pod_info", "kube_node_status_allocatable"} <= helped
            assert not re.search(r"^kube_pod_container_\w+\{", text, re.M)
        master = collector.scrape()
        assert value(master, "kube_node_info") >= 1  # the rest is served as before
        assert value(master, "kube_node_status_allocatable", resource="cpu") > 0
    finally:
        assert collector.stop() == 0, collector.log()


def test_metric_allowlist_and_denylist_together_exit_2(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "unused.kubeconfig"
    kubeconfig.write_text("{}")
    cmd = collect_command(kubeconfig, "--metric-allowlist", "a", "--metric-denylist", "b")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "mutually exclusive" in result.stderr and "--metric-allowlist" in result.stderr
