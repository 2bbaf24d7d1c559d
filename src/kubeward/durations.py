"""Durations typed on command lines and in settings: ``30s``, ``10m``, ``1h30m``, ``7d``.

One parser for every option that takes one; each caller chooses the units it accepts and
whether a number may have a fraction (``1.5s``).
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_seconds(text: str, *, units: str = "smhdw", fractions: bool = False) -> float:
    """``1h30m`` -> 5400.0: numbers each followed by one of ``units``, added up. ValueError
    naming the accepted forms for anything else, and for a total of zero."""
    number = r"\d+(?:\.\d+)?" if fractions else r"\d+"
    unit = f"[{re.escape(units)}]"
    cleaned = text.strip().lower()
    if not cleaned or not re.fullmatch(f"(?:{number}{unit})+", cleaned):
        names = ", ".join(units[:-1]) + f" or {units[-1]}"
        examples = "30s, 10m, 1h30m" + (", 7d" if "d" in units else "")
        raise ValueError(
            f"{text!r} is not a duration; use a number with a unit {names}, e.g. {examples}"
        )
    seconds = sum(
        float(n) * _UNIT_SECONDS[u] for n, u in re.findall(f"({number})({unit})", cleaned)
    )
    if seconds <= 0:
        raise ValueError(f"{text!r} is zero; give a positive duration such as 10m")
    return seconds
