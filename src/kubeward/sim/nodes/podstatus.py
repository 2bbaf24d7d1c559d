"""Pod status as the kubelet reports it, built from the simulated containers' state."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from kubeward.kube.quantity import parse_quantity

# Conditions the kubelet owns (kubetypes.PodConditionsByKubelet plus the sandbox condition);
# others (DisruptionTarget, readiness gates) are kept as found.
KUBELET_CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


@dataclass
class ContainerRun:
    name: str
    image: str
    pull_policy: str
    memory_limit: float | None  # bytes
    memory_request: float = 0.0  # bytes
    readiness_probe: dict[str, Any] | None = None
    ports: list[dict[str, Any]] = field(default_factory=list)
    field: str = "containers"  # or "initContainers": the events' fieldPath
    sidecar: bool = False  # an init container with restartPolicy Always
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    exit_code: int = 0
    started_at: str = ""
    finished_at: str = ""
    started_elapsed: float = 0.0  # clock.elapsed() at the last start
    started: bool = False
    ready: bool = False
    restart_count: int = 0
    backoff: float = 0.0  # the next crash's restart back-off (0: restart at once)
    last_terminated: dict[str, Any] | None = None
    container_id: str = ""

    def status(self) -> dict[str, Any]:
        if self.state == "running":
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = {"terminated": self.terminated()}
        else:
            waiting: dict[str, Any] = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            state = {"waiting": waiting}
        out: dict[str, Any] = {
            "name": self.name,
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.image,
            "imageID": "",
            "started": self.started if self.state == "running" else False,
        }
        if self.container_id:
            out["containerID"] = self.container_id
            digest = hashlib.sha256(self.image.encode()).hexdigest()
            out["imageID"] = f"{_image_ref(self.image)}@sha256:{digest}"
        return out

    def terminated(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at or None,
            "finishedAt": self.finished_at,
        }
        if self.message:
            out["message"] = self.message
        if self.container_id:
            out["containerID"] = self.container_id
        return out


@dataclass
class PodRun:
    """What the simulated kubelet knows about one pod on its node."""

    key: str
    namespace: str
    name: str
    uid: str
    node: str
    restart_policy: str
    containers: list[ContainerRun]
    qos: str
    host_ip: str = ""
    pod_ip: str = ""
    start_time: str = ""
    phase: str = "Pending"
    reason: str = ""
    message: str = ""
    sandbox_ready: bool = False
    timers: list[Any] = field(default_factory=list)
    terminating: bool = False
    pull_backoff: float = 0.0
    priority: int = 0
    extra_conditions: list[dict[str, Any]] = field(default_factory=list)
    init_containers: list[ContainerRun] = field(default_factory=list)
    initialized: bool = True
    written_rv: int = 0  # resourceVersion of the kubelet's last status write

    def all_containers(self) -> list[ContainerRun]:
        return self.init_containers + self.containers

    def ready(self) -> bool:
        return (
            self.phase == "Running"
            and bool(self.containers)
            and all(c.ready for c in self.containers)
        )

    def status(self, found: dict[str, Any], now: str) -> dict[str, Any]:
        """The status to write, merged as the kubelet's status manager does: conditions other
        components own come first as found, then the kubelet's in its order, each keeping its
        lastTransitionTime while its status is unchanged."""
        ready = self.ready()
        completed = self.phase in ("Succeeded", "Failed")
        incomplete = [
            c.name
            for c in self.init_containers
            if not (c.state == "terminated" and c.exit_code == 0) and not (c.sidecar and c.started)
        ]
        if self.initialized or not incomplete:
            initialized: tuple[str, str, str] = ("True", "", "")
        elif completed:
            initialized = ("False", "PodCompleted", "")
        else:
            initialized = (
                "False",
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(incomplete)}]",
            )
        if ready:
            not_ready: tuple[str, str, str] = ("True", "", "")
        elif completed:
            not_ready = ("False", "PodCompleted", "")
        else:
            unready = " ".join(c.name for c in self.containers if not c.ready)
            not_ready = (
                "False",
                "ContainersNotReady",
                f"containers with unready status: [{unready}]",
            )
        values = {
            "PodReadyToStartContainers": (
                "True" if self.sandbox_ready and not completed else "False",
                "",
                "",
            ),
            "Initialized": initialized,
            "Ready": not_ready,
            "ContainersReady": not_ready,
            "PodScheduled": ("True", "", ""),
        }
        previous = {c.get("type"): c for c in found.get("conditions") or ()}
        conditions = [c for t, c in previous.items() if t not in KUBELET_CONDITIONS]
        conditions.extend(c for c in self.extra_conditions if c["type"] not in previous)
        for type_, (value, reason, message) in values.items():
            old = previous.get(type_)
            transition = (
                old.get("lastTransitionTime")
                if old is not None and old.get("status") == value
                else now
            )
            cond: dict[str, Any] = {
                "type": type_,
                "status": value,
                "lastProbeTime": None,
                "lastTransitionTime": transition,
            }
            if reason:
                cond["reason"] = reason
            if message:
                cond["message"] = message
            conditions.append(cond)
        status: dict[str, Any] = {
            "phase": self.phase,
            "conditions": conditions,
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}] if self.host_ip else [],
            "startTime": self.start_time,
            "containerStatuses": [c.status() for c in self.containers],
            "qosClass": self.qos,
        }
        if self.init_containers:
            status["initContainerStatuses"] = [c.status() for c in self.init_containers]
        if self.pod_ip:
            status["podIP"] = self.pod_ip
            status["podIPs"] = [{"ip": self.pod_ip}]
        if self.reason:
            status["reason"] = self.reason
        if self.message:
            status["message"] = self.message
        return status


def qos_class(spec: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, as Kubernetes classifies pods."""
    containers = list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            limit = limits.get(name)
            request = requests.get(name, limit)
            if limit is None or parse_quantity(str(request)) != parse_quantity(str(limit)):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def full_reference(image: str) -> str:
    """The fully qualified reference containerd resolves (nginx: docker.io/library/nginx:latest)."""
    name, _, digest = image.partition("@")
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"
    if not digest and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return f"{name}@{digest}" if digest else name


def _image_ref(image: str) -> str:
    name = image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":")[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    return name
