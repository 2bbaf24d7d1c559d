"""An informer per resource kind: LIST once, then WATCH for ever, as client-go's reflector.

Steady state is one LIST and one long-lived WATCH per kind; everything else is recovery:

- initial LIST with ``resourceVersion=0`` (served from the API server's watch cache, not etcd);
  ``list_mode="paged"``, a timed-out cache LIST or an unusable version switch to a consistent
  paged LIST (``limit`` + ``continue``), restarted when its continue token expires (410);
  every response is decoded as it arrives and delivered in batches of ``list_batch`` items,
  so a 150,000-pod list never sits decoded in memory whole;
- WATCH from the list's resourceVersion with bookmarks and a ``timeoutSeconds``; a watch that
  ends cleanly is reopened from the last version seen (bookmarks keep it recent), no relist;
- 410 Gone (HTTP or an ERROR event) -> relist, and the store turns the relist into the exact
  deltas missed: deletions of what vanished, nothing for unchanged objects;
- other errors -> exponential backoff with jitter; 429/503 honour ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from kubeward.client.api import ApiClient
from kubeward.client.backoff import Backoff
from kubeward.client.errors import (
    ApiError,
    ClientError,
    Forbidden,
    Gone,
    KubeConfigError,
    RequestTimeout,
    ResourceNotFound,
    TooManyRequests,
    Unauthorized,
)
from kubeward.client.resources import Resource
from kubeward.client.store import ADDED, DELETED, MODIFIED, Delta, ObjectStore

log = logging.getLogger("kubeward.client.informer")

MIN_WATCH_TIMEOUT = 300.0  # client-go: a random timeout in [5 min, 10 min) per watch
WATCH_READ_MARGIN = 30.0  # read timeout = timeoutSeconds + this: detects a silently dead stream
MAX_CONTINUE_RESTARTS = 3  # then one unpaged LIST, as client-go's pager FullListIfExpired
LIST_BATCH = 2_000  # items applied and delivered together while a list streams in (~20 MiB)

# Errors that retrying cannot fix before someone changes config or RBAC: fatal until the first
# sync (the CLI exits with the message), retried with backoff afterwards (RBAC can come back).
_PERMANENT = (Unauthorized, Forbidden, ResourceNotFound, KubeConfigError)

Source = Literal["list", "relist", "watch"]


@dataclass
class Batch:
    """Deltas delivered together: part of a (re)list, or one network read of the watch stream.

    A (re)list arrives as one or more batches of ``source`` "list"/"relist": the deltas of
    every ``list_batch`` items while the response is decoded (none when they changed nothing),
    then a last one (possibly empty) with the rest and the deletions. Only that last one
    carries the list's ``resource_version``; the others carry "" (a list is a point to resume
    from only once it is complete)."""

    source: Source
    deltas: list[Delta]
    resource_version: str


@dataclass
class InformerStats:
    # HTTP requests sent, by verb ("LIST" pages, "WATCH" streams), failed ones included.
    requests: Counter[str] = field(default_factory=Counter)
    lists: int = 0  # complete list operations (all pages of one list count once)
    relists: int = 0  # lists after the first (410, or errors that needed one)
    list_restarts: int = 0  # paged lists restarted because their continue token expired
    watches: int = 0  # watch streams opened (HTTP 200)
    restarts: int = 0  # watches reopened from the last version without a relist
    gone: int = 0  # 410 Gone seen (watch or list)
    throttled: int = 0  # 429 seen
    errors: int = 0  # failures followed by a backoff
    events: int = 0  # ADDED/MODIFIED/DELETED watch events received
    bookmarks: int = 0
    deltas: int = 0  # deltas delivered to the consumer
    last_event_time: float | None = None  # wall clock of the last data from the server
    last_sync_time: float | None = None  # wall clock of the last completed (re)list
    last_error: str | None = None


BatchHandler = Callable[[Batch], Awaitable[None]]


class Informer:
    def __init__(
        self,
        api: ApiClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        on_batch: BatchHandler | None = None,
        queue_size: int = 0,
        list_mode: Literal["cache", "paged"] = "cache",
        page_size: int = 500,
        watch_timeout: float | None = None,
        request_timeout: float = 60.0,
        watch_read_margin: float = WATCH_READ_MARGIN,
        backoff: Backoff | None = None,
        keep_objects: bool = True,
        list_batch: int = LIST_BATCH,
    ) -> None:
        self.api, self.resource, self.namespace = api, resource, namespace
        self.selectors = {
            k: v
            for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector))
            if v
        }
        # Deltas go to ``on_batch`` (awaited: a slow consumer slows the reading, it does not
        # grow memory) or, without one, to ``queue``.
        self.on_batch = on_batch
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(queue_size)
        self.list_mode = list_mode
        self.page_size = page_size
        # Items per batch while a list streams in: what bounds the memory a list takes.
        self.list_batch = list_batch
        self.watch_timeout = watch_timeout
        self.request_timeout = request_timeout
        # A watch silent for timeoutSeconds + this is dead (half-open TCP, stuck proxy).
        self.watch_read_margin = watch_read_margin
        self.backoff = backoff or Backoff()
        self.store = ObjectStore(keep_objects)
        self.stats = InformerStats()
        self.resource_version: str | None = None
        self.synced = asyncio.Event()
        self.connected = False  # a watch stream is open right now
        self.failure: BaseException | None = None
        self._settled = asyncio.Event()  # synced or failed: what wait_synced() waits for
        self._need_list = True
        self._ever_listed = False
        self._cache_failed = False  # a cache-served LIST timed out: next one consistent
        self._rv_unavailable = False  # our version is too old for a NotOlderThan relist
        self._after_list = False
        self._gone_unprogressed = False
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def resume(self, resource_version: str, objects: Iterable[dict[str, Any]]) -> None:
        """Continue from state saved by an earlier run (e.g. a collector restart): watch from
        ``resource_version``; if the server no longer has it, relist and diff against
        ``objects`` (their metadata is enough), so nothing is reported twice or lost."""
        self.store.replace(objects)
        self.resource_version = resource_version
        self._need_list = False
        self._ever_listed = True

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name=f"informer {self.resource.display}")
        return self._task

    async def stop(self) -> None:
        """Cancel ``run()``. A failure already reported through ``wait_synced`` is not raised
        again."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            if exc is not self.failure:
                raise

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Until the store holds a complete list; raises what stopped ``run()`` before that."""
        await asyncio.wait_for(self._settled.wait(), timeout)
        if self.failure is not None and not self.synced.is_set():
            raise self.failure

    def stale_seconds(self) -> float | None:
        """Seconds since the server last sent anything (events, bookmarks, a list)."""
        last = self.stats.last_event_time
        return None if last is None else max(0.0, time.time() - last)

    async def run(self) -> None:
        """List and watch until cancelled. Raises only a permanent error (401, 403, 404, bad
        credentials config) met before the first sync."""
        try:
            while True:
                try:
                    if self._need_list:
                        await self._list()
                    await self._watch()
                except Gone as exc:
                    await self._on_gone(exc)
                except _PERMANENT as exc:
                    if not self.synced.is_set():
                        raise
                    await self._retry(exc)
                except ClientError as exc:
                    await self._retry(exc)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            # Whatever ends run() (a permanent error, a bug, a consumer's exception) must not
            # leave wait_synced() waiting for ever.
            self.failure = self.failure or exc
            self._settled.set()
            raise
        finally:
            self.connected = False

    # -- list -----------------------------------------------------------------------------------

    async def _list(self) -> None:
        """One complete (re)list. Each response is decoded as it arrives; every ``list_batch``
        items are applied to the store and their deltas delivered at once (with an empty
        resource_version: only the last batch, which also carries the deletions, is a version
        to resume from). Memory is bounded by a batch, never by the list. The store changes
        only together with a delivery, so a list that fails half-way leaves nothing applied
        and undelivered: the next list reports what the consumer has not seen."""
        first = self._first_page_params()
        params = first
        source: Source = "relist" if self._ever_listed else "list"
        seen: set[str] = set()
        buffered: list[dict[str, Any]] = []
        count = delivered = 0
        expired = 0
        while True:
            self.stats.requests["LIST"] += 1
            try:
                async with self.api.list_stream(
                    self.resource, self.namespace, params, self.request_timeout
                ) as page:
                    async for items in page:
                        count += len(items)
                        buffered += items
                        if len(buffered) >= self.list_batch:
                            deltas = self.store.replace_items(buffered, seen)
                            buffered = []
                            if deltas:
                                delivered += len(deltas)
                                await self._emit(Batch(source, deltas, ""))
            except Gone:
                if "continue" not in params:
                    raise  # counted and handled by _on_gone
                self.stats.gone += 1
                # The snapshot behind the continue token left the server's window: start over.
                # What earlier pages delivered stays (as if watched); the deletions are
                # computed against the complete list that follows.
                expired += 1
                self.stats.list_restarts += 1
                seen, buffered, count = set(), [], 0
                params = {**self.selectors}
                if expired < MAX_CONTINUE_RESTARTS:
                    params["limit"] = str(self.page_size)
                log.info("list restart resource=%s reason=continue-expired", self.resource.display)
                continue
            except (RequestTimeout, ApiError) as exc:
                if "resourceVersion" in first and _calls_for_paging(exc):
                    self._cache_failed = True
                raise
            meta = page.metadata
            token = meta.get("continue")
            if not token:
                break
            params = {**self.selectors, "limit": str(self.page_size), "continue": token}
        deltas = self.store.replace_items(buffered, seen) + self.store.finish_replace(seen)
        rv = str(meta.get("resourceVersion", ""))
        await self._listed(source, deltas, rv, count, delivered + len(deltas))

    def _first_page_params(self) -> dict[str, str]:
        params = {**self.selectors, "limit": str(self.page_size)}
        if self.list_mode == "paged" or self._cache_failed or self._rv_unavailable:
            return params  # no resourceVersion: a consistent (quorum) read, paged
        if not self._ever_listed or self.resource_version is None:
            params["resourceVersion"] = "0"  # any version the cache has: cheapest
        else:
            # Never older than what we already saw (RV=0 could travel back in time on a lagging
            # server), still served from the watch cache.
            params["resourceVersion"] = self.resource_version
            params["resourceVersionMatch"] = "NotOlderThan"
        return params

    async def _listed(
        self, source: Source, deltas: list[Delta], resource_version: str, items: int, total: int
    ) -> None:
        """The list is complete: deliver its last deltas with its version, then watch."""
        self.resource_version = resource_version
        self._need_list = False
        self._ever_listed = True
        self._rv_unavailable = False
        self._cache_failed = False
        self._after_list = True
        self.stats.lists += 1
        self.stats.relists += source == "relist"
        self.stats.last_sync_time = self.stats.last_event_time = time.time()
        self.backoff.reset()
        log.info(
            "listed resource=%s items=%d rv=%s deltas=%d relist=%s",
            self.resource.display,
            items,
            resource_version,
            total,
            source == "relist",
        )
        await self._emit(Batch(source, deltas, resource_version))
        self._mark_synced()

    # -- watch ----------------------------------------------------------------------------------

    async def _watch(self) -> None:
        timeout = self.watch_timeout or MIN_WATCH_TIMEOUT * (1 + random.random())
        params = {
            **self.selectors,
            "resourceVersion": self.resource_version or "0",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(max(1, int(timeout))),
        }
        fresh = self._after_list  # first watch after a list (not a reopen or a resume)
        if not fresh and self.stats.requests["WATCH"]:
            self.stats.restarts += 1
        self._after_list = False
        self.stats.requests["WATCH"] += 1
        loop = asyncio.get_running_loop()
        opened = loop.time()
        received = 0
        try:
            async with self.api.watch(
                self.resource, self.namespace, params, timeout + self.watch_read_margin
            ) as stream:
                self.stats.watches += 1
                self.connected = True
                async for events in stream:
                    received += len(events)
                    await self._apply(events)
                    self._mark_synced()  # a resumed informer: the server took our version
        except Gone:
            # 410 (HTTP or ERROR event) before anything else, right after a fresh list: the
            # server's window is tiny or broken, and relisting at once would spin.
            self._gone_unprogressed = fresh and received <= 1
            raise
        finally:
            self.connected = False
        self._mark_synced()
        if received == 0 and loop.time() - opened < min(1.0, timeout / 2):
            # client-go's "very short watch": something is wrong; do not spin.
            await self._retry(ClientError("watch closed immediately without events"))

    async def _apply(self, events: list[dict[str, Any]]) -> None:
        self.stats.last_event_time = time.time()
        deltas: list[Delta] = []
        try:
            for event in events:
                type_ = event.get("type")
                obj = event.get("object") or {}
                if type_ in (ADDED, MODIFIED, DELETED):
                    self.stats.events += 1
                    delta = self.store.apply(type_, obj)
                    if delta is not None:
                        deltas.append(delta)
                elif type_ == "BOOKMARK":
                    self.stats.bookmarks += 1
                elif type_ == "ERROR":
                    raise _event_error(obj)
                else:
                    continue
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if rv:
                    self.resource_version = str(rv)
        finally:
            # Deliver what came before an ERROR event: the version already moved past it.
            if deltas:
                await self._emit(Batch("watch", deltas, self.resource_version or ""))
        self.backoff.reset()

    def _mark_synced(self) -> None:
        if not self.synced.is_set():
            self.synced.set()
            self._settled.set()

    # -- recovery -------------------------------------------------------------------------------

    async def _on_gone(self, exc: Gone) -> None:
        self.stats.gone += 1
        log.info("gone resource=%s rv=%s: %s", self.resource.display, self.resource_version, exc)
        if self._need_list:
            # A LIST at our version was refused: the version itself is too old. Next time,
            # a consistent list that needs no version.
            self._rv_unavailable = True
        else:
            self._need_list = True
        if self._gone_unprogressed:
            self._gone_unprogressed = False
            await self._retry(exc)

    async def _retry(self, exc: BaseException) -> None:
        self.stats.errors += 1
        self.stats.last_error = str(exc)
        delay = self.backoff.next_delay()
        if isinstance(exc, TooManyRequests):
            self.stats.throttled += 1
        if isinstance(exc, ApiError) and exc.retry_after is not None:
            delay = exc.retry_after  # the server knows its load better than our guess
        log.warning("retry resource=%s delay=%.2fs error=%s", self.resource.display, delay, exc)
        await asyncio.sleep(delay)

    async def _emit(self, batch: Batch) -> None:
        self.stats.deltas += len(batch.deltas)
        if self.on_batch is not None:
            await self.on_batch(batch)
        else:
            await self.queue.put(batch)


def _calls_for_paging(exc: ClientError) -> bool:
    """A cache LIST that timed out (too big to send in time) is worth retrying as a paged
    consistent LIST. (A 410 on it takes the same route through ``_on_gone``.)"""
    if isinstance(exc, RequestTimeout):
        return True
    return isinstance(exc, ApiError) and (exc.code == 504 or exc.reason == "Timeout")


def _event_error(status: dict[str, Any]) -> ApiError:
    code = int(status.get("code") or 500)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    details = status.get("details") or {}
    retry = details.get("retryAfterSeconds") if isinstance(details, dict) else None
    cls = {410: Gone, 429: TooManyRequests}.get(code, ApiError)
    return cls(
        code,
        reason,
        message,
        retry_after=float(retry) if retry else None,
        text=f"watch ERROR event: {code} {reason}: {message}",
    )
