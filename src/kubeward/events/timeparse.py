"""Durations (``30s``, ``15m``, ``1h30m``, ``7d``, ``2w``) and times for the CLI options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kubeward.durations import parse_seconds


def parse_duration(text: str) -> timedelta:
    """``7d`` -> 7 days (whole numbers of s, m, h, d or w). Raises ValueError with the accepted
    forms."""
    return timedelta(seconds=parse_seconds(text))


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """A duration ago (``1h``) or an absolute RFC 3339 time (``2024-05-01T12:00:00Z``)."""
    try:
        return (now or datetime.now(UTC)) - parse_duration(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30s, 15m, 1h, 7d) nor an RFC 3339 time "
            "(2024-05-01T12:00:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def human_duration(seconds: float) -> str:
    """Ages as kubectl prints them (k8s.io/apimachinery/pkg/util/duration.HumanDuration)."""
    if seconds < -1:
        return "<invalid>"
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"
