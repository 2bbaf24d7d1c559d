"""Keep CPython's full garbage collections short in a simulator holding a large cluster.

A full (generation 2) collection scans every tracked object. At 7,500 nodes that is millions
of objects and 1.5-2 s with the event loop blocked, about once a minute, while the full
collections together found under 1,400 objects in reference cycles over 4 minutes (measured
with ``gc.callbacks`` on the full-size replay scenario; ADR 0009). Objects that have survived
a while are the cluster's state, not garbage: moving them to the permanent generation
(``gc.freeze``) takes them out of later scans. Reference counting still frees them when they
are dropped; only a frozen object that later becomes part of an unreachable cycle is never
reclaimed, a few hundred objects a minute at most by the measurement above.
"""

from __future__ import annotations

import asyncio
import gc

# Wall seconds between freezes. While a cluster is being built or scaled up the heap grows
# fast, and every full collection rescans what arrived since the last freeze. Bringing up all
# 150,000 pods of ``large`` (``benchmarks/sim_scale.py``, one run each): full collections took
# 40.5 s with one freeze after the build, 16.6 s freezing every 10 s, 4.0 s every 2 s. A freeze
# is a constant-time list splice. The price: a cycle that becomes garbage after it was frozen
# leaks (the measurement above: a few hundred objects a minute at most).
FREEZE_PERIOD = 2.0


async def freeze_survivors(period: float = FREEZE_PERIOD) -> None:
    """Freeze what the collector is tracking now (the cluster just built), then again every
    ``period`` seconds."""
    while True:
        gc.freeze()
        await asyncio.sleep(period)
