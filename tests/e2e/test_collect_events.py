"""Event ingestion: both Event APIs' deltas reach the SQL event store, deduplicated by uid, and
a restarted collector resumes each watch from the stored resourceVersion (a WATCH, no LIST)
without losing what happened while it was stopped. On SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.test_collect_support import start_collector
from kubeward.client import user_agent
from kubeward.events import EventFilter, list_events
from kubeward.store import open_store
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimProcess, Path]]:
    tmp = tmp_path_factory.mktemp("events")
    audit = tmp / "audit.log"
    proc = start_sim(tmp, "--scenario", "tiny", "--audit-log", str(audit))
    yield proc, audit
    proc.stop()


def post_event(kube: httpx.Client, ns: str, name: str, reason: str) -> None:
    body = {
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "namespace": ns, "name": "app-1"},
        "reason": reason,
        "message": f"{reason} happened",
        "type": "Warning",
        "source": {"component": "e2e"},
        "count": 1,
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }
    r = kube.post(f"/api/v1/namespaces/{ns}/events", json=body)
    assert r.status_code == 201, r.text


def stored(url: str, ns: str) -> dict[str, int]:
    with open_store(url, create=False) as store:
        rows = list_events(store, EventFilter(namespace=ns), limit=None)
    return {row["reason"]: row["count"] for row in rows}


def events_requests(audit: Path, offset: int) -> list[tuple[str, str]]:
    """The collector's requests for Events (both APIs) in the audit log from byte ``offset``
    on, in order."""
    out = []
    with open(audit, "rb") as f:
        f.seek(offset)
        for line in f:
            e = json.loads(line)
            if (
                e.get("userAgent") == user_agent()
                and e.get("objectRef", {}).get("resource") == "events"
            ):
                out.append((e["verb"], e["requestURI"]))
    return out


def test_events_are_stored_and_a_restart_resumes_from_the_stored_version(
    audited: tuple[SimProcess, Path], tmp_path: Path, store_url: str
) -> None:
    sim, audit = audited
    # The simulator is shared by both backends' runs: each has its namespace, and reads the
    # audit log from where it stood when the run began.
    ns = "ev-pg" if store_url.startswith("postgresql") else "ev-sqlite"
    with sim.client() as kube:
        assert kube.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code == 201
        kube.get("/version")  # the audit log flushes on writes at most once a second
        offset = audit.stat().st_size if audit.exists() else 0
        post_event(kube, ns, "before", "BeforeStart")
        first = start_collector(tmp_path, sim.kubeconfig, "--store", store_url, name="first")
        try:
            first.wait_ready()
            post_event(kube, ns, "during", "WhileRunning")
            # Seen through both APIs, stored once per uid.
            eventually(
                lambda: stored(store_url, ns) == {"BeforeStart": 1, "WhileRunning": 1}, timeout=20
            )
        finally:
            assert first.stop() == 0, first.log()
        with open_store(store_url, create=False) as store:
            resume = {
                r: store.get_resume_version("default", r)
                for r in ("events", "events.events.k8s.io")
            }
        assert all(resume.values()), resume

        post_event(kube, ns, "stopped", "WhileStopped")
        second = start_collector(tmp_path, sim.kubeconfig, "--store", store_url, name="second")
        try:
            second.wait_ready()
            eventually(lambda: "WhileStopped" in stored(store_url, ns), timeout=20)
        finally:
            assert second.stop() == 0, second.log()
        assert stored(store_url, ns) == {"BeforeStart": 1, "WhileRunning": 1, "WhileStopped": 1}

        def logged() -> list[tuple[str, str]] | None:
            kube.get("/version")  # the audit log flushes on writes at most once a second
            requests = events_requests(audit, offset)
            return requests if len(requests) >= 6 else None

        requests = eventually(logged, timeout=10)
    # First run: LIST + WATCH per API. Second run: only WATCHes, from the stored versions.
    assert len(requests) == 6, requests
    assert sorted(verb for verb, _ in requests[:4]) == ["list", "list", "watch", "watch"]
    resumed = requests[4:]
    assert [verb for verb, _ in resumed] == ["watch", "watch"], requests
    for version in resume.values():
        assert any(f"resourceVersion={version}&" in uri for _, uri in resumed), requests
