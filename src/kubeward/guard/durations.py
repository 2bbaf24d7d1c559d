"""Durations on the guard's command lines and settings: ``30s``, ``10m``, ``1h30m``, ``1.5s``."""

from __future__ import annotations

import re

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(h|m|s))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_window(text: str) -> float:
    """``10m``, ``90s``, ``1h30m`` -> seconds; ValueError naming the accepted forms."""
    cleaned = text.strip().lower()
    if not cleaned or not _DURATION.fullmatch(cleaned):
        raise ValueError(
            f"{text!r} is not a duration; use a number with a unit h, m or s, e.g. 30s, 10m, 1h30m"
        )
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError(f"{text!r} is zero; give a positive duration such as 10m")
    return seconds
