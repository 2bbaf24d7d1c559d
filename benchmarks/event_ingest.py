"""Event-center ingest: Kubernetes Events per second into SQLite and into PostgreSQL.

The collector's path, minus the HTTP watch: Event objects as the informer hands them over
(decoded JSON dicts) go through ``EventWriter.add`` (normalisation, in-memory coalescing by
uid, bounded buffer) and its batched upserts (``INSERT ... ON CONFLICT DO UPDATE`` with the
newer-version rule) into a fresh store; the clock stops when ``close()`` has committed the last
batch. The collector adds on its event loop and flushes from a second thread every second
(``EventIngest``); ``collector_events_per_s`` measures that configuration, where the database
works while the adding thread normalises, and is the target figure. ``events_per_s`` measures
the writer flushing itself every ``--batch-size`` buffered events (``auto_flush``) in the
adding thread, so that normalising and writing take turns: the mode for a caller without a
flush thread (no kubeward command uses it; ``kubeward events import`` writes at the end).

The events (seeded, generated before the clock starts, reused by every repetition):

- most Event objects come from the legacy recorder (kubelet, controllers: core/v1 shape with
  ``firstTimestamp``/``lastTimestamp``/``count``/``source``), about a fifth from the new one
  (scheduler, node lifecycle: events.k8s.io/v1 shape with ``eventTime``/``series``/
  ``reportingController``/``regarding``/``note``; ``new_recorder_share``), with real reasons
  and message formats;
- ``--series-share`` (default 0.3) of the deliveries are *series updates*: a later version of
  an Event object delivered earlier (count + 1, a newer resourceVersion and last-seen time,
  as a watch MODIFIED delivers it). Updates pick an earlier object uniformly among the last
  20,000 repeatable ones, so most land in a later batch: an ``ON CONFLICT`` update, not an
  in-memory coalesce;
- ``both_apis`` figures: every version is also delivered a second time in the other API's
  shape, a few hundred deliveries later, as the collector's two watches (core/v1 and
  events.k8s.io/v1 serve the same objects) deliver it. Its rate counts each version once.

After every repetition the store is checked: one row per uid, each with its newest count and
resourceVersion, nothing dropped. Figures (final JSON line), medians of ``--repeat`` runs:

- ``<backend>.collector_events_per_s``: event versions per second, one delivery each, through
  the collector's ``EventIngest`` (adds in this thread, its flush thread writes; the adder
  waits rather than overflow the bounded buffer, so this is the rate the two threads sustain).
  The target figure: >= 20,000/s SQLite, >= 50,000/s PostgreSQL (issue 5). It needs a long
  stream (the default 300,000): in a short one the adder normalises everything before the
  flush thread's first write, and the coalescing of a whole stream in memory flatters it;
- ``<backend>.events_per_s``: the same with the writer flushing in the adding thread;
- ``<backend>.both_apis_events_per_s`` (and ``_deliveries_per_s``): the same versions
  delivered through both APIs, as the collector receives them;
- ``normalize_per_s``: ``normalize_event`` alone (no store), the Python floor of the path;
- ``<backend>.store_rows_per_s``: ``upsert_events`` alone with the rows already normalised
  and coalesced (what the database side costs).

SQLite: a file in a temporary directory, WAL, ``synchronous=NORMAL`` (kubeward's settings).
PostgreSQL: a throw-away server (``initdb`` + ``pg_ctl`` from Debian's ``postgresql``, as the
tests start it: ``tests/postgres_fixture.py``) with PostgreSQL's default durability settings
(``fsync``, ``synchronous_commit`` and ``full_page_writes`` on), over TCP on 127.0.0.1.
Its databases use the C locale unless ``--pg-locale`` names another (``en_US.utf8``: a
database created with a typical system locale). The writer writes over
``--pg-write-connections`` lanes at once (kubeward's default: 4; 1 is a single connection).

    .venv/bin/python benchmarks/event_ingest.py                       # both backends
    .venv/bin/python benchmarks/event_ingest.py --quick               # 20,000 events, 1 run
    .venv/bin/python benchmarks/event_ingest.py --backends sqlite --events 200000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from kubeward.collect.events import EventIngest
from kubeward.events import EventWriter, normalize_event, upsert_events
from kubeward.events.writer import POSTGRES_WRITE_CONNECTIONS
from kubeward.store import Store, open_store
from kubeward.store.schema import events

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = "bench"
SERIES_WINDOW = 20_000  # a series update picks among this many recent repeatable objects
MIRROR_LAG = 500  # deliveries between an event's two shapes in both_apis mode
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

Event = dict[str, Any]

# reason, type, message template, reporter, object kind, new recorder?, repeats?, weight
TEMPLATES: list[tuple[str, str, str, str, str, bool, bool, int]] = [
    ("Scheduled", "Normal", "Successfully assigned {ns}/{pod} to {node}",
     "default-scheduler", "Pod", True, False, 10),
    ("FailedScheduling", "Warning",
     "0/{nodes} nodes are available: {n} Insufficient cpu, {m} node(s) had untolerated taint "
     "{{node-role.kubernetes.io/control-plane: }}. preemption: 0/{nodes} nodes are available: "
     "{n} No preemption victims found for incoming pod, {m} Preemption is not helpful for "
     "scheduling.", "default-scheduler", "Pod", True, True, 4),
    ("Pulling", "Normal", 'Pulling image "registry.example.com/{app}/server:1.{v}.2"',
     "kubelet", "Pod", False, False, 9),
    ("Pulled", "Normal",
     'Successfully pulled image "registry.example.com/{app}/server:1.{v}.2" in 1.{ms}s '
     "(1.{ms}s including waiting). Image size: 45{ms}901 bytes.", "kubelet", "Pod", False,
     False, 9),
    ("Created", "Normal", "Created container: server", "kubelet", "Pod", False, False, 9),
    ("Started", "Normal", "Started container server", "kubelet", "Pod", False, False, 9),
    ("Killing", "Normal", "Stopping container server", "kubelet", "Pod", False, False, 5),
    ("BackOff", "Warning",
     "Back-off restarting failed container server in pod {pod}_{ns}({poduid})",
     "kubelet", "Pod", False, True, 6),
    ("Unhealthy", "Warning",
     'Readiness probe failed: Get "http://10.{a}.{b}.{c}:8080/healthz": dial tcp '
     "10.{a}.{b}.{c}:8080: connect: connection refused", "kubelet", "Pod", False, True, 6),
    ("FailedMount", "Warning",
     'MountVolume.SetUp failed for volume "config" : configmap "{app}-config" not found',
     "kubelet", "Pod", False, True, 2),
    ("SuccessfulCreate", "Normal", "Created pod: {pod}", "replicaset-controller",
     "ReplicaSet", False, False, 6),
    ("ScalingReplicaSet", "Normal", "Scaled up replica set {rs} from {m} to {n}",
     "deployment-controller", "Deployment", False, False, 3),
    ("NodeNotReady", "Warning", "Node {node} status is now: NodeNotReady", "node-controller",
     "Node", True, False, 1),
    ("RegisteredNode", "Normal", "Node {node} event: Registered Node {node} in Controller",
     "node-controller", "Node", True, False, 1),
]  # fmt: skip


def _time(t: datetime, micro: bool = False) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


class _Object:
    """One Event object across its versions (what the API server stores)."""

    def __init__(self, rng: random.Random, rv: int, when: datetime) -> None:
        reason, type_, template, reporter, kind, new, repeats, _ = rng.choices(
            TEMPLATES, weights=[t[-1] for t in TEMPLATES]
        )[0]
        ns = f"team-{rng.randrange(60):02d}"
        app = f"svc-{rng.randrange(400):03d}"
        rs = f"{app}-{rng.getrandbits(40):010x}"[:20]
        pod = f"{rs}-{rng.getrandbits(25):05x}"
        node = f"node-{rng.randrange(2000):04d}"
        poduid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        fields = {
            "ns": ns, "pod": pod, "node": node, "app": app, "rs": rs, "poduid": poduid,
            "nodes": 2000, "n": rng.randrange(1, 900), "m": rng.randrange(1, 50),
            "v": rng.randrange(30), "ms": rng.randrange(100, 999),
            "a": rng.randrange(256), "b": rng.randrange(256), "c": rng.randrange(256),
        }  # fmt: skip
        name = {"Pod": pod, "ReplicaSet": rs, "Deployment": app, "Node": node}[kind]
        self.new_recorder = new
        self.repeats = repeats
        self.reason, self.type, self.reporter, self.kind = reason, type_, reporter, kind
        self.message = template.format(**fields)
        self.namespace = "default" if kind == "Node" else ns
        self.name = f"{name}.{rng.getrandbits(64):016x}"
        self.uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.host = node
        self.ref: Event = {
            "kind": kind,
            "name": name,
            "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)) if kind != "Pod" else poduid,
            "apiVersion": {"Pod": "v1", "Node": "v1"}.get(kind, "apps/v1"),
            "resourceVersion": str(rng.randrange(1_000_000, 9_000_000)),
        }
        if kind != "Node":
            self.ref["namespace"] = ns
        if kind == "Pod" and reporter == "kubelet":
            self.ref["fieldPath"] = "spec.containers{server}"
        self.first = when
        self.count = 1
        self.rv = rv
        self.last = when

    def bump(self, rv: int, when: datetime) -> None:
        self.count += 1
        self.rv = rv
        self.last = when

    def core(self) -> Event:
        """As the core/v1 API serves the current version."""
        meta = {
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "resourceVersion": str(self.rv),
            "creationTimestamp": _time(self.first),
        }
        obj: Event = {"apiVersion": "v1", "kind": "Event", "metadata": meta}
        obj["involvedObject"] = dict(self.ref)
        obj["reason"] = self.reason
        obj["message"] = self.message
        obj["type"] = self.type
        if self.new_recorder:  # an events.k8s.io/v1 event seen through core/v1
            obj["source"] = {}
            obj["firstTimestamp"] = None
            obj["lastTimestamp"] = None
            obj["eventTime"] = _time(self.first, micro=True)
            obj["action"] = "Scheduling" if self.kind == "Pod" else "Update"
            obj["reportingComponent"] = self.reporter
            obj["reportingInstance"] = f"{self.reporter}-cp-1"
            if self.count > 1:
                obj["series"] = {
                    "count": self.count,
                    "lastObservedTime": _time(self.last, micro=True),
                }
        else:
            source = {"component": self.reporter}
            if self.reporter == "kubelet":
                source["host"] = self.host
            obj["source"] = source
            obj["firstTimestamp"] = _time(self.first)
            obj["lastTimestamp"] = _time(self.last)
            obj["count"] = self.count
            obj["eventTime"] = None
            obj["reportingComponent"] = self.reporter
            obj["reportingInstance"] = self.host if self.reporter == "kubelet" else ""
        return obj

    def new(self) -> Event:
        """As the events.k8s.io/v1 API serves the current version."""
        core = self.core()
        obj: Event = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": core["metadata"],
            "regarding": core["involvedObject"],
            "reason": core["reason"],
            "note": core["message"],
            "type": core["type"],
        }
        if self.new_recorder:
            obj["eventTime"] = core["eventTime"]
            obj["action"] = core["action"]
            obj["reportingController"] = core["reportingComponent"]
            obj["reportingInstance"] = core["reportingInstance"]
            if "series" in core:
                obj["series"] = core["series"]
        else:
            obj["eventTime"] = None
            obj["reportingController"] = core["reportingComponent"]
            obj["reportingInstance"] = core["reportingInstance"]
            obj["deprecatedSource"] = core["source"]
            obj["deprecatedFirstTimestamp"] = core["firstTimestamp"]
            obj["deprecatedLastTimestamp"] = core["lastTimestamp"]
            obj["deprecatedCount"] = core["count"]
        return obj

    def native(self) -> Event:
        """In the shape of the recorder that wrote it."""
        return self.new() if self.new_recorder else self.core()

    def mirror(self) -> Event:
        return self.core() if self.new_recorder else self.new()


class Workload:
    """``versions`` Event versions; ``expected`` maps uid -> (count, resourceVersion)."""

    def __init__(self, versions: int, series_share: float, seed: int) -> None:
        rng = random.Random(seed)
        rv = 5_000_000
        when = T0
        objects: list[_Object] = []
        repeatable: list[_Object] = []
        self.single: list[Event] = []
        mirrors: list[Event] = []
        self.updates = 0
        for _ in range(versions):
            rv += rng.randrange(1, 4)
            when += timedelta(microseconds=rng.randrange(20_000, 80_000))
            if repeatable and rng.random() < series_share:
                obj = repeatable[-rng.randrange(1, min(len(repeatable), SERIES_WINDOW) + 1)]
                obj.bump(rv, when)
                self.updates += 1
            else:
                obj = _Object(rng, rv, when)
                objects.append(obj)
                if obj.repeats:
                    repeatable.append(obj)
            self.single.append(obj.native())
            mirrors.append(obj.mirror())
        # The second watch delivers the same versions a little later.
        self.both: list[Event] = []
        for i in range(0, versions, MIRROR_LAG):
            self.both.extend(self.single[i : i + MIRROR_LAG])
            if i:
                self.both.extend(mirrors[i - MIRROR_LAG : i])
        self.both.extend(mirrors[(versions - 1) // MIRROR_LAG * MIRROR_LAG :])
        assert len(self.both) == 2 * versions
        self.expected = {o.uid: (o.count, o.rv) for o in objects}
        self.new_recorder_share = sum(o.new_recorder for o in objects) / len(objects)


def check_store(store: Store, expected: dict[str, tuple[int, int]]) -> None:
    with store.read() as conn:
        rows = conn.execute(
            select(events.c.uid, events.c.count, events.c.resource_version).where(
                events.c.cluster == CLUSTER
            )
        ).all()
        n = conn.execute(select(func.count()).select_from(events)).scalar_one()
    got = {uid: (count, rv) for uid, count, rv in rows}
    if n != len(expected) or got != expected:
        wrong = sum(1 for uid, v in expected.items() if got.get(uid) != v)
        raise SystemExit(f"store check failed: {n} rows for {len(expected)} objects, {wrong} wrong")


# -- backends ----------------------------------------------------------------------------------


def _pg_bin(configured: str | None) -> Path:
    if configured:
        return Path(configured)
    env = os.environ.get("KUBEWARD_PG_BIN")
    if env:
        return Path(env)
    recorded = ROOT / ".kubeward/postgres-bin"
    if recorded.exists():
        return Path(recorded.read_text().strip())
    raise SystemExit(
        "PostgreSQL programs not found: run scripts/install-postgres.sh, then pass --pg-bin "
        "DIR or set KUBEWARD_PG_BIN"
    )


@contextmanager
def postgres_server(bin_dir: Path, locale: str | None) -> Iterator[Callable[[], str]]:
    """A throw-away server with default durability; yields a new-database factory (databases
    in ``locale``, else the server's ``C``)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from postgres_fixture import PostgresServer

    class DurableServer(PostgresServer):
        def start(self) -> None:
            options = (
                f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=20"
            )
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                      "-w", "-t", "60", "start")  # fmt: skip
            self.running = True

    server = DurableServer(bin_dir)
    try:
        server.start()
        yield lambda: server.create_database(locale=locale)
    finally:
        server.cleanup()


@contextmanager
def sqlite_stores() -> Iterator[Callable[[], str]]:
    base = Path(tempfile.mkdtemp(prefix="kubeward-bench-"))
    counter = iter(range(1_000_000))
    try:
        yield lambda: str(base / f"events-{next(counter)}.db")
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- measurements ------------------------------------------------------------------------------


def verify(store: Store, writer: EventWriter, clean: bool, workload: Workload) -> None:
    """Nothing dropped, and the store holds every object's newest version."""
    if not clean or writer.dropped:
        raise SystemExit(f"writer lost {writer.dropped} events")
    check_store(store, workload.expected)


def write_connections(store: Store, pg_connections: int | None) -> int | None:
    """The writer's ``write_connections`` for this store (None: kubeward's default)."""
    return pg_connections if store.dialect == "postgresql" else None


def ingest(
    new_store: Callable[[], str],
    stream: list[Event],
    workload: Workload,
    batch_size: int,
    pg_connections: int | None,
) -> float:
    """Seconds for the writer to take ``stream`` and commit all of it (checked)."""
    with open_store(new_store()) as store:
        writer = EventWriter(
            store,
            cluster=CLUSTER,
            batch_size=batch_size,
            flush_interval=3600.0,
            write_connections=write_connections(store, pg_connections),
        )
        gc.collect()
        start = time.perf_counter()
        writer.add_many(stream)
        clean = writer.close()
        seconds = time.perf_counter() - start
        verify(store, writer, clean, workload)
    return seconds


def collector_ingest(
    new_store: Callable[[], str],
    stream: list[Event],
    workload: Workload,
    pg_connections: int | None,
) -> float:
    """Seconds for the collector's own event path (``EventIngest``: the writer without
    auto-flush, its flush thread every second) to take ``stream`` and commit all of it.

    The informer side adds from this thread; it waits while the buffer is one batch short of
    full instead of overflowing it (the collector would drop and count), so the figure is the
    rate the adding thread and the flush thread sustain together: on PostgreSQL the server's
    merge runs while this thread normalises the next events."""
    with open_store(new_store()) as store:
        ingest = EventIngest(
            store,
            CLUSTER,
            CollectorRegistry(),
            write_connections=write_connections(store, pg_connections),
        )
        writer = ingest.writer
        high_water = writer.buffer_limit - writer.batch_size
        gc.collect()
        start = time.perf_counter()
        ingest.start()
        for obj in stream:
            while writer.buffered >= high_water:
                time.sleep(0.001)
            writer.add(obj)
        clean = ingest.close()
        seconds = time.perf_counter() - start
        verify(store, writer, clean, workload)
    return seconds


def store_only(new_store: Callable[[], str], rows: list[dict[str, Any]], batch_size: int) -> float:
    """Seconds for ``upsert_events`` alone, ``rows`` coalesced per batch like the writer's."""
    with open_store(new_store()) as store:
        batches: list[list[dict[str, Any]]] = []
        current: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row["uid"] not in current and len(current) >= batch_size:
                batches.append(list(current.values()))
                current = {}
            current[row["uid"]] = row
        batches.append(list(current.values()))
        gc.collect()
        start = time.perf_counter()
        for batch in batches:
            with store.write() as conn:
                upsert_events(conn, batch)
        return time.perf_counter() - start


def run(args: argparse.Namespace) -> dict[str, Any]:
    t = time.perf_counter()
    workload = Workload(args.events, args.series_share, args.seed)
    versions = len(workload.single)
    result: dict[str, Any] = {
        "events": versions,
        "objects": len(workload.expected),
        "series_updates": workload.updates,
        "new_recorder_share": round(workload.new_recorder_share, 2),
        "batch_size": args.batch_size,
        "pg_locale": args.pg_locale or "C",
        "pg_write_connections": args.pg_write_connections or POSTGRES_WRITE_CONNECTIONS,
        "repeat": args.repeat,
        "generate_seconds": round(time.perf_counter() - t, 1),
    }
    normalize_runs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        rows = [normalize_event(obj, CLUSTER) for obj in workload.single]
        normalize_runs.append(versions / (time.perf_counter() - start))
    result["normalize_per_s"] = round(statistics.median(normalize_runs))

    for backend in args.backends:
        pg_bin = _pg_bin(args.pg_bin) if backend == "postgresql" else None
        stores = postgres_server(pg_bin, args.pg_locale) if pg_bin else sqlite_stores()
        with stores as new_store:
            figures: dict[str, Any] = {}
            single, both, db, collector = [], [], [], []
            for rep in range(args.repeat):
                pg = args.pg_write_connections
                seconds = ingest(new_store, workload.single, workload, args.batch_size, pg)
                single.append(versions / seconds)
                seconds = collector_ingest(new_store, workload.single, workload, pg)
                collector.append(versions / seconds)
                if not args.no_both_apis:
                    seconds = ingest(new_store, workload.both, workload, args.batch_size, pg)
                    both.append(versions / seconds)
                db.append(versions / store_only(new_store, rows, args.batch_size))
                print(
                    f"  {backend} run {rep + 1}/{args.repeat}: {single[-1]:,.0f} events/s"
                    + f", collector threads {collector[-1]:,.0f}/s"
                    + (f", both APIs {both[-1]:,.0f}/s" if both else "")
                    + f", store only {db[-1]:,.0f} rows/s",
                    file=sys.stderr,
                )
            figures["events_per_s"] = round(statistics.median(single))
            figures["events_per_s_runs"] = [round(x) for x in single]
            figures["collector_events_per_s"] = round(statistics.median(collector))
            figures["collector_events_per_s_runs"] = [round(x) for x in collector]
            if both:
                figures["both_apis_events_per_s"] = round(statistics.median(both))
                figures["both_apis_deliveries_per_s"] = round(2 * statistics.median(both))
                figures["both_apis_events_per_s_runs"] = [round(x) for x in both]
            figures["store_rows_per_s"] = round(statistics.median(db))
            result[backend] = figures
    targets = {"sqlite": 20_000, "postgresql": 50_000}
    result["meets_targets"] = {
        f"{b}_collector_events_per_s>={targets[b]}": result[b]["collector_events_per_s"]
        >= targets[b]
        for b in args.backends
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="event versions per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument(
        "--series-share", type=float, default=0.3, help="share of deliveries that are updates"
    )
    parser.add_argument("--batch-size", type=int, default=2_000, help="EventWriter batch_size")
    parser.add_argument(
        "--backends",
        type=lambda s: s.split(","),
        default=["sqlite", "postgresql"],
        help="comma-separated: sqlite,postgresql",
    )
    parser.add_argument("--pg-bin", help="PostgreSQL programs (default: KUBEWARD_PG_BIN)")
    parser.add_argument(
        "--pg-locale",
        help="create the PostgreSQL databases with this locale (e.g. C.utf8, en_US.utf8: an "
        "installed operating-system locale) instead of C",
    )
    parser.add_argument(
        "--pg-write-connections",
        type=int,
        help=f"PostgreSQL connections the writer writes over at once (default: kubeward's, "
        f"{POSTGRES_WRITE_CONNECTIONS})",
    )
    parser.add_argument("--no-both-apis", action="store_true", help="skip the both-APIs runs")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20,000 events, one run")
    args = parser.parse_args()
    if args.quick:
        args.events, args.repeat = 20_000, 1
    for backend in args.backends:
        if backend not in ("sqlite", "postgresql"):
            parser.error(f"--backends: unknown backend {backend!r} (sqlite, postgresql)")
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
