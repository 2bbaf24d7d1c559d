"""Exponential backoff with jitter, and ``Retry-After``.

The numbers are client-go's reflector defaults (``NewExponentialBackoffManager(800ms, 30s, 2m,
2.0, 1.0)``): start at 0.8 s, double per consecutive failure up to 30 s, then add up to 100 %
random jitter so that a thousand clients that lost the API server together do not come back in
the same millisecond.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A server asking for more than this is treated as asking for this: an informer that sleeps for
# an hour on one header is indistinguishable from a dead one.
MAX_RETRY_AFTER = 300.0


class Backoff:
    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        factor: float = 2.0,
        jitter: float = 1.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.initial, self.cap, self.factor, self.jitter = initial, cap, factor, jitter
        self._rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more consecutive failure."""
        base = min(self.initial * self.factor**self.failures, self.cap)
        self.failures += 1
        return base * (1 + self.jitter * self._rng())

    def reset(self) -> None:
        """Called after a success: the next failure waits ``initial`` again."""
        self.failures = 0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date
    (RFC 9110 §10.2.3). ``None`` when absent or unparseable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
