"""Live detection pieces: /metrics -> HealthSample (the shared apimetrics parser), the
HealthTracker's signals (each fires on its condition, none on a steady server, no false
throttling from counters reset by a restart), AuditTail (partial lines, truncation, rotation),
and the bad-input errors of ``kubeward guard watch``."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from kubeward.cli import app
from kubeward.guard.apimetrics import parse_metrics
from kubeward.guard.audit import AuditRecord
from kubeward.guard.detect import AuditTail
from kubeward.guard.health import (
    MIB,
    HealthSample,
    HealthTracker,
    Signal,
    Thresholds,
    parse_sample,
)

# -- /metrics -------------------------------------------------------------------------------------


def exposition(
    *,
    ok: float = 0,
    throttled: float = 0,
    rejected: float = 0,
    inflight: tuple[float, float] = (5, 1),
    inqueue: float = 0,
    watches: float = 100,
    latency_sum: float = 0,
    latency_count: float = 0,
    memory: float = 1024 * MIB,
    start: float = 1_700_000_000,
    model_time: float | None = None,
    seats: dict[str, float] | None = None,
) -> str:
    """kube-apiserver's /metrics, with the families the health signals read (``seats``:
    apiserver_flowcontrol_nominal_limit_seats by priority level, absent when None)."""
    lines = [
        "# TYPE apiserver_request_total counter",
        f'apiserver_request_total{{code="200",verb="LIST",resource="pods"}} {ok}',
        f'apiserver_request_total{{code="429",verb="LIST",resource="pods"}} {throttled}',
        "# TYPE apiserver_flowcontrol_rejected_requests_total counter",
        "apiserver_flowcontrol_rejected_requests_total"
        f'{{flow_schema="service-accounts",priority_level="workload-low",reason="queue-full"}}'
        f" {rejected}",
        "# TYPE apiserver_current_inflight_requests gauge",
        f'apiserver_current_inflight_requests{{request_kind="readOnly"}} {inflight[0]}',
        f'apiserver_current_inflight_requests{{request_kind="mutating"}} {inflight[1]}',
        "# TYPE apiserver_flowcontrol_current_inqueue_requests gauge",
        f'apiserver_flowcontrol_current_inqueue_requests{{flow_schema="a",priority_level="workload-low"}} {inqueue / 2}',  # noqa: E501
        f'apiserver_flowcontrol_current_inqueue_requests{{flow_schema="b",priority_level="global-default"}} {inqueue / 2}',  # noqa: E501
        "# TYPE apiserver_longrunning_requests gauge",
        f'apiserver_longrunning_requests{{verb="WATCH",resource="pods",scope="cluster"}} {watches}',
        'apiserver_longrunning_requests{verb="CONNECT",resource="pods",scope="namespace"} 7',
        "# TYPE apiserver_request_duration_seconds histogram",
        f'apiserver_request_duration_seconds_bucket{{verb="LIST",le="+Inf"}} {latency_count}',
        f'apiserver_request_duration_seconds_sum{{verb="LIST"}} {latency_sum}',
        f'apiserver_request_duration_seconds_count{{verb="LIST"}} {latency_count}',
        # Long-running verbs: durations of minutes, not latency; must be left out.
        'apiserver_request_duration_seconds_bucket{verb="WATCH",le="+Inf"} 10',
        'apiserver_request_duration_seconds_sum{verb="WATCH"} 3000',
        'apiserver_request_duration_seconds_count{verb="WATCH"} 10',
        'apiserver_request_duration_seconds_bucket{verb="CONNECT",le="+Inf"} 2',
        'apiserver_request_duration_seconds_sum{verb="CONNECT"} 600',
        'apiserver_request_duration_seconds_count{verb="CONNECT"} 2',
        "# TYPE apiserver_storage_objects gauge",
        'apiserver_storage_objects{resource="pods"} 1500',
        "# TYPE process_resident_memory_bytes gauge",
        f"process_resident_memory_bytes {memory}",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {start}",
    ]
    if seats is not None:
        lines.append("# TYPE apiserver_flowcontrol_nominal_limit_seats gauge")
        lines += [
            f'apiserver_flowcontrol_nominal_limit_seats{{priority_level="{level}"}} {n}'
            for level, n in seats.items()
        ]
    if model_time is not None:
        lines += [
            "# TYPE kubeward_sim_model_time_seconds gauge",
            f"kubeward_sim_model_time_seconds {model_time}",
        ]
    return "\n".join(lines) + "\n"


def test_one_parser_gives_health_its_figures() -> None:
    text = exposition(
        ok=90, throttled=10, rejected=4, inflight=(30, 12), inqueue=8, watches=250,
        latency_sum=12.5, latency_count=50, memory=2e9, model_time=1_800_000_000.5,
    )  # fmt: skip
    m = parse_metrics(text)
    assert m.inqueue == 8
    assert m.watches == 250  # WATCH only, not CONNECT
    assert (m.latency_sum, m.latency_count) == (12.5, 50)  # WATCH and CONNECT left out
    assert m.model_time == 1_800_000_000.5
    assert (m.inflight_total, m.rejected_total, m.throttled_total) == (42, 4, 10)

    sample = parse_sample(text, wall_time=5.0)
    assert sample.at == 1_800_000_000.5  # the simulator's clock wins over the wall clock
    assert sample.reachable
    assert sample.requests_by_code == {"200": 90, "429": 10}
    assert (sample.rejected, sample.inflight, sample.inqueue, sample.watches) == (4, 42, 8, 250)
    assert (sample.latency_sum, sample.latency_count) == (12.5, 50)
    assert (sample.memory_bytes, sample.start_time) == (2e9, 1_700_000_000)
    assert sample.storage_objects == {"pods": 1500}
    # A real kube-apiserver has no modelled clock: the sample takes the wall time.
    assert parse_sample(exposition(), wall_time=5.0).at == 5.0


# -- HealthTracker --------------------------------------------------------------------------------


class Server:
    """A kube-apiserver's counters over time, scraped every ``step`` seconds."""

    def __init__(self, step: float = 10.0) -> None:
        self.t = 1_000_000.0
        self.step = step
        self.counters = {"ok": 0.0, "throttled": 0.0, "latency_sum": 0.0, "latency_count": 0.0}
        # The other exposition() arguments, kept between ticks; the process started an hour ago.
        self.gauges: dict[str, Any] = {"start": self.t - 3600}

    def tick(
        self,
        *,
        rps: float = 100,
        throttle_rps: float = 0,
        mean_latency: float = 0.05,
        **gauges: Any,
    ) -> HealthSample:
        self.t += self.step
        n = rps * self.step
        c = self.counters
        c["ok"] += n
        c["throttled"] += throttle_rps * self.step
        c["latency_sum"] += n * mean_latency
        c["latency_count"] += n
        self.gauges.update(gauges)
        return parse_sample(exposition(**c, **self.gauges, model_time=self.t), 0.0)

    def restart(self) -> None:
        for key in self.counters:
            self.counters[key] = 0.0
        self.gauges["rejected"] = 0.0
        self.gauges["start"] = self.t + self.step / 2


def names(signals: list[Signal]) -> list[str]:
    return sorted(s.name for s in signals)


def steady(tracker: HealthTracker, server: Server, samples: int = 30) -> None:
    for i in range(samples):
        memory = (1024 + (i % 3) * 20) * MIB  # +-GC noise
        assert tracker.observe(server.tick(memory=memory, watches=300 - i % 2)) == []


def test_steady_server_raises_nothing() -> None:
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, samples=60)  # ten minutes at 100 req/s, 50 ms, 300 watches
    assert tracker.restarts == 0


def test_unreachable_server_is_a_signal() -> None:
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, 3)
    signals = tracker.observe(HealthSample(server.t + 10, False, "HTTP 503 Service Unavailable"))
    assert names(signals) == ["unavailable"]
    assert "HTTP 503" in signals[0].detail


def test_throttling_fires_on_429s_and_on_apf_rejections() -> None:
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, 3)
    signals = tracker.observe(server.tick(throttle_rps=2))
    assert names(signals) == ["throttling"]
    assert "2.0 requests/s rejected" in signals[0].detail
    assert tracker.observe(server.tick(throttle_rps=0.5)) == []  # below 1/s
    # APF rejections (the flowcontrol counter) count even when 429s are not broken out.
    server.gauges["rejected"] = 300.0
    assert names(tracker.observe(server.tick())) == ["throttling"]


def test_counters_reset_by_a_restart_are_not_throttling() -> None:
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, 3)
    server.counters["throttled"] = 5000.0  # many 429s long ago
    server.gauges["rejected"] = 5000.0
    assert names(tracker.observe(server.tick(throttle_rps=2))) == ["throttling"]
    server.restart()  # every counter starts again from 0
    signals = tracker.observe(server.tick(memory=1024 * MIB))
    assert names(signals) == ["restarted"]
    assert tracker.restarts == 1
    # After the restart: the new counters are compared with each other only.
    steady(tracker, server, 5)


def test_restart_is_a_signal_once() -> None:
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, 3)
    server.gauges["start"] = server.t  # a new process start time
    assert "restarted" in names(tracker.observe(server.tick()))
    assert tracker.observe(server.tick()) == []


def test_memory_growth_fires_on_fast_large_growth_only() -> None:
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, 3)
    # +200 MiB on a 1 GiB server: neither 30% nor 256 MiB.
    assert tracker.observe(server.tick(memory=1224 * MIB)) == []
    signals = tracker.observe(server.tick(memory=1600 * MIB))  # +576 MiB, x1.56 in 20 s
    assert names(signals) == ["memory-growth"]
    assert "1,600 MiB" in signals[0].detail

    # A small server doubling by less than 256 MiB: not an alert.
    tracker, server = HealthTracker(), Server()
    for memory in (200, 210, 400, 420):
        assert tracker.observe(server.tick(memory=memory * MIB)) == []

    # The same +600 MiB spread over ten minutes: each 2-minute window grows by less.
    tracker, server = HealthTracker(), Server()
    for i in range(61):
        assert tracker.observe(server.tick(memory=(1024 + i * 10) * MIB)) == [], i


def test_saturation_fires_on_inflight_and_on_queued_requests() -> None:
    t = Thresholds()
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, 3)
    # No APF seat figures: 80 % of kube-apiserver's default 400 + 200.
    signals = tracker.observe(server.tick(inflight=(380, 100)))
    assert names(signals) == ["saturation"]
    assert "480 requests in flight (threshold 480)" in signals[0].detail
    assert tracker.observe(server.tick(inflight=(300, 100))) == []
    signals = tracker.observe(server.tick(inqueue=t.inqueue))
    assert names(signals) == ["saturation"]
    assert "queued by APF" in signals[0].detail


def test_saturation_threshold_follows_the_servers_own_concurrency_limit() -> None:
    # A server run with --max-requests-inflight 1600 --max-mutating-requests-inflight 800:
    # APF shares 2,400 seats among the levels (the exempt level has none).
    seats = {"exempt": 0, "system": 290, "leader-election": 98, "node-high": 392,
             "workload-high": 392, "workload-low": 980, "global-default": 196,
             "catch-all": 52}  # fmt: skip
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, 3)
    assert tracker.observe(server.tick(inflight=(900, 300), seats=seats)) == []  # 1,200 < 1,920
    signals = tracker.observe(server.tick(inflight=(1500, 420), seats=seats))
    assert names(signals) == ["saturation"]
    assert "1920 requests in flight (threshold 1920)" in signals[0].detail
    assert parse_metrics(exposition(seats=seats)).concurrency_limit == 2400
    assert parse_metrics(exposition()).concurrency_limit is None

    # An explicit threshold wins over the server's figure.
    tracker, server = HealthTracker(Thresholds(inflight=1000)), Server()
    steady(tracker, server, 3)
    assert names(tracker.observe(server.tick(inflight=(900, 100), seats=seats))) == ["saturation"]


def test_threshold_overrides_take_units_and_name_a_bad_item() -> None:
    t = Thresholds.with_overrides(
        ["inflight=1500", "memory-growth=1Gi", "memory-window=3m", "mean-latency=500e-3",
         "watch-drop-ratio=0.7"]
    )  # fmt: skip
    assert (t.inflight, t.memory_growth_bytes, t.memory_window) == (1500, 2**30, 180)
    assert (t.mean_latency_seconds, t.watch_drop_ratio) == (0.5, 0.7)
    assert t.inqueue == Thresholds().inqueue  # the rest keep their defaults
    assert Thresholds.with_overrides(["mean-latency=2s"]).mean_latency_seconds == 2
    for bad, message in [
        ("inflight", "expected NAME=VALUE"),
        ("latency=1s", "NAME one of memory-growth-ratio"),
        ("inflight=abc", "inflight: 'abc' is not a number"),
        ("inflight=nan", "not a finite number"),
        ("inflight=-3", "inflight=-3: must be greater than 0"),
        ("inflight-share=1.5", "between 0 (excluded) and 1"),
        ("memory-growth-ratio=1", "must be greater than 1"),
        ("memory-growth=12Q", "not a quantity"),
        ("memory-window=0s", "is zero"),
        ("mean-latency=inf", "not a finite number"),
        ("mean-latency=soon", "'soon' is not a duration"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            Thresholds.with_overrides([bad])


def test_latency_fires_on_the_mean_between_two_samples() -> None:
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, 3)
    assert tracker.observe(server.tick(mean_latency=0.9)) == []
    signals = tracker.observe(server.tick(mean_latency=2.5))
    assert names(signals) == ["latency"]
    assert "2.50 s" in signals[0].detail
    # Long watches (minutes each) never count as latency: the fixture's WATCH sum is 3000 s.
    assert tracker.observe(server.tick()) == []


def test_watches_dropped_fires_when_most_watches_end_at_once() -> None:
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, 3)
    assert tracker.observe(server.tick(watches=200)) == []  # a third gone: clients churn
    signals = tracker.observe(server.tick(watches=40))
    assert names(signals) == ["watches-dropped"]
    assert "from 200 to 40" in signals[0].detail
    # An almost idle server (fewer than 20 watches) losing them all is not a signal.
    tracker, server = HealthTracker(), Server()
    for watches in (10, 10, 0):
        assert tracker.observe(server.tick(watches=watches)) == []


def test_samples_out_of_order_are_not_compared() -> None:
    tracker, server = HealthTracker(), Server()
    steady(tracker, server, 3)
    latest = server.tick()
    tracker.observe(latest)
    stale = replace(latest, at=latest.at - 30, requests_by_code={"429": 1e6})
    assert tracker.observe(stale) == []


# -- AuditTail ------------------------------------------------------------------------------------


def audit_line(user: str, seconds: int = 0) -> bytes:
    return orjson.dumps(
        {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": f"{user}-{seconds}",
            "stage": "ResponseComplete",
            "requestURI": "/api/v1/pods",
            "verb": "list",
            "user": {"username": user, "groups": ["system:authenticated"]},
            "userAgent": "agent/1.0",
            "objectRef": {"resource": "pods", "apiVersion": "v1"},
            "responseStatus": {"code": 200},
            "requestReceivedTimestamp": f"2025-01-01T12:00:{seconds:02d}.000000Z",
            "stageTimestamp": f"2025-01-01T12:00:{seconds:02d}.010000Z",
        }
    )


def users(records: list[AuditRecord]) -> list[str]:
    return [r.user for r in records]


def test_audit_tail_returns_complete_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    tail = AuditTail(path)
    assert tail.read() == []  # not there yet
    a, b = audit_line("a", 1), audit_line("b", 2)
    path.write_bytes(a + b"\n" + b[:40])
    assert users(tail.read()) == ["a"]  # b is half written
    assert tail.read() == []
    with path.open("ab") as f:
        f.write(b[40:] + b"\n")
    assert users(tail.read()) == ["b"]
    with path.open("ab") as f:
        f.write(b"not json\n" + audit_line("c", 3) + b"\n")
    assert users(tail.read()) == ["c"]
    assert tail.parser.stats.malformed == 1


def test_audit_tail_small_reads_split_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(b"".join(audit_line(f"u{i}", i) + b"\n" for i in range(20)))
    tail = AuditTail(path)
    got: list[str] = []
    while tail.offset < path.stat().st_size:
        got += users(tail.read(max_bytes=37))  # a budget that cuts lines anywhere
    assert got == [f"u{i}" for i in range(20)]


def test_audit_tail_truncated_file_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(b"".join(audit_line(f"old{i}", i) + b"\n" for i in range(5)))
    tail = AuditTail(path)
    assert len(tail.read()) == 5
    path.write_bytes(audit_line("new", 9) + b"\n" + audit_line("half", 10)[:30])  # truncated
    assert users(tail.read()) == ["new"]


def test_audit_tail_follows_a_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(audit_line("before", 1) + b"\n")
    tail = AuditTail(path)
    assert users(tail.read()) == ["before"]
    # kube-apiserver (lumberjack) renames the full file and starts a new one; by the next read
    # the new file may already be longer than the old one was.
    os.rename(path, tmp_path / "audit-2025-01-01T12-00-00.000.log")
    path.write_bytes(b"".join(audit_line(f"after{i}", i) + b"\n" for i in range(3)))
    assert users(tail.read()) == ["after0", "after1", "after2"]


# -- kubeward guard watch: bad input ---------------------------------------------------------------


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _watch(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["guard", "watch", *args])
    return result.exit_code, " ".join(result.output.split())  # undo Rich's wrapping


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--interval", "often"], "'--interval'"),
        (["--interval", "0s"], "is zero"),
        (["--window", "2 minutes"], "'--window'"),
        (["--for", "-1m"], "'--for'"),
    ],
)
def test_watch_bad_durations_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    code, output = _watch("--store", str(tmp_path / "k.db"), *args)
    assert code == 2
    assert expected in output


def test_watch_audit_log_in_a_missing_directory_exits_2(tmp_path: Path) -> None:
    code, output = _watch(
        "--store", str(tmp_path / "k.db"), "--audit-log", str(tmp_path / "nope" / "audit.log")
    )
    assert code == 2
    assert "does not exist" in output and "nope" in output
    code, output = _watch("--store", str(tmp_path / "k.db"), "--audit-log", str(tmp_path))
    assert code == 2
    assert "is a directory" in output


def test_watch_bad_store_url_exits_2(tmp_path: Path) -> None:
    code, output = _watch("--store", "mysql://db/kubeward")
    assert code == 2
    assert "--store" in output


def test_watch_unreachable_server_exits_1(tmp_path: Path) -> None:
    port = _closed_port()
    kubeconfig = _kubeconfig(tmp_path, f"http://127.0.0.1:{port}")
    code, output = _watch(
        "--kubeconfig", str(kubeconfig), "--store", str(tmp_path / "k.db"), "--once"
    )
    assert code == 1, output
    assert f"127.0.0.1:{port}" in output


# -- kubeward guard watch: what it prints and stores -----------------------------------------------


def test_reporter_prints_each_alert_event_once_and_stores_it(tmp_path: Path) -> None:
    from rich.console import Console

    from kubeward.guard.alertstore import AlertRecorder, list_alerts
    from kubeward.guard.detect import Alert, Suspect
    from kubeward.guard.identities import refusal
    from kubeward.guard.watch_cli import Reporter
    from kubeward.store import open_store

    agent = "system:serviceaccount:monitoring:telemetry-agent"
    out = Console(record=True, width=300)
    with open_store(str(tmp_path / "k.db")) as store:
        reporter = Reporter(
            out=out, as_json=False, cluster="prod", window=120, auto_protect=False,
            min_share=0.25, kubeconfig=Path("/k/config"), recorder=AlertRecorder(store, "prod"),
        )  # fmt: skip
        alert = Alert(
            1_767_225_600.0,
            [Signal("memory-growth", "memory 3,000 MiB, up 900 MiB in 120 s")],
            [
                Suspect(agent, "telemetry-agent/2.0.0", 0.7, 40, None),
                Suspect("system:node:{node}", "kubelet/v1.31", 0.2, 6, refusal("system:node:x")),
                Suspect("oidc:bob", "kubectl/v1.31", 0.05, 1, None),
            ],
            1_767_225_600.0,
        )
        reporter.update([alert])
        reporter.update([alert])  # nothing new: nothing printed
        text = out.export_text()
        assert text.count("ALERT opened 2026-01-01T00:00:00Z  cluster prod  (store id 1)") == 1
        assert "memory-growth    memory 3,000 MiB" in text
        assert f"1. {agent}  telemetry-agent/2.0.0  cost 70%  40.0 req/s  protectable" in text
        assert "not protectable: a kubelet (node identity, group system:nodes)" in text
        assert "3. oidc:bob  kubectl/v1.31  cost 5%  1.0 req/s  protectable, below the 25%" in text
        assert f"kubeward guard protect --kubeconfig /k/config --user '{agent}' --apply" in text
        alert.protected.append(agent)
        alert.mitigated_at = alert.opened_at + 12
        alert.closed_at = alert.opened_at + 400
        reporter.update([alert])
        text = out.export_text()
        assert "ALERT mitigated 2026-01-01T00:00:12Z" in text
        assert "ALERT closed 2026-01-01T00:06:40Z" in text and "lasted 6m40s" in text
        [stored] = list_alerts(store)
        assert stored.protected == [agent] and stored.closed_at is not None
