"""Read kube-apiserver's ``/metrics`` through kubeward.client and keep what the guard uses:
collection sizes (``apiserver_storage_objects``, or ``apiserver_resource_objects`` on
Kubernetes 1.32+), APF rejections and queues, in-flight requests, open watches, request
latency, memory, restarts. The one parser of /metrics in the guard: ``analyze`` reads it once,
live detection (:mod:`kubeward.guard.health`) builds a ``HealthSample`` from each scrape."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from kubeward.client import ApiClient, ApiError, Unauthorized

STORAGE_OBJECT_METRICS = ("apiserver_storage_objects", "apiserver_resource_objects")
# The simulator's modelled clock (unix seconds); absent on a real kube-apiserver.
SIM_TIME_METRIC = "kubeward_sim_model_time_seconds"
# Long-running verbs whose duration is not request latency.
_NOT_LATENCY_VERBS = ("WATCH", "CONNECT")


class MetricsError(RuntimeError):
    """/metrics could not be read or parsed (the message says why and what to do)."""


@dataclass
class ApiServerMetrics:
    storage_objects: dict[str, float] = field(default_factory=dict)  # resource -> objects
    rejected: dict[tuple[str, str, str], float] = field(default_factory=dict)
    requests_by_code: dict[str, float] = field(default_factory=dict)  # code -> total
    inflight: dict[str, float] = field(default_factory=dict)  # request_kind -> requests
    # apiserver_flowcontrol_current_inqueue_requests, all priority levels and flow schemas
    inqueue: float = 0.0
    # apiserver_flowcontrol_nominal_limit_seats summed over the priority levels: the server's
    # concurrency limit (--max-requests-inflight + --max-mutating-requests-inflight, shared out
    # by APF); None when the server does not export it (APF off, or older than 1.26)
    concurrency_limit: float | None = None
    # apiserver_longrunning_requests{verb="WATCH"}: open watches, all resources and scopes
    watches: float = 0.0
    # apiserver_request_duration_seconds _sum/_count over every verb but WATCH and CONNECT
    latency_sum: float = 0.0
    latency_count: float = 0.0
    resident_memory_bytes: float | None = None
    process_start_time: float | None = None
    restarts: float | None = None  # kubeward_sim_apiserver_restarts_total (simulator only)
    model_time: float | None = None  # kubeward_sim_model_time_seconds (simulator only)
    samples: int = 0

    @property
    def throttled_total(self) -> float:
        return self.requests_by_code.get("429", 0.0)

    @property
    def rejected_total(self) -> float:
        """apiserver_flowcontrol_rejected_requests_total over every label set."""
        return sum(self.rejected.values())

    @property
    def inflight_total(self) -> float:
        """apiserver_current_inflight_requests over every request kind."""
        return sum(self.inflight.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "storageObjects": self.storage_objects,
            "rejectedTotal": self.rejected_total,
            "requests429Total": self.throttled_total,
            "inflight": self.inflight,
            "residentMemoryBytes": self.resident_memory_bytes,
        }


def parse_metrics(text: str) -> ApiServerMetrics:
    """The guard's view of one /metrics scrape (Prometheus text format)."""
    out = ApiServerMetrics()
    codes: dict[str, float] = defaultdict(float)
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise MetricsError(f"/metrics is not Prometheus text format ({exc})") from exc
    for family in families:
        for sample in family.samples:
            out.samples += 1
            name, labels, value = sample.name, sample.labels, sample.value
            if name in STORAGE_OBJECT_METRICS and "resource" in labels:
                # Both names on a 1.31/1.32 server: the same figure, keep the larger.
                resource = labels["resource"]
                if value >= 0:  # -1: not counted yet
                    out.storage_objects[resource] = max(
                        out.storage_objects.get(resource, 0.0), value
                    )
            elif name == "apiserver_flowcontrol_rejected_requests_total":
                key = (
                    labels.get("flow_schema", ""),
                    labels.get("priority_level", ""),
                    labels.get("reason", ""),
                )
                out.rejected[key] = out.rejected.get(key, 0.0) + value
            elif name == "apiserver_request_total":
                codes[labels.get("code", "")] += value
            elif name == "apiserver_current_inflight_requests":
                kind = labels.get("request_kind", "")
                out.inflight[kind] = out.inflight.get(kind, 0.0) + value
            elif name == "apiserver_flowcontrol_current_inqueue_requests":
                out.inqueue += value
            elif name == "apiserver_flowcontrol_nominal_limit_seats":
                out.concurrency_limit = (out.concurrency_limit or 0.0) + value
            elif name == "apiserver_longrunning_requests":
                if labels.get("verb") == "WATCH":
                    out.watches += value
            elif name == "apiserver_request_duration_seconds_sum":
                if labels.get("verb") not in _NOT_LATENCY_VERBS:
                    out.latency_sum += value
            elif name == "apiserver_request_duration_seconds_count":
                if labels.get("verb") not in _NOT_LATENCY_VERBS:
                    out.latency_count += value
            elif name == "process_resident_memory_bytes":
                out.resident_memory_bytes = value
            elif name == "process_start_time_seconds":
                out.process_start_time = value
            elif name == "kubeward_sim_apiserver_restarts_total":
                out.restarts = value
            elif name == SIM_TIME_METRIC:
                out.model_time = value
    out.requests_by_code = dict(codes)
    return out


async def fetch_metrics(api: ApiClient) -> ApiServerMetrics:
    """``GET /metrics`` from the API server ``api`` points at, parsed."""
    try:
        body = await api.get_raw("/metrics")
    except Unauthorized:
        raise  # its message already names the user and the fix
    except ApiError as exc:
        if exc.code == 403:
            raise MetricsError(_forbidden(api, exc.server_message)) from exc
        raise MetricsError(
            f"GET /metrics on {api.config.server} failed: {exc}. Fix: check that the user may "
            "read /metrics and that the server is an API server."
        ) from exc
    return parse_metrics(body.decode("utf-8", errors="replace"))


def _forbidden(api: ApiClient, message: str) -> str:
    return (
        f"GET /metrics on {api.config.server} was forbidden for the kubeconfig's user "
        f'"{api.config.user_name}" ({message}). Fix: grant a ClusterRole with '
        'nonResourceURLs: ["/metrics"], verbs: ["get"] (e.g. bind system:monitoring), or pass '
        "--no-metrics to analyse the audit log without collection sizes."
    )
