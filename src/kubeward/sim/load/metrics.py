"""The simulated kube-apiserver's /metrics: request counters and latencies for HTTP and
synthetic requests alike, APF, etcd, storage, watches and the modelled process memory.

Per-request series are prometheus_client counters and histograms; state (in-flight, queues,
memory, object counts) is read from the model at scrape time by a custom collector.

Deviation from a real API server: counters do not reset when the modelled process restarts
(``kubeward_sim_apiserver_restarts_total`` and ``process_start_time_seconds`` tell restarts).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from kubeward.sim.clock import SimClock
    from kubeward.sim.load.engine import APIServerModel, Request

_REPORTED = {
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETE",
    "get": "GET",
    "list": "LIST",
    "watch": "WATCH",
}
LATENCY_BUCKETS = (
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3,
    4, 5, 6, 8, 10, 15, 20, 30, 45, 60,
)  # fmt: skip
WAIT_BUCKETS = (0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30)
ETCD_BUCKETS = (
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3,
    4, 5, 6, 8, 10, 15, 20, 30, 45, 60,
)  # fmt: skip
_REQUEST_LABELS = ["verb", "group", "version", "resource", "subresource", "scope", "component"]


def reported_verb(verb: str, apply: bool = False) -> str:
    """The ``verb`` label kube-apiserver reports: LIST/WATCH for collections, else the method
    (POST, PUT, PATCH, DELETE, GET), APPLY for server-side apply."""
    if apply:
        return "APPLY"
    return _REPORTED.get(verb, verb.upper())


def scope_of(namespace: str, name: str) -> str:
    return "resource" if name else ("namespace" if namespace else "cluster")


class APIServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "apiserver_request_total",
            "Counter of apiserver requests broken out for each verb, "
            "group, version, resource, scope, component, and HTTP response code.",
            [*_REQUEST_LABELS, "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for "
            "each verb, group, version, resource, subresource, scope and component.",
            _REQUEST_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejected = Counter(
            "apiserver_flowcontrol_rejected_requests",
            "Number of requests rejected by API Priority and Fairness subsystem",
            ["flow_schema", "priority_level", "reason"],
            registry=self.registry,
        )
        self.dispatched = Counter(
            "apiserver_flowcontrol_dispatched_requests",
            "Number of requests executed by API Priority and Fairness subsystem",
            ["flow_schema", "priority_level"],
            registry=self.registry,
        )
        self.wait = Histogram(
            "apiserver_flowcontrol_request_wait_duration_seconds",
            "Length of time a request spent waiting in its queue",
            ["flow_schema", "priority_level", "execute"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.etcd = Histogram(
            "etcd_request_duration_seconds",
            "Etcd request latency in seconds for each operation and object type.",
            ["operation", "type"],
            buckets=ETCD_BUCKETS,
            registry=self.registry,
        )
        self.clients = Counter(
            "kubeward_sim_client_requests",
            "Requests of the simulator's synthetic clients by client and response code "
            "(code 0: the connection failed while the API server was down).",
            ["client", "system", "code"],
            registry=self.registry,
        )
        # prometheus_client's labels() lookups are slow on the synthetic hot path (they were
        # a fifth of a 7,500-node simulator's time while 429s flowed): keep the children
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(
        self,
        verb: str,
        group: str,
        version: str,
        resource: str,
        subresource: str,
        scope: str,
        code: int,
        seconds: float,
    ) -> None:
        key = (verb, group, version, resource, subresource, scope, "apiserver")
        self._child(self.requests, *key, str(code)).inc()
        if verb != "WATCH":
            self._child(self.duration, *key).observe(seconds)

    def observe_flow(self, request: Request) -> None:
        """APF series for a request the model admitted or rejected."""
        if not request.schema:
            return
        schema, level = request.schema, request.level
        if request.code == 429:
            self._child(self.rejected, schema, level, request.reject_reason).inc()
            wait = request.finished - request.arrival
            self._child(self.wait, schema, level, "false").observe(wait)
            return
        if request.dispatched >= 0:
            self._child(self.dispatched, schema, level).inc()
            wait = request.dispatched - request.arrival
            self._child(self.wait, schema, level, "true").observe(wait)

    def observe_client(self, client: str, system: bool, code: int) -> None:
        """One synthetic client's request (code 0: the connection failed)."""
        self._child(self.clients, client, "true" if system else "false", str(code)).inc()

    def observe_etcd(self, request: Request, seconds: float) -> None:
        if request.storage_key is None:
            return
        group, plural = request.storage_key
        resource = f"{plural}.{group}" if group else plural
        operation = _ETCD_OPERATIONS.get(request.target.verb, "get")
        self._child(self.etcd, operation, resource).observe(seconds)


_ETCD_OPERATIONS = {
    "list": "listWithCount",
    "get": "get",
    "create": "create",
    "update": "update",
    "patch": "update",
    "delete": "delete",
}


class ModelCollector(Collector):
    """State read from the model at scrape time."""

    def __init__(
        self,
        model: APIServerModel,
        start_time: Callable[[], float],
        model_time: Callable[[], float],
        clock: SimClock,
    ) -> None:
        self.model = model
        self.start_time = start_time
        self.model_time = model_time
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        model = self.model
        inflight = GaugeMetricFamily(
            "apiserver_current_inflight_requests",
            "Maximal number of currently used inflight request limit of this apiserver per "
            "request kind in last second.",
            labels=["request_kind"],
        )
        for kind, n in model.inflight.items():
            inflight.add_metric([kind], n)
        yield inflight
        inqueue = GaugeMetricFamily(
            "apiserver_flowcontrol_current_inqueue_requests",
            "Number of requests currently pending in queues of the API Priority and Fairness "
            "subsystem",
            labels=["flow_schema", "priority_level"],
        )
        # every schema's series, at 0 while nothing waits
        waiting: Tally[tuple[str, str]] = Tally(
            {(fs.name, fs.level): 0 for fs in model.flow.schemas}
        )
        for level in model.flow.levels.values():
            for queue in level.waiting:
                for request in queue:
                    waiting[(request.schema, level.name)] += 1
        for (schema, level_name), n in sorted(waiting.items()):
            inqueue.add_metric([schema, level_name], n)
        yield inqueue
        executing = GaugeMetricFamily(
            "apiserver_flowcontrol_current_executing_requests",
            "Number of requests in initial (for a WATCH) or any (for a non-WATCH) execution "
            "stage in the API Priority and Fairness subsystem",
            labels=["flow_schema", "priority_level"],
        )
        for (schema, level_name), n in sorted(model.executing_by_flow.items()):
            if n:
                executing.add_metric([schema, level_name], n)
        yield executing
        seats = GaugeMetricFamily(
            "apiserver_flowcontrol_nominal_limit_seats",
            "Nominal number of execution seats configured for each priority level",
            labels=["priority_level"],
        )
        for level in model.flow.levels.values():
            seats.add_metric([level.name], level.seats)
        yield seats
        objects = GaugeMetricFamily(
            "apiserver_storage_objects",
            "Number of stored objects at the time of last check split by kind.",
            labels=["resource"],
        )
        for (group, plural), n in sorted(model.stats.storage_objects().items()):
            objects.add_metric([f"{plural}.{group}" if group else plural], n)
        yield objects
        watches = GaugeMetricFamily(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests broken out by verb, group, "
            "version, resource, scope and component.",
            labels=["verb", "group", "version", "resource", "subresource", "scope", "component"],
        )
        for (group, plural), (count, _) in sorted(model.watchers_by_key.items()):
            if count:
                watches.add_metric(
                    ["WATCH", group, "v1", plural, "", "cluster", "apiserver"], count
                )
        yield watches
        events = CounterMetricFamily(
            "apiserver_watch_events",
            "Number of events sent in watch clients",
            labels=["group", "version", "resource"],
        )
        for (group, plural), n in sorted(model.watch_events_sent.items()):
            events.add_metric([group, "v1", plural], n)
        yield events
        yield GaugeMetricFamily(
            "process_resident_memory_bytes",
            "Resident memory size in bytes (modelled kube-apiserver heap).",
            value=model.memory(),
        )
        yield GaugeMetricFamily(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            value=self.start_time(),
        )
        yield CounterMetricFamily(
            "kubeward_sim_apiserver_restarts",
            "Times the modelled kube-apiserver was OOM-killed and restarted.",
            value=model.state.restarts,
        )
        yield GaugeMetricFamily(
            "kubeward_sim_apiserver_up",
            "1 while the modelled kube-apiserver process is running.",
            value=1 if model.state.up else 0,
        )
        yield GaugeMetricFamily(
            "kubeward_sim_model_time_seconds",
            "The load model's simulated time (unix seconds): what a replay measures detection "
            "and mitigation against.",
            value=self.model_time(),
        )
        yield GaugeMetricFamily(
            "kubeward_sim_clock_start_time_seconds",
            "Unix time of the simulated clock's start (scenario times such as createAt count "
            "from here).",
            value=self.clock.time_at(0).timestamp(),
        )
        yield CounterMetricFamily(
            "kubeward_sim_clock_held_seconds",
            "Wall seconds the simulated clock stood still because the simulator's event loop "
            "was too busy to keep up with --speed (simulated time = speed x (wall - held)).",
            value=self.clock.held_seconds,
        )
        yield GaugeMetricFamily(
            "kubeward_sim_apiserver_cpu_cores_busy",
            "Modelled kube-apiserver CPU in use (requests plus watch fan-out), in cores.",
            value=model.cpu_busy(),
        )
