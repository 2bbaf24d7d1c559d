"""Scenario files: what a simulated cluster is made of. Validated with errors that name the
file, the field and the fix."""

from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kubeward.kube.cron import MACROS
from kubeward.kube.defaults import apply_defaults
from kubeward.kube.priority import (
    HIGHEST_USER_DEFINABLE_PRIORITY,
    SYSTEM_PREFIX,
    SYSTEM_PRIORITIES,
)
from kubeward.kube.quantity import QuantityError, parse_quantity
from kubeward.kube.validation import validate_object
from kubeward.sim.behaviour import PodBehaviour, check_log_line
from kubeward.sim.csi import DEFAULT_CLASS as BUILTIN_STORAGE_CLASS
from kubeward.sim.csi import PROVISIONER as SIM_PROVISIONER
from kubeward.sim.load.spec import LoadSpec
from kubeward.sim.scenarios.types import Duration, Name


class ScenarioError(ValueError):
    pass


class Taint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    value: str = ""
    effect: str = Field(pattern="^(NoSchedule|PreferNoSchedule|NoExecute)$")


# Labels and taints every node of a pool carries; nodes.factory adds per-node ones (hostname).
POOL_LABEL = "kubeward.io/node-pool"
ZONE_LABEL = "topology.kubernetes.io/zone"
HOSTNAME_LABEL = "kubernetes.io/hostname"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
VIRTUAL_TAINT = {"key": "virtual-kubelet.io/provider", "value": "kubeward", "effect": "NoSchedule"}


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

    @model_validator(mode="after")
    def _virtual_fields(self) -> NodePool:
        if self.virtual:
            # A virtual node stands for a provider's whole serverless capacity.
            for attr, big in (("cpu", "1000"), ("memory", "4Ti"), ("max_pods", 1000)):
                if attr not in self.model_fields_set:
                    setattr(self, attr, big)
        if not self.virtual and (self.pod_start_seconds or self.pod_hourly_price):
            raise ValueError(
                "podStartSeconds and podHourlyPrice apply to virtual pools only: add virtual: "
                "true, or use hourlyPrice for a pool of ordinary nodes"
            )
        return self

    def zone_of(self, i: int) -> str:
        """Zones are assigned round robin."""
        return self.zones[i % len(self.zones)]

    def node_labels(self, zone: str) -> dict[str, str]:
        """The pool's labels on a node in ``zone`` (without the per-node hostname)."""
        labels = {
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
            INSTANCE_TYPE_LABEL: self.instance_type,
            ZONE_LABEL: zone,
            "topology.kubernetes.io/region": REGION,
            POOL_LABEL: self.name,
            **self.labels,
        }
        if self.virtual:
            labels["type"] = "virtual-kubelet"
            labels["kubernetes.io/role"] = "agent"
        return labels

    def node_taints(self) -> list[dict[str, str]]:
        taints = [t.model_dump() for t in self.taints]
        if self.virtual:
            taints.append(dict(VIRTUAL_TAINT))
        return taints


REGION = "sim-region-1"


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


WorkloadKind = Literal["Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob"]
_BATCH_FIELDS = {
    "completions": "completions",
    "parallelism": "parallelism",
    "backoff_limit": "backoffLimit",
    "active_deadline_seconds": "activeDeadlineSeconds",
    "restart_policy": "restartPolicy",
}


class Workload(BaseModel):
    """One workload of the scenario, created exactly as ``kubectl apply`` would: at start, or
    ``createAt`` simulated time later (a rollout in the middle of the story)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: Name
    namespace: Name = "default"
    create_at: Duration = Field(0.0, alias="createAt")
    kind: WorkloadKind = "Deployment"
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
    # StatefulSet: a volumeClaimTemplate "data" of this size per pod (PVC data-<name>-<ordinal>),
    # of this StorageClass (default: the cluster's default class, "standard")
    storage: str | None = None
    storage_class: str | None = Field(None, alias="storageClass")
    # Job / CronJob
    completions: int | None = Field(None, ge=1)
    parallelism: int | None = Field(None, ge=0)
    backoff_limit: int | None = Field(None, alias="backoffLimit", ge=0)
    active_deadline_seconds: int | None = Field(None, alias="activeDeadlineSeconds", ge=1)
    restart_policy: Literal["OnFailure", "Never"] | None = Field(None, alias="restartPolicy")
    schedule: str | None = None
    time_zone: str | None = Field(None, alias="timeZone")
    behaviour: PodBehaviour = Field(default_factory=PodBehaviour)
    service: ServiceSpec | None = None
    hpa: HPASpec | None = None
    pdb: PDBSpec | None = None

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_quantity(value)
            except QuantityError as exc:
                raise ValueError(f'{exc} (write e.g. storage: "10Gi")') from exc
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> Workload:
        kind = self.kind
        batch = kind in ("Job", "CronJob")
        if kind == "CronJob" and not self.schedule:
            raise ValueError('a CronJob needs schedule: (e.g. "*/10 * * * *" or "@hourly")')
        if kind == "CronJob" and self.schedule:
            _check_schedule(self.schedule)
        if kind != "CronJob" and (self.schedule or self.time_zone):
            raise ValueError("schedule: and timeZone: apply to kind CronJob only")
        if not batch:
            for attr, alias in _BATCH_FIELDS.items():
                if getattr(self, attr) is not None:
                    raise ValueError(f"{alias}: applies to kinds Job and CronJob only")
        if "replicas" in self.model_fields_set and kind not in ("Deployment", "StatefulSet"):
            fix = (
                "it runs one pod per eligible node: choose them with nodeSelector/tolerations"
                if kind == "DaemonSet"
                else "use completions and parallelism"
            )
            raise ValueError(f"replicas: does not apply to a {kind} ({fix})")
        if self.storage is not None and kind != "StatefulSet":
            raise ValueError("storage: applies to kind StatefulSet only (its volumeClaimTemplate)")
        if self.storage_class is not None and self.storage is None:
            raise ValueError("storageClass: needs storage: (the size of each pod's claim)")
        if self.hpa is not None and kind not in ("Deployment", "StatefulSet"):
            raise ValueError("hpa: applies to Deployments and StatefulSets")
        if self.hpa is not None and self.requests.cpu is None:
            raise ValueError(
                "hpa: scales on CPU utilization, which needs a CPU request: add requests: "
                '{cpu: "250m"}'
            )
        if batch and self.service is not None:
            raise ValueError("service: applies to long-running kinds, not to Jobs and CronJobs")
        return self

    def running_pods(self, pools: list[NodePool]) -> int:
        """Long-running pods of this workload (all copies) on a healthy cluster; batch pods
        come and go, so they count 0."""
        if self.kind in ("Deployment", "StatefulSet"):
            return self.replicas * self.copies
        if self.kind != "DaemonSet":
            return 0
        return sum(p.count for p in pools if self.daemon_fits(p)) * self.copies

    def daemon_fits(self, pool: NodePool) -> bool:
        """Whether a DaemonSet pod belongs on the pool's nodes (nodeSelector, taints)."""
        from kubeward.sim.control.scheduling.filters import first_untolerated

        labels = pool.node_labels(pool.zones[0])
        if any(labels.get(k) != v for k, v in self.node_selector.items()):
            return False
        taints = tuple((t["key"], t.get("value", ""), t["effect"]) for t in pool.node_taints())
        return first_untolerated(self.tolerations, taints) is None


def _check_schedule(schedule: str) -> None:
    """Five cron fields or a macro, as the CronJob API accepts (the controller parses them)."""
    text = schedule.strip()
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        raise ValueError("set the time zone with timeZone:, not inside schedule:")
    if text in MACROS:
        return
    fields = text.split()
    if len(fields) != 5 or not all(re.fullmatch(r"[0-9*/,\-A-Za-z?]+", f) for f in fields):
        raise ValueError(
            f'schedule {schedule!r} is not a cron schedule: write five fields, e.g. "30 2 * * *" '
            "(02:30 every day), or a macro such as @hourly"
        )


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


NODE_FAULTS = ("nodeNotReady", "kernelDeadlock", "diskPressure", "memoryPressure", "gpuXidError")
# Which optional fields each fault type uses (anything else set is a mistake worth naming).
_FAULT_FIELDS = {
    **{t: {"nodes", "zone", "duration"} for t in NODE_FAULTS},
    "zoneOutage": {"zone", "duration"},
    "imageRegistryOutage": {"registry", "duration"},
    "badRollout": {"deployment", "image", "crash_after_seconds", "crash_log", "duration"},
}
_FAULT_ALIASES = {"crash_after_seconds": "crashAfterSeconds", "crash_log": "crashLog"}


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
    # badRollout: the last log line of the new pods' crashing container (kubectl logs -p).
    crash_log: str | None = Field(None, alias="crashLog", min_length=1, max_length=4096)

    _line = field_validator("crash_log")(check_log_line)

    @model_validator(mode="after")
    def _targets(self) -> Fault:
        if self.type in NODE_FAULTS and self.nodes is None and not self.zone:
            raise ValueError(
                f"{self.type} needs a target: nodes: {{selector: {{label: value}}, count: N}} "
                "or zone: <zone>"
            )
        if self.type == "zoneOutage" and not self.zone:
            raise ValueError("zoneOutage needs zone: (e.g. zone-b)")
        if self.type == "imageRegistryOutage" and not self.registry:
            raise ValueError(
                'imageRegistryOutage needs registry: (an image prefix, e.g. "ghcr.io/")'
            )
        if self.type == "badRollout" and (not self.deployment or "/" not in self.deployment):
            raise ValueError("badRollout needs deployment: namespace/name")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("duration must be positive: omit it to leave the fault in place")
        allowed = _FAULT_FIELDS[self.type]
        for attr in sorted(self.model_fields_set - {"at", "type"} - allowed):
            field = _FAULT_ALIASES.get(attr, attr)
            raise ValueError(f"{field}: does not apply to {self.type} (remove it)")
        return self

    @property
    def node_selector(self) -> dict[str, str]:
        """Labels a target node must have: the selector, and the zone when one is given."""
        selector = dict(self.nodes.selector) if self.nodes else {}
        if self.zone:
            selector[ZONE_LABEL] = self.zone
        return selector


class PriorityClassSpec(BaseModel):
    """A PriorityClass the scenario creates before its workloads (scheduling.k8s.io/v1)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)
    value: int = Field(ge=-(2**31))
    global_default: bool = Field(False, alias="globalDefault")
    preemption_policy: Literal["PreemptLowerPriority", "Never"] = Field(
        "PreemptLowerPriority", alias="preemptionPolicy"
    )
    description: str = ""

    @field_validator("value")
    @classmethod
    def _user_value(cls, value: int) -> int:
        if value > HIGHEST_USER_DEFINABLE_PRIORITY:
            raise ValueError(
                f"at most {HIGHEST_USER_DEFINABLE_PRIORITY} for a user-defined class (higher "
                "values belong to system-cluster-critical and system-node-critical: use "
                "those in priorityClassName instead)"
            )
        return value

    @field_validator("name")
    @classmethod
    def _not_system(cls, value: str) -> str:
        if value.startswith(SYSTEM_PREFIX):
            raise ValueError(
                f"names starting with '{SYSTEM_PREFIX}' are reserved for the built-in classes "
                f"({', '.join(sorted(SYSTEM_PRIORITIES))}), which exist already: use one of "
                "them in priorityClassName, or rename this class"
            )
        return value

    def manifest(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": self.name},
            "value": self.value,
            "preemptionPolicy": self.preemption_policy,
        }
        if self.global_default:
            body["globalDefault"] = True
        if self.description:
            body["description"] = self.description
        return body


def _check_with_api(group: str, kind: str, body: dict[str, Any], section: str) -> None:
    """The API server's defaulting and validation of an object a scenario declares, so a
    scenario never fails at bootstrap (``section`` names where the docs explain it)."""
    body = copy.deepcopy(body)
    apply_defaults(group, kind, body)
    namespaced = bool((body.get("metadata") or {}).get("namespace"))
    errors = validate_object(group, kind, body, namespaced=namespaced)
    if errors:
        raise ValueError(
            "; ".join(e.message() for e in errors)
            + f" (the {kind} API's rules: see docs/scenarios.md, {section})"
        )


class ResourceQuotaSpec(BaseModel):
    """A ResourceQuota the scenario creates in a namespace before its workloads (core/v1)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)
    namespace: Name
    hard: dict[str, str | int] = Field(min_length=1)
    scopes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid_for_the_api(self) -> ResourceQuotaSpec:
        _check_with_api("", "ResourceQuota", self.manifest(), "resourceQuotas")
        return self

    def manifest(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"hard": {k: str(v) for k, v in self.hard.items()}}
        if self.scopes:
            spec["scopes"] = list(self.scopes)
        return {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        }


class LimitRangeSpec(BaseModel):
    """A LimitRange the scenario creates in a namespace before its workloads (core/v1)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)
    namespace: Name
    limits: list[dict[str, Any]] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid_for_the_api(self) -> LimitRangeSpec:
        _check_with_api("", "LimitRange", self.manifest(), "limitRanges")
        return self

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {"limits": copy.deepcopy(self.limits)},
        }


class StorageClassSpec(BaseModel):
    """A StorageClass of the simulated CSI driver (storage.k8s.io/v1), made at bootstrap next to
    the built-in ``standard``. Its volumes are zonal: see docs/simulator.md, Topology."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)
    volume_binding_mode: Literal["Immediate", "WaitForFirstConsumer"] = Field(
        "WaitForFirstConsumer", alias="volumeBindingMode"
    )
    reclaim_policy: Literal["Delete", "Retain"] = Field("Delete", alias="reclaimPolicy")
    allow_volume_expansion: bool = Field(True, alias="allowVolumeExpansion")
    # label -> values: one allowedTopologies term (e.g. topology.kubernetes.io/zone: [zone-a])
    allowed_topologies: dict[str, list[str]] = Field(
        default_factory=dict, alias="allowedTopologies"
    )
    default: bool = False  # the default class (the newest default wins over "standard")

    @model_validator(mode="after")
    def _valid_for_the_api(self) -> StorageClassSpec:
        _check_with_api("storage.k8s.io", "StorageClass", self.manifest(), "storageClasses")
        return self

    def manifest(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name}
        if self.default:
            meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
        body: dict[str, Any] = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": meta,
            "provisioner": SIM_PROVISIONER,
            "volumeBindingMode": self.volume_binding_mode,
            "reclaimPolicy": self.reclaim_policy,
            "allowVolumeExpansion": self.allow_volume_expansion,
        }
        if self.allowed_topologies:
            body["allowedTopologies"] = [
                {
                    "matchLabelExpressions": [
                        {"key": key, "values": list(values)}
                        for key, values in self.allowed_topologies.items()
                    ]
                }
            ]
        return body


class SchedulerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scoring: Literal["LeastAllocated", "MostAllocated"] = "LeastAllocated"


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    # shown by --list-scenarios, one line
    description: str = ""
    kubelet_version: str = Field("v1.31.0", alias="kubeletVersion")
    node_pools: list[NodePool] = Field(default_factory=list, alias="nodePools")
    scheduler: SchedulerOptions = Field(default_factory=SchedulerOptions)
    priority_classes: list[PriorityClassSpec] = Field(default_factory=list, alias="priorityClasses")
    resource_quotas: list[ResourceQuotaSpec] = Field(default_factory=list, alias="resourceQuotas")
    limit_ranges: list[LimitRangeSpec] = Field(default_factory=list, alias="limitRanges")
    storage_classes: list[StorageClassSpec] = Field(default_factory=list, alias="storageClasses")
    speed: float = Field(1.0, gt=0)
    workloads: list[Workload] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    load: LoadSpec = Field(default_factory=LoadSpec)

    @field_validator("description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value.strip() or len(value) > 120:
            raise ValueError("keep the description to one line of at most 120 characters")
        return value.strip()

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        """Checks across sections; the message starts with the path of the offending field."""
        declared = {pc.name for pc in self.priority_classes}
        if len(declared) != len(self.priority_classes):
            pc_names = [pc.name for pc in self.priority_classes]
            twice = next(n for n in pc_names if pc_names.count(n) > 1)
            raise ValueError(
                f"priorityClasses.{pc_names.index(twice, pc_names.index(twice) + 1)}.name: "
                f"PriorityClass {twice} is declared twice (rename or remove one of them)"
            )
        defaults = [i for i, pc in enumerate(self.priority_classes) if pc.global_default]
        if len(defaults) > 1:
            raise ValueError(
                f"priorityClasses.{defaults[1]}.globalDefault: only one PriorityClass may be the "
                f"global default ({self.priority_classes[defaults[0]].name} is already; set "
                "globalDefault on one class only)"
            )
        for i, w in enumerate(self.workloads):
            name = w.priority_class_name
            if name and name not in declared and name not in SYSTEM_PRIORITIES:
                known = sorted(declared | set(SYSTEM_PRIORITIES))
                raise ValueError(
                    f"workloads.{i}.priorityClassName: no PriorityClass {name} (declare it under "
                    f"priorityClasses, or use one of: {', '.join(known)})"
                )
        classes = {sc.name for sc in self.storage_classes} | {BUILTIN_STORAGE_CLASS}
        for i, w in enumerate(self.workloads):
            if w.storage_class is not None and w.storage_class not in classes:
                raise ValueError(
                    f"workloads.{i}.storageClass: no StorageClass {w.storage_class} (declare it "
                    f"under storageClasses, or use one of: {', '.join(sorted(classes))})"
                )
        seen = set()
        for i, w in enumerate(self.workloads):
            key = (w.namespace, w.kind, w.name)
            if key in seen:
                raise ValueError(
                    f"workloads.{i}.name: {w.kind} {w.namespace}/{w.name} is declared twice "
                    "(rename one of them)"
                )
            seen.add(key)
        names = {(w.namespace, w.name) for w in self.workloads if w.kind == "Deployment"}
        for i, f in enumerate(self.faults):
            if f.type == "badRollout":
                assert f.deployment is not None
                if tuple(f.deployment.split("/", 1)) not in names:
                    raise ValueError(
                        f"faults.{i}.deployment: {f.deployment} is not a Deployment of this "
                        "scenario (write namespace/name of one of its workloads)"
                    )
            elif f.type != "imageRegistryOutage" and not self._any_node_matches(f.node_selector):
                zones = sorted({z for p in self.node_pools for z in p.zones})
                where = "zone" if f.nodes is None else "nodes.selector"
                raise ValueError(
                    f"faults.{i}.{where}: no node of this scenario matches "
                    f"{f.node_selector} (pools: {', '.join(p.name for p in self.node_pools)}; "
                    f"zones: {', '.join(zones)}; nodes carry the label {POOL_LABEL}: <pool>)"
                )
        return self

    def _any_node_matches(self, selector: dict[str, str]) -> bool:
        host = selector.get(HOSTNAME_LABEL)
        for pool in self.node_pools:
            if host is None:
                # nodes differ only by zone (and hostname): one per zone is enough
                candidates: range | list[int] = range(min(pool.count, len(pool.zones)))
            else:
                suffix = host.removeprefix(f"{pool.name}-")
                if suffix == host or not suffix.isdigit() or int(suffix) >= pool.count:
                    continue
                candidates = [int(suffix)]
            for n in candidates:
                labels = pool.node_labels(pool.zone_of(n)) | {HOSTNAME_LABEL: f"{pool.name}-{n}"}
                if all(labels.get(k) == v for k, v in selector.items()):
                    return True
        return False

    @property
    def pod_count(self) -> int:
        """Long-running pods on a healthy cluster (Deployments, StatefulSets, DaemonSets)."""
        return sum(w.running_pods(self.node_pools) for w in self.workloads)

    @property
    def node_count(self) -> int:
        return sum(p.count for p in self.node_pools)


def _builtin_dir() -> Any:
    return resources.files("kubeward.sim.scenarios") / "builtin"


def builtin_scenarios() -> dict[str, Scenario]:
    out = {}
    for entry in sorted(_builtin_dir().iterdir(), key=lambda e: e.name.removesuffix(".yaml")):
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
            msg = err["msg"]
            if not err["loc"] and err["type"] == "value_error":
                # cross-section checks start their message with the field's path
                where, _, msg = msg.removeprefix("Value error, ").partition(": ")
            lines.append(f"{origin}: {where}: {msg}{fix}")
        raise ScenarioError("\n".join(lines)) from None


_FIXES = {
    "extra_forbidden": " (remove it, or check its spelling against docs/scenarios.md)",
    "missing": " (add this field)",
    "string_pattern_mismatch": " (use lowercase letters, digits and '-')",
    "literal_error": " (use one of the listed values)",
    "value_error": "",
}
