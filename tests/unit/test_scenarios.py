"""Scenario workloads and faults: validation, the objects they become, the fault timeline."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from kubeward.kube.quantity import parse_quantity
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.faults import PROBLEMS
from kubeward.sim.nodes.factory import (
    POD_PRICE_ANNOTATION,
    PRICE_ANNOTATION,
    START_ANNOTATION,
    node_objects,
)
from kubeward.sim.nodes.state import DISK_PRESSURE, NodeProblem
from kubeward.sim.scenarios.model import Scenario, ScenarioError, load_scenario
from kubeward.sim.scenarios.workloads import manifests
from simproc import until


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
            "faults.0.deployment",
            "shop/nope is not a Deployment of this scenario (write namespace/name",
        ),
        (
            "name: x\nworkloads:\n  - {name: logs, kind: DaemonSet, replicas: 3}\n",
            "workloads.0",
            "replicas: does not apply to a DaemonSet (it runs one pod per eligible node",
        ),
        (
            "name: x\nworkloads:\n  - {name: r, kind: CronJob, schedule: every night}\n",
            "workloads.0",
            'write five fields, e.g. "30 2 * * *"',
        ),
        (
            "name: x\nworkloads:\n  - {name: r, kind: CronJob}\n",
            "workloads.0",
            "a CronJob needs schedule:",
        ),
        (
            "name: x\nworkloads:\n  - {name: w, completions: 3}\n",
            "workloads.0",
            "completions: applies to kinds Job and CronJob only",
        ),
        (
            "name: x\nworkloads:\n  - {name: w, hpa: {maxReplicas: 4}}\n",
            "workloads.0",
            'needs a CPU request: add requests: {cpu: "250m"}',
        ),
        (
            "name: x\nworkloads:\n  - {name: w, kind: Job, storage: 1Gi}\n",
            "workloads.0",
            "storage: applies to kind StatefulSet only",
        ),
        (
            "name: x\nnodePools:\n  - {name: p, count: 1, podStartSeconds: 5}\n",
            "nodePools.0",
            "add virtual: true",
        ),
        (
            "name: x\nfaults:\n  - {at: 5m, type: meteorStrike, zone: a}\n",
            "faults.0.type",
            "use one of the listed values",
        ),
        (
            "name: x\nfaults:\n  - {at: 5m, type: nodeNotReady, nodes: {count: 1}, "
            "duration: a while}\n",
            "faults.0.duration",
            '"1h30m"',
        ),
        (
            "name: x\nnodePools: [{name: p, count: 2}]\nfaults:\n"
            "  - {at: 5m, type: diskPressure, nodes: {selector: {pool: gpu}}}\n",
            "faults.0.nodes.selector",
            "no node of this scenario matches {'pool': 'gpu'} (pools: p; zones: zone-a; nodes "
            "carry the label kubeward.io/node-pool: <pool>)",
        ),
        (
            "name: x\nnodePools: [{name: p, count: 2}]\nfaults:\n"
            "  - {at: 5m, type: zoneOutage, zone: zone-q}\n",
            "faults.0.zone",
            "no node of this scenario matches",
        ),
        (
            "name: x\nnodePools: [{name: p, count: 2}]\nfaults:\n"
            "  - {at: 5m, type: zoneOutage, zone: zone-a, registry: ghcr.io/}\n",
            "faults.0",
            "registry: does not apply to zoneOutage (remove it)",
        ),
        (
            "name: x\nworkloads: [{name: w}, {name: w}]\n",
            "workloads.1.name",
            "Deployment default/w is declared twice (rename one of them)",
        ),
        (
            "name: x\nresourceQuotas: [{name: q, namespace: a, hard: {cpu: '-1'}}]\n",
            "resourceQuotas.0",
            'spec.hard[cpu]: Invalid value: "-1": must be greater than or equal to 0 (the '
            "ResourceQuota API's rules",
        ),
        (
            "name: x\nresourceQuotas: [{name: q, namespace: a, hard: {cpu: '1'}, "
            "scopes: [BestEffort]}]\n",
            "resourceQuotas.0",
            'spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort"}: unsupported '
            "scope applied to resource",
        ),
        (
            "name: x\nlimitRanges: [{name: l, namespace: a, limits: "
            "[{type: Container, min: {cpu: '2'}, max: {cpu: '1'}}]}]\n",
            "limitRanges.0",
            'spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1',
        ),
        (
            "name: x\nworkloads: [{name: db, kind: StatefulSet, storage: 1Gi, "
            "storageClass: fast}]\n",
            "workloads.0.storageClass",
            "no StorageClass fast (declare it under storageClasses, or use one of: standard)",
        ),
        (
            "name: x\nworkloads: [{name: db, kind: StatefulSet, storageClass: standard}]\n",
            "workloads.0",
            "storageClass: needs storage: (the size of each pod's claim)",
        ),
        (
            "name: x\nstorageClasses: [{name: zonal, allowedTopologies: "
            "{topology.kubernetes.io/zone: []}}]\n",
            "storageClasses.0",
            "allowedTopologies[0].matchLabelExpressions[0].values: Required value (the "
            "StorageClass API's rules",
        ),
    ],
)
def test_errors_name_file_field_and_fix(tmp_path: Path, text: str, where: str, fix: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_text(tmp_path, text)
    message = str(info.value)
    assert f"{tmp_path / 's.yaml'}: {where}" in message
    assert fix in message


def test_limit_ranges_are_created_with_their_namespaces() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "x",
            "limitRanges": [
                {
                    "name": "d",
                    "namespace": "team",
                    "limits": [{"type": "Container", "max": {"cpu": "2"}}],
                }
            ],
        }
    )
    assert list(manifests(scenario)) == [
        (("", "v1", "namespaces"), {"metadata": {"name": "team"}}),
        (
            ("", "v1", "limitranges"),
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": "d", "namespace": "team"},
                "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]},
            },
        ),
    ]


def test_resource_quotas_are_created_with_their_namespaces() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "x",
            "resourceQuotas": [
                {"name": "gpus", "namespace": "ml", "hard": {"requests.nvidia.com/gpu": 2}},
                {
                    "name": "pods",
                    "namespace": "ml",
                    "hard": {"pods": "5"},
                    "scopes": ["BestEffort"],
                },
            ],
        }
    )
    assert list(manifests(scenario)) == [
        (("", "v1", "namespaces"), {"metadata": {"name": "ml"}}),
        (
            ("", "v1", "resourcequotas"),
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "gpus", "namespace": "ml"},
                "spec": {"hard": {"requests.nvidia.com/gpu": "2"}},
            },
        ),
        (
            ("", "v1", "resourcequotas"),
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "pods", "namespace": "ml"},
                "spec": {"hard": {"pods": "5"}, "scopes": ["BestEffort"]},
            },
        ),
    ]


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


def test_every_kind_becomes_its_kubernetes_object() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "x",
            "workloads": [
                {
                    "name": "redis",
                    "kind": "StatefulSet",
                    "replicas": 3,
                    "storage": "8Gi",
                    "service": {"port": 6379, "targetPort": 6379},
                },
                {"name": "logs", "namespace": "logging", "kind": "DaemonSet"},
                {
                    "name": "report",
                    "kind": "CronJob",
                    "schedule": "30 2 * * *",
                    "timeZone": "Etc/UTC",
                    "restartPolicy": "Never",
                    "activeDeadlineSeconds": 600,
                    "behaviour": {"runSeconds": 60},
                },
            ],
        }
    )
    objs = {(path[2], body["metadata"]["name"]): body for path, body in manifests(scenario)}
    assert list(objs) == [
        ("namespaces", "logging"),
        ("statefulsets", "redis"),
        ("services", "redis"),
        ("daemonsets", "logs"),
        ("cronjobs", "report"),
    ]
    sts = objs[("statefulsets", "redis")]["spec"]
    assert (sts["replicas"], sts["serviceName"]) == (3, "redis")
    claim = sts["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert objs[("services", "redis")]["spec"]["clusterIP"] == "None"  # headless
    ds = objs[("daemonsets", "logs")]
    assert "replicas" not in ds["spec"] and ds["metadata"]["namespace"] == "logging"
    cj = objs[("cronjobs", "report")]["spec"]
    assert (cj["schedule"], cj["timeZone"]) == ("30 2 * * *", "Etc/UTC")
    job = cj["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 600
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert json.loads(job["template"]["metadata"]["annotations"][ANNOTATION]) == {
        "runSeconds": 60.0
    }


async def test_scenario_objects_pass_api_validation() -> None:
    """Every built-in's objects are created through the API's validation at bootstrap."""
    c = SimCluster(load_scenario("demo"), clock=SimClock(speed=1), simulate=False)
    c.bootstrap()
    kinds = {
        (group, plural): len(c.store.resource((group, plural)).objects)
        for group, plural in (
            ("apps", "deployments"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("batch", "jobs"),
            ("batch", "cronjobs"),
            ("autoscaling", "horizontalpodautoscalers"),
            ("policy", "poddisruptionbudgets"),
        )
    }
    assert all(kinds.values()), kinds
    assert c.store.get(("", "services"), "platform/redis").decode()["spec"]["clusterIP"] == "None"


def test_daemonset_pod_count_follows_selectors_and_taints() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "x",
            "nodePools": [
                {"name": "general", "count": 5},
                {
                    "name": "gpu",
                    "count": 2,
                    "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
                },
                {"name": "burst", "count": 1, "virtual": True},
            ],
            "workloads": [
                {"name": "plain", "kind": "DaemonSet"},
                {
                    "name": "gpu-ok",
                    "kind": "DaemonSet",
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                },
                {
                    "name": "gpu-only",
                    "kind": "DaemonSet",
                    "nodeSelector": {"kubeward.io/node-pool": "gpu"},
                    "tolerations": [{"operator": "Exists"}],
                },
                {"name": "web", "replicas": 4},
                {"name": "batch", "kind": "Job", "completions": 9},
            ],
        }
    )
    pools = scenario.node_pools
    assert [w.running_pods(pools) for w in scenario.workloads] == [5, 7, 2, 4, 0]
    assert scenario.pod_count == 18


def test_virtual_pool_nodes() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "x",
            "nodePools": [
                {"name": "general", "count": 1, "hourlyPrice": 0.38},
                {
                    "name": "burst",
                    "count": 1,
                    "virtual": True,
                    "podStartSeconds": 8,
                    "podHourlyPrice": 0.05,
                },
            ],
        }
    )
    general, burst = node_objects(scenario, "2026-01-01T00:00:00Z")
    assert general["metadata"]["annotations"][PRICE_ANNOTATION] == "0.38"
    assert "taints" not in general["spec"] and "type" not in general["metadata"]["labels"]
    assert burst["metadata"]["labels"]["type"] == "virtual-kubelet"
    assert burst["spec"]["taints"] == [
        {"key": "virtual-kubelet.io/provider", "value": "kubeward", "effect": "NoSchedule"}
    ]
    annotations = burst["metadata"]["annotations"]
    assert annotations[START_ANNOTATION] == "8.0"
    assert annotations[POD_PRICE_ANNOTATION] == "0.05"
    capacity = burst["status"]["capacity"]
    assert parse_quantity(capacity["cpu"]) >= 1000 and int(capacity["pods"]) >= 1000


async def test_overlapping_faults_zone_targets_and_rollback() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "f",
            "nodePools": [{"name": "a", "count": 4, "zones": ["z1", "z2"]}],
            "workloads": [{"name": "web", "image": "reg.example/web:1"}],
            "faults": [
                # a-1 and a-3 are in z2; the zone outage outlasts the node fault on a-1
                {"at": "5s", "type": "zoneOutage", "zone": "z2", "duration": "30s"},
                {"at": "10s", "type": "nodeNotReady", "zone": "z2", "nodes": {"count": 1}},
                {"at": "5s", "type": "diskPressure", "zone": "z1", "duration": "10s"},
                {
                    "at": "5s",
                    "type": "badRollout",
                    "deployment": "default/web",
                    "image": "reg.example/web:2",
                    "crashAfterSeconds": 3,
                    "duration": "10s",
                },
            ],
        }
    )
    c = SimCluster(scenario, clock=SimClock(speed=100), simulate=False)
    c.bootstrap()
    deployments = REGISTRY.get("apps", "v1", "deployments")
    assert deployments is not None
    original = c.api.get(deployments, "default", "web").decode()["spec"]["template"]
    c.start()
    try:
        await asyncio.sleep(0.08)  # 8 s
        assert [c.state.machine(n).kubelet_stopped for n in ("a-0", "a-1", "a-2", "a-3")] == [
            False,
            True,
            False,
            True,
        ]
        assert c.state.machine("a-0").problems["DiskPressure"] == DISK_PRESSURE
        assert c.state.machine("a-2").problems["DiskPressure"].reason == "KubeletHasDiskPressure"
        template = c.api.get(deployments, "default", "web").decode()["spec"]["template"]
        assert template["spec"]["containers"][0]["image"] == "reg.example/web:2"
        assert json.loads(template["metadata"]["annotations"][ANNOTATION]) == {
            "crashAfterSeconds": 3.0
        }
        await asyncio.sleep(0.12)  # 20 s: disk pressure and the bad rollout repaired
        assert not c.state.machine("a-0").problems
        assert c.api.get(deployments, "default", "web").decode()["spec"]["template"] == original
        await asyncio.sleep(0.2)  # 40 s: zone back, but a-1 still held by nodeNotReady
        assert c.state.machine("a-1").kubelet_stopped
        assert not c.state.machine("a-3").kubelet_stopped
        kinds = [kind for _, kind in c.faults.fired]
        assert kinds.count("badRollout repaired") == 1 and "zoneOutage repaired" in kinds
    finally:
        await c.stop()


def test_memory_pressure_is_the_kubelets_condition() -> None:
    assert PROBLEMS["memoryPressure"] == NodeProblem(
        "MemoryPressure",
        "True",
        "KubeletHasInsufficientMemory",
        "kubelet has insufficient memory available",
    )


def test_list_scenarios_is_one_line_each() -> None:
    from typer.testing import CliRunner

    from kubeward.cli import app

    result = CliRunner().invoke(app, ["sim", "--list-scenarios"], terminal_width=80)
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert names == ["demo", "large", "openai-outage", "openai-outage-small", "tiny"]
    # descriptions start in one column
    assert len({len(line) - len(line.split(maxsplit=1)[1]) for line in lines}) == 1
    assert "150,000 pods" in lines[1]


def test_a_zonal_class_strands_a_stateful_pod_when_its_zone_goes() -> None:
    """storageClasses: and a StatefulSet's storageClass: its claims wait for their pods, are
    provisioned in the pods' zones, and once that zone is lost the replacement pod waits with
    kube-scheduler's volume node affinity conflict."""
    scenario = Scenario.model_validate(
        {
            "name": "zonal",
            "nodePools": [{"name": "p", "count": 2, "zones": ["zone-a", "zone-b"]}],
            "storageClasses": [{"name": "zonal-ssd", "default": False}],
            "workloads": [
                {
                    "name": "db",
                    "namespace": "data",
                    "kind": "StatefulSet",
                    "replicas": 1,
                    "storage": "1Gi",
                    "storageClass": "zonal-ssd",
                    "behaviour": {"imageSize": "1Mi", "startupSeconds": 1},
                }
            ],
        }
    )
    sc = scenario.storage_classes[0].manifest()
    assert (
        sc["volumeBindingMode"] == "WaitForFirstConsumer" and sc["provisioner"] == "sim.kubeward.io"
    )
    pods = REGISTRY.get("", "v1", "pods")
    nodes = REGISTRY.get("", "v1", "nodes")
    assert pods is not None and nodes is not None

    async def run() -> None:
        c = SimCluster(scenario, clock=SimClock(speed=50))
        c.bootstrap()
        c.start()
        try:

            def running_node() -> str:
                pod = c.store.get(("", "pods"), "data/db-0")
                phase = pod.fields.get("status.phase") if pod else None
                return pod.fields.get("spec.nodeName", "") if phase == "Running" else ""

            node = await until(running_node, timeout=30)
            claim = c.store.get(("", "persistentvolumeclaims"), "data/data-db-0")
            assert claim is not None
            spec = claim.decode()["spec"]
            assert spec["storageClassName"] == "zonal-ssd"
            volume = c.store.get(("", "persistentvolumes"), spec["volumeName"])
            assert volume is not None
            zone = c.api.get(nodes, "", node).decode()["metadata"]["labels"][
                "topology.kubernetes.io/zone"
            ]
            terms = volume.decode()["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
            assert terms[0]["matchExpressions"][0]["values"] == [zone]
            # The zone is lost (its only node cordoned), and the pod is recreated.
            cordoned = c.api.get(nodes, "", node).decode()
            cordoned["spec"]["unschedulable"] = True
            c.api.update(nodes, "", node, cordoned)
            c.api.delete(pods, "data", "db-0", DeleteOptions(grace_period=0))

            def stranded() -> str:
                pod = c.store.get(("", "pods"), "data/db-0")
                if pod is None or pod.fields.get("spec.nodeName"):
                    return ""
                conditions = (pod.decode().get("status") or {}).get("conditions") or []
                return next(
                    (x.get("message", "") for x in conditions if x["type"] == "PodScheduled"), ""
                )

            message = await until(stranded, timeout=30)
            assert message.startswith(
                "0/2 nodes are available: 1 node(s) had volume node affinity conflict, "
                "1 node(s) were unschedulable."
            ), message
        finally:
            await c.stop()

    asyncio.run(run())
