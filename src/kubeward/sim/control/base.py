"""A minimal controller runtime: store events feed a work queue drained by one async task."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable

from kubeward.kube.status import StatusError
from kubeward.sim.store.objects import StoreEvent
from kubeward.sim.store.store import Store

log = logging.getLogger("kubeward.sim.control")


class Controller:
    """Subclasses pick keys out of events (``keys_for``) and reconcile one key at a time.

    Like client-go's workqueue, a key queued several times before it is processed is processed
    once, and a failed reconcile is retried after a delay.
    """

    name = "controller"
    retry_delay = 0.5
    # The storage keys whose events ``keys_for`` reads (None: every kind). Events of other
    # kinds are not delivered.
    watches: tuple[tuple[str, str], ...] | None = None

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._queued: set[Hashable] = set()
        store.add_listener(self._on_event, self.watches)

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        raise NotImplementedError

    def reconcile(self, key: Hashable) -> None:
        raise NotImplementedError

    def enqueue(self, key: Hashable) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _on_event(self, event: StoreEvent) -> None:
        for key in self.keys_for(event):
            self.enqueue(key)

    async def run(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            try:
                self.reconcile(key)
            except StatusError as exc:
                log.info("controller=%s key=%s retry reason=%s", self.name, key, exc.reason)
                asyncio.get_running_loop().call_later(self.retry_delay, self.enqueue, key)
            except Exception:
                log.exception("controller=%s key=%s event=reconcile_failed", self.name, key)
            # Yield so a burst of work does not starve the API server on the same loop.
            await asyncio.sleep(0)

    async def settle(self) -> None:
        """Wait until the queue is empty (used by tests and bootstrapping)."""
        while self._queued:
            await asyncio.sleep(0.01)
