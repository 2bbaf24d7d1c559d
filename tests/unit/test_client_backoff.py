"""Backoff (client-go's reflector numbers) and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from kubeward.client import Backoff, parse_retry_after
from kubeward.client.backoff import MAX_RETRY_AFTER


def test_doubles_from_0_8_to_the_30s_cap_without_jitter() -> None:
    b = Backoff(jitter=0)
    assert [round(b.next_delay(), 3) for _ in range(8)] == [
        0.8,
        1.6,
        3.2,
        6.4,
        12.8,
        25.6,
        30.0,
        30.0,
    ]
    b.reset()
    assert b.next_delay() == 0.8


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_jitter_adds_up_to_100_percent(draw: float) -> None:
    b = Backoff(rng=lambda: draw)
    delays = [b.next_delay() for _ in range(10)]
    bases = [min(0.8 * 2**i, 30.0) for i in range(10)]
    assert delays == pytest.approx([base * (1 + draw) for base in bases])


def test_default_jitter_spreads_clients() -> None:
    delays = {Backoff().next_delay() for _ in range(50)}
    assert len(delays) > 40 and all(0.8 <= d <= 1.6 for d in delays)


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(7.0)
    earlier = format_datetime(now - timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan"])
def test_retry_after_absent_or_garbage(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_is_capped_and_never_negative() -> None:
    assert parse_retry_after("86400") == MAX_RETRY_AFTER
    assert parse_retry_after("-5") == 0.0
