"""The scheduler: placement rules (property tests), FailedScheduling messages, retries."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as stg

from kubeward.kube.quantity import parse_quantity
from kubeward.kube.registry import REGISTRY
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.scheduling.filters import tolerates
from kubeward.sim.scenarios.model import Scenario

PODS = REGISTRY.get("", "v1", "pods")
NODES = REGISTRY.get("", "v1", "nodes")
EVENTS = REGISTRY.get("", "v1", "events")


def cluster(pools: list[dict[str, Any]], speed: float = 1.0) -> SimCluster:
    c = SimCluster(
        Scenario.model_validate({"name": "t", "nodePools": pools}), clock=SimClock(speed=speed)
    )
    c.bootstrap()
    return c


def pod(name: str, cpu: str = "100m", memory: str = "64Mi", **spec: Any) -> dict[str, Any]:
    labels = spec.pop("labels", {"app": "x"})
    return {
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "nginx",
                    "resources": {"requests": {"cpu": cpu, "memory": memory}},
                }
            ],
            **spec,
        },
    }


def create(c: SimCluster, body: dict[str, Any]) -> str:
    obj = c.api.create(PODS, "default", body)
    return obj.key


def node_name_of(c: SimCluster, key: str) -> str:
    obj = c.store.get(("", "pods"), key)
    assert obj is not None
    return obj.fields.get("spec.nodeName", "")


def events_for(c: SimCluster, name: str) -> list[dict[str, Any]]:
    return [
        e.decode()
        for e in c.store.resource(("", "events")).objects.values()
        if e.decode()["involvedObject"]["name"] == name
    ]


def taint_node(c: SimCluster, name: str, taint: dict[str, str]) -> None:
    node = c.api.get(NODES, "", name).decode()
    node["spec"]["taints"] = [*node["spec"].get("taints", []), taint]
    c.api.update(NODES, "", name, node)


# -- messages ---------------------------------------------------------------------------------


def test_failed_scheduling_message_mixes_taint_and_cpu() -> None:
    c = cluster([{"name": "n", "count": 3, "cpu": "2", "memory": "8Gi"}])
    # NoSchedule: pods tolerate the NoExecute one for 300 s (DefaultTolerationSeconds).
    taint_node(c, "n-0", {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"})
    key = create(c, pod("big", cpu="3"))
    assert c.scheduler.schedule_one(key) is None
    expected = (
        "0/3 nodes are available: 1 node(s) had untolerated taint "
        "{node.kubernetes.io/unreachable: }, 2 Insufficient cpu. preemption: 0/3 nodes are "
        "available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found "
        "for incoming pod."
    )
    status = c.api.get(PODS, "default", "big").decode()["status"]
    cond = next(x for x in status["conditions"] if x["type"] == "PodScheduled")
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", expected)
    assert status["phase"] == "Pending"
    (event,) = [e for e in events_for(c, "big") if e["reason"] == "FailedScheduling"]
    assert event["message"] == expected
    assert event["type"] == "Warning"
    assert event["reportingComponent"] == "default-scheduler"


def test_failed_scheduling_message_selector_unschedulable_memory_and_pods() -> None:
    c = cluster(
        [
            {"name": "a", "count": 2, "cpu": "4", "memory": "1Gi", "labels": {"disk": "ssd"}},
            {"name": "b", "count": 1, "cpu": "4", "memory": "8Gi", "maxPods": 1},
            {"name": "c", "count": 1, "cpu": "4", "memory": "8Gi"},
        ]
    )
    node = c.api.get(NODES, "", "c-0").decode()
    node["spec"]["unschedulable"] = True
    c.api.update(NODES, "", "c-0", node)
    # fill b-0's only pod slot
    c.scheduler.schedule_one(
        create(
            c, pod("filler", cpu="10m", memory="1Mi", nodeSelector={"kubeward.io/node-pool": "b"})
        )
    )
    key = create(c, pod("p", cpu="100m", memory="2Gi"))
    c.scheduler.schedule_one(key)
    cond = next(
        x
        for x in c.api.get(PODS, "default", "p").decode()["status"]["conditions"]
        if x["type"] == "PodScheduled"
    )
    assert cond["message"] == (
        "0/4 nodes are available: 1 Too many pods, 1 node(s) were unschedulable, "
        "2 Insufficient memory. preemption: 0/4 nodes are available: 1 Preemption is not "
        "helpful for scheduling, 3 No preemption victims found for incoming pod."
    )
    key = create(c, pod("sel", nodeSelector={"disk": "hdd"}))
    c.scheduler.schedule_one(key)
    msg = next(
        x["message"]
        for x in c.api.get(PODS, "default", "sel").decode()["status"]["conditions"]
        if x["type"] == "PodScheduled"
    )
    assert msg.startswith(
        "0/4 nodes are available: 1 node(s) were unschedulable, "
        "3 node(s) didn't match Pod's node affinity/selector."
    )
    assert msg.endswith("4 Preemption is not helpful for scheduling.")


def test_scheduled_event_and_binding() -> None:
    c = cluster([{"name": "n", "count": 2}])
    key = create(c, pod("ok"))
    node = c.scheduler.schedule_one(key)
    assert node in ("n-0", "n-1")
    stored = c.api.get(PODS, "default", "ok").decode()
    assert stored["spec"]["nodeName"] == node
    assert {"type": "PodScheduled", "status": "True"}.items() <= stored["status"]["conditions"][
        0
    ].items()
    (event,) = events_for(c, "ok")
    assert event["reason"] == "Scheduled"
    assert event["message"] == f"Successfully assigned default/ok to {node}"
    assert event["action"] == "Binding"


async def test_pending_pod_is_scheduled_when_a_node_fits() -> None:
    c = cluster([{"name": "small", "count": 1, "cpu": "1"}], speed=50)
    c.start()
    try:
        create(c, pod("waits", cpu="3"))
        await asyncio.sleep(0.2)
        assert node_name_of(c, "default/waits") == ""
        reasons = [e["reason"] for e in events_for(c, "waits")]
        assert reasons == ["FailedScheduling"]
        bigger = c.api.get(NODES, "", "small-0").decode()
        bigger["metadata"] = {"name": "big-0", "labels": {"kubernetes.io/hostname": "big-0"}}
        bigger["status"]["allocatable"]["cpu"] = "8"
        c.api.create(NODES, "", bigger)
        for _ in range(100):
            await asyncio.sleep(0.05)
            if node_name_of(c, "default/waits"):
                break
        assert node_name_of(c, "default/waits") == "big-0"
    finally:
        await c.stop()


def test_topology_spread_on_zones() -> None:
    c = cluster([{"name": "z", "count": 3, "zones": ["a", "b", "c"], "cpu": "64"}])
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "s"}},
        }
    ]
    zones = Counter()
    for i in range(9):
        node = c.scheduler.schedule_one(
            create(c, pod(f"s{i}", labels={"app": "s"}, topologySpreadConstraints=spread))
        )
        assert node is not None
        zones[node] += 1
    assert sorted(zones.values()) == [3, 3, 3]


def test_most_allocated_packs_nodes() -> None:
    c = SimCluster(
        Scenario.model_validate(
            {
                "name": "t",
                "nodePools": [{"name": "n", "count": 4, "cpu": "4"}],
                "scheduler": {"scoring": "MostAllocated"},
            }
        )
    )
    c.bootstrap()
    nodes = {c.scheduler.schedule_one(create(c, pod(f"p{i}", cpu="500m"))) for i in range(6)}
    assert len(nodes) == 1


# -- properties -------------------------------------------------------------------------------

TAINTS = [
    {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
    {"key": "spot", "value": "true", "effect": "PreferNoSchedule"},
]
TOLERATIONS = [
    {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists"},
    {"operator": "Exists"},
]

node_strategy = stg.fixed_dictionaries(
    {
        "cpu": stg.sampled_from(["1", "2", "4"]),
        "memory": stg.sampled_from(["1Gi", "2Gi", "4Gi"]),
        "maxPods": stg.integers(1, 6),
        "zone": stg.sampled_from(["a", "b"]),
        "taints": stg.lists(stg.sampled_from(range(len(TAINTS))), max_size=2, unique=True),
        "tier": stg.sampled_from(["web", "db"]),
    }
)
pod_strategy = stg.fixed_dictionaries(
    {
        "cpu": stg.sampled_from(["100m", "500m", "1", "1500m"]),
        "memory": stg.sampled_from(["128Mi", "512Mi", "1Gi"]),
        "tolerations": stg.lists(stg.sampled_from(range(len(TOLERATIONS))), max_size=2),
        "tier": stg.sampled_from([None, "web", "db"]),
        "spread": stg.booleans(),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=stg.lists(node_strategy, min_size=1, max_size=6),
    pods=stg.lists(pod_strategy, min_size=1, max_size=25),
)
def test_placement_respects_capacity_taints_selectors_and_spread(
    nodes: list[dict[str, Any]], pods: list[dict[str, Any]]
) -> None:
    pools = [
        {
            "name": f"p{i}",
            "count": 1,
            "cpu": n["cpu"],
            "memory": n["memory"],
            "maxPods": n["maxPods"],
            "zones": [n["zone"]],
            "labels": {"tier": n["tier"]},
            "taints": [TAINTS[t] for t in n["taints"]],
        }
        for i, n in enumerate(nodes)
    ]
    c = cluster(pools)
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"spread": "yes"}},
        }
    ]
    for i, p in enumerate(pods):
        extra: dict[str, Any] = {"tolerations": [TOLERATIONS[t] for t in p["tolerations"]]}
        if p["tier"]:
            extra["nodeSelector"] = {"tier": p["tier"]}
        labels = {"spread": "yes" if p["spread"] else "no"}
        if p["spread"]:
            extra["topologySpreadConstraints"] = spread
        zone_counts_before = _zone_counts(c)
        key = create(c, pod(f"x{i}", cpu=p["cpu"], memory=p["memory"], labels=labels, **extra))
        node = c.scheduler.schedule_one(key)
        if node is None:
            continue
        n = c.api.get(NODES, "", node).decode()
        for taint in n["spec"].get("taints", []):
            if taint["effect"] in ("NoSchedule", "NoExecute"):
                assert tolerates(
                    extra["tolerations"], (taint["key"], taint.get("value", ""), taint["effect"])
                )
        if p["tier"]:
            assert n["metadata"]["labels"]["tier"] == p["tier"]
        if p["spread"]:
            eligible = _eligible_zones(c, extra)
            after = dict(zone_counts_before)
            zone = n["metadata"]["labels"]["topology.kubernetes.io/zone"]
            after[zone] = after.get(zone, 0) + 1
            assert after[zone] - min(after.get(z, 0) for z in eligible) <= 1
    # capacity is never overcommitted
    used: dict[str, list[float]] = {}
    for obj in c.store.resource(("", "pods")).objects.values():
        d = obj.decode()
        node = d["spec"].get("nodeName")
        if not node:
            continue
        req = d["spec"]["containers"][0]["resources"]["requests"]
        u = used.setdefault(node, [0.0, 0.0, 0.0])
        u[0] += float(parse_quantity(req["cpu"]))
        u[1] += float(parse_quantity(req["memory"]))
        u[2] += 1
    for node, (cpu, mem, count) in used.items():
        alloc = c.api.get(NODES, "", node).decode()["status"]["allocatable"]
        assert cpu <= float(parse_quantity(alloc["cpu"])) + 1e-9
        assert mem <= float(parse_quantity(alloc["memory"]))
        assert count <= int(alloc["pods"])


def _zone_counts(c: SimCluster) -> dict[str, int]:
    zones = {
        n.name: n.labels["topology.kubernetes.io/zone"]
        for n in c.store.resource(("", "nodes")).objects.values()
    }
    out: dict[str, int] = {}
    for obj in c.store.resource(("", "pods")).objects.values():
        node = obj.fields.get("spec.nodeName")
        if node and obj.labels.get("spread") == "yes":
            out[zones[node]] = out.get(zones[node], 0) + 1
    return out


def _eligible_zones(c: SimCluster, extra: dict[str, Any]) -> set[str]:
    """Zones of nodes passing the pod's node selector (the domains the constraint counts)."""
    tier = (extra.get("nodeSelector") or {}).get("tier")
    return {
        n.labels["topology.kubernetes.io/zone"]
        for n in c.store.resource(("", "nodes")).objects.values()
        if tier is None or n.labels.get("tier") == tier
    }
