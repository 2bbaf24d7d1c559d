"""Simulated time: wall-clock start plus real elapsed time times a speed factor, held back
while the simulator is too busy to keep up (see ``SimClock.govern``)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

# How far the clock may run on past the loop's last responsive moment: 0.25 wall seconds, but
# never more than 5 simulated seconds (at speed 400, 0.25 s is 100 s: past a node's 40 s
# grace period). Kubelets renew leases every 10 s, so 5 s late is always on time.
MAX_LEAD = 0.25
MAX_LEAD_SIMULATED = 5.0
CHECKS_PER_LEAD = 5  # the governor checks the loop this often per lead (every 50 ms at most)
_EARLY = 1e-6  # simulated seconds a timer may fire early (float rounding)


class SimClock:
    """``speed=60`` makes one simulated hour pass per real minute.

    Object timestamps, AGE columns and simulated timeouts (grace periods) use this clock;
    network-facing timeouts (watch timeoutSeconds) stay in real time because clients count them.

    ``speed`` is a ceiling once ``govern`` runs: the simulated kubelets, controllers and API
    server share one event loop, and when it is blocked for longer than ``max_lead`` wall
    seconds the clock stops rather than let time pass that nothing simulated (a kubelet
    whose heartbeat is late because the simulator was busy is not a NotReady node).
    """

    def __init__(
        self,
        speed: float = 1.0,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(
                "speed must be > 0 (1 = real time, 60 = one simulated hour per minute)"
            )
        self.speed = speed
        self._start_sim = (start or datetime.now(UTC)).replace(microsecond=0)
        self._monotonic = monotonic
        self._start_real = monotonic()
        self.held_seconds = 0.0  # wall seconds the clock stood still (governor)
        self.max_lead = min(MAX_LEAD, MAX_LEAD_SIMULATED / speed)  # wall seconds
        self._ceiling = math.inf  # simulated seconds the clock may not pass before the next check
        self._floor = 0.0  # where the last check left it (float rounding never takes it back)
        self._stamp_second, self._stamp = -1, ""  # timestamp()'s last second and its text

    def now(self) -> datetime:
        return self._start_sim + timedelta(seconds=self.elapsed())

    def time_at(self, elapsed: float) -> datetime:
        """The simulated time ``elapsed`` simulated seconds after the start."""
        return self._start_sim + timedelta(seconds=elapsed)

    def timestamp(self) -> str:
        """RFC 3339 with second precision, as metav1.Time marshals."""
        # Formatted once per simulated second: every write stamps something, and the start
        # is a whole second, so the whole seconds elapsed name the stamp.
        second = int(self.elapsed())
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = format_time(self._start_sim + timedelta(seconds=second))
        return self._stamp

    def timestamp_micro(self) -> str:
        """RFC 3339 with microseconds, as metav1.MicroTime marshals (events' eventTime)."""
        return self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def real_seconds(self, sim_seconds: float) -> float:
        """How long to really wait for ``sim_seconds`` of simulated time to pass (at least)."""
        return sim_seconds / self.speed

    def elapsed(self) -> float:
        """Simulated seconds since the cluster started (usage profiles and fault timelines)."""
        raw = (self._monotonic() - self._start_real - self.held_seconds) * self.speed
        return max(min(raw, self._ceiling), self._floor)

    def check(self, max_lead: float | None = None) -> None:
        """The event loop is responsive now: time the clock stood at its ceiling since the
        last check is held back for good, and the clock may run ``max_lead`` wall seconds
        past this moment before the next check."""
        lead = self.max_lead if max_lead is None else max_lead
        raw = (self._monotonic() - self._start_real - self.held_seconds) * self.speed
        if raw > self._ceiling:
            self.held_seconds += (raw - self._ceiling) / self.speed
            raw = self._ceiling
        self._floor = max(raw, self._floor)
        self._ceiling = self._floor + lead * self.speed

    async def govern(self, max_lead: float | None = None) -> None:
        """Run on the simulator's loop for as long as it serves: ``check`` ``CHECKS_PER_LEAD``
        times per lead. A check that comes late means the loop was busy; the clock waited for
        it at most ``max_lead`` past the previous one."""
        lead = self.max_lead if max_lead is None else max_lead
        try:
            while True:
                self.check(lead)
                await asyncio.sleep(lead / CHECKS_PER_LEAD)
        finally:
            self.check(0.0)  # fold in any time held since the last check,
            self._ceiling = math.inf  # then run unbounded from where the clock stands

    def call_later(self, sim_seconds: float, callback: Callable[..., Any], *args: Any) -> SimTimer:
        """Run ``callback`` on the running loop after ``sim_seconds`` of simulated time."""
        return SimTimer(self, self.elapsed() + max(sim_seconds, 0.0), callback, args)

    async def sleep(self, sim_seconds: float) -> None:
        due = self.elapsed() + max(sim_seconds, 0.0)
        await asyncio.sleep(max(sim_seconds, 0.0) / self.speed)
        while (left := due - self.elapsed()) > _EARLY:
            await asyncio.sleep(left / self.speed)  # the clock was held meanwhile


class SimTimer:
    """A callback due at a simulated time. The loop's timer is set for when the clock would
    get there at full speed; if the clock was held meanwhile, it is set again for the rest."""

    __slots__ = ("_args", "_callback", "_clock", "_due", "_handle")

    def __init__(
        self, clock: SimClock, due: float, callback: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        self._clock, self._due, self._callback, self._args = clock, due, callback, args
        self._handle = self._arm()

    def _arm(self) -> asyncio.TimerHandle:
        left = max(self._due - self._clock.elapsed(), 0.0)
        return asyncio.get_running_loop().call_later(left / self._clock.speed, self._fire)

    def _fire(self) -> None:
        if self._due - self._clock.elapsed() > _EARLY:
            self._handle = self._arm()
            return
        self._callback(*self._args)

    def cancel(self) -> None:
        self._handle.cancel()

    def cancelled(self) -> bool:
        return self._handle.cancelled()


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
