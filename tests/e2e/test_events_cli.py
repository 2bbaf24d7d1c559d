"""``kubeward events ...`` end to end: the Typer app on SQLite and PostgreSQL, a real process,
and Events read from the simulator's two Event APIs."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubectlhelp import Kubectl, _debian_kubectl
from kubeward.events.cli import events_app
from kubeward.events.importer import iter_event_objects
from simproc import SimProcess, eventually

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC).replace(microsecond=0)


def ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def event(
    i: int,
    *,
    ns: str,
    kind: str,
    obj: str,
    reason: str,
    type_: str = "Normal",
    ago: timedelta = timedelta(minutes=1),
    count: int = 1,
    rv: int = 1,
    message: str = "",
) -> dict[str, Any]:
    when = NOW - ago
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{obj}.{i:x}",
            "namespace": ns,
            "uid": f"e2e-uid-{i}",
            "resourceVersion": str(rv),
        },
        "involvedObject": {"kind": kind, "namespace": ns, "name": obj, "apiVersion": "v1"},
        "reason": reason,
        "message": message or f"{reason} for {obj}",
        "type": type_,
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ts(when - timedelta(minutes=count)),
        "lastTimestamp": ts(when),
        "count": count,
    }


EVENTS = [
    event(1, ns="shop", kind="Pod", obj="web-1", reason="Scheduled", ago=timedelta(minutes=30)),
    event(2, ns="shop", kind="Pod", obj="web-1", reason="BackOff", type_="Warning", count=12,
          ago=timedelta(minutes=2), message="Back-off restarting failed container app"),
    event(3, ns="shop", kind="Deployment", obj="web", reason="ScalingReplicaSet",
          ago=timedelta(hours=3)),
    event(4, ns="blog", kind="Pod", obj="db-0", reason="BackOff", type_="Warning", count=3,
          ago=timedelta(days=9)),
    event(5, ns="default", kind="Node", obj="node-1", reason="NodeNotReady", type_="Warning",
          ago=timedelta(seconds=10)),
]  # fmt: skip


@pytest.fixture
def store(store_url: str) -> str:
    return store_url


def run(*args: str, input: str | None = None) -> Any:
    result = CliRunner().invoke(events_app, list(args), input=input, env={"COLUMNS": "200"})
    return result


def ok(*args: str, input: str | None = None) -> Any:
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


def listed(store: str, *args: str) -> list[dict[str, Any]]:
    rows = json.loads(ok("list", "--store", store, "--json", *args).stdout)
    assert isinstance(rows, list)
    return rows


@pytest.fixture
def imported(store: str, tmp_path: Path) -> str:
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": EVENTS}))
    result = ok("import", str(path), "--store", store)
    assert "Imported 5 events" in result.output
    return store


def age_seconds(age: str) -> int:
    """kubectl's age ("9s", "2m5s", "3h", "9d") back into seconds (the units kubectl uses)."""
    match = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", age)
    assert match is not None and age, f"not a kubectl age: {age!r}"
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def test_list_table_like_kubectl(imported: str) -> None:
    out = ok("list", "--store", imported).stdout
    lines = out.splitlines()
    header = lines[0].split()
    assert header == ["NAMESPACE", "LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE", "COUNT"]
    # Newest first, ages as kubectl prints them.
    first, second = lines[1].split(), lines[2].split()
    # The events were made at import (NOW); a long test run ages them, so check each printed
    # age against the window it must fall in rather than a fixed string.
    since_import = (datetime.now(UTC) - NOW).total_seconds()
    assert first[:5] == ["default", first[1], "Warning", "NodeNotReady", "node/node-1"]
    assert 10 - 1 <= age_seconds(first[1]) <= 10 + since_import + 1
    assert second[:5] == ["shop", second[1], "Warning", "BackOff", "pod/web-1"]
    assert 120 - 1 <= age_seconds(second[1]) <= 120 + since_import + 1
    assert lines[2].split()[-1] == "12"
    assert "Back-off restarting failed container app" in lines[2]
    assert lines[-1].split()[:4] == ["blog", "9d", "Warning", "BackOff"]
    assert len(lines) == 6
    in_ns = ok("list", "--store", imported, "-n", "shop").stdout.splitlines()
    assert in_ns[0].split()[0] == "LAST"  # no NAMESPACE column for one namespace
    assert len(in_ns) == 4


def test_list_filters(imported: str) -> None:
    def uids(*args: str) -> list[str]:
        return [r["uid"] for r in listed(imported, *args)]

    assert uids() == [f"e2e-uid-{i}" for i in (5, 2, 1, 3, 4)]
    assert uids("--namespace", "shop") == ["e2e-uid-2", "e2e-uid-1", "e2e-uid-3"]
    assert uids("--object", "pod/web-1") == ["e2e-uid-2", "e2e-uid-1"]
    assert uids("--object", "deploy/web") == ["e2e-uid-3"]
    assert uids("--object", "db-0") == ["e2e-uid-4"]
    assert uids("--reason", "BackOff") == ["e2e-uid-2", "e2e-uid-4"]
    assert uids("--type", "warning") == ["e2e-uid-5", "e2e-uid-2", "e2e-uid-4"]
    assert uids("--since", "1h") == ["e2e-uid-5", "e2e-uid-2", "e2e-uid-1"]
    assert uids("--until", "1h", "--since", "7d") == ["e2e-uid-3"]
    assert uids("--since", ts(NOW - timedelta(minutes=5))) == ["e2e-uid-5", "e2e-uid-2"]
    assert uids("--limit", "2") == ["e2e-uid-5", "e2e-uid-2"]
    limited = ok("list", "--store", imported, "--limit", "2").output
    assert "the newest 2 shown; --limit 0 shows all" in limited
    row = listed(imported, "--object", "pod/web-1", "--reason", "BackOff")[0]
    assert row["count"] == 12 and row["last_seen"] == ts(NOW - timedelta(minutes=2))
    assert row["object_kind"] == "Pod" and row["reporting_controller"] == "kubelet"


def test_stats(imported: str) -> None:
    rows = json.loads(ok("stats", "--store", imported, "--json").stdout)
    assert [(r["type"], r["reason"], r["events"], r["occurrences"]) for r in rows] == [
        ("Warning", "BackOff", 2, 15),
        ("Normal", "ScalingReplicaSet", 1, 1),
        ("Normal", "Scheduled", 1, 1),
        ("Warning", "NodeNotReady", 1, 1),
    ]
    table = ok("stats", "--store", imported, "-n", "shop").stdout.splitlines()
    assert table[0].split() == ["TYPE", "REASON", "EVENTS", "OCCURRENCES"]
    assert table[1].split() == ["Warning", "BackOff", "1", "12"]


def test_reimport_dedupes_and_purge_applies_retention(imported: str, tmp_path: Path) -> None:
    bumped = event(2, ns="shop", kind="Pod", obj="web-1", reason="BackOff", type_="Warning",
                   count=13, rv=2, ago=timedelta(minutes=1))  # fmt: skip
    stale = event(1, ns="shop", kind="Pod", obj="web-1", reason="Changed", rv=0)
    # A watch stream: the series bump, a stale replay, a bookmark; DELETED keeps the event.
    # kubectl -w -o json prints indented documents back to back; ?watch=1 one per line.
    stream = "\n".join(
        json.dumps(doc, indent=4 if n % 2 else None)
        for n, doc in enumerate(
            (
                {"type": "MODIFIED", "object": bumped},
                {"type": "ADDED", "object": stale},
                {
                    "type": "BOOKMARK",
                    "object": {"kind": "Event", "metadata": {"resourceVersion": "9"}},
                },
                {"type": "DELETED", "object": EVENTS[4]},
            )
        )
    )
    ok("import", "-", "--store", imported, input=stream)
    rows = {r["uid"]: r for r in listed(imported)}
    assert len(rows) == 5
    assert rows["e2e-uid-2"]["count"] == 13
    assert rows["e2e-uid-1"]["reason"] == "Scheduled"  # the older version did not win
    result = ok("purge", "--store", imported, "--retention", "7d")
    assert "Deleted 1 events" in result.output
    assert "e2e-uid-4" not in {r["uid"] for r in listed(imported)}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["list", "--since", "yesterday"], "'--since'"),
        (["list", "--until", "5x"], "'--until'"),
        (["list", "--type", "Error"], "Normal or Warning"),
        (["list", "--object", "pod/"], "KIND/NAME"),
        (["stats", "--since", "-1h"], "'--since'"),
        (["purge", "--retention", "week"], "'--retention'"),
        (["list", "--store", "mysql://h/db"], "'--store'"),
        (["list", "--store", "postgresql+psycopg2://h/db"], "postgresql+psycopg"),
    ],
)
def test_bad_options_name_the_option_and_exit_2(
    args: list[str], needle: str, tmp_path: Path
) -> None:
    if "--store" not in args:
        args = [*args, "--store", str(tmp_path / "k.db")]
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.output


def test_missing_store_and_unreachable_server_exit_1(tmp_path: Path) -> None:
    result = run("list", "--store", str(tmp_path / "typo.db"))
    assert result.exit_code == 1
    assert "no event store at" in result.output and "--store" in result.output
    assert not (tmp_path / "typo.db").exists()
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but not listening: refused
        port = sock.getsockname()[1]
        result = run("stats", "--store", f"postgresql://u:hunter2@127.0.0.1:{port}/db")
    assert result.exit_code == 1
    assert "cannot open store" in result.output and "PostgreSQL is running" in result.output
    assert "hunter2" not in result.output


def test_bad_import_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "Event", "metadata": {"name": "a"}}\nnot json\n')
    result = run("import", str(bad), "--store", str(tmp_path / "k.db"))
    assert result.exit_code == 2 and "line 2 is not JSON" in result.output
    bad.write_text(json.dumps({"items": [{"kind": "Pod", "metadata": {"name": "p"}}]}))
    result = run("import", str(bad), "--store", str(tmp_path / "k.db"))
    assert result.exit_code == 2 and "kind is 'Pod'" in result.output
    result = run("import", str(tmp_path / "none.json"), "--store", str(tmp_path / "k.db"))
    assert result.exit_code == 2 and "cannot read" in result.output


def test_as_a_process_with_the_store_from_the_environment(imported: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kubeward.events.cli", "list", "--reason", "NodeNotReady", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBEWARD_STORE": imported},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["uid"] for r in json.loads(proc.stdout)] == ["e2e-uid-5"]
    proc = subprocess.run(
        [sys.executable, "-m", "kubeward.events.cli", "list", "--since", "soon"],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBEWARD_STORE": imported},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "--since" in proc.stderr


# -- the simulator's Events, through both APIs ----------------------------------------------

NS = "events-e2e"


def test_events_from_both_apis_of_a_cluster_dedupe_to_one_row_each(
    sim: SimProcess, store: str, tmp_path: Path
) -> None:
    with sim.client() as http:
        r = http.post("/api/v1/namespaces", json={"metadata": {"name": NS}})
        assert r.status_code in (201, 409), r.text
        for name, cpu in (("big", "64"), ("small", "100m")):
            pod = {
                "metadata": {"name": name, "namespace": NS},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}
                    ]
                },
            }
            r = http.post(f"/api/v1/namespaces/{NS}/pods", json=pod)
            assert r.status_code in (201, 409), r.text

        def both() -> tuple[dict[str, Any], dict[str, Any]] | None:
            core = http.get(f"/api/v1/namespaces/{NS}/events").json()
            new = http.get(f"/apis/events.k8s.io/v1/namespaces/{NS}/events").json()
            reasons = {e["reason"] for e in core["items"]}
            return (core, new) if {"FailedScheduling", "Scheduled"} <= reasons else None

        core, new = eventually(both, timeout=30)
    assert new["apiVersion"] == "events.k8s.io/v1" and "regarding" in new["items"][0]
    # What users feed it: the API's JSON, kubectl's output from both APIs, a kubectl watch.
    kubectl = Kubectl(_debian_kubectl(), sim, tmp_path)
    inputs = [json.dumps(core), json.dumps(new)]
    for resource in ("events", "events.v1.events.k8s.io"):
        inputs.append(kubectl("get", resource, "-n", NS, "-o", "json").stdout)
    watch = kubectl.popen("get", "events", "-n", NS, "-w", "-o", "json", "--output-watch-events")
    try:
        threading.Event().wait(3)  # the watch prints the existing events first, then waits
    finally:
        watch.terminate()
        streamed, _ = watch.communicate(timeout=10)
    assert len(re.findall(r'"type":\s*"ADDED"', streamed)) >= len(core["items"])
    inputs.append(streamed)
    seen: list[str] = []
    for n, text_ in enumerate(inputs):
        (tmp_path / f"in{n}.json").write_text(text_)
        ok("import", str(tmp_path / f"in{n}.json"), "--store", store, "--cluster", "sim")
        seen += [e["metadata"]["uid"] for e in iter_event_objects(text_)]

    rows = listed(store, "-n", NS, "--limit", "0")
    assert len(seen) >= 5 * len(core["items"])  # every Event came in five times
    assert sorted(r["uid"] for r in rows) == sorted(set(seen))  # one row per Event object
    failed = listed(store, "-n", NS, "--object", "pod/big", "--reason", "FailedScheduling")
    assert failed and failed[0]["type"] == "Warning"
    assert "Insufficient cpu" in failed[0]["message"]
    assert failed[0]["reporting_controller"] == "default-scheduler"
    assert listed(store, "-n", NS, "--object", "po/small", "--reason", "Scheduled")
    table = ok("list", "--store", store, "-n", NS, "--type", "Warning").stdout
    assert "FailedScheduling" in table and "pod/big" in table


def test_import_into_a_locked_store_fails_and_says_how_many_were_not_stored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "k.db"
    ok("import", "-", "--store", str(path), input="[]")  # creates the store
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another writer holds SQLite's write lock
    try:
        result = run("import", "-", "--store", f"sqlite:///{path}?timeout=0.05",
                     input=json.dumps(EVENTS))  # fmt: skip
    finally:
        lock.rollback()
        lock.close()
    assert result.exit_code == 1
    assert "5 events not stored: database is locked" in result.output


def test_piped_table_keeps_each_event_on_one_line(tmp_path: Path) -> None:
    message = "0/3 nodes are available: " + ", ".join(f"node-{i} taint x{i}" for i in range(30))
    long = event(9, ns="ns", kind="Pod", obj="p", reason="FailedScheduling", message=message)
    ok("import", "-", "--store", str(tmp_path / "k.db"), input=json.dumps(long))
    lines = ok("list", "--store", str(tmp_path / "k.db")).stdout.splitlines()
    assert len(lines) == 2 and message in lines[1]
