"""``kubeward replay openai-outage``: the December 2024 outage on the simulator, with and
without kubeward's guard.

Each side starts the simulator (``kubeward sim``, a child process) on the outage scenario
scaled to ``--nodes``, the collector (``kubeward collect``, a child process) and the guard
(:class:`kubeward.guard.detect.Guard`, in this process). All three talk over HTTP, exactly as
against a real cluster. With the guard on, it throttles the culprit it finds
(auto-protect); with it off, it only watches, so both sides report when trouble was visible.

The figures come from the simulator's own series (synthetic clients' response codes, restarts,
CoreDNS outage seconds) read over HTTP, on the simulator's modelled clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from kubeward.client.api import connect
from kubeward.client.errors import ClientError
from kubeward.demo import start_simulator
from kubeward.guard.detect import Alert, Guard, GuardOptions

log = logging.getLogger("kubeward.replay")

ONSET_SECONDS = 300.0  # the scenario's rollout: the telemetry agents start 5 minutes in
COREDNS_METRICS = "/api/v1/namespaces/kube-system/services/kube-dns:metrics/proxy/metrics"
FULL_NODES = 7500
WARM_UP_SECONDS = 120.0  # the guard watches from this long before the rollout
WARM_UP_POLL = 2.0  # wall seconds between reads of the simulator's time before the guard starts


@dataclass(frozen=True)
class ReplayOptions:
    nodes: int = 500
    speed: float = 10.0
    minutes: float = 20.0  # simulated, from the scenario's start
    # When the telemetry DaemonSet rolls out. A big cluster takes simulated minutes to build on
    # a fast clock; the rollout should meet a steady control plane, as in the outage.
    onset_seconds: float = ONSET_SECONDS
    interval: float = 0.2  # wall seconds between guard steps
    audit_sample: float = 1.0
    start_timeout: float = 600.0  # wall seconds for the simulator to build the cluster


def scenario_for(nodes: int, onset_seconds: float = ONSET_SECONDS) -> dict[str, Any]:
    """The outage scenario at ``nodes`` nodes, rolling out at ``onset_seconds``: the 500-node
    variant's control plane up to 1,000 nodes, the full scenario's beyond; services scaled
    with the node count."""
    base_name = "openai-outage-small" if nodes <= 1000 else "openai-outage"
    builtin = resources.files("kubeward.sim.scenarios") / "builtin" / f"{base_name}.yaml"
    doc: dict[str, Any] = yaml.safe_load(builtin.read_text())
    base_nodes = doc["nodePools"][0]["count"]
    doc["name"] = f"openai-outage-{nodes}"
    doc["description"] = f"openai-outage at {nodes:,} nodes (kubeward replay)"
    doc["nodePools"][0]["count"] = nodes
    onset = f"{onset_seconds:.0f}s"
    for workload in doc["workloads"]:
        if workload.get("kind", "Deployment") == "Deployment":
            workload["copies"] = max(1, round(workload.get("copies", 1) * nodes / base_nodes))
        if "createAt" in workload:
            workload["createAt"] = onset
    for client in doc["load"]["clients"]:
        client["startAt"] = onset
    return doc


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _one(families: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float | None:
    values = families.get(name)
    return values[0][1] if values else None


@dataclass
class SimReading:
    """The simulator's outage figures at one moment of its modelled time."""

    at: float
    clock_start: float  # unix time of the scenario's time 0
    system_ok: float
    system_total: float
    restarts: float
    dns_outage_seconds: float

    @classmethod
    def parse(cls, apiserver: str, coredns: str) -> SimReading:
        fam = _families(apiserver)
        ok = total = 0.0
        for labels, value in fam.get("kubeward_sim_client_requests_total", []):
            if labels.get("system") == "true":
                total += value
                if labels.get("code", "").startswith("2"):
                    ok += value
        return cls(
            at=_one(fam, "kubeward_sim_model_time_seconds") or 0.0,
            clock_start=_one(fam, "kubeward_sim_clock_start_time_seconds") or 0.0,
            system_ok=ok,
            system_total=total,
            restarts=_one(fam, "kubeward_sim_apiserver_restarts_total") or 0.0,
            dns_outage_seconds=_one(_families(coredns), "kubeward_sim_dns_outage_seconds_total")
            or 0.0,
        )


@dataclass
class SideResult:
    guard: bool
    nodes: int
    summary: dict[str, Any] = field(default_factory=dict)  # the simulator's --load-summary
    alerts: list[Alert] = field(default_factory=list)
    guard_requests: int = 0
    wall_seconds: float = 0.0

    @property
    def onset(self) -> float:
        """Unix time of the onset on the simulator's clock."""
        return float(self.summary["clock_start"] + self.summary["onset_seconds"])

    def figures(self) -> dict[str, Any]:
        s, onset = self.summary, self.onset
        # Detected: the first moment from the rollout on that an alert was open and named a
        # culprit (an alert may already be open, e.g. from the cluster's build-up).
        alert = next(
            (a for a in self.alerts if a.culprit_at is not None and a.culprit_at >= onset), None
        )
        mitigated = alert.mitigated_at if alert else None
        restarts_after = None
        if mitigated is not None:
            since = mitigated - s["clock_start"]
            restarts_after = sum(1 for t in s["oom_at_seconds"] if t >= since)
        top = alert.culprit if alert else None
        return {
            "guard": self.guard,
            "nodes": self.nodes,
            "simulated_minutes": round(s["simulated_seconds"] / 60, 2),
            "system_success_before": s["system_success_before"],
            "system_success_after": s["system_success_after"],
            "apiserver_restarts": s["apiserver_restarts"],
            "restarts_after_mitigation": restarts_after,
            "dns_failure_minutes": s["dns_failure_minutes"],
            "minutes_until_dns_failure": s["dns_failure_minutes_after_onset"],
            # Detection = an open alert naming the culprit; when its alert opened may be
            # earlier (negative: before the rollout).
            "seconds_to_detect": round(alert.culprit_at - onset, 1)
            if alert and alert.culprit_at is not None
            else None,
            "alert_opened_seconds": round(alert.opened_at - onset, 1) if alert else None,
            "seconds_to_mitigate": round(mitigated - onset, 1) if mitigated else None,
            "culprit": top.user if top else None,
            "culprit_user_agent": top.user_agent if top else None,
            "culprit_cost_share": round(top.share, 3) if top else None,
            "signals": sorted({sig.name for sig in alert.signals}) if alert else [],
            "false_alarms_before_onset": sum(1 for a in self.alerts if a.opened_at < onset),
            "guard_requests": self.guard_requests,
            "wall_seconds": round(self.wall_seconds, 1),
            # --speed is a ceiling: the simulator's clock stands still while it cannot keep up
            "clock_held_seconds": s.get("clock_held_seconds"),
        }


def _progress(reading: SimReading, guard: Guard, wall: float) -> str:
    sample = guard.last_sample
    memory = sample.memory_bytes if sample and sample.memory_bytes else 0.0
    up = guard.health_up
    return (
        f"T+{(guard.clock.now() - reading.clock_start) / 60:4.1f}m "
        f"apiserver {'up' if up else 'DOWN'} memory {memory / 2**30:5.2f} GiB "
        f"restarts {reading.restarts:.0f} dns-outage {reading.dns_outage_seconds / 60:4.1f}m "
        f"wall {wall:5.1f}s"
    )


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _check_running(sim: subprocess.Popen[bytes]) -> None:
    if sim.poll() is not None:
        raise RuntimeError(f"the simulator exited early (exit code {sim.returncode})")


async def _read(api: Any) -> SimReading | None:
    try:
        apiserver = (await api.get_raw("/metrics")).decode()
        coredns = (await api.get_raw(COREDNS_METRICS)).decode()
    except ClientError:
        return None  # down (restarting): read again next step
    return SimReading.parse(apiserver, coredns)


async def run_side(
    guard_on: bool,
    options: ReplayOptions,
    workdir: Path,
    progress: Callable[[str], None] | None = None,
) -> SideResult:
    """One side of the replay, start to finish; child processes are always stopped."""
    say = progress or (lambda _msg: None)
    side = "guard" if guard_on else "no-guard"
    scenario = workdir / f"scenario-{side}.yaml"
    scenario.write_text(
        yaml.safe_dump(scenario_for(options.nodes, options.onset_seconds), sort_keys=False)
    )
    kubeconfig, audit = workdir / f"{side}.kubeconfig", workdir / f"{side}-audit.log"
    summary = workdir / f"{side}-summary.json"
    sim_args = ["--speed", str(options.speed), "--audit-log", str(audit)]
    sim_args += ["--audit-sample", str(options.audit_sample), "--load-summary", str(summary)]
    # RequestReceived too: at full size the agents' LISTs kill the server before they complete,
    # and a log of completed requests alone never shows them.
    sim_args.append("--audit-request-received")
    started = time.perf_counter()
    say(f"[{side}] starting the simulator: {options.nodes:,} nodes at speed {options.speed:g}")
    sim = start_simulator(kubeconfig, str(scenario), sim_args, timeout=options.start_timeout)
    collector: subprocess.Popen[bytes] | None = None
    result = SideResult(guard_on, options.nodes)
    try:
        store = str(workdir / f"{side}.db")
        command = [sys.executable, "-m", "kubeward.cli", "collect"]
        command += ["--kubeconfig", str(kubeconfig), "--listen", "127.0.0.1:0", "--store", store]
        collector = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        api = await connect(kubeconfig, agent="kubeward-guard")
        reader = await connect(kubeconfig, agent="kubeward-replay")
        guard = Guard(api, audit, GuardOptions(auto_protect=guard_on))
        try:
            first = await _read(reader)
            if first is None or not first.clock_start:
                raise RuntimeError("the simulator's /metrics has no load-model series")
            end = first.clock_start + options.minutes * 60
            reading = first
            next_report = first.clock_start + 60
            # The guard starts on the built cluster, two minutes before the rollout, as on a
            # production cluster: the watch cache filling while the simulator creates the
            # cluster's pods is memory growth too, but not the incident being replayed.
            # Times are the simulator's model time, never `speed` x wall: its clock stands
            # still while it cannot keep up (--speed is a ceiling).
            watch_from = first.clock_start + max(options.onset_seconds - WARM_UP_SECONDS, 0.0)
            while reading.at < watch_from:
                await asyncio.sleep(WARM_UP_POLL)
                reading = await _read(reader) or reading
                _check_running(sim)
            while guard.clock.now() < end:
                await asyncio.sleep(options.interval)
                _check_running(sim)
                await guard.step()
                fresh = await _read(reader)
                if fresh is not None:
                    reading = fresh
                if guard.clock.now() >= next_report:
                    # once a simulated minute (not a catch-up burst when the guard starts late)
                    next_report = max(next_report, guard.clock.now()) + 60
                    say(f"[{side}] {_progress(reading, guard, time.perf_counter() - started)}")
                if len(guard.alerts) > len(result.alerts):
                    result.alerts = list(guard.alerts)
                    say(f"[{side}] {guard.alerts[-1].summary()}")
            result.alerts = list(guard.alerts)
            result.guard_requests = sum(api.requests.values())
        finally:
            await api.aclose()
            await reader.aclose()
    finally:
        _stop(collector)
        _stop(sim)
    if not summary.exists():
        raise RuntimeError(f"the simulator exited without writing {summary}")
    result.summary = json.loads(summary.read_text())
    result.wall_seconds = time.perf_counter() - started
    return result
