"""API-server health from its ``/metrics``: one :class:`HealthSample` per scrape, and the
signals a control-plane alert is made of (saturation, 429s, latency, memory growth, restarts,
dropped watches, unavailability).

Everything here reads the metric names a real kube-apiserver exposes; nothing assumes the
simulator. The one exception is optional: when ``kubeward_sim_model_time_seconds`` is present
(the simulator's modelled clock) samples are stamped with it, so detection times of a replay run
faster than real time are measured in simulated seconds.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from kubeward.guard.apimetrics import ApiServerMetrics, parse_metrics
from kubeward.guard.durations import parse_window
from kubeward.kube.quantity import QuantityError, parse_quantity

MIB = 2**20
# kube-apiserver's --max-requests-inflight + --max-mutating-requests-inflight defaults
DEFAULT_CONCURRENCY_LIMIT = 600.0


@dataclass(frozen=True)
class HealthSample:
    """What one scrape of the API server's /metrics said (or that it failed)."""

    at: float  # unix seconds (the simulator's modelled time when it gives one)
    reachable: bool
    error: str = ""  # why not, when unreachable: "HTTP 503", "connection refused", ...
    memory_bytes: float | None = None
    start_time: float | None = None
    requests_by_code: dict[str, float] = field(default_factory=dict)
    rejected: float = 0.0  # apiserver_flowcontrol_rejected_requests_total
    inflight: float = 0.0  # apiserver_current_inflight_requests, all kinds
    inqueue: float = 0.0  # apiserver_flowcontrol_current_inqueue_requests, all levels
    concurrency_limit: float | None = None  # apiserver_flowcontrol_nominal_limit_seats, summed
    watches: float = 0.0  # apiserver_longrunning_requests{verb="WATCH"}
    latency_sum: float = 0.0  # apiserver_request_duration_seconds, verbs other than WATCH
    latency_count: float = 0.0
    storage_objects: dict[str, float] = field(default_factory=dict)  # by resource

    @classmethod
    def from_metrics(cls, metrics: ApiServerMetrics, wall_time: float) -> HealthSample:
        """The sample one parsed scrape gives, stamped with the simulator's modelled time
        when the server exposes it, else ``wall_time``."""
        return cls(
            at=metrics.model_time if metrics.model_time is not None else wall_time,
            reachable=True,
            memory_bytes=metrics.resident_memory_bytes,
            start_time=metrics.process_start_time,
            requests_by_code=dict(metrics.requests_by_code),
            rejected=metrics.rejected_total,
            inflight=metrics.inflight_total,
            inqueue=metrics.inqueue,
            concurrency_limit=metrics.concurrency_limit,
            watches=metrics.watches,
            latency_sum=metrics.latency_sum,
            latency_count=metrics.latency_count,
            storage_objects=dict(metrics.storage_objects),
        )


def parse_sample(text: str, wall_time: float) -> HealthSample:
    """A sample from the text exposition of kube-apiserver's /metrics (parsed by
    :func:`kubeward.guard.apimetrics.parse_metrics`, which raises ``MetricsError`` on text
    that is not Prometheus exposition)."""
    return HealthSample.from_metrics(parse_metrics(text), wall_time)


@dataclass(frozen=True)
class Thresholds:
    """When a health signal fires. Defaults suit a production API server; see docs/guard.md."""

    memory_growth_ratio: float = 1.3  # memory vs its minimum over memory_window ...
    memory_growth_bytes: float = 256 * MIB  # ... and by at least this much
    memory_window: float = 120.0
    rejections_per_second: float = 1.0  # 429s (and APF rejections)
    # In-flight requests: this many, or (None) inflight_share of the server's concurrency
    # limit as its /metrics gives it, else of kube-apiserver's default 400 + 200.
    inflight: float | None = None
    inflight_share: float = 0.8
    inqueue: float = 50.0
    mean_latency_seconds: float = 1.0  # non-watch requests, between two samples
    watch_drop_ratio: float = 0.5  # this share of the open watches gone between two samples
    min_watches: float = 20.0  # ignore watch drops on an almost idle server

    @classmethod
    def with_overrides(cls, items: Sequence[str]) -> Thresholds:
        """The defaults with ``NAME=VALUE`` items applied (``--threshold`` options). ValueError
        names the item and the fix."""
        values: dict[str, float] = {}
        for item in items:
            name, sep, text = item.partition("=")
            name = name.strip()
            if not sep or name not in _OVERRIDES:
                raise ValueError(
                    f"{item!r}: expected NAME=VALUE with NAME one of {', '.join(_OVERRIDES)}"
                )
            attribute, kind, low, high = _OVERRIDES[name]
            try:
                value = _parse_threshold_value(kind, text.strip())
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            if not low < value <= high:
                bound = (
                    f"between {low:g} (excluded) and {high:g}"
                    if high < math.inf
                    else f"greater than {low:g}"
                )
                raise ValueError(f"{name}={text.strip()}: must be {bound}")
            values[attribute] = value
        return dataclasses.replace(cls(), **values)

    def inflight_limit(self, sample: HealthSample) -> float:
        """The in-flight count at which ``saturation`` fires for this server."""
        if self.inflight is not None:
            return self.inflight
        limit = sample.concurrency_limit or DEFAULT_CONCURRENCY_LIMIT
        return self.inflight_share * limit


# --threshold NAME -> (Thresholds field, kind of value, excluded lower bound, upper bound)
_OVERRIDES: dict[str, tuple[str, str, float, float]] = {
    "memory-growth-ratio": ("memory_growth_ratio", "number", 1.0, math.inf),
    "memory-growth": ("memory_growth_bytes", "bytes", 0.0, math.inf),
    "memory-window": ("memory_window", "duration", 0.0, math.inf),
    "rejections-per-second": ("rejections_per_second", "number", 0.0, math.inf),
    "inflight": ("inflight", "number", 0.0, math.inf),
    "inflight-share": ("inflight_share", "number", 0.0, 1.0),
    "inqueue": ("inqueue", "number", 0.0, math.inf),
    "mean-latency": ("mean_latency_seconds", "duration", 0.0, math.inf),
    "watch-drop-ratio": ("watch_drop_ratio", "number", 0.0, 1.0),
    "min-watches": ("min_watches", "number", 0.0, math.inf),
}
THRESHOLD_HELP = (
    f"Change when a health signal fires (repeatable): {', '.join(_OVERRIDES)}. "
    "E.g. inflight=1500, mean-latency=2s, memory-growth=1Gi; defaults in docs/guard.md."
)


def _parse_threshold_value(kind: str, text: str) -> float:
    if kind == "bytes":
        try:
            return float(parse_quantity(text))
        except QuantityError:
            raise ValueError(
                f"{text!r} is not a quantity; use bytes with an optional suffix, e.g. 256Mi, 1Gi"
            ) from None
    try:
        value = float(text)  # durations may be plain seconds
    except ValueError:
        if kind == "duration":
            return parse_window(text)
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


@dataclass(frozen=True)
class Signal:
    name: str  # unavailable, restarted, memory-growth, throttling, saturation, latency, ...
    detail: str


class HealthTracker:
    """Signals from consecutive samples. Keeps ``memory_window`` seconds of samples only."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._recent: deque[HealthSample] = deque()
        self._last: HealthSample | None = None  # last reachable sample
        self.restarts = 0

    def observe(self, sample: HealthSample) -> list[Signal]:
        t = self.thresholds
        if not sample.reachable:
            return [Signal("unavailable", f"API server not answering /metrics: {sample.error}")]
        signals: list[Signal] = []
        last = self._last
        if last is not None and sample.at > last.at:
            signals += self._rates(last, sample)
            if (
                sample.start_time is not None
                and last.start_time is not None
                and sample.start_time > last.start_time + 1
            ):
                self.restarts += 1
                signals.append(Signal("restarted", "API server process restarted"))
            if last.watches >= t.min_watches and sample.watches < last.watches * (
                1 - t.watch_drop_ratio
            ):
                signals.append(
                    Signal(
                        "watches-dropped",
                        f"open watches fell from {last.watches:.0f} to {sample.watches:.0f}",
                    )
                )
        inflight_limit = t.inflight_limit(sample)
        if sample.inflight >= inflight_limit:
            signals.append(
                Signal(
                    "saturation",
                    f"{sample.inflight:.0f} requests in flight (threshold {inflight_limit:.0f})",
                )
            )
        if sample.inqueue >= t.inqueue:
            signals.append(Signal("saturation", f"{sample.inqueue:.0f} requests queued by APF"))
        signals += self._memory(sample)
        self._last = sample
        return signals

    def _rates(self, last: HealthSample, sample: HealthSample) -> list[Signal]:
        t = self.thresholds
        dt = sample.at - last.at
        out = []
        if sample.start_time == last.start_time:  # counters reset on a restart
            throttled = sample.requests_by_code.get("429", 0.0) - last.requests_by_code.get(
                "429", 0.0
            )
            rejected = max(throttled, sample.rejected - last.rejected)
            if rejected / dt >= t.rejections_per_second:
                out.append(Signal("throttling", f"{rejected / dt:.1f} requests/s rejected (429)"))
            count = sample.latency_count - last.latency_count
            if count > 0:
                mean = (sample.latency_sum - last.latency_sum) / count
                if mean >= t.mean_latency_seconds:
                    out.append(Signal("latency", f"mean request latency {mean:.2f} s"))
        return out

    def _memory(self, sample: HealthSample) -> list[Signal]:
        t = self.thresholds
        if sample.memory_bytes is None:
            return []
        recent = self._recent
        recent.append(sample)
        while recent and recent[0].at < sample.at - t.memory_window:
            recent.popleft()
        floor = min(s.memory_bytes or 0.0 for s in recent)
        grown = sample.memory_bytes - floor
        if (
            floor > 0
            and sample.memory_bytes >= floor * t.memory_growth_ratio
            and grown >= t.memory_growth_bytes
        ):
            return [
                Signal(
                    "memory-growth",
                    f"memory {sample.memory_bytes / MIB:,.0f} MiB, up {grown / MIB:,.0f} MiB "
                    f"in {t.memory_window:.0f} s",
                )
            ]
        return []
