"""PodDisruptionBudget arithmetic (the disruption controller's status computation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeward.kube.intstr import scaled_value


@dataclass(frozen=True)
class DisruptionStatus:
    expected_pods: int
    current_healthy: int
    desired_healthy: int

    @property
    def disruptions_allowed(self) -> int:
        return max(0, self.current_healthy - self.desired_healthy)


def pod_is_healthy(pod: dict[str, Any]) -> bool:
    """Counted as healthy by the disruption controller: Ready and not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def disruption_status(pdb: dict[str, Any], pods: list[dict[str, Any]]) -> DisruptionStatus:
    """``pods`` are the pods the PDB's selector matches.

    Expected pods are counted from the pods themselves (the real controller asks the owning
    controller's scale; the two agree whenever the workload is at its desired size).
    """
    spec = pdb.get("spec") or {}
    expected = len(pods)
    healthy = sum(1 for p in pods if pod_is_healthy(p))
    if spec.get("maxUnavailable") is None and spec.get("minAvailable") is None:
        return DisruptionStatus(expected, healthy, expected)
    return DisruptionStatus(expected, healthy, desired_healthy(spec, expected))


def desired_healthy(spec: dict[str, Any], expected: int) -> int:
    """How many healthy pods a budget with this spec wants out of ``expected`` (percentages
    rounded up, as intstr.GetScaledValueFromIntOrPercent); 0 when neither field is set."""
    if spec.get("maxUnavailable") is not None:
        max_unavailable = scaled_value(spec["maxUnavailable"], expected, round_up=True)
        return max(0, expected - max_unavailable)
    if spec.get("minAvailable") is not None:
        return scaled_value(spec["minAvailable"], expected, round_up=True)
    return 0


def update_disruption_allowed_condition(status: dict[str, Any], now: str) -> None:
    """pdbhelper.UpdateDisruptionAllowedCondition on a status dict (the disruption controller,
    and the eviction handler when it takes the last allowed disruption)."""
    allowed = status.get("disruptionsAllowed", 0) > 0
    status["conditions"] = set_disruption_allowed(
        status.get("conditions") or [],
        "True" if allowed else "False",
        "SufficientPods" if allowed else "InsufficientPods",
        "",
        status.get("observedGeneration", 0),
        now,
    )


def set_disruption_allowed(
    conditions: list[dict[str, Any]],
    value: str,
    reason: str,
    message: str,
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """meta.SetStatusCondition for DisruptionAllowed: the transition time moves only when the
    status does."""
    previous = next((c for c in conditions if c.get("type") == "DisruptionAllowed"), None)
    kept = previous is not None and previous.get("status") == value
    condition = {
        "type": "DisruptionAllowed",
        "status": value,
        "observedGeneration": generation,
        "lastTransitionTime": previous["lastTransitionTime"] if kept and previous else now,
        "reason": reason,
        "message": message,
    }
    return [c for c in conditions if c.get("type") != "DisruptionAllowed"] + [condition]
