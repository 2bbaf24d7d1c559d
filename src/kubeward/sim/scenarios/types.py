"""Field types shared by scenario sections: durations and Kubernetes names."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"1h30m"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    match = _DURATION.fullmatch(str(value).strip())
    if not match or not any(match.groups()):
        raise ValueError(f'{value!r} is not a duration (write e.g. 90, "90s", "5m" or "1h30m")')
    h, m, sec = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + sec


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")
Duration = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
