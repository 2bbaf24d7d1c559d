"""Event ingestion: core/v1 and events.k8s.io/v1 Event deltas into the event store.

The informers run in the master; the :class:`~kubeward.events.writer.EventWriter` buffers
(bounded, counted overflow) and a thread flushes it every second, so a slow or absent database
never blocks the event loop. Each batch's resourceVersion is handed to the writer as the
watch's resume point; it is persisted only with the events before it, so a restarted
collector resumes from there (or relists, and the store's uid dedupe absorbs the replay).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy.exc import DBAPIError

from kubeward.client import Batch, Resource
from kubeward.client.store import DELETED
from kubeward.events import EventShapeError, EventWriter
from kubeward.store import Store, StoreError

log = logging.getLogger("kubeward.collect.events")

FLUSH_INTERVAL = 1.0


class EventIngest:
    def __init__(
        self,
        store: Store,
        cluster: str,
        registry: CollectorRegistry,
        *,
        retention: timedelta | None = None,
        buffer_limit: int = 100_000,
        write_connections: int | None = None,
    ) -> None:
        self.store = store
        self.cluster = cluster
        # Retention runs in the flush thread: at the first successful flush, then every
        # EventWriter.purge_interval seconds.
        self.writer = EventWriter(
            store,
            cluster=cluster,
            auto_flush=False,
            registry=registry,
            retention=retention,
            buffer_limit=buffer_limit,
            write_connections=write_connections,
        )
        self.received_by: Counter[str] = Counter()  # Event deltas passed to the writer
        self.skipped = 0  # objects that are not Events kubeward can store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, name="event-flush", daemon=True)

    def resume_version(self, resource: Resource) -> str | None:
        """Where the last run's watch of ``resource`` got to, if the store can tell."""
        try:
            return self.store.get_resume_version(self.cluster, resource.display)
        except (DBAPIError, StoreError) as exc:
            log.warning("no resume point resource=%s error=%r", resource.display, str(exc))
            return None

    def start(self) -> None:
        self._thread.start()

    async def on_batch(self, resource: Resource, batch: Batch) -> None:
        for delta in batch.deltas:
            if delta.type == DELETED:
                continue  # the API server's TTL expiry: the store keeps events longer
            self.received_by[resource.display] += 1
            try:
                self.writer.add(delta.object)
            except EventShapeError as exc:
                self.skipped += 1
                log.warning("skipped event resource=%s error=%s", resource.display, exc)
        if batch.resource_version:
            self.writer.set_resume_version(resource.display, batch.resource_version)

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL):
            try:
                self.writer.flush()
            except Exception:  # a statement bug: keep ingesting, say so loudly
                log.exception("event flush failed")

    def close(self) -> bool:
        """Stop flushing and write what is buffered; False if events were lost."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        return self.writer.close()
