"""How a simulated pod behaves: the one contract between scenarios, kubelets and usage.

A pod's behaviour travels with it as a JSON annotation (``sim.kubeward.io/behaviour``) on the
pod (usually set in a workload's pod template), so anything that creates pods, a scenario or a
user's ``kubectl apply``, can shape what the simulated kubelet does with them. Pods without the
annotation get the defaults: a small image, a 2-second start, constant low usage, no crashes.

Times are simulated seconds. Quantities are Kubernetes quantity strings.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kubeward.kube.quantity import QuantityError, parse_quantity

ANNOTATION = "sim.kubeward.io/behaviour"


def _check_quantity(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        parse_quantity(value)
    except QuantityError as exc:
        raise ValueError(f'{exc} (write e.g. "250m" for CPU or "256Mi" for memory)') from exc
    return value


def check_log_line(value: str | None) -> str | None:
    if value is not None and ("\n" in value or "\r" in value):
        raise ValueError("must be one line (a log line has no line breaks)")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Spike(_Model):
    """Usage multiplied by ``factor`` from ``at`` for ``duration`` seconds (sim time since
    the cluster started), then every ``every`` seconds if set."""

    at: float = Field(ge=0)
    duration: float = Field(gt=0)
    factor: float = Field(gt=0)
    every: float | None = Field(None, gt=0)


class CpuProfile(_Model):
    """CPU usage in cores.

    ``constant``: ``base``. ``diurnal``: ``base * (1 + amplitude * sin(2 pi t / period))``,
    peaking a quarter period after start. ``noise`` is the relative standard deviation of
    Gaussian noise. ``shared: true`` makes ``base`` the workload's total (traffic), divided
    among its ready pods, so an HPA adding pods lowers each pod's usage.
    """

    type: Literal["constant", "diurnal"] = "constant"
    base: str = "10m"
    amplitude: float = Field(0.0, ge=0, le=1)
    period_seconds: float = Field(86_400, alias="periodSeconds", gt=0)
    noise: float = Field(0.0, ge=0, le=1)
    shared: bool = False
    spikes: list[Spike] = Field(default_factory=list)

    _q = field_validator("base")(_check_quantity)


class MemoryProfile(_Model):
    """Memory working set in bytes: ``base`` plus ``leakPerHour`` for every hour the container
    has been running (a leak ends in an OOM kill when it crosses the memory limit), with
    relative Gaussian ``noise``."""

    base: str = "32Mi"
    leak_per_hour: str = Field("0", alias="leakPerHour")
    noise: float = Field(0.0, ge=0, le=1)

    _q = field_validator("base", "leak_per_hour")(_check_quantity)


class Usage(_Model):
    cpu: CpuProfile = Field(default_factory=CpuProfile)
    memory: MemoryProfile = Field(default_factory=MemoryProfile)


class PodBehaviour(_Model):
    """Everything the simulated kubelet needs to play a pod (all containers alike)."""

    image_size: str = Field("50Mi", alias="imageSize")
    # False: the image does not exist in its registry (ErrImagePull / ImagePullBackOff).
    image_pullable: bool = Field(True, alias="imagePullable")
    startup_seconds: float = Field(2.0, alias="startupSeconds", ge=0)
    # After start, how long until the readiness probe first succeeds.
    readiness_delay_seconds: float = Field(0.0, alias="readinessDelaySeconds", ge=0)
    # Chance per simulated minute of running that a container exits with code 1.
    crash_probability: float = Field(0.0, alias="crashProbability", ge=0, le=1)
    # Exit with code 1 this long after each start (a crashlooping container). None: never.
    crash_after_seconds: float | None = Field(None, alias="crashAfterSeconds", ge=0)
    # Batch work: exit 0 after this long (Jobs). None: run until stopped.
    run_seconds: float | None = Field(None, alias="runSeconds", ge=0)
    # The last line a crashing container writes to its log (kubectl logs --previous), e.g.
    # 'panic: dial tcp 10.0.0.7:5432: connect: connection refused'. None: a generic fatal line.
    crash_log: str | None = Field(None, alias="crashLog", min_length=1, max_length=4096)
    usage: Usage = Field(default_factory=Usage)

    _q = field_validator("image_size")(_check_quantity)

    _line = field_validator("crash_log")(check_log_line)

    def annotation(self) -> str:
        """The annotation value; defaults are left out to keep objects small."""
        return self.model_dump_json(by_alias=True, exclude_defaults=True)


DEFAULT = PodBehaviour()


class BehaviourError(ValueError):
    pass


def behaviour_of(pod: dict[str, Any]) -> PodBehaviour:
    """The pod's behaviour, or the defaults. Raises BehaviourError naming the annotation when
    it is set but invalid (the kubelet then reports the pod as failed to create)."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    if not raw:
        return DEFAULT
    return parse_behaviour(raw)


@lru_cache(maxsize=1024)
def parse_behaviour(raw: str) -> PodBehaviour:
    """Cached: every pod of a workload carries the same string."""
    try:
        return PodBehaviour.model_validate_json(raw)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(value)'}: {e['msg']}" for e in exc.errors()
        )
        raise BehaviourError(f"annotation {ANNOTATION}: {details}") from None


def _spike_factor(spikes: list[Spike], t: float) -> float:
    factor = 1.0
    for s in spikes:
        offset = t - s.at
        if offset < 0:
            continue
        if s.every:
            offset %= s.every
        if offset < s.duration:
            factor *= s.factor
    return factor


def _noise(rng: random.Random | None, relative: float) -> float:
    if not relative or rng is None:
        return 1.0
    return max(0.0, 1.0 + rng.gauss(0.0, relative))


def cpu_cores(
    profile: CpuProfile, t: float, ready_pods: int = 1, rng: random.Random | None = None
) -> float:
    """CPU cores one container uses at simulated time ``t`` (seconds since cluster start).
    ``ready_pods`` divides a shared (traffic) profile."""
    base = float(parse_quantity(profile.base))
    if profile.type == "diurnal":
        base *= 1.0 + profile.amplitude * math.sin(2 * math.pi * t / profile.period_seconds)
    base *= _spike_factor(profile.spikes, t)
    if profile.shared:
        base /= max(ready_pods, 1)
    return max(base * _noise(rng, profile.noise), 0.0)


def memory_bytes(profile: MemoryProfile, uptime: float, rng: random.Random | None = None) -> float:
    """Working-set bytes of a container that has been running ``uptime`` simulated seconds."""
    base = float(parse_quantity(profile.base))
    leak = float(parse_quantity(profile.leak_per_hour)) * max(uptime, 0.0) / 3600.0
    return max((base + leak) * _noise(rng, profile.noise), 0.0)


def seconds_until_memory(profile: MemoryProfile, limit_bytes: float) -> float | None:
    """Uptime at which a leaking container reaches ``limit_bytes`` (noise ignored), or None
    if it never does. The kubelet schedules its OOM kill from this."""
    base = float(parse_quantity(profile.base))
    if base >= limit_bytes:
        return 0.0
    leak = float(parse_quantity(profile.leak_per_hour))
    if leak <= 0:
        return None
    return (limit_bytes - base) / leak * 3600.0
