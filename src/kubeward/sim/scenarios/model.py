"""Scenario files: what a simulated cluster is made of. Validated with errors that name the
file, the field and the fix."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kubeward.kube.quantity import QuantityError, parse_quantity


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

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str) -> str:
        try:
            parse_quantity(value)
        except QuantityError as exc:
            raise ValueError(f'{exc} (write e.g. cpu: "4" or memory: "16Gi")') from exc
        return value


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
}
