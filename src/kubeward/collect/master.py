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
import logging
import multiprocessing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from kubeward.client import ApiClient, Informer
from kubeward.collect.dispatch import Dispatcher
from kubeward.collect.events import EventIngest
from kubeward.collect.kinds import EVENT_RESOURCES, STATE_KINDS
from kubeward.collect.ksm import FAMILIES
from kubeward.collect.link import WorkerDied, WorkerLink
from kubeward.collect.selfmetrics import CollectorMetrics, Contact
from kubeward.store import Store

log = logging.getLogger("kubeward.collect.master")

WORKER_START_TIMEOUT = 60.0
RENDER_TIMEOUT = 60.0  # per family and worker


@dataclass
class Options:
    workers: int = 1
    host: str = "127.0.0.1"
    port: int = 8080  # the master's; worker i listens on port + i (0: any free port)
    cluster: str = "default"
    watch_timeout: float | None = None  # None: the client's random 5-10 minutes


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
            )
            for i in range(1, options.workers + 1)
        ]
        self.dispatcher = Dispatcher(self.links)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.events = EventIngest(store, options.cluster, self.registry) if store else None
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

    def _applied(self, resource: str) -> int:
        if self.events is not None and resource in {r.display for r in EVENT_RESOURCES}:
            return self.events.received_by[resource]
        return self.dispatcher.dispatched[resource]

    def _rejected(self, resource: str) -> int:
        return self.dispatcher.rejected[resource]

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
                on_batch=partial(self.dispatcher.on_batch, kind),
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
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
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
            for index, family in enumerate(FAMILIES):
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
