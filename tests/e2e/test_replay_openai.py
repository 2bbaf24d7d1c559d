"""A CI-sized ``kubeward replay openai-outage``: 500 nodes, both sides, 12 simulated minutes.

The unguarded side must collapse the way the outage did; the guarded side must find the
telemetry agents, throttle them and keep the control plane and DNS up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

AGENT = "system:serviceaccount:monitoring:telemetry-agent"


@pytest.fixture(scope="module")
def replay() -> dict[str, Any]:
    command = [sys.executable, "-m", "kubeward.cli", "replay", "openai-outage", "--json"]
    command += ["--nodes", "500", "--minutes", "12"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout))


def side(replay: dict[str, Any], guard: bool) -> dict[str, Any]:
    return next(s for s in replay["sides"] if s["guard"] is guard)


def test_without_guard_the_control_plane_collapses(replay: dict[str, Any]) -> None:
    figures = side(replay, guard=False)
    assert figures["system_success_before"] >= 0.99
    assert figures["system_success_after"] < 0.5
    assert figures["apiserver_restarts"] >= 2
    assert figures["minutes_until_dns_failure"] is not None
    assert figures["dns_failure_minutes"] > 0
    assert figures["seconds_to_mitigate"] is None  # watching only


def test_with_guard_the_culprit_is_found_and_throttled(replay: dict[str, Any]) -> None:
    figures = side(replay, guard=True)
    assert figures["culprit"] == AGENT
    assert figures["false_alarms_before_onset"] == 0
    assert figures["seconds_to_detect"] is not None and 0 <= figures["seconds_to_detect"] <= 60
    assert figures["seconds_to_mitigate"] is not None and figures["seconds_to_mitigate"] <= 120
    assert figures["system_success_after"] >= 0.99
    assert figures["restarts_after_mitigation"] == 0
    assert figures["dns_failure_minutes"] == 0
    assert replay["goals"] == {goal: True for goal in replay["goals"]}


def test_guard_traffic_is_negligible(replay: dict[str, Any]) -> None:
    # One /metrics GET per step plus the two applies: a few hundred requests in 12 minutes,
    # against the thousands per minute the kubelets alone send.
    figures = side(replay, guard=True)
    assert 0 < figures["guard_requests"] < 1000
