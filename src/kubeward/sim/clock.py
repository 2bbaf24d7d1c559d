"""Simulated time: wall-clock start plus real elapsed time times a speed factor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any


class SimClock:
    """``speed=60`` makes one simulated hour pass per real minute.

    Object timestamps, AGE columns and simulated timeouts (grace periods) use this clock;
    network-facing timeouts (watch timeoutSeconds) stay in real time because clients count them.
    """

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError(
                "speed must be > 0 (1 = real time, 60 = one simulated hour per minute)"
            )
        self.speed = speed
        self._start_sim = (start or datetime.now(UTC)).replace(microsecond=0)
        self._start_real = time.monotonic()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._start_real) * self.speed
        return self._start_sim + timedelta(seconds=elapsed)

    def time_at(self, elapsed: float) -> datetime:
        """The simulated time ``elapsed`` simulated seconds after the start."""
        return self._start_sim + timedelta(seconds=elapsed)

    def timestamp(self) -> str:
        """RFC 3339 with second precision, as metav1.Time marshals."""
        return format_time(self.now())

    def timestamp_micro(self) -> str:
        """RFC 3339 with microseconds, as metav1.MicroTime marshals (events' eventTime)."""
        return self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def real_seconds(self, sim_seconds: float) -> float:
        """How long to really wait for ``sim_seconds`` of simulated time to pass."""
        return sim_seconds / self.speed

    def elapsed(self) -> float:
        """Simulated seconds since the cluster started (usage profiles and fault timelines)."""
        return (time.monotonic() - self._start_real) * self.speed

    def call_later(
        self, sim_seconds: float, callback: Callable[..., Any], *args: Any
    ) -> asyncio.TimerHandle:
        """Run ``callback`` on the running loop after ``sim_seconds`` of simulated time."""
        loop = asyncio.get_running_loop()
        return loop.call_later(max(sim_seconds, 0.0) / self.speed, callback, *args)

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(max(sim_seconds, 0.0) / self.speed)


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
