"""The modelled kube-apiserver: APF admission, CPU and etcd as processor-sharing servers,
heap memory, OOM kills and restarts. A discrete-event simulation on simulated seconds.

Every request, real (HTTP) or synthetic, goes through ``submit``: it is classified by APF,
priced by the cost model, queued or rejected, then runs an etcd phase and a CPU phase. All
running requests share the cores equally (at most one core each), so a flood of expensive
LISTs slows everyone down and holds its memory longer; when the heap passes the memory limit
the process is OOM-killed: every request and watch ends, and the server is unavailable for
``restart_seconds`` and then rebuilds its watch cache from etcd before serving.

``advance(t)`` runs the model up to simulated time ``t``; nothing here reads a clock, so the
model is deterministic for a seed and benchmarks can run it faster than real time.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeward.sim.load.apf import FlowControl, Identity, PriorityLevel, Target
from kubeward.sim.load.cost import (
    MUTATING,
    Capacity,
    Constants,
    Cost,
    request_cost,
    watch_cache_memory,
    watch_event_cost,
)
from kubeward.sim.load.stats import StoreStats

INF = math.inf
# Codes a request can end with besides HTTP statuses: the connection failed (server down).
CONNECTION_FAILED = 0
TICK = 1.0  # simulated seconds between queue time-out checks and watch-load updates


@dataclass(slots=True, eq=False)
class Request:
    who: Identity
    target: Target
    storage_key: tuple[str, str] | None
    user_agent: str = ""
    version: str = "v1"
    name: str = ""
    subresource: str = ""
    resource_version: str | None = None
    limit: int = 0
    has_selector: bool = False
    selectivity: float = 1.0
    uri: str = ""
    synthetic: bool = True
    client: str = ""  # the synthetic client's name
    system: bool = False  # a system component's request (for the success ratio)
    node: str = ""  # the node a per-node synthetic client's instance runs on
    on_done: Callable[[Request, int], None] | None = None
    # The audit decision made when it arrived: None = none made (no RequestReceived stage is
    # logged), "" = not audited (sampled out), else the auditID of its RequestReceived line.
    audit_id: str | None = None
    # filled in by the model
    arrival: float = 0.0
    seats: int = 1
    cost: Cost | None = None
    schema: str = ""
    level: str = ""
    dispatched: float = -1.0
    finished: float = -1.0
    reject_reason: str = ""
    code: int = -1
    remaining_cpu: float = 0.0
    etcd_seconds: float = 0.0
    holds_memory: bool = False  # its heap is counted in live_memory


class Observer(Protocol):
    """Receives every finished request (metrics, audit log)."""

    def finished(self, request: Request, model: APIServerModel) -> None: ...


@dataclass(eq=False)
class WatchHandle:
    storage_key: tuple[str, str]
    selectivity: float
    on_closed: Callable[[], None] | None
    open: bool = True


class _ProcessorSharing:
    """Jobs share ``capacity`` equally, each at most one unit: every job progresses at the same
    rate, so one virtual clock tells when each finishes."""

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.virtual = 0.0
        self.jobs: list[tuple[float, int, Request]] = []
        self._seq = itertools.count()

    def rate(self) -> float:
        n = len(self.jobs)
        return min(1.0, self.capacity / n) if n else 0.0

    def next_finish(self, now: float) -> float:
        if not self.jobs:
            return INF
        return now + (self.jobs[0][0] - self.virtual) / self.rate()

    def progress(self, dt: float) -> None:
        if self.jobs and dt > 0:
            self.virtual += self.rate() * dt

    def add(self, work: float, request: Request) -> None:
        heapq.heappush(self.jobs, (self.virtual + work, next(self._seq), request))

    def pop(self) -> Request:
        return heapq.heappop(self.jobs)[2]

    def clear(self) -> list[Request]:
        out = [j[2] for j in self.jobs]
        self.jobs.clear()
        return out


@dataclass
class ModelState:
    up: bool = True
    ready: bool = True
    restarts: int = 0
    down_until: float = 0.0
    started_at: float = 0.0
    oom_times: list[float] = field(default_factory=list)


class APIServerModel:
    def __init__(
        self,
        stats: StoreStats,
        capacity: Capacity | None = None,
        constants: Constants | None = None,
    ) -> None:
        self.stats = stats
        self.capacity = capacity or Capacity()
        self.k = constants or Constants()
        self.flow = FlowControl(self.capacity.server_concurrency)
        self.now = 0.0
        self.state = ModelState()
        self.cpu = _ProcessorSharing(self.capacity.cores)
        self.etcd = _ProcessorSharing(self.capacity.etcd_parallelism)
        self.live_memory = 0.0  # heap held by running requests
        self.background_cpu = 0.0  # cores spent on watch events
        self.watches: set[WatchHandle] = set()
        self.watchers_by_key: dict[tuple[str, str], list[float]] = {}
        self.observers: list[Observer] = []
        self.on_restart: list[Callable[[], None]] = []  # when the process dies
        self.on_received: list[Callable[[Request], None]] = []  # a request reached the server
        self.on_tick: list[Callable[[float], None]] = []
        self.inflight = {"readOnly": 0, "mutating": 0}
        self.executing_by_flow: Counter[tuple[str, str]] = Counter()
        self.watch_events_sent: Counter[tuple[str, str]] = Counter()
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._initialising: Request | None = None
        self._next_tick = 0.0

    # -- scheduling ---------------------------------------------------------------------------

    def at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._events, (max(when, self.now), next(self._seq), callback))

    def next_event_time(self) -> float:
        return min(
            self._events[0][0] if self._events else INF,
            self.cpu.next_finish(self.now),
            self.etcd.next_finish(self.now),
            self._next_tick,
        )

    def advance(self, until: float) -> None:
        """Run every event up to simulated time ``until``."""
        while True:
            t_event = self._events[0][0] if self._events else INF
            t_cpu = self.cpu.next_finish(self.now)
            t_etcd = self.etcd.next_finish(self.now)
            t = min(t_event, t_cpu, t_etcd, self._next_tick)
            if t > until:
                self._progress(until - self.now)
                self.now = until
                return
            self._progress(t - self.now)
            self.now = t
            if t == t_cpu:
                self._cpu_done(self.cpu.pop())
            elif t == t_etcd:
                self._etcd_done(self.etcd.pop())
            elif t == self._next_tick:
                self._tick()
            else:
                heapq.heappop(self._events)[2]()

    def _progress(self, dt: float) -> None:
        self.cpu.progress(dt)
        self.etcd.progress(dt)

    # -- requests -----------------------------------------------------------------------------

    def submit(self, request: Request) -> None:
        request.arrival = self.now
        if not self.state.up:
            self._finish(request, CONNECTION_FAILED)
            return
        for hook in self.on_received:
            hook(request)
        self._admit(request)

    def _admit(self, request: Request) -> None:
        match = self.flow.classify(request.who, request.target)
        if match is None:  # no catch-all: kube-apiserver rejects
            request.reject_reason = "concurrency-limit"
            self._finish(request, 429)
            return
        schema, level = match
        request.schema, request.level = schema.name, level.name
        if request.cost is None:
            request.cost = self._cost(request)
        request.seats = 1 if level.exempt else request.cost.seats
        if self.state.ready and level.can_run(request.seats) and not level.waiting_count:
            self._dispatch(request, level)
        elif level.reject:
            request.reject_reason = "concurrency-limit"
            self._finish(request, 429)
        elif not level.exempt and not level.enqueue(
            schema.flow(request.who, request.target), request
        ):
            request.reject_reason = "queue-full"
            self._finish(request, 429)
        elif level.exempt:
            level.waiting[0].append(request)  # exempt requests wait only for readiness
            level.waiting_count += 1

    def _cost(self, request: Request) -> Cost:
        if request.storage_key is None:  # discovery, /metrics, /version: no storage read
            return Cost(self.k.request_overhead, 0.0, self.k.watcher_memory, 1, 0)
        verb = request.target.verb
        if verb in ("list", "watch"):
            collection = self.stats.collection(
                request.storage_key, request.target.namespace, request.selectivity
            )
        else:
            collection = self.stats.collection(request.storage_key, "", 1.0)
        return request_cost(
            verb,
            request.resource_version,
            request.limit,
            request.has_selector,
            collection,
            self.k,
        )

    def _dispatch(self, request: Request, level: PriorityLevel) -> None:
        assert request.cost is not None
        level.executing += request.seats
        level.executing_requests += 1
        request.dispatched = self.now
        kind = "mutating" if request.target.verb in MUTATING else "readOnly"
        self.inflight[kind] += 1
        self.executing_by_flow[(request.schema, request.level)] += 1
        request.remaining_cpu = request.cost.cpu
        if request.cost.etcd > 0:
            # Its heap (etcd's reply, the decoded objects, the response) exists once etcd's
            # reply is in: a write or a GET dispatched beside a big LIST can finish first.
            self.etcd.add(request.cost.etcd, request)
        else:
            self.cpu.add(request.cost.cpu, request)
            self._hold(request)

    def _hold(self, request: Request) -> None:
        assert request.cost is not None
        request.holds_memory = True
        self.live_memory += request.cost.memory
        self._check_memory()

    def _etcd_done(self, request: Request) -> None:
        request.etcd_seconds = self.now - request.dispatched
        self.cpu.add(request.remaining_cpu, request)
        if not request.holds_memory:
            self._hold(request)

    def _cpu_done(self, request: Request) -> None:
        if request is self._initialising:
            self._initialised(request)
            return
        self._release(request)
        self._finish(request, 200)
        level = self.flow.levels.get(request.level)
        if level is not None:
            self._dispatch_waiting(level)

    def _release(self, request: Request) -> None:
        assert request.cost is not None
        if request.holds_memory:
            self.live_memory -= request.cost.memory
            request.holds_memory = False
        kind = "mutating" if request.target.verb in MUTATING else "readOnly"
        self.inflight[kind] -= 1
        self.executing_by_flow[(request.schema, request.level)] -= 1
        level = self.flow.levels.get(request.level)
        if level is not None:
            level.executing = max(0, level.executing - request.seats)
            level.executing_requests = max(0, level.executing_requests - 1)

    def _dispatch_waiting(self, level: PriorityLevel) -> None:
        if not self.state.ready:
            return
        while True:
            request = level.next_waiting()
            if request is None:
                return
            self._dispatch(request, level)
            if not self.state.up:
                return

    def _finish(self, request: Request, code: int) -> None:
        request.code = code
        request.finished = self.now
        for observer in self.observers:
            observer.finished(request, self)
        if request.on_done is not None:
            request.on_done(request, code)

    # -- flow-control configuration ------------------------------------------------------------

    def configure(self, schemas: list[dict[str, Any]], levels: list[dict[str, Any]]) -> None:
        """New FlowSchemas/PriorityLevelConfigurations take effect at once; queued requests
        are classified again under them."""
        for request in self.flow.configure(schemas, levels):
            self._admit(request)

    # -- watches ------------------------------------------------------------------------------

    def open_watch(
        self,
        storage_key: tuple[str, str],
        selectivity: float = 1.0,
        on_closed: Callable[[], None] | None = None,
    ) -> WatchHandle | None:
        if not self.state.up:
            return None
        handle = WatchHandle(storage_key, selectivity, on_closed)
        self.watches.add(handle)
        entry = self.watchers_by_key.setdefault(storage_key, [0, 0.0])
        entry[0] += 1
        entry[1] += selectivity
        return handle

    def close_watch(self, handle: WatchHandle) -> None:
        if not handle.open:
            return
        handle.open = False
        self.watches.discard(handle)
        entry = self.watchers_by_key[handle.storage_key]
        entry[0] -= 1
        entry[1] -= handle.selectivity

    def watcher_count(self) -> int:
        return len(self.watches)

    def cpu_busy(self) -> float:
        """Cores in use: watch fan-out plus running requests (each at most one core)."""
        return min(
            self.capacity.cores, self.background_cpu + min(len(self.cpu.jobs), self.cpu.capacity)
        )

    # -- memory, OOM, restart -----------------------------------------------------------------

    def memory(self) -> float:
        """Modelled process RSS: base + watch cache + watchers + live request heap with GC
        headroom (GOGC=100 lets the heap reach twice the live size before collecting)."""
        if not self.state.up:
            return 0.0
        resident = watch_cache_memory(self.stats.total_bytes(), len(self.watches), self.k)
        return resident + self.live_memory * (1 + self.k.gc_overhead)

    def _check_memory(self) -> None:
        if self.state.up and self.memory() > self.capacity.memory_limit:
            self._oom()

    def _oom(self) -> None:
        state = self.state
        state.up = state.ready = False
        state.restarts += 1
        state.oom_times.append(self.now)
        state.down_until = self.now + self.capacity.restart_seconds
        running = self.etcd.clear() + self.cpu.clear()
        self.live_memory = 0.0
        self.inflight = {"readOnly": 0, "mutating": 0}
        self.executing_by_flow.clear()
        self._initialising = None
        waiting = [r for lv in self.flow.levels.values() for r in lv.drain()]
        for level in self.flow.levels.values():
            level.executing = level.executing_requests = 0
        for handle in list(self.watches):
            self.close_watch(handle)
            if handle.on_closed is not None:
                handle.on_closed()
        for hook in self.on_restart:
            hook()
        for request in running + waiting:
            self._finish(request, CONNECTION_FAILED)
        self.at(state.down_until, self._start)

    def _start(self) -> None:
        """The process is back: it accepts connections and first fills its watch cache with a
        full read of etcd, then serves."""
        self.state.up = True
        self.state.started_at = self.now
        stored = self.stats.total_bytes()
        init = Request(Identity("system:apiserver", ("system:masters",)), Target("list"), None)
        init.cost = Cost(
            cpu=stored / 1024 * self.k.decode_per_kib,
            etcd=stored / self.k.etcd_bytes_per_second,
            memory=stored * (self.k.etcd_list_memory_factor - self.k.watch_cache_factor),
            seats=0,
            objects=0,
        )
        init.remaining_cpu = init.cost.cpu
        self._initialising = init
        init.holds_memory = True  # etcd streams into the watch cache from the start
        self.live_memory += init.cost.memory
        self.etcd.add(init.cost.etcd, init)

    def _initialised(self, init: Request) -> None:
        assert init.cost is not None
        self.live_memory -= init.cost.memory
        self._initialising = None
        self.state.ready = True
        for level in list(self.flow.levels.values()):
            self._dispatch_waiting(level)

    # -- periodic work ------------------------------------------------------------------------

    def _tick(self) -> None:
        self._next_tick = self.now + TICK
        self._update_watch_load()
        cutoff = self.now - self.capacity.queue_wait_limit
        for level in self.flow.levels.values():
            if level.exempt:
                continue  # exempt requests are never queued by APF: nothing to time out
            for request in level.expire(cutoff):
                request.reject_reason = "time-out"
                self._finish(request, 429)
        for hook in self.on_tick:
            hook(self.now)
        self._check_memory()

    def _update_watch_load(self) -> None:
        """Watch events written since the last tick cost CPU for every watcher they reach;
        that work runs beside the requests and shrinks the cores they share."""
        cpu_seconds = 0.0
        for key, (events, avg_bytes) in self.stats.drain_events().items():
            watchers = self.watchers_by_key.get(key)
            if watchers and watchers[0] > 0:
                cpu_seconds += events * watch_event_cost(avg_bytes, watchers[1], self.k)
                self.watch_events_sent[key] += round(events * watchers[1])
        self.background_cpu = min(cpu_seconds / TICK, self.capacity.cores * 0.95)
        capacity = self.capacity.cores - self.background_cpu
        self.cpu.capacity = capacity
