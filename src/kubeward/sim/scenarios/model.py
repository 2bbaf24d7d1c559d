"""Scenario files: what a simulated cluster is made of. Validated with errors that name the
file, the field and the fix."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kubeward.kube.quantity import QuantityError, parse_quantity
from kubeward.sim.behaviour import PodBehaviour


class ScenarioError(ValueError):
    pass


class Taint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    value: str = ""
    effect: str = Field(pattern="^(NoSchedule|PreferNoSchedule|NoExecute)$")


class NodePool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)
    count: int = Field(ge=0, le=100_000)
    instance_type: str = Field("sim.standard", alias="instanceType")
    cpu: str = "4"
    memory: str = "16Gi"
    gpus: int = Field(0, ge=0)
    max_pods: int = Field(110, alias="maxPods", ge=1)
    zones: list[str] = Field(default_factory=lambda: ["zone-a"], min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    hourly_price: float = Field(0.0, alias="hourlyPrice", ge=0)
    # A serverless burst pool (virtual-kubelet style): tainted, started per pod, priced per pod.
    virtual: bool = False
    pod_start_seconds: float = Field(0.0, alias="podStartSeconds", ge=0)
    pod_hourly_price: float = Field(0.0, alias="podHourlyPrice", ge=0)

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str) -> str:
        try:
            parse_quantity(value)
        except QuantityError as exc:
            raise ValueError(f'{exc} (write e.g. cpu: "4" or memory: "16Gi")') from exc
        return value


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"1h30m"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    match = _DURATION.fullmatch(str(value).strip())
    if not match or not any(match.groups()):
        raise ValueError(f'{value!r} is not a duration (write e.g. 90, "90s", "5m" or "1h30m")')
    h, m, sec = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + sec


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")
Duration = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cpu: str | None = None
    memory: str | None = None
    gpu: int | None = Field(None, ge=0, alias="nvidia.com/gpu")

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parse_quantity(value)
        except QuantityError as exc:
            raise ValueError(f'{exc} (write e.g. cpu: "250m" or memory: "256Mi")') from exc
        return value

    def as_dict(self) -> dict[str, str]:
        out = {}
        if self.cpu is not None:
            out["cpu"] = self.cpu
        if self.memory is not None:
            out["memory"] = self.memory
        if self.gpu:
            out["nvidia.com/gpu"] = str(self.gpu)
        return out


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    port: int = Field(80, ge=1, le=65535)
    target_port: int = Field(8080, alias="targetPort", ge=1, le=65535)


class HPASpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    min_replicas: int = Field(1, alias="minReplicas", ge=1)
    max_replicas: int = Field(alias="maxReplicas", ge=1)
    target_cpu_utilization: int = Field(70, alias="targetCPUUtilization", ge=1, le=1000)


class PDBSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    min_available: int | str | None = Field(None, alias="minAvailable")
    max_unavailable: int | str | None = Field(None, alias="maxUnavailable")

    @model_validator(mode="after")
    def _one(self) -> PDBSpec:
        if (self.min_available is None) == (self.max_unavailable is None):
            raise ValueError("set exactly one of minAvailable or maxUnavailable")
        return self


# Kinds the schema knows but the simulator cannot run yet (no controller).
NOT_SIMULATED = ("DaemonSet", "StatefulSet", "CronJob")


class Workload(BaseModel):
    """One workload of the scenario, created at start exactly as ``kubectl apply`` would."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: Name
    namespace: Name = "default"
    kind: Literal["Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob"] = "Deployment"
    replicas: int = Field(1, ge=0, le=100_000)
    # Stamp out this many identical workloads named <name>-0 ... <name>-<copies-1>.
    copies: int = Field(1, ge=1, le=100_000)
    image: str = "registry.k8s.io/pause:3.10"
    labels: dict[str, str] = Field(default_factory=dict)
    requests: Resources = Field(default_factory=Resources)
    limits: Resources = Field(default_factory=Resources)
    node_selector: dict[str, str] = Field(default_factory=dict, alias="nodeSelector")
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    priority_class_name: str | None = Field(None, alias="priorityClassName")
    # Job / CronJob
    completions: int | None = Field(None, ge=1)
    parallelism: int | None = Field(None, ge=0)
    backoff_limit: int | None = Field(None, alias="backoffLimit", ge=0)
    schedule: str | None = None
    behaviour: PodBehaviour = Field(default_factory=PodBehaviour)
    service: ServiceSpec | None = None
    hpa: HPASpec | None = None
    pdb: PDBSpec | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> Workload:
        if self.kind in NOT_SIMULATED:
            raise ValueError(
                f"kind {self.kind} is not simulated yet (its controller does not exist, so it "
                f"would get no pods): use Deployment or Job"
            )
        if self.kind == "CronJob" and not self.schedule:
            raise ValueError('a CronJob needs schedule: (e.g. "*/10 * * * *")')
        if self.kind != "CronJob" and self.schedule:
            raise ValueError("schedule: applies to kind CronJob only")
        if self.hpa is not None and self.kind not in ("Deployment", "StatefulSet"):
            raise ValueError("hpa: applies to Deployments and StatefulSets")
        return self


FaultType = Literal[
    "nodeNotReady",
    "kernelDeadlock",
    "diskPressure",
    "memoryPressure",
    "gpuXidError",
    "zoneOutage",
    "imageRegistryOutage",
    "badRollout",
]


class NodeTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    selector: dict[str, str] = Field(default_factory=dict)
    count: int | None = Field(None, ge=1)


class Fault(BaseModel):
    """Something that goes wrong at simulated time ``at`` (and is repaired after ``duration``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    at: Duration
    type: FaultType
    duration: Duration | None = None
    nodes: NodeTarget | None = None
    zone: str | None = None
    registry: str | None = None  # image prefix, e.g. "registry.example.com/"
    deployment: str | None = None  # namespace/name for badRollout
    image: str | None = None  # badRollout's new image
    crash_after_seconds: float = Field(5.0, alias="crashAfterSeconds", ge=0)

    @model_validator(mode="after")
    def _targets(self) -> Fault:
        node_faults = (
            "nodeNotReady",
            "kernelDeadlock",
            "diskPressure",
            "memoryPressure",
            "gpuXidError",
        )
        if self.type in node_faults and self.nodes is None:
            raise ValueError(f"{self.type} needs nodes: {{selector: {{...}}, count: N}}")
        if self.type == "zoneOutage" and not self.zone:
            raise ValueError("zoneOutage needs zone: (e.g. zone-b)")
        if self.type == "imageRegistryOutage" and not self.registry:
            raise ValueError(
                'imageRegistryOutage needs registry: (an image prefix, e.g. "ghcr.io/")'
            )
        if self.type == "badRollout" and (not self.deployment or "/" not in self.deployment):
            raise ValueError("badRollout needs deployment: namespace/name")
        return self


class SchedulerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scoring: Literal["LeastAllocated", "MostAllocated"] = "LeastAllocated"


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    description: str = ""
    kubelet_version: str = Field("v1.31.0", alias="kubeletVersion")
    node_pools: list[NodePool] = Field(default_factory=list, alias="nodePools")
    scheduler: SchedulerOptions = Field(default_factory=SchedulerOptions)
    speed: float = Field(1.0, gt=0)
    workloads: list[Workload] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_workloads(self) -> Scenario:
        seen = set()
        for w in self.workloads:
            key = (w.namespace, w.kind, w.name)
            if key in seen:
                raise ValueError(f"workload {w.namespace}/{w.name} ({w.kind}) is declared twice")
            seen.add(key)
        names = {(w.namespace, w.name) for w in self.workloads if w.kind == "Deployment"}
        for f in self.faults:
            if f.type == "badRollout" and tuple(f.deployment.split("/", 1)) not in names:  # type: ignore[union-attr]
                raise ValueError(
                    f"badRollout deployment {f.deployment} is not a Deployment of this scenario"
                )
        return self

    @property
    def pod_count(self) -> int:
        return sum(
            w.replicas * w.copies for w in self.workloads if w.kind in ("Deployment", "StatefulSet")
        )

    @property
    def node_count(self) -> int:
        return sum(p.count for p in self.node_pools)


def _builtin_dir() -> Any:
    return resources.files("kubeward.sim.scenarios") / "builtin"


def builtin_scenarios() -> dict[str, Scenario]:
    out = {}
    for entry in sorted(_builtin_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            out[entry.name[:-5]] = _parse(entry.read_text(), f"built-in {entry.name}")
    return out


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ScenarioError(f"{path}: no such scenario file")
        return _parse(path.read_text(), str(path))
    builtin = _builtin_dir() / f"{name_or_path}.yaml"
    if not builtin.is_file():
        names = ", ".join(builtin_scenarios())
        raise ScenarioError(
            f"unknown scenario {name_or_path!r}: use one of {names} or a path to a YAML file"
        )
    return _parse(builtin.read_text(), f"built-in {name_or_path}.yaml")


def _parse(text: str, origin: str) -> Scenario:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{origin}: a scenario is a YAML mapping with at least 'name:'")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            fix = _FIXES.get(err["type"], "")
            lines.append(f"{origin}: {where}: {err['msg']}{fix}")
        raise ScenarioError("\n".join(lines)) from None


_FIXES = {
    "extra_forbidden": " (remove it, or check its spelling against docs/scenarios.md)",
    "missing": " (add this field)",
    "string_pattern_mismatch": " (use lowercase letters, digits and '-')",
    "literal_error": " (use one of the listed values)",
    "value_error": "",
}
