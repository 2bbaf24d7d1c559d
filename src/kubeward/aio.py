"""Small asyncio helpers shared by the simulator and the platform."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` for at most ``timeout`` seconds; True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that arrives as the
    event is set (fixed in 3.12, gh-86296), and a loop built on it then never stops — which hung
    ``SimCluster.stop()`` after a busy start. ``asyncio.timeout`` counts cancellations correctly.
    """
    try:
        async with asyncio.timeout(max(timeout, 0.0)):
            await event.wait()
    except TimeoutError:
        return False
    return True
