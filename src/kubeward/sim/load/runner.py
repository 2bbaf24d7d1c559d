"""The load model beside the simulated cluster: keeps it in step with the simulated clock,
feeds it the flow-control objects from the store, admits real HTTP requests through it, and
records what it does (metrics, audit log, success ratios).

The model runs on simulated seconds; ``run()`` advances it to the clock, a slice at a time so a
heavy scenario never blocks the event loop for long (the model may then lag the clock a little;
it catches up when the load eases).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any

from kubeward.aio import wait_event
from kubeward.kube import status as st
from kubeward.kube.apiserver import NODE_NAME_EXTRA
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.clock import SimClock
from kubeward.sim.load.apf import Identity, Target
from kubeward.sim.load.audit import AuditLog, go_duration, object_ref
from kubeward.sim.load.bootstrap import FLOWCONTROL
from kubeward.sim.load.clients import SyntheticClient, builtin_clients
from kubeward.sim.load.coredns import CoreDNSModel
from kubeward.sim.load.cost import Capacity
from kubeward.sim.load.engine import CONNECTION_FAILED, APIServerModel, Request
from kubeward.sim.load.metrics import APIServerMetrics, ModelCollector, reported_verb, scope_of
from kubeward.sim.load.spec import LoadSpec
from kubeward.sim.load.stats import StoreStats
from kubeward.sim.store.objects import StoreEvent
from kubeward.sim.store.store import Store

log = logging.getLogger("kubeward.sim.load")

_FLOW_KEYS = {(FLOWCONTROL, "flowschemas"), (FLOWCONTROL, "prioritylevelconfigurations")}
_SLICE = 1.0  # simulated seconds advanced between checks of the wall-clock budget
_BUDGET = 0.02  # wall seconds the model may run before yielding to HTTP handlers
_LATENCY_ANNOTATION_THRESHOLD = 0.5  # kube-apiserver adds latency annotations to slow requests


@dataclass
class LoadOverrides:
    """Command-line settings that win over the scenario's ``load.capacity``."""

    cores: float | None = None
    memory_bytes: float | None = None
    max_requests_inflight: int | None = None
    max_mutating_requests_inflight: int | None = None


def capacity_of(spec: LoadSpec, overrides: LoadOverrides | None = None) -> Capacity:
    o = overrides or LoadOverrides()
    c = spec.capacity
    return Capacity(
        cores=o.cores or c.cores,
        memory_limit=o.memory_bytes or c.memory_bytes,
        max_requests_inflight=o.max_requests_inflight or c.max_requests_inflight,
        max_mutating_requests_inflight=(
            o.max_mutating_requests_inflight or c.max_mutating_requests_inflight
        ),
        queue_wait_limit=c.queue_wait_limit,
        restart_seconds=c.restart_seconds,
    )


class LoadRunner:
    def __init__(
        self,
        spec: LoadSpec,
        store: Store,
        clock: SimClock,
        *,
        overrides: LoadOverrides | None = None,
        audit: AuditLog | None = None,
        seed: int = 0,
        api: ObjectAPI | None = None,
    ) -> None:
        """``api``: where to write flow-control status (FlowSchemas' Dangling condition)."""
        self.spec = spec
        self.api = api
        self._status_pending = False
        self.store = store
        self.clock = clock
        self.audit = audit
        self.seed = seed
        self.stats = StoreStats(store, spec.capacity.object_size_factor)
        self.model = APIServerModel(self.stats, capacity_of(spec, overrides))
        self.metrics = APIServerMetrics()
        self.metrics.registry.register(
            ModelCollector(self.model, self._process_start, self._model_time, clock)
        )
        self.model.observers.append(self)
        if audit is not None and audit.request_received:
            self.model.on_received.append(self._audit_received)
        self.clients: list[SyntheticClient] = []
        self.coredns: CoreDNSModel | None = None
        self._wake = asyncio.Event()
        self._started = False
        store.add_listener(self._on_store_event, _FLOW_KEYS)

    # -- set-up -------------------------------------------------------------------------------

    def start(self, at: float | None = None) -> None:
        """Load the flow-control objects and start the synthetic clients at simulated time
        ``at`` (default: the clock's). Call after the cluster's bootstrap: kubelets need the
        nodes."""
        self.model.now = self.clock.elapsed() if at is None else at
        self.reconfigure()
        nodes = sorted(o.name for o in self.store.resource(("", "nodes")).objects.values())
        specs = builtin_clients(self.spec.coredns) if self.spec.builtin_clients else []
        for i, client_spec in enumerate([*specs, *self.spec.clients]):
            client = SyntheticClient(client_spec, seed=self.seed * 7919 + i)
            client.start(self.model, nodes)
            self.clients.append(client)
            if client_spec.name == "coredns" and self.spec.builtin_clients:
                self.coredns = CoreDNSModel(self.spec.coredns, client)
                self.model.on_tick.append(self.coredns.tick)
        self._started = True
        log.info(
            "event=load_model_started clients=%d nodes=%d memory_limit=%d",
            len(self.clients),
            len(nodes),
            self.model.capacity.memory_limit,
        )

    def _on_store_event(self, event: StoreEvent) -> None:
        if self._started and event.storage_key in _FLOW_KEYS:
            self.reconfigure()  # APF objects take effect at once, as in kube-apiserver

    def reconfigure(self) -> None:
        schemas = [
            o.decode() for o in self.store.resource((FLOWCONTROL, "flowschemas")).objects.values()
        ]
        levels = [
            o.decode()
            for o in self.store.resource(
                (FLOWCONTROL, "prioritylevelconfigurations")
            ).objects.values()
        ]
        self.model.configure(schemas, levels)
        if self.api is not None and not self._status_pending:
            with contextlib.suppress(RuntimeError):  # no running loop: headless, no status
                asyncio.get_running_loop().call_soon(self._write_dangling)
                self._status_pending = True

    def _write_dangling(self) -> None:
        """As kube-apiserver's APF controller: each FlowSchema's ``Dangling`` condition says
        whether its priority level exists (``kubectl get flowschemas`` shows it as MISSINGPL)."""
        self._status_pending = False
        assert self.api is not None
        rt = REGISTRY.get(FLOWCONTROL, "v1", "flowschemas")
        assert rt is not None
        for stored in list(self.store.resource((FLOWCONTROL, "flowschemas")).objects.values()):
            obj = stored.decode()
            level = ((obj.get("spec") or {}).get("priorityLevelConfiguration") or {}).get(
                "name", ""
            )
            dangling = level not in self.model.flow.levels
            want = {
                "type": "Dangling",
                "status": "True" if dangling else "False",
                "reason": "NotFound" if dangling else "Found",
                "message": "This FlowSchema references the PriorityLevelConfiguration object "
                f'named "{level}"'
                + (" but there is no such object" if dangling else " and it exists"),
            }
            conditions = (obj.get("status") or {}).get("conditions") or []
            current = next((c for c in conditions if c.get("type") == "Dangling"), None)
            if current is not None and all(current.get(k) == v for k, v in want.items()):
                continue
            want["lastTransitionTime"] = self.clock.timestamp()
            others = [c for c in conditions if c.get("type") != "Dangling"]
            obj["status"] = {"conditions": [*others, want]}
            with contextlib.suppress(st.StatusError):  # changed meanwhile: the next event retries
                self.api.update(
                    rt,
                    "",
                    stored.name,
                    obj,
                    subresource="status",
                    manager="api-priority-and-fairness-config-consumer-v1",
                )

    # -- keeping time -------------------------------------------------------------------------

    def catch_up(self, budget: float = _BUDGET) -> bool:
        """Advance the model towards the clock for at most ``budget`` wall seconds; True when
        it reached the clock."""
        target = self.clock.elapsed()
        deadline = time.perf_counter() + budget
        while self.model.now < target:
            self.model.advance(min(target, self.model.now + _SLICE))
            if time.perf_counter() > deadline:
                return self.model.now >= target
        return True

    async def run(self) -> None:
        while True:
            if not self.catch_up():
                await asyncio.sleep(0)  # behind: let HTTP handlers in, then continue
                continue
            wait = (self.model.next_event_time() - self.clock.elapsed()) / self.clock.speed
            self._wake.clear()
            await wait_event(self._wake, min(wait, 0.25))

    def advance_to(self, elapsed: float) -> None:
        """Run the model alone up to ``elapsed`` simulated seconds (benchmarks, tests)."""
        self.model.advance(elapsed)

    # -- HTTP requests ------------------------------------------------------------------------

    async def admit(self, request: Request) -> int:
        """Submit an HTTP request to the model and wait until it has run there: the code is
        200 (go ahead), 429 (APF rejected it) or CONNECTION_FAILED (the server is down)."""
        self.catch_up()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def done(_: Request, code: int) -> None:
            if not future.done():
                future.set_result(code)

        request.on_done = done
        request.synthetic = False
        self.model.submit(request)
        self._wake.set()  # the model has a new finish time to wake for
        return await future

    def flow_uids(self, request: Request) -> tuple[str, str]:
        """The UIDs of the FlowSchema and priority level a request was classified to (the
        X-Kubernetes-PF-* response headers)."""
        schema = next((s for s in self.model.flow.schemas if s.name == request.schema), None)
        level = self.model.flow.levels.get(request.level)
        return (schema.uid if schema else "", level.uid if level else "")

    # -- observing ----------------------------------------------------------------------------

    def finished(self, request: Request, model: APIServerModel) -> None:
        self.metrics.observe_flow(request)
        if request.etcd_seconds > 0:
            self.metrics.observe_etcd(request, request.etcd_seconds)
        if not request.synthetic:
            return  # the HTTP handler records the response it really sent
        code = request.code
        self.metrics.observe_client(request.client, request.system, code)
        if code == CONNECTION_FAILED:
            return  # the server never saw it: no metrics, no audit
        target = request.target
        verb = reported_verb(target.verb)
        scope = scope_of(target.namespace, request.name)
        self.metrics.observe(
            verb,
            target.api_group,
            request.version,
            target.resource,
            request.subresource,
            scope,
            code,
            request.finished - request.arrival,
        )
        if self.audit is None:
            return
        if request.audit_id is None:
            if self.audit.keep_synthetic():
                self.write_audit(request, code, sampled=True)
        elif request.audit_id:
            self.write_audit(request, code, sampled=True)

    def _audit_received(self, request: Request) -> None:
        """The RequestReceived line, when the request reaches the server; the sampling decision
        made here holds for its ResponseComplete line too."""
        assert self.audit is not None
        if request.synthetic and not self.audit.keep_synthetic():
            request.audit_id = ""
            return
        request.audit_id = self.audit.new_id()
        self.audit.write_received(
            audit_id=request.audit_id,
            user=request.who.user,
            groups=request.who.groups,
            user_agent=request.user_agent,
            verb=request.target.verb,
            uri=request.uri,
            object_ref=_object_ref(request),
            received=self.clock.time_at(self.model.now),
            sampled=request.synthetic,
            **_instance_origin(request),
        )

    def write_audit(
        self,
        request: Request,
        code: int,
        *,
        sampled: bool = False,
        received: float | None = None,
        completed: float | None = None,
        annotations: dict[str, str] | None = None,
    ) -> None:
        """One audit event for ``request`` (times are simulated seconds; by default the
        model's arrival and finish); ``annotations`` are the HTTP handler's (authorization)."""
        assert self.audit is not None
        target = request.target
        start = request.arrival if received is None else received
        end = request.finished if completed is None else completed
        annotations = dict(annotations or {})
        if request.schema:
            annotations["sim.kubeward.io/flow-schema"] = request.schema
            annotations["sim.kubeward.io/priority-level"] = request.level
        if end - start >= _LATENCY_ANNOTATION_THRESHOLD:
            annotations["apiserver.latency.k8s.io/total"] = go_duration(end - start)
            if request.dispatched >= 0:
                wait = request.dispatched - request.arrival
                annotations["apiserver.latency.k8s.io/apf-queue-wait"] = go_duration(wait)
            if request.etcd_seconds > 0:
                annotations["apiserver.latency.k8s.io/etcd"] = go_duration(request.etcd_seconds)
        self.audit.write(
            user=request.who.user,
            groups=request.who.groups,
            user_agent=request.user_agent,
            verb=target.verb,
            uri=request.uri,
            object_ref=_object_ref(request),
            code=code,
            received=self.clock.time_at(start),
            completed=self.clock.time_at(end),
            annotations=annotations,
            sampled=sampled,
            audit_id=request.audit_id or "",
            **_instance_origin(request),
        )

    def _process_start(self) -> float:
        return self.clock.time_at(self.model.state.started_at).timestamp()

    def _model_time(self) -> float:
        return self.clock.time_at(self.model.now).timestamp()

    # -- results ------------------------------------------------------------------------------

    def system_success(self, start: float, end: float) -> tuple[int, int]:
        """(succeeded, requests) of system components' synthetic requests in [start, end)."""
        ok = total = 0
        for client in self.clients:
            if client.spec.system:
                good, n = client.stats.between(start, end)
                ok, total = ok + good, total + n
        return ok, total

    def summary(self, onset: float) -> dict[str, Any]:
        """Figures for a run with trouble starting at ``onset`` simulated seconds."""
        now = self.model.now

        def ratio(start: float, end: float) -> float | None:
            ok, total = self.system_success(start, end)
            return round(ok / total, 4) if total else None

        dns_failed_at = self.coredns.first_failure if self.coredns else None
        return {
            "simulated_seconds": round(now, 1),
            "system_success_before": ratio(0, onset),
            "system_success_after": ratio(onset, now),
            "apiserver_restarts": self.model.state.restarts,
            "oom_at_seconds": [round(t, 1) for t in self.model.state.oom_times],
            "dns_failure_minutes_after_onset": (
                round((dns_failed_at - onset) / 60, 2) if dns_failed_at is not None else None
            ),
            "dns_failure_minutes": round(self.coredns.failure_seconds / 60, 2)
            if self.coredns
            else 0,
            "apiserver_up": self.model.state.up,
        }


def identity_of(user: str, groups: tuple[str, ...]) -> Identity:
    """The identity APF sees for an authenticated user."""
    return Identity(user, tuple(dict.fromkeys([*groups, "system:authenticated"])))


def http_target(verb: str, group: str, resource: str, subresource: str, namespace: str) -> Target:
    return Target(
        verb, True, group, f"{resource}/{subresource}" if subresource else resource, namespace
    )


def _object_ref(request: Request) -> dict[str, str] | None:
    target = request.target
    if not (target.is_resource and target.resource):
        return None
    return object_ref(
        target.resource.split("/")[0],
        target.namespace,
        request.name,
        target.api_group,
        request.version,
        request.subresource,
    )


def _instance_origin(request: Request) -> dict[str, Any]:
    """Where a per-node client's instance calls from, as a real audit event shows it: its own
    address (a stable per-node 10.x address standing in for the pod IP) and, for service
    accounts, the node its pod-bound token names (``user.extra``, Kubernetes 1.30+)."""
    if not request.node:
        return {}
    h = zlib.crc32(request.node.encode())
    origin: dict[str, Any] = {"source_ip": f"10.{(h >> 16) & 255}.{(h >> 8) & 255}.{h & 255}"}
    if request.who.user.startswith("system:serviceaccount:"):
        origin["extra"] = {NODE_NAME_EXTRA: [request.node]}
    return origin
