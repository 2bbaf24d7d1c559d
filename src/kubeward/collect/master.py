"""The master: the only process that talks to the API server.

It runs one :class:`~kubeward.client.Informer` per kind (one LIST, then one WATCH, whatever
the number of workers), turns deltas into rows and fans them out to the workers that own their
shard; Event deltas go to the event store. Its /metrics is the merge of the workers' shards
(each worker renders its families, the master streams them family by family) plus its own
series; it keeps no copy of the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from kubeward.client import ApiClient, Batch, Informer
from kubeward.collect.dispatch import Dispatcher
from kubeward.collect.events import EventIngest
from kubeward.collect.kinds import EVENT_RESOURCES, STATE_KINDS, StateKind
from kubeward.collect.ksm import FAMILY_NAMES, families_named
from kubeward.collect.link import WorkerDied, WorkerLink
from kubeward.collect.metadata import NO_ALLOWLISTS, MetadataRows
from kubeward.collect.selfmetrics import CollectorMetrics, Contact
from kubeward.store import Store

log = logging.getLogger("kubeward.collect.master")

WORKER_START_TIMEOUT = 60.0
RENDER_TIMEOUT = 60.0  # per family and worker
TRIM_POLL = 0.5  # seconds between checks that a list's rows have left for the workers
TRIM_WAIT = 300.0  # give up waiting for the outboxes to drain after this


def _rss_mib() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return -1


def _malloc_trim() -> bool:
    """Give free heap pages back to the OS (glibc only; elsewhere a no-op)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is None:
        return False
    trim(0)
    return True


@dataclass
class Options:
    workers: int = 1
    host: str = "127.0.0.1"
    port: int = 8080  # the master's; worker i listens on port + i (0: any free port)
    cluster: str = "default"
    watch_timeout: float | None = None  # None: the client's random 5-10 minutes
    event_retention: timedelta | None = None  # None: stored events are kept
    event_buffer: int = 100_000  # events buffered while the store is down
    metadata: MetadataRows = NO_ALLOWLISTS  # --metric-{labels,annotations}-allowlist
    families: tuple[str, ...] = FAMILY_NAMES  # what --metric-allowlist/--metric-denylist leave


class Collector:
    def __init__(self, api: ApiClient, options: Options, store: Store | None = None) -> None:
        if options.workers < 1:
            raise ValueError("--workers must be at least 1")
        self.api, self.options = api, options
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads/loops
        level = logging.getLogger().getEffectiveLevel()
        self.links = [
            WorkerLink(
                ctx,
                i,
                options.workers,
                options.host,
                options.port + i if options.port else 0,
                level,
                options.families,
            )
            for i in range(1, options.workers + 1)
        ]
        self.families = families_named(options.families)
        self.dispatcher = Dispatcher(self.links, options.metadata)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.events = (
            EventIngest(
                store,
                options.cluster,
                self.registry,
                retention=options.event_retention,
                buffer_limit=options.event_buffer,
            )
            if store
            else None
        )
        self.informers: dict[str, Informer] = {}
        self.contact = Contact(self.informers)
        self.registry.register(
            CollectorMetrics(
                self.informers, self.contact, self._applied, self._rejected, self.links
            )
        )
        self.fatal: str | None = None
        self.fatal_event = asyncio.Event()
        self._render_lock = asyncio.Lock()
        self._render_seq = 0
        self._monitor: asyncio.Task[None] | None = None
        self._trim: asyncio.Task[None] | None = None
        self._trim_wanted = False
        self.trims = 0  # times the master gave its freed heap back to the OS

    def _applied(self, resource: str) -> int:
        if self.events is not None and resource in {r.display for r in EVENT_RESOURCES}:
            return self.events.received_by[resource]
        return self.dispatcher.dispatched[resource]

    def _rejected(self, resource: str) -> int:
        return self.dispatcher.rejected[resource]

    async def _on_state_batch(self, kind: StateKind, batch: Batch) -> None:
        await self.dispatcher.on_batch(kind, batch)
        if batch.source != "watch":
            self._trim_wanted = True
            if self._trim is None:
                self._trim = asyncio.create_task(self._trim_after_lists(), name="collector trim")

    async def _trim_after_lists(self) -> None:
        """A (re)list decodes every object of a kind, a batch of ``Informer.list_batch`` at a
        time. They are freed once their rows have been sent to the workers, but glibc may keep
        some of the freed pages. Once the informer has moved on and every outbox is empty, give
        them back; again if another list arrived meanwhile."""
        try:
            loop = asyncio.get_running_loop()
            while self._trim_wanted:
                self._trim_wanted = False
                deadline = loop.time() + TRIM_WAIT
                await asyncio.sleep(TRIM_POLL)
                while loop.time() < deadline and any(link.outbox.qsize() for link in self.links):
                    await asyncio.sleep(TRIM_POLL)
                before = _rss_mib()
                if await asyncio.to_thread(_malloc_trim):
                    self.trims += 1
                    log.info("heap trimmed rss_mib_before=%d rss_mib_after=%d", before, _rss_mib())
        finally:
            self._trim = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start_workers(self) -> None:
        for link in self.links:
            link.start()
        for link in self.links:
            ready = await asyncio.to_thread(link.ready.wait, WORKER_START_TIMEOUT)
            if not ready or link.dead.is_set():
                raise WorkerDied(
                    f"worker {link.index} did not start (port {self.options.port + link.index} "
                    "in use?); see its log above"
                )

    def start_informers(self) -> None:
        for kind in STATE_KINDS:
            self.informers[kind.resource.display] = informer = Informer(
                self.api,
                kind.resource,
                on_batch=partial(self._on_state_batch, kind),
                keep_objects=False,
                watch_timeout=self.options.watch_timeout,
            )
            informer.start()
        if self.events is not None:
            events = self.events
            events.start()
            for resource in EVENT_RESOURCES:
                informer = Informer(
                    self.api,
                    resource,
                    on_batch=partial(events.on_batch, resource),
                    keep_objects=False,
                    watch_timeout=self.options.watch_timeout,
                )
                version = events.resume_version(resource)
                if version:
                    log.info("resuming resource=%s rv=%s", resource.display, version)
                    informer.resume(version, [])
                self.informers[resource.display] = informer
                informer.start()
        self._monitor = asyncio.create_task(self._watch_health(), name="collector health")

    async def wait_synced(self) -> None:
        """Until every informer holds a complete list; raises the first permanent failure
        (403, 401, 404, bad credentials) so the CLI can print it."""
        results = await asyncio.gather(
            *(i.wait_synced() for i in self.informers.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _watch_health(self) -> None:
        """Every second: record contact; a dead worker or a failed informer after the sync is
        fatal (the state it held cannot be rebuilt without a relist, so the process exits
        and its supervisor restarts it)."""
        while True:
            await asyncio.sleep(1.0)
            self.contact.sample()
            reason = next((f"worker {w.index} died" for w in self.links if w.dead.is_set()), None)
            for name, informer in self.informers.items():
                if reason is None and informer.failure is not None and informer.synced.is_set():
                    reason = f"informer {name} stopped: {informer.failure}"
            if reason:
                self.fatal = reason
                self.fatal_event.set()
                return

    async def stop(self) -> bool:
        """Stop informers, flush the event store, stop workers. False if events were lost."""
        for task in (self._monitor, self._trim):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for informer in self.informers.values():
            with contextlib.suppress(Exception):
                await informer.stop()
        ok = True
        if self.events is not None:
            ok = await asyncio.to_thread(self.events.close)
        await asyncio.gather(*(asyncio.to_thread(link.stop) for link in self.links))
        return ok

    # -- exposition -----------------------------------------------------------------------------

    async def metrics(self) -> AsyncIterator[bytes]:
        """The merged kube-state-metrics families of all shards, then the master's series."""
        async with self._render_lock:
            self._render_seq += 1
            request = self._render_seq
            for link in self.links:
                await link.send(("render", request))
            for index, family in enumerate(self.families):
                yield family.header
                for link in self.links:
                    message = await link.receive(request, RENDER_TIMEOUT)
                    if message[0] != "chunk" or message[2] != index:
                        raise WorkerDied(f"worker {link.index} render failed: {message[2]}")
                    if message[3]:
                        yield message[3]
            for link in self.links:
                await link.receive(request, RENDER_TIMEOUT)  # the "end" message
        yield generate_latest(self.registry)

    def worker_urls(self) -> list[str]:
        return [link.url for link in self.links]
