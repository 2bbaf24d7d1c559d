"""Live detection: scrape the API server's /metrics and follow its audit log, raise a
control-plane alert naming the top culprits, and (when asked) throttle the top one with APF.

One :meth:`Guard.step` = read the audit lines written since the last step, scrape /metrics
once, update the health signals and the open alert. The guard's own API traffic is one GET of
/metrics per step (plus the two apply requests of a mitigation): its view of the cluster's
objects comes from the audit log and from the collector's single watch, never from LISTs.

Time: every figure is on the API server's clock as the samples and audit events carry it (the
simulator's modelled clock in a replay), so "detected 20 s after onset" means simulated
seconds there and real seconds on a real cluster.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeward.client.api import ApiClient
from kubeward.client.errors import ApiError, ClientError
from kubeward.guard import apf, protect
from kubeward.guard.analysis import Aggregator, Analysis
from kubeward.guard.apimetrics import MetricsError, parse_metrics
from kubeward.guard.audit import AuditParser, AuditRecord
from kubeward.guard.health import HealthSample, HealthTracker, Signal, Thresholds
from kubeward.guard.identities import refusal

log = logging.getLogger("kubeward.guard")

_READ_CHUNK = 8 * 2**20


class AuditTail:
    """The complete lines appended to an audit log since the last read. A file that shrank
    (truncated) or was replaced (rotated: a new file under the same name) is read again from
    its start."""

    def __init__(self, path: Path, parser: AuditParser | None = None) -> None:
        self.path = path
        self.parser = parser or AuditParser()
        self.offset = 0
        self._partial = b""
        self._line = 0
        self._inode: int | None = None

    def read(self, max_bytes: int = 64 * 2**20) -> list[AuditRecord]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []  # not written yet: the API server creates it on its first request
        if stat.st_size < self.offset or (self._inode is not None and stat.st_ino != self._inode):
            self.offset, self._partial = 0, b""
        self._inode = stat.st_ino
        records: list[AuditRecord] = []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            budget = max_bytes
            while budget > 0:
                chunk = f.read(min(_READ_CHUNK, budget))
                if not chunk:
                    break
                budget -= len(chunk)
                self.offset += len(chunk)
                *lines, self._partial = (self._partial + chunk).split(b"\n")
                for line in lines:
                    self._line += 1
                    record = self.parser.parse_line(line, self._line)
                    if record is not None:
                        records.append(record)
        return records


@dataclass
class Suspect:
    """A client identity named by an alert."""

    user: str
    user_agent: str
    share: float  # of the API server's estimated cost over the alert's window
    requests_per_second: float
    refusal: str | None  # why the guard will not throttle it (system identities)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "userAgent": self.user_agent,
            "costShare": round(self.share, 4),
            "requestsPerSecond": round(self.requests_per_second, 3),
            "protectable": self.refusal is None,
            "refusal": self.refusal,
        }


@dataclass
class Alert:
    opened_at: float
    signals: list[Signal]
    suspects: list[Suspect]
    last_signal_at: float
    closed_at: float | None = None
    culprit_at: float | None = None  # when a client the guard could throttle was named
    mitigated_at: float | None = None
    protected: list[str] = field(default_factory=list)  # users throttled for this alert

    @property
    def culprit(self) -> Suspect | None:
        """The client held responsible: the one throttled, else the heaviest one the guard
        could throttle (system components are ranked but never the culprit)."""
        for suspect in self.suspects:
            if suspect.user in self.protected:
                return suspect
        return next((s for s in self.suspects if s.refusal is None), None)

    def summary(self) -> str:
        names = ", ".join(sorted({s.name for s in self.signals}))
        top = self.culprit
        culprit = (
            f"; culprit {top.user} ({top.user_agent}) with {top.share:.0%} of the estimated "
            "API-server cost"
            if top
            else "; no client outside the system components stands out in the audit log"
        )
        return f"control-plane alert: {names}{culprit}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "openedAt": self.opened_at,
            "closedAt": self.closed_at,
            "culpritAt": self.culprit_at,
            "mitigatedAt": self.mitigated_at,
            "signals": [{"name": s.name, "detail": s.detail} for s in self.signals],
            "suspects": [s.to_dict() for s in self.suspects],
            "protected": self.protected,
        }


@dataclass(frozen=True)
class GuardOptions:
    window: float = 120.0  # seconds of audit events the culprits are ranked over
    quiet: float = 300.0  # an alert closes after this long without any signal
    auto_protect: bool = False
    min_share: float = 0.25  # auto-protect only a client with at least this cost share
    limits: apf.Limits = field(default_factory=apf.Limits)
    thresholds: Thresholds = field(default_factory=Thresholds)


class _ServerClock:
    """The API server's current time, estimated between samples: the last sample's time
    advanced at the rate the recent samples advanced against the local monotonic clock (1 on a
    real cluster, about the speed factor on a fast simulator, whose model advances in uneven
    steps and may lag its clock while busy)."""

    def __init__(self, keep: int = 12) -> None:
        self._recent: deque[tuple[float, float]] = deque(maxlen=keep)  # (monotonic, server)

    def observe(self, server_time: float) -> None:
        self._recent.append((time.monotonic(), server_time))

    def rate(self) -> float:
        if len(self._recent) < 2:
            return 1.0
        (m0, s0), (m1, s1) = self._recent[0], self._recent[-1]
        return (s1 - s0) / (m1 - m0) if m1 - m0 > 0.05 and s1 > s0 else 1.0

    def now(self) -> float:
        if not self._recent:
            return time.time()
        mono, at = self._recent[-1]
        return at + (time.monotonic() - mono) * self.rate()


class Guard:
    def __init__(
        self,
        api: ApiClient,
        audit_log: Path | None,
        options: GuardOptions | None = None,
        *,
        on_alert: Callable[[Alert], None] | None = None,
        on_protect: Callable[[Alert, apf.GuardObjects], None] | None = None,
        on_culprit: Callable[[Alert], None] | None = None,
    ) -> None:
        self.api = api
        self.options = options or GuardOptions()
        self.tail = AuditTail(audit_log) if audit_log is not None else None
        self.aggregator = Aggregator(retention_seconds=max(self.options.window, 60.0) * 2)
        self.health = HealthTracker(self.options.thresholds)
        self.clock = _ServerClock()
        self.alerts: list[Alert] = []
        self.last_sample: HealthSample | None = None  # the last successful scrape
        self.health_up = True  # whether the last scrape succeeded
        self.on_alert = on_alert
        self.on_protect = on_protect
        self.on_culprit = on_culprit
        # The groups each user was last seen with: refusals need them (system:masters,
        # system:nodes), and the ranking keeps only the user name.
        self.groups: dict[str, tuple[str, ...]] = {}
        self._last_failure = ""

    @property
    def open_alert(self) -> Alert | None:
        if self.alerts and self.alerts[-1].closed_at is None:
            return self.alerts[-1]
        return None

    async def scrape(self) -> HealthSample:
        try:
            text = await self.api.get_raw("/metrics")
        except ApiError as exc:
            return HealthSample(self.clock.now(), False, f"HTTP {exc.code} {exc.reason}")
        except ClientError as exc:
            return HealthSample(self.clock.now(), False, str(exc).splitlines()[0])
        try:
            metrics = parse_metrics(text.decode("utf-8", errors="replace"))
        except MetricsError as exc:  # an answer, but not Prometheus text: not a health reading
            return HealthSample(self.clock.now(), False, str(exc))
        sample = HealthSample.from_metrics(metrics, time.time())
        self.clock.observe(sample.at)
        return sample

    def analysis(self, end: float) -> Analysis:
        storage = self.last_sample.storage_objects if self.last_sample else {}
        return self.aggregator.report(end - self.options.window, end, storage)

    async def step(self) -> list[Signal]:
        if self.tail is not None:
            records = self.tail.read()
            for record in records:
                self.groups[record.user] = record.groups
            self.aggregator.add_all(records)
        sample = await self.scrape()
        self.health_up = sample.reachable
        if sample.reachable:
            self.last_sample = sample
        signals = self.health.observe(sample)
        log.debug(
            "event=step at=%.1f reachable=%s memory=%s signals=%s",
            sample.at,
            sample.reachable,
            sample.memory_bytes,
            [s.name for s in signals],
        )
        now = sample.at
        alert = self.open_alert
        if signals:
            if alert is None:
                alert = Alert(now, list(signals), self._suspects(now), now)
                self.alerts.append(alert)
                log.warning("event=alert_opened %s", alert.summary())
                if self.on_alert is not None:
                    self.on_alert(alert)
            else:
                alert.last_signal_at = now
                # One entry per signal name, with its latest detail: a long alert does not grow.
                latest = {s.name: s for s in alert.signals} | {s.name: s for s in signals}
                alert.signals = list(latest.values())
        elif alert is not None and now - alert.last_signal_at >= self.options.quiet:
            alert.closed_at = now
            log.warning("event=alert_closed opened_at=%.1f", alert.opened_at)
        if alert is not None and alert.closed_at is None:
            self._name_culprit(alert, now)
            if self.options.auto_protect:
                await self._protect(alert)
        return signals

    def _name_culprit(self, alert: Alert, now: float) -> None:
        """Re-rank the open alert's suspects (early in an incident the heaviest client may
        still be ramping up) until a client the guard could throttle carries at least
        ``min_share`` of the cost: that moment is when the alert names its culprit."""
        if alert.culprit_at is not None:
            return
        alert.suspects = self._suspects(now)
        top = alert.culprit
        if top is not None and top.share >= self.options.min_share:
            alert.culprit_at = now
            log.warning("event=culprit_named %s", alert.summary())
            if self.on_culprit is not None:
                self.on_culprit(alert)

    def _suspects(self, now: float) -> list[Suspect]:
        end = self.aggregator.newest if self.aggregator.newest is not None else now
        analysis = self.analysis(end)
        return [
            Suspect(
                c.user,
                c.user_agent,
                c.share,
                c.requests_per_second,
                refusal(c.user, self.groups.get(c.user, ())),
            )
            for c in analysis.culprits[:5]
        ]

    async def _protect(self, alert: Alert) -> None:
        """Throttle the alert's heaviest protectable client, once; retried each step while
        the API server cannot take the request (it may be restarting)."""
        if alert.protected or alert.culprit_at is None:
            return
        target = alert.culprit
        if target is None:
            return
        objects = apf.build(target.user, self.options.limits)
        try:
            await protect.apply(self.api, objects)
        except ClientError as exc:
            if str(exc) != self._last_failure:  # retried every step: log each new reason once
                log.warning("event=protect_failed user=%s error=%s", target.user, exc)
                self._last_failure = str(exc)
            return
        alert.protected.append(target.user)
        alert.mitigated_at = self.clock.now()
        log.warning("event=protected user=%s flowschema=%s", target.user, objects.name)
        if self.on_protect is not None:
            self.on_protect(alert, objects)
