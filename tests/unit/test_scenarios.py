"""Scenario workloads and faults: validation, the objects they become, the fault timeline."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from kubeward.kube.registry import REGISTRY
from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.scenarios.model import Scenario, ScenarioError, load_scenario
from kubeward.sim.scenarios.workloads import manifests


def load_text(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_scenario(str(path))


@pytest.mark.parametrize(
    ("text", "where", "fix"),
    [
        (
            "name: x\nworkloads:\n  - name: web\n    kind: Deploymnet\n",
            "workloads.0.kind",
            "use one of the listed values",
        ),
        (
            "name: x\nworkloads:\n  - {name: web, requests: {cpu: lots}}\n",
            "workloads.0.requests.cpu",
            'write e.g. cpu: "250m"',
        ),
        (
            "name: x\nworkloads:\n  - {name: web, behaviour: {usage: {cpu: {tpye: diurnal}}}}\n",
            "workloads.0.behaviour.usage.cpu.tpye",
            "remove it, or check its spelling",
        ),
        (
            "name: x\nfaults:\n  - {at: soon, type: nodeNotReady, nodes: {count: 1}}\n",
            "faults.0.at",
            '"5m"',
        ),
        (
            "name: x\nfaults:\n  - {at: 5m, type: nodeNotReady}\n",
            "faults.0",
            "nodes: {selector",
        ),
        (
            "name: x\nfaults:\n  - {at: 5m, type: badRollout, deployment: shop/nope}\n",
            "(top level)",
            "is not a Deployment of this scenario",
        ),
        (
            "name: x\nworkloads:\n  - {name: c, kind: DaemonSet}\n",
            "workloads.0",
            "kind DaemonSet is not simulated yet",
        ),
    ],
)
def test_errors_name_file_field_and_fix(tmp_path: Path, text: str, where: str, fix: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_text(tmp_path, text)
    message = str(info.value)
    assert f"{tmp_path / 's.yaml'}: {where}" in message
    assert fix in message


def test_workloads_become_kubernetes_objects() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "x",
            "workloads": [
                {
                    "name": "web",
                    "namespace": "shop",
                    "replicas": 3,
                    "image": "nginx:1.27",
                    "requests": {"cpu": "250m", "memory": "128Mi"},
                    "limits": {"memory": "256Mi"},
                    "behaviour": {"startupSeconds": 4, "usage": {"cpu": {"base": "200m"}}},
                    "service": {"port": 80, "targetPort": 8080},
                    "hpa": {"maxReplicas": 6},
                    "pdb": {"minAvailable": 2},
                },
                {"name": "job", "kind": "Job", "completions": 2, "behaviour": {"runSeconds": 5}},
                {"name": "fleet", "copies": 3, "replicas": 2},
            ],
        }
    )
    objs = list(manifests(scenario))
    kinds = [(path[2], body["metadata"]["name"]) for path, body in objs]
    assert kinds == [
        ("namespaces", "shop"),
        ("deployments", "web"),
        ("services", "web"),
        ("horizontalpodautoscalers", "web"),
        ("poddisruptionbudgets", "web"),
        ("jobs", "job"),
        ("deployments", "fleet-0"),
        ("deployments", "fleet-1"),
        ("deployments", "fleet-2"),
    ]
    deploy = objs[1][1]
    template = deploy["spec"]["template"]
    behaviour = json.loads(template["metadata"]["annotations"][ANNOTATION])
    assert behaviour == {"startupSeconds": 4.0, "usage": {"cpu": {"base": "200m"}}}
    container = template["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "128Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert objs[5][1]["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_builtin_demo_and_large_are_valid_and_sized() -> None:
    demo = load_scenario("demo")
    assert 45 <= demo.node_count <= 60 and 15 <= len(demo.workloads) <= 25
    assert {f.type for f in demo.faults} >= {"nodeNotReady", "badRollout"}
    assert all(f.at <= 20 * 60 for f in demo.faults)
    large = load_scenario("large")
    assert (large.node_count, large.pod_count) == (15_000, 150_000)


async def test_fault_timeline_changes_machine_state_and_reverts() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "f",
            "nodePools": [{"name": "a", "count": 3, "zones": ["z1", "z2"]}],
            "workloads": [{"name": "web", "replicas": 1, "image": "reg.example/web:1"}],
            "faults": [
                {"at": "10s", "type": "nodeNotReady", "nodes": {"count": 1}, "duration": "20s"},
                {"at": "10s", "type": "zoneOutage", "zone": "z2"},
                {
                    "at": "5s",
                    "type": "imageRegistryOutage",
                    "registry": "reg.example/",
                    "duration": 10,
                },
                {
                    "at": "15s",
                    "type": "memoryPressure",
                    "nodes": {"selector": {"kubeward.io/node-pool": "a"}, "count": 2},
                },
                {"at": "20s", "type": "badRollout", "deployment": "default/web"},
            ],
        }
    )
    c = SimCluster(scenario, clock=SimClock(speed=100))
    c.bootstrap()
    c.start()
    try:
        await asyncio.sleep(0.07)  # 7 s
        assert c.state.unreachable_registries == {"reg.example/"}
        assert not c.state.machine("a-0").kubelet_stopped
        await asyncio.sleep(0.1)  # 17 s
        assert c.state.machine("a-0").kubelet_stopped  # first by name
        assert c.state.machine("a-1").kubelet_stopped  # zone z2
        assert not c.state.machine("a-2").kubelet_stopped
        assert not c.state.unreachable_registries  # repaired after 10 s
        assert "MemoryPressure" in c.state.machine("a-1").problems
        assert "MemoryPressure" not in c.state.machine("a-2").problems
        await asyncio.sleep(0.2)  # 37 s
        assert not c.state.machine("a-0").kubelet_stopped  # repaired at 30 s
        assert c.state.machine("a-1").kubelet_stopped  # no duration: stays down
        d = c.api.get(REGISTRY.get("apps", "v1", "deployments"), "default", "web").decode()
        template = d["spec"]["template"]
        assert template["spec"]["containers"][0]["image"] == "reg.example/web:1-rc1"
        assert (
            json.loads(template["metadata"]["annotations"][ANNOTATION])["crashAfterSeconds"] == 5.0
        )
        assert [kind for _, kind in c.faults.fired][:2] == ["imageRegistryOutage", "nodeNotReady"]
    finally:
        await c.stop()
