"""The simulated clock: speed x wall time, held back while the event loop is blocked."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from kubeward.sim.clock import SimClock, format_time


class FakeWall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_runs_at_speed_without_a_governor() -> None:
    wall = FakeWall()
    clock = SimClock(speed=10, monotonic=wall)
    wall.t += 3
    assert clock.elapsed() == pytest.approx(30)
    assert clock.held_seconds == 0


def test_stands_still_past_its_lead_and_resumes_without_a_jump() -> None:
    wall = FakeWall()
    clock = SimClock(speed=10, monotonic=wall)
    clock.check(max_lead=0.25)
    wall.t += 0.1
    assert clock.elapsed() == pytest.approx(1.0)  # within the lead: full speed
    wall.t += 2.9  # the loop was blocked for 3 s in all
    assert clock.elapsed() == pytest.approx(2.5)  # at the ceiling, not 30
    clock.check(max_lead=0.25)
    assert clock.held_seconds == pytest.approx(2.75)
    assert clock.elapsed() == pytest.approx(2.5)  # continues from where it stood
    wall.t += 0.1
    assert clock.elapsed() == pytest.approx(3.5)


@pytest.mark.parametrize(("speed", "lead"), [(1, 0.25), (2, 0.5), (20, 5.0), (400, 5.0)])
def test_lead_is_a_quarter_second_but_never_past_five_simulated_seconds(
    speed: float, lead: float
) -> None:
    """At speed 400 a quarter of a wall second is 100 simulated seconds: past a node's 40 s
    grace period, so a descheduled process alone would make nodes NotReady."""
    wall = FakeWall()
    clock = SimClock(speed=speed, monotonic=wall)
    clock.check()
    wall.t += 10.0  # the loop blocked for ten wall seconds
    assert clock.elapsed() == pytest.approx(lead)


def test_never_runs_backwards_across_checks() -> None:
    wall = FakeWall()
    clock = SimClock(speed=4, monotonic=wall)
    seen = []
    for step in (0.01, 0.5, 0.02, 3.0, 0.0, 0.2, 1.0):
        wall.t += step
        seen.append(clock.elapsed())
        clock.check(max_lead=0.1)
        seen.append(clock.elapsed())
    assert seen == sorted(seen)


async def test_a_blocked_loop_holds_the_clock_and_timers_wait_for_simulated_time() -> None:
    clock = SimClock(speed=10)
    governor = asyncio.get_running_loop().create_task(clock.govern(max_lead=0.1))
    fired: list[float] = []
    await asyncio.sleep(0.05)  # the governor has checked once
    due = clock.elapsed() + 3.0  # 0.3 wall seconds at full speed
    clock.call_later(3.0, lambda: fired.append(clock.elapsed()))
    slept = asyncio.get_running_loop().create_task(clock.sleep(3.0))
    time.sleep(1.0)  # the whole simulator busy for a second: 10 simulated seconds at speed 10
    at_unblock = clock.elapsed()
    await slept
    after_sleep = clock.elapsed()
    await asyncio.sleep(0.05)
    governor.cancel()
    await asyncio.gather(governor, return_exceptions=True)
    assert at_unblock < due  # held near where the loop stopped, not 10 s on
    assert clock.held_seconds > 0.5
    assert fired and fired[0] >= due  # the loop's timer came early; it was re-armed
    assert after_sleep >= due


def test_timestamp_names_the_current_whole_second() -> None:
    wall = FakeWall()
    start = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
    clock = SimClock(speed=1, start=start, monotonic=wall)
    seen = []
    for step in (0.0, 0.4, 0.599, 0.001, 59.0, 3600.5):
        wall.t += step
        assert clock.timestamp() == format_time(clock.now())
        seen.append(clock.timestamp())
    assert seen == [
        "2026-11-23T08:00:00Z",
        "2026-11-23T08:00:00Z",
        "2026-11-23T08:00:00Z",
        "2026-11-23T08:00:01Z",
        "2026-11-23T08:01:00Z",
        "2026-11-23T09:01:00Z",
    ]
