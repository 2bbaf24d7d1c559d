"""The ``load:`` section of a scenario: the modelled API server's capacity, the synthetic
clients that send it requests, and the CoreDNS model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kubeward.kube.quantity import QuantityError, parse_quantity
from kubeward.kube.registry import REGISTRY
from kubeward.sim.scenarios.types import Duration, Name

Verb = Literal["get", "list", "watch", "create", "update", "patch", "delete"]


class CapacitySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    cores: float = Field(8.0, gt=0, le=1024)
    memory: str = "16Gi"
    max_requests_inflight: int = Field(400, alias="maxRequestsInflight", ge=1)
    max_mutating_requests_inflight: int = Field(200, alias="maxMutatingRequestsInflight", ge=1)
    restart_seconds: Duration = Field(60.0, alias="restartSeconds")
    queue_wait_limit: Duration = Field(15.0, alias="queueWaitLimit")
    # Real objects are bigger than the simulator's (managedFields, long specs): scale sizes.
    object_size_factor: float = Field(1.0, alias="objectSizeFactor", gt=0, le=100)

    @field_validator("memory")
    @classmethod
    def _quantity(cls, value: str) -> str:
        try:
            parse_quantity(value)
        except QuantityError as exc:
            raise ValueError(f'{value!r} is not a quantity (write e.g. "16Gi")') from exc
        return value

    @property
    def memory_bytes(self) -> float:
        return float(parse_quantity(self.memory))


class RequestSpec(BaseModel):
    """One request a client repeats every ``interval`` (``watch``: an informer, LIST then
    WATCH, relisting when the watch ends)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    verb: Verb
    resource: str  # plural, with its group for named groups: "pods", "apps/deployments"
    namespace: str = ""  # "" = all namespaces (or a cluster-scoped resource)
    name: str = ""
    resource_version: str | None = Field(None, alias="resourceVersion")
    limit: int = Field(0, ge=0)
    label_selector: str = Field("", alias="labelSelector")
    field_selector: str = Field("", alias="fieldSelector")
    interval: Duration = 60.0
    jitter: float = Field(0.1, ge=0, le=1)  # fraction of the interval

    @field_validator("resource_version")
    @classmethod
    def _rv(cls, value: str | None) -> str | None:
        if value not in (None, "", "0"):
            raise ValueError('use "0" (served from the watch cache) or leave it out (from etcd)')
        return value or None

    @field_validator("resource")
    @classmethod
    def _known(cls, value: str) -> str:
        group, _, plural = value.rpartition("/")
        if not any(rt.group == group and rt.plural == plural for rt in REGISTRY):
            raise ValueError(
                f"{value!r} is not a resource the simulator serves (write the plural, with its "
                'group for named groups: "pods", "apps/deployments", "coordination.k8s.io/leases")'
            )
        return value

    @property
    def group_plural(self) -> tuple[str, str]:
        group, _, plural = self.resource.rpartition("/")
        return group, plural


class ClientSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: Name
    user: str
    groups: list[str] | None = None  # default: derived from the user, as authenticators do
    user_agent: str = Field("", alias="userAgent")
    count: int | None = Field(None, ge=1, le=100_000)
    per_node: bool = Field(False, alias="perNode")
    start_at: Duration = Field(0.0, alias="startAt")
    ramp_seconds: Duration = Field(0.0, alias="rampSeconds")  # instances start spread over this
    relist_on_error: bool = Field(False, alias="relistOnError")
    retry_seconds: Duration = Field(1.0, alias="retrySeconds")
    system: bool = False  # counted in the system-request success ratio
    requests: list[RequestSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _how_many(self) -> ClientSpec:
        if self.per_node == (self.count is not None):
            raise ValueError("set either count: N or perNode: true (one instance per node)")
        return self


class CoreDNSSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    replicas: int = Field(2, ge=1, le=100)
    cache_window: Duration = Field(300.0, alias="cacheWindow")
    queries_per_second: float = Field(100.0, alias="queriesPerSecond", ge=0)


class LoadSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    enabled: bool = True
    capacity: CapacitySpec = Field(default_factory=CapacitySpec)
    builtin_clients: bool = Field(True, alias="builtinClients")
    clients: list[ClientSpec] = Field(default_factory=list)
    coredns: CoreDNSSpec = Field(default_factory=CoreDNSSpec)

    @model_validator(mode="after")
    def _unique(self) -> LoadSpec:
        seen: set[str] = set()
        for i, c in enumerate(self.clients):
            if c.name in seen:
                raise ValueError(f"clients.{i}.name: {c.name} is declared twice (rename one)")
            seen.add(c.name)
        return self
