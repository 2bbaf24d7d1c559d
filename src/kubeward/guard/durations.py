"""The guard's durations (``--window``, ``--interval``, ``--for``, thresholds): hours, minutes
and seconds, with fractions (``1.5s``)."""

from __future__ import annotations

from kubeward.durations import parse_seconds


def parse_window(text: str) -> float:
    """``10m``, ``90s``, ``1h30m`` -> seconds; ValueError naming the accepted forms."""
    return parse_seconds(text, units="hms", fractions=True)
