"""A node deleted with ``kubectl delete node`` takes its pods with it: the pod garbage collector
fails and deletes them after its quarantine, and their ReplicaSet replaces them on the nodes
left. Debian's kubectl against a simulator at 20x speed (the quarantine is 40 simulated
seconds)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _debian_kubectl
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fast_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    sim = start_sim(tmp_path_factory.mktemp("podgc"), "--scenario", "tiny", "--speed", "20")
    yield sim
    sim.stop()


@pytest.fixture
def kubectl(fast_sim: SimProcess, tmp_path: Path) -> Kubectl:
    return Kubectl(_debian_kubectl(), fast_sim, tmp_path)


def pods(kubectl: Kubectl) -> dict[str, tuple[str, str]]:
    """name -> (node, phase) of the web pods."""
    items = json.loads(kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    return {
        p["metadata"]["name"]: (p["spec"].get("nodeName", ""), p["status"].get("phase", ""))
        for p in items
    }


def test_deleting_a_node_replaces_its_pods_elsewhere(kubectl: Kubectl) -> None:
    kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3")

    def all_running() -> dict[str, tuple[str, str]] | None:
        now = pods(kubectl)
        return now if len(now) == 3 and all(ph == "Running" for _, ph in now.values()) else None

    running = eventually(all_running, timeout=60)
    victim_node = next(iter(running.values()))[0]
    on_victim = {name for name, (node, _) in running.items() if node == victim_node}
    kubectl("delete", "node", victim_node)

    def replaced() -> dict[str, tuple[str, str]] | None:
        now = pods(kubectl)
        gone = not (on_victim & now.keys())
        healthy = len(now) == 3 and all(
            node != victim_node and phase == "Running" for node, phase in now.values()
        )
        return now if gone and healthy else None

    after = eventually(replaced, timeout=60)
    assert not on_victim & after.keys()
    assert victim_node not in kubectl("get", "nodes", "-o", "name").stdout
