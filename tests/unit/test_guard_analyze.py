"""kubeward guard analyze: audit reading, aggregation, cost ranking and findings on audit logs
written in the simulator's own format (its AuditLog writer), and the CLI's errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from kubeward.cli import app
from kubeward.guard.analysis import Aggregator, Analysis
from kubeward.guard.apimetrics import parse_metrics
from kubeward.guard.audit import AuditParser, iter_lines, parse_go_duration, read_audit_log
from kubeward.guard.durations import parse_window
from kubeward.guard.findings import find
from kubeward.sim.load.audit import AuditLog

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
SIZES = {"pods": 3000.0, "nodes": 100.0, "namespaces": 10.0, "leases.coordination.k8s.io": 100.0}
AGENT = "system:serviceaccount:monitoring:telemetry-agent"
AGENT_UA = "telemetry-agent/2.0.0 (linux/amd64)"
CONTROLLER = "system:serviceaccount:kube-system:my-controller"
CONTROLLER_UA = "my-controller/1.0"
NODE_EXTRA = "authentication.kubernetes.io/node-name"


class Log:
    """Writes audit lines with the simulator's writer (the format the guard must read)."""

    def __init__(self, path: Path, sample: float = 1.0, *, request_received: bool = False) -> None:
        self.path = path
        self.audit = AuditLog(path, sample=sample, request_received=request_received)

    def request(
        self,
        seconds: float,
        user: str,
        agent: str,
        verb: str,
        uri: str,
        resource: str,
        *,
        namespace: str = "",
        name: str = "",
        group: str = "",
        code: int = 200,
        node: str = "",
        annotations: dict[str, str] | None = None,
        sampled: bool = False,
        latency: float = 0.01,
        completes: bool = True,
    ) -> None:
        """One request: its ResponseComplete line, preceded by its RequestReceived line when
        the log has that stage (``completes=False``: only that one, the server died first)."""
        ref = {"resource": resource, "apiVersion": "v1"}
        if namespace:
            ref["namespace"] = namespace
        if name:
            ref["name"] = name
        if group:
            ref["apiGroup"] = group
        received = T0 + timedelta(seconds=seconds)
        subject: dict[str, Any] = {
            "user": user,
            "groups": ("system:serviceaccounts", "system:authenticated"),
            "user_agent": agent,
            "verb": verb,
            "uri": uri,
            "object_ref": ref,
            "sampled": sampled,
            "source_ip": (f"10.0.{len(node)}.{sum(map(ord, node)) % 250}" if node else "10.1.1.1"),
            "extra": {NODE_EXTRA: [node]} if node else None,
        }
        audit_id = ""
        if self.audit.request_received:
            audit_id = self.audit.new_id()
            self.audit.write_received(audit_id=audit_id, received=received, **subject)
        if not completes:
            return
        self.audit.write(
            **subject,
            code=code,
            received=received,
            completed=received + timedelta(seconds=latency),
            annotations=dict(annotations or {}),
            audit_id=audit_id,
        )

    def close(self) -> Path:
        self.audit.close()
        return self.path


def agent_fleet(log: Log, minutes: int, nodes: int = 50, *, rv: str | None = None) -> None:
    """A DaemonSet: one agent per node LISTing all pods and nodes every 60 s."""
    query = "" if rv is None else f"?resourceVersion={rv}"
    for i in range(nodes):
        for m in range(minutes):
            t = m * 60 + i * 60 / nodes
            node = f"node-{i:03d}"
            log.request(t, AGENT, AGENT_UA, "list", "/api/v1/pods" + query, "pods", node=node)
            log.request(t + 1, AGENT, AGENT_UA, "list", "/api/v1/nodes" + query, "nodes", node=node)


def informer_controller(log: Log, minutes: int) -> None:
    """A well-behaved controller: LIST RV=0 then WATCH, re-watching every 5 minutes."""
    log.request(0.5, CONTROLLER, CONTROLLER_UA, "list", "/api/v1/pods?resourceVersion=0", "pods")
    for m in range(0, minutes, 5):
        uri = "/api/v1/pods?allowWatchBookmarks=true&resourceVersion=100&watch=true"
        log.request(m * 60 + 1, CONTROLLER, CONTROLLER_UA, "watch", uri, "pods")


def kubelets(log: Log, minutes: int, nodes: int = 50) -> None:
    """Per-node kubelets: lease renewals, and a node-scoped pod watch (well-behaved)."""
    for i in range(nodes):
        user = f"system:node:node-{i:03d}"
        uri = f"/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-{i:03d}&watch=true"
        log.request(i * 0.1, user, "kubelet/v1.31.0", "watch", uri, "pods")
        for s in range(0, minutes * 60, 10):
            lease = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-{i:03d}"
            log.request(
                s + i * 0.1,
                user,
                "kubelet/v1.31.0",
                "update",
                lease,
                "leases",
                group="coordination.k8s.io",
                namespace="kube-node-lease",
                name=f"node-{i:03d}",
            )


def analyse(path: Path, window: float = 600.0, sizes: dict[str, float] | None = None) -> Analysis:
    agg = Aggregator(retention_seconds=window)
    agg.add_all(read_audit_log(path))
    start, end = agg.window(window)
    return agg.report(start, end, SIZES if sizes is None else sizes)


def kinds_for(analysis: Analysis, user: str) -> set[str]:
    return {f.kind for f in analysis.findings if f.user == user}


# -- ranking and findings -------------------------------------------------------------------------


def test_the_per_node_agent_listing_without_resource_version_ranks_first(tmp_path: Path) -> None:
    log = Log(tmp_path / "audit.log")
    kubelets(log, 10)
    informer_controller(log, 10)
    agent_fleet(log, 10)
    analysis = analyse(log.close())

    culprits = analysis.culprits
    assert (culprits[0].user, culprits[0].user_agent) == (AGENT, AGENT_UA)
    assert culprits[0].instances == 50
    assert culprits[0].share > 0.8
    top = analysis.rows[0]
    assert (top.user, top.verb, top.resource, top.scope) == (AGENT, "list", "pods", "cluster")
    # 50 agents x 10 minutes, one pod LIST each per minute
    assert top.requests == pytest.approx(500, abs=50)
    assert top.lists_without_rv == top.requests
    assert top.unpaged_large_lists == top.requests  # 3,000 pods > 500, no limit
    assert top.objects == pytest.approx(top.requests * 3000)

    assert kinds_for(analysis, AGENT) >= {
        "list-without-resource-version",
        "unpaged-large-list",
        "periodic-list",
        "per-node-daemonset",
    }
    fleet = next(f for f in analysis.findings if f.kind == "per-node-daemonset")
    assert fleet.user == AGENT and fleet.severity == "critical"
    assert "relay" in fleet.fix and "spec.nodeName" in fleet.fix
    # Well-behaved clients: informer (LIST RV=0 + WATCH) and node-scoped kubelets.
    assert kinds_for(analysis, CONTROLLER) == set()
    assert kinds_for(analysis, "system:node:{node}") == set()
    controller = next(r for r in analysis.rows if r.user == CONTROLLER and r.verb == "list")
    assert controller.lists_without_rv == 0 and controller.relists == 1


def test_lists_that_never_complete_are_counted_from_their_request_received_lines(
    tmp_path: Path,
) -> None:
    """An API server OOM-killed by a fleet's LISTs never logs their ResponseComplete: with the
    RequestReceived stage the fleet is still named, and the LISTs show as unfinished."""
    log = Log(tmp_path / "audit.log", request_received=True)
    kubelets(log, 2)
    informer_controller(log, 2)
    for i in range(50):  # every agent's LIST of all pods arrives; the server dies under them
        node = f"node-{i:03d}"
        log.request(
            60 + i * 0.02,
            AGENT,
            AGENT_UA,
            "list",
            "/api/v1/pods",
            "pods",
            node=node,
            completes=False,
        )
    throttled = "system:serviceaccount:tools:poller"
    for s in range(0, 100, 10):  # rejected by APF: counted, but never ran
        log.request(s, throttled, "poller/1", "list", "/api/v1/pods", "pods", code=429)
    analysis = analyse(log.close())

    assert (analysis.culprits[0].user, analysis.culprits[0].instances) == (AGENT, 50)
    assert analysis.culprits[0].share > 0.8
    top = analysis.rows[0]
    assert top.user == AGENT and top.requests == 50 and top.unfinished == 50
    assert top.lists_without_rv == 50 and top.objects == pytest.approx(50 * 3000)
    assert top.mean_latency == 0.0  # none completed
    poller = next(r for r in analysis.rows if r.user == throttled)
    assert poller.requests == 10 and poller.throttled == 10 and poller.unfinished == 0
    assert poller.objects == 0  # the 429s' LISTs never ran: their work is taken back out
    lease = next(r for r in analysis.rows if r.resource == "leases.coordination.k8s.io")
    assert lease.requests == 50 * 12 and lease.unfinished == 0
    assert lease.mean_latency == pytest.approx(0.01)


def test_a_client_using_rv0_still_ranks_first_when_it_is_heaviest_by_volume(
    tmp_path: Path,
) -> None:
    log = Log(tmp_path / "audit.log")
    kubelets(log, 10)
    informer_controller(log, 10)
    dashboard, ui = "system:serviceaccount:tools:dashboard", "dashboard/3.1"
    quorum, qua = "alice", "kubectl/v1.31.0 (linux/amd64) kubernetes/abc"
    for s in range(0, 600, 2):  # LIST all pods from the watch cache every 2 s
        log.request(s, dashboard, ui, "list", "/api/v1/pods?resourceVersion=0", "pods")
    for s in (100, 400):  # a person's occasional consistent LIST
        log.request(s, quorum, qua, "list", "/api/v1/pods?limit=500", "pods")
    analysis = analyse(log.close())

    assert analysis.culprits[0].user == dashboard
    assert analysis.rows[0].user == dashboard and analysis.rows[0].lists_without_rv == 0
    quorum_row = next(r for r in analysis.rows if r.user == quorum)
    # one quorum page of 500 costs more than one cache LIST of 500, less than 3,000 from cache
    assert quorum_row.lists_without_rv == 2 and quorum_row.unpaged_large_lists == 0
    kinds = kinds_for(analysis, dashboard)
    assert "periodic-list" in kinds  # it polls: an informer belongs there
    assert "list-without-resource-version" not in kinds
    assert "unpaged-large-list" not in kinds  # the watch cache ignores limit anyway
    assert kinds_for(analysis, quorum) == set()  # two LISTs are not a habit


def test_quorum_list_costs_more_than_the_same_list_from_the_watch_cache(tmp_path: Path) -> None:
    log = Log(tmp_path / "audit.log")
    for s in range(0, 300, 10):
        log.request(s, "a", "a/1", "list", "/api/v1/pods", "pods")
        log.request(s, "b", "b/1", "list", "/api/v1/pods?resourceVersion=0", "pods")
        log.request(s, "c", "c/1", "list", "/api/v1/pods?limit=500", "pods")
    analysis = analyse(log.close())
    cost = {r.user: r.cost for r in analysis.rows}
    assert cost["a"] > cost["b"] > cost["c"] > 0
    assert [c.user for c in analysis.culprits] == ["a", "b", "c"]


def test_a_per_node_fleet_using_informers_is_not_flagged(tmp_path: Path) -> None:
    """kube-proxy-like: one informer per node on services (LIST RV=0 + WATCH)."""
    log = Log(tmp_path / "audit.log")
    kubelets(log, 10)
    proxy, pua = "system:serviceaccount:kube-system:kube-proxy", "kube-proxy/v1.31.0"
    for i in range(50):
        node = f"node-{i:03d}"
        log.request(
            i, proxy, pua, "list", "/api/v1/services?resourceVersion=0", "services", node=node
        )
        log.request(
            i + 1, proxy, pua, "watch", "/api/v1/services?watch=true", "services", node=node
        )
    analysis = analyse(log.close())
    assert next(c for c in analysis.culprits if c.user == proxy).instances == 50
    assert kinds_for(analysis, proxy) == set()


def test_system_components_starting_on_every_node_are_not_a_relay_candidate(
    tmp_path: Path,
) -> None:
    """kube-proxy's start-up LISTs (without resourceVersion, as the demo's first seconds show
    them) carry most of a short window's cost; still no per-node finding: system components
    watch cluster-wide from every node by design."""
    log = Log(tmp_path / "audit.log")
    proxy, pua = "system:serviceaccount:kube-system:kube-proxy", "kube-proxy/v1.31.0"
    for i in range(50):
        node = f"node-{i:03d}"
        for repeat in range(3):
            log.request(i + repeat * 0.1, proxy, pua, "list", "/api/v1/services", "services",
                        node=node)  # fmt: skip
    analysis = analyse(log.close(), window=60.0)
    assert next(c for c in analysis.culprits if c.user == proxy).rank == 1
    assert "per-node-daemonset" not in kinds_for(analysis, proxy)


def test_users_named_per_node_are_a_fleet(tmp_path: Path) -> None:
    log = Log(tmp_path / "audit.log")
    for i in range(40):
        user = f"system:serviceaccount:logging:shipper-node-{i}"
        for m in range(5):
            log.request(m * 60 + i, user, "shipper/1", "list", "/api/v1/pods", "pods")
    analysis = analyse(log.close(), sizes={"pods": 3000.0, "nodes": 40.0})
    fleet = [f for f in analysis.findings if f.kind == "per-node-daemonset"]
    assert len(fleet) == 1
    assert fleet[0].user == "system:serviceaccount:logging:shipper-node-#"
    assert fleet[0].evidence["identities"] == 40


def test_webhook_latency_and_throttling_findings(tmp_path: Path) -> None:
    log = Log(tmp_path / "audit.log")
    slow = {
        "apiserver.latency.k8s.io/total": "1.2s",
        "apiserver.latency.k8s.io/mutating-webhook": "900ms",
    }
    for s in range(20):
        log.request(
            s * 5,
            "deployer",
            "helm/3",
            "create",
            "/api/v1/namespaces/a/configmaps",
            "configmaps",
            namespace="a",
            annotations=slow,
            latency=1.2,
        )
    for s in range(40):
        code = 429 if s % 2 else 200
        log.request(
            s,
            "bot",
            "bot/1",
            "get",
            "/api/v1/namespaces/a/pods/x",
            "pods",
            namespace="a",
            name="x",
            code=code,
        )
    for s in range(40):
        log.request(
            s,
            "calm",
            "calm/1",
            "create",
            "/api/v1/namespaces/b/configmaps",
            "configmaps",
            namespace="b",
        )
    analysis = analyse(log.close())
    webhook = [f for f in analysis.findings if f.kind == "webhook-latency"]
    assert len(webhook) == 1 and webhook[0].resource == "configmaps"
    assert webhook[0].evidence["webhookSeconds"] == pytest.approx(18.0)
    assert kinds_for(analysis, "bot") == {"throttled"}
    bot = next(r for r in analysis.rows if r.user == "bot")
    assert bot.throttled == 20 and bot.requests == 40
    assert kinds_for(analysis, "calm") == set()


# -- window, sampling, stages, malformed lines ----------------------------------------------------


def test_only_the_last_window_relative_to_the_newest_event_counts(tmp_path: Path) -> None:
    log = Log(tmp_path / "audit.log")
    for s in range(0, 1800, 10):  # 30 minutes, one request every 10 s
        log.request(
            s,
            "steady",
            "s/1",
            "get",
            "/api/v1/namespaces/a/pods/x",
            "pods",
            namespace="a",
            name="x",
        )
    for s in range(0, 600, 10):  # only in the first 10 minutes
        log.request(s, "early", "e/1", "list", "/api/v1/pods", "pods")
    path = log.close()
    analysis = analyse(path, window=600)
    users = {r.user for r in analysis.rows}
    assert users == {"steady"}
    steady = analysis.rows[0]
    assert steady.requests == pytest.approx(60, abs=1)
    assert steady.requests_per_second == pytest.approx(0.1, rel=0.05)
    whole = analyse(path, window=3600)
    assert {r.user for r in whole.rows} == {"steady", "early"}
    assert whole.culprits[0].user == "early"


def test_sampled_lines_are_scaled_by_the_inverse_of_the_rate(tmp_path: Path) -> None:
    log = Log(tmp_path / "audit.log", sample=0.1)
    for s in range(30):
        log.request(s, "sampled", "s/1", "list", "/api/v1/pods", "pods", sampled=True)
    for s in range(30):
        log.request(s, "http", "h/1", "list", "/api/v1/pods", "pods")  # HTTP: never sampled
    lines = log.close().read_bytes().splitlines()
    assert b"sim.kubeward.io/audit-sample-rate" in lines[0]
    analysis = analyse(log.path)
    by_user = {r.user: r for r in analysis.rows}
    assert by_user["sampled"].requests == pytest.approx(300)
    assert by_user["sampled"].lists_without_rv == pytest.approx(300)
    assert by_user["http"].requests == 30
    assert by_user["sampled"].cost == pytest.approx(10 * by_user["http"].cost)


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    log = Log(tmp_path / "audit.log")
    for s in range(5):
        log.request(
            s, "u", "u/1", "get", "/api/v1/namespaces/a/pods/x", "pods", namespace="a", name="x"
        )
    path = log.close()
    good = path.read_bytes().splitlines(keepends=True)
    junk = [
        b"not json at all\n",
        b'{"kind":"Event","verb":"get"\n',  # truncated
        b"[1, 2, 3]\n",
        b'{"kind":"Event","verb":"get","user":{"username":"x"}}\n',  # no requestURI
        b'{"kind":"Status","apiVersion":"v1"}\n',
        b"\n",
    ]
    path.write_bytes(b"".join([good[0], *junk, *good[1:]]) + b'{"kind":"Ev')
    parser = AuditParser()
    records = list(read_audit_log(path, parser=parser))
    assert len(records) == 5
    assert parser.stats.malformed == 6  # five junk lines and the truncated last one
    assert parser.stats.lines == 12
    assert "line 2: not JSON" in parser.stats.malformed_examples[0]
    assert any("requestURI" in e for e in parser.stats.malformed_examples)


def test_each_request_counts_once_whatever_stages_are_logged() -> None:
    def event(stage: str, audit_id: str, verb: str = "watch") -> bytes:
        return orjson.dumps(
            {
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "level": "Metadata",
                "auditID": audit_id,
                "stage": stage,
                "requestURI": "/api/v1/pods?watch=true" if verb == "watch" else "/api/v1/pods",
                "verb": verb,
                "user": {"username": "w", "groups": []},
                "userAgent": "w/1",
                "objectRef": {"resource": "pods", "apiVersion": "v1"},
                "responseStatus": {"code": 200},
                "requestReceivedTimestamp": "2025-01-01T12:00:00.000001Z",
                "stageTimestamp": "2025-01-01T12:05:00.000001Z",
            }
        )

    lines = [
        event("RequestReceived", "a"),
        event("ResponseStarted", "a"),
        event("ResponseComplete", "a"),  # the same watch ending: not a second watch
        event("ResponseComplete", "b"),  # a watch whose start was not logged
        event("RequestReceived", "c", "list"),
        event("ResponseComplete", "c", "list"),
    ]
    parser = AuditParser()
    records = list(iter_lines(lines, parser))
    assert [(r.verb, r.part, r.latency) for r in records] == [
        ("watch", "request", 0.0),  # counted when it arrived
        ("watch", "whole", pytest.approx(300.0)),
        ("list", "request", 0.0),
        ("list", "outcome", pytest.approx(300.0)),  # its completion: no second request
    ]
    assert parser.stats.skipped_stages == 2
    aggregator = Aggregator()
    aggregator.add_all(records)
    assert aggregator.report(T0.timestamp(), T0.timestamp() + 300).total_requests == 3


def test_record_fields_from_the_simulator_format(tmp_path: Path) -> None:
    log = Log(tmp_path / "audit.log")
    log.request(
        0,
        AGENT,
        AGENT_UA,
        "list",
        "/api/v1/namespaces/prod/pods?limit=500&continue=abc&labelSelector=app%3Dx",
        "pods",
        namespace="prod",
        node="node-7",
        annotations={
            "sim.kubeward.io/flow-schema": "service-accounts",
            "sim.kubeward.io/priority-level": "workload-low",
            "apiserver.latency.k8s.io/total": "1m2.5s",
        },
    )
    (record,) = list(read_audit_log(log.close()))
    assert record.scope == "namespace" and record.namespace == "prod"
    assert record.limit == 500 and record.continued and record.label_selector == "app=x"
    assert record.resource_version is None and record.quorum
    assert record.node == "node-7" and record.instance == "node-7"
    assert (record.flow_schema, record.priority_level) == ("service-accounts", "workload-low")
    assert record.latency == pytest.approx(62.5)
    assert record.time == pytest.approx(T0.timestamp())


def test_go_durations_and_windows() -> None:
    assert parse_go_duration("1.5s") == 1.5
    assert parse_go_duration("250ms") == pytest.approx(0.25)
    assert parse_go_duration("2m3.5s") == pytest.approx(123.5)
    assert parse_go_duration("850µs") == pytest.approx(850e-6)
    with pytest.raises(ValueError):
        parse_go_duration("soon")
    assert parse_window("10m") == 600 and parse_window("1h30m") == 5400
    for bad in ("", "10", "ten minutes", "0s", "-5m"):
        with pytest.raises(ValueError):
            parse_window(bad)


# -- bounded memory -------------------------------------------------------------------------------


def synthetic_lines(n: int, clients: int = 20) -> Iterator[bytes]:
    """``n`` audit lines, one every 10 ms, from ``clients`` identities on 2 resources."""
    base = T0.timestamp()
    for i in range(n):
        t = datetime.fromtimestamp(base + i * 0.01, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        c = i % clients
        resource = "pods" if (i // clients) % 2 else "nodes"
        yield orjson.dumps(
            {
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "auditID": str(i),
                "stage": "ResponseComplete",
                "requestURI": f"/api/v1/{resource}?resourceVersion=0",
                "verb": "list",
                "user": {"username": f"client-{c}", "groups": []},
                "sourceIPs": [f"10.0.{c}.{i % 7}"],
                "userAgent": "x/1",
                "objectRef": {"resource": resource, "apiVersion": "v1"},
                "responseStatus": {"code": 200},
                "requestReceivedTimestamp": t,
                "stageTimestamp": t,
            }
        )


def test_streaming_a_big_log_keeps_the_aggregator_bounded() -> None:
    window = 60.0
    agg = Aggregator(bucket_seconds=10.0, retention_seconds=window)
    parser = AuditParser()
    peak_counters = 0
    n = 120_000  # 20 minutes of traffic at 100 requests/s
    for i, record in enumerate(iter_lines(synthetic_lines(n), parser)):
        agg.add(record)
        if i % 5000 == 0:
            peak_counters = max(peak_counters, agg.counter_count())
    assert parser.stats.records == n and agg.records == n
    assert agg.key_count() == 40  # 20 identities x 2 resources, however many lines
    # keys x buckets: the window plus the bucket being filled and the one partly outside it
    assert agg.bucket_count() <= window / 10 + 2
    assert peak_counters <= 40 * (window / 10 + 2)
    assert agg.instance_count() <= 20 * 7
    start, end = agg.window(window)
    analysis = agg.report(start, end, {"pods": 100.0, "nodes": 10.0})
    assert sum(r.requests for r in analysis.rows) == pytest.approx(window * 100, rel=0.2)


# -- /metrics -------------------------------------------------------------------------------------


def test_metrics_parsing() -> None:
    text = """# HELP apiserver_storage_objects Number of stored objects
# TYPE apiserver_storage_objects gauge
apiserver_storage_objects{resource="pods"} 1500
apiserver_storage_objects{resource="deployments.apps"} 10
apiserver_storage_objects{resource="leases.coordination.k8s.io"} -1
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",verb="LIST",resource="pods"} 10
apiserver_request_total{code="429",verb="LIST",resource="pods"} 4
apiserver_request_total{code="429",verb="GET",resource="pods"} 1
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.5e+09
"""
    m = parse_metrics(text)
    assert m.storage_objects == {"pods": 1500, "deployments.apps": 10}
    assert m.throttled_total == 5
    assert m.resident_memory_bytes == 1.5e9


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_json_output_without_metrics(tmp_path: Path) -> None:
    log = Log(tmp_path / "audit.log")
    agent_fleet(log, 3, nodes=20)
    informer_controller(log, 3)
    path = log.close()
    with path.open("ab") as f:
        f.write(b"garbage\n")
    result = CliRunner().invoke(
        app, ["guard", "analyze", "--no-metrics", "--audit-log", str(path), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["culprits"][0]["user"] == AGENT
    assert doc["rows"][0]["rank"] == 1
    assert doc["input"]["malformed"] == 1
    assert "skipped 1 malformed line" in result.stderr
    assert {f["kind"] for f in doc["findings"]} >= {"periodic-list", "per-node-daemonset"}


def test_cli_table_output(tmp_path: Path) -> None:
    log = Log(tmp_path / "audit.log")
    agent_fleet(log, 3, nodes=20)
    result = CliRunner().invoke(
        app, ["guard", "analyze", "--no-metrics", "--audit-log", str(log.close())]
    )
    assert result.exit_code == 0, result.output
    assert "Culprits" in result.stdout and "telemetry-agent/2.0.0" in result.stdout
    assert "fix:" in result.stdout and "per-node-daemonset" in result.stdout


def test_cli_errors_name_the_field_and_the_fix(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["guard", "analyze", "--audit-log", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "--audit-log" in missing.stderr and "no such file" in missing.stderr

    bad_window = runner.invoke(
        app, ["guard", "analyze", "--audit-log", str(tmp_path), "--window", "ten"]
    )
    assert bad_window.exit_code == 2
    assert "--window" in bad_window.output and "10m" in bad_window.output

    directory = runner.invoke(
        app, ["guard", "analyze", "--no-metrics", "--audit-log", str(tmp_path)]
    )
    assert directory.exit_code == 2 and "not a regular file" in directory.stderr

    junk = tmp_path / "junk.log"
    junk.write_text("hello\nworld\n")
    empty = runner.invoke(app, ["guard", "analyze", "--no-metrics", "--audit-log", str(junk)])
    assert empty.exit_code == 1 and "no audit events" in empty.stderr

    log = Log(tmp_path / "audit.log")
    log.request(0, "u", "u/1", "list", "/api/v1/pods", "pods")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:9"}
users:
- name: u
  user: {token: abc}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
"""
    )
    unreachable = runner.invoke(
        app,
        ["guard", "analyze", "--kubeconfig", str(kubeconfig), "--audit-log", str(log.close())],
    )
    assert unreachable.exit_code == 1
    assert "127.0.0.1:9" in unreachable.stderr


def test_findings_are_recomputable_from_an_analysis(tmp_path: Path) -> None:
    """find() is a pure function of the analysis (live detection reuses it)."""
    log = Log(tmp_path / "audit.log")
    agent_fleet(log, 5)
    analysis = analyse(log.close())
    again = find(analysis)
    assert [f.to_dict() for f in again] == [f.to_dict() for f in analysis.findings]


def test_a_malformed_request_received_line_leaves_its_completion_whole() -> None:
    """A RequestReceived line the reader cannot use (no user) is skipped; the completion of
    the same request then counts as the whole request, not as an outcome of nothing."""
    base = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "auditID": "x",
        "requestURI": "/api/v1/pods",
        "verb": "list",
        "userAgent": "c/1",
        "objectRef": {"resource": "pods", "apiVersion": "v1"},
        "requestReceivedTimestamp": "2025-01-01T12:00:00.000001Z",
        "stageTimestamp": "2025-01-01T12:00:01.000001Z",
    }
    received = orjson.dumps({**base, "stage": "RequestReceived"})  # no "user"
    completed = orjson.dumps(
        {
            **base,
            "stage": "ResponseComplete",
            "user": {"username": "c"},
            "responseStatus": {"code": 200},
        }
    )
    parser = AuditParser()
    records = list(iter_lines([received, completed], parser))
    assert [r.part for r in records] == ["whole"] and parser.stats.malformed == 1
    aggregator = Aggregator()
    aggregator.add_all(records)
    (row,) = aggregator.report(T0.timestamp(), T0.timestamp() + 10).rows
    assert row.requests == 1 and row.unfinished == 0 and row.mean_latency == pytest.approx(1.0)
