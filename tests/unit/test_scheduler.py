"""The scheduler: placement rules (property tests), FailedScheduling messages, retries."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as stg

from kubeward.kube.quantity import parse_quantity
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
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


TWO_ZONES = [
    {"name": "a", "count": 2, "cpu": "4", "memory": "8Gi", "zones": ["zone-a"]},
    {"name": "b", "count": 2, "cpu": "4", "memory": "8Gi", "zones": ["zone-b"]},
]
PVS = REGISTRY.get("", "v1", "persistentvolumes")
PVCS = REGISTRY.get("", "v1", "persistentvolumeclaims")
CLASSES = REGISTRY.get("storage.k8s.io", "v1", "storageclasses")


def available_volume(c: SimCluster, name: str, reach: dict[str, Any], **spec: Any) -> None:
    """A volume whose nodeAffinity is the one expression ``reach``, Available as the volume
    controller (not running here) would mark it."""
    assert PVS is not None
    affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [reach]}]}}
    body = {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], **spec}
    c.api.create(PVS, "", {"metadata": {"name": name}, "spec": {**body, "nodeAffinity": affinity}})
    stored = c.api.get(PVS, "", name).decode()
    stored["status"] = {"phase": "Available"}
    c.api.update(PVS, "", name, stored, subresource="status")


def claim(c: SimCluster, name: str, **spec: Any) -> dict[str, Any]:
    assert PVCS is not None
    body = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return c.api.create(
        PVCS, "default", {"metadata": {"name": name}, "spec": {**body, **spec}}
    ).decode()


def mounting(claim_name: str) -> list[dict[str, Any]]:
    return [{"name": "v", "persistentVolumeClaim": {"claimName": claim_name}}]


def cordon(c: SimCluster, *names: str) -> None:
    for name in names:
        node = c.api.get(NODES, "", name).decode()
        node["spec"]["unschedulable"] = True
        c.api.update(NODES, "", name, node)


def scheduling_message(c: SimCluster, name: str) -> str:
    conditions = c.api.get(PODS, "default", name).decode()["status"]["conditions"]
    return str(next(x["message"] for x in conditions if x["type"] == "PodScheduled"))


def test_a_zonal_volume_keeps_its_pod_in_its_zone() -> None:
    """VolumeBinding's Filter after NodeResourcesFit: nodes outside the zone of a bound
    volume are a volume node affinity conflict, which preemption cannot resolve."""
    c = cluster(TWO_ZONES)
    assert PVCS is not None
    zone_a = {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-a"]}
    available_volume(c, "disk", zone_a, csi={"driver": "sim.kubeward.io", "volumeHandle": "d"})
    bound = claim(c, "data", storageClassName="", volumeName="disk")
    bound["status"] = {"phase": "Bound"}
    c.api.update(PVCS, "default", "data", bound, subresource="status")
    for i in range(3):  # always zone-a, whatever the scores say
        key = create(c, pod(f"db-{i}", volumes=mounting("data")))
        assert c.scheduler.schedule_one(key) in ("a-0", "a-1")
    cordon(c, "a-0")
    key = create(c, pod("stuck", volumes=mounting("data")))
    taint_node(c, "a-1", {"key": "disk", "value": "full", "effect": "NoSchedule"})
    assert c.scheduler.schedule_one(key) is None
    assert scheduling_message(c, "stuck") == (
        "0/4 nodes are available: 1 node(s) had untolerated taint {disk: full}, "
        "1 node(s) were unschedulable, 2 node(s) had volume node affinity conflict. "
        "preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    )


def test_a_delayed_claim_is_placed_where_it_can_get_a_volume() -> None:
    """Unbound WaitForFirstConsumer claims: only nodes in the class's allowedTopologies, or
    reached by an Available volume that fits, when nothing provisions."""
    c = cluster(TWO_ZONES)
    assert CLASSES is not None
    zone_b = {"key": "topology.kubernetes.io/zone", "values": ["zone-b"]}
    for name, provisioner, more in (
        (
            "zone-b-only",
            "sim.kubeward.io",
            {"allowedTopologies": [{"matchLabelExpressions": [zone_b]}]},
        ),
        ("local", "kubernetes.io/no-provisioner", {}),
    ):
        body = {"provisioner": provisioner, "volumeBindingMode": "WaitForFirstConsumer", **more}
        c.api.create(CLASSES, "", {"metadata": {"name": name}, **body})
    on_a1 = {"key": "kubernetes.io/hostname", "operator": "In", "values": ["a-1"]}
    available_volume(c, "ssd-a-1", on_a1, storageClassName="local", local={"path": "/mnt/ssd"})
    claim(c, "cache", storageClassName="zone-b-only")
    claim(c, "scratch", storageClassName="local")
    for i in range(3):
        key = create(c, pod(f"cache-{i}", volumes=mounting("cache")))
        assert c.scheduler.schedule_one(key) in ("b-0", "b-1")
    key = create(c, pod("scratch", volumes=mounting("scratch")))
    assert c.scheduler.schedule_one(key) == "a-1"
    cordon(c, "b-0", "b-1")
    key = create(c, pod("stuck", volumes=mounting("cache")))
    assert c.scheduler.schedule_one(key) is None
    assert scheduling_message(c, "stuck") == (
        "0/4 nodes are available: 2 node(s) didn't find available persistent volumes to bind, "
        "2 node(s) were unschedulable. preemption: 0/4 nodes are available: 4 Preemption is "
        "not helpful for scheduling."
    )


async def test_an_immediate_volume_lands_in_one_zone_and_pins_its_pods() -> None:
    """A class that binds Immediately and allows every zone (the default ``standard``): the
    simulated driver makes the zonal disk before any pod exists, in one of the zones the nodes
    report, so a pod that must run in the other zone waits with kube-scheduler's conflict
    while one that may run anywhere follows its volume."""
    c = cluster(TWO_ZONES, speed=50)
    c.start()
    try:
        claim(c, "data")  # no class: DefaultStorageClass admission gives it `standard`
        zones = set()
        # The zone is random per claim: 16 claims all in one zone has odds of 1 in 32,768.
        for name in ["data", *(f"more-{i}" for i in range(15))]:
            if name != "data":
                claim(c, name)
            for _ in range(100):
                bound = c.api.get(PVCS, "default", name).decode()
                if bound.get("status", {}).get("phase") == "Bound":
                    break
                await asyncio.sleep(0.02)
            pv = c.api.get(PVS, "", bound["spec"]["volumeName"]).decode()
            [term] = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
            [expression] = term["matchExpressions"]
            assert expression["key"] == "topology.kubernetes.io/zone"
            assert expression["operator"] == "In"
            zones.update(expression["values"])
            if name == "data":
                [zone] = expression["values"]
        assert zones == {"zone-a", "zone-b"}

        other = "zone-b" if zone == "zone-a" else "zone-a"
        pinned = pod("pinned", volumes=mounting("data"))
        pinned["spec"]["nodeSelector"] = {"topology.kubernetes.io/zone": other}
        create(c, pinned)
        free = create(c, pod("free", volumes=mounting("data")))
        for _ in range(100):
            if node_name_of(c, free):
                break
            await asyncio.sleep(0.02)
        assert node_name_of(c, free).startswith(zone[-1])  # pools a and b are zones a and b
        # NodeAffinity runs before VolumeBinding: each node is charged to the first that fails.
        assert scheduling_message(c, "pinned") == (
            "0/4 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, "
            "2 node(s) had volume node affinity conflict. preemption: 0/4 nodes are available: "
            "4 Preemption is not helpful for scheduling."
        )
    finally:
        await c.stop()


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
                "nodePools": [{"name": "n", "count": 4, "cpu": "4", "memory": "4Gi"}],
                "scheduler": {"scoring": "MostAllocated"},
            }
        )
    )
    c.bootstrap()
    # cpu and memory in proportion to the node's, so BalancedAllocation scores every node alike
    nodes = {
        c.scheduler.schedule_one(create(c, pod(f"p{i}", cpu="500m", memory="512Mi")))
        for i in range(6)
    }
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
        "gpus": stg.integers(0, 2),
    }
)
pod_strategy = stg.fixed_dictionaries(
    {
        "cpu": stg.sampled_from(["100m", "500m", "1", "1500m"]),
        "memory": stg.sampled_from(["128Mi", "512Mi", "1Gi"]),
        "tolerations": stg.lists(stg.sampled_from(range(len(TOLERATIONS))), max_size=2),
        "tier": stg.sampled_from([None, "web", "db"]),
        "spread": stg.booleans(),
        "gpu": stg.integers(0, 1),
        "anti": stg.booleans(),
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
            "gpus": n["gpus"],
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
        labels = {"spread": "yes" if p["spread"] else "no", "anti": "yes" if p["anti"] else "no"}
        if p["anti"]:
            extra["affinity"] = anti_affinity_on("anti", "yes")
        if p["spread"]:
            extra["topologySpreadConstraints"] = spread
        zone_counts_before = _zone_counts(c, extra)
        body = pod(f"x{i}", cpu=p["cpu"], memory=p["memory"], labels=labels, **extra)
        if p["gpu"]:  # an extended resource: requests must equal limits
            res = body["spec"]["containers"][0]["resources"]
            res["limits"] = {"nvidia.com/gpu": "1"}
            res["requests"]["nvidia.com/gpu"] = "1"
        key = create(c, body)
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
    # at most one pod with hostname anti-affinity against its own kind per node
    anti_nodes = [
        obj.fields.get("spec.nodeName")
        for obj in c.store.resource(("", "pods")).objects.values()
        if obj.fields.get("spec.nodeName") and obj.labels.get("anti") == "yes"
    ]
    assert len(anti_nodes) == len(set(anti_nodes))
    # capacity is never overcommitted
    used: dict[str, list[float]] = {}
    for obj in c.store.resource(("", "pods")).objects.values():
        d = obj.decode()
        node = d["spec"].get("nodeName")
        if not node:
            continue
        req = d["spec"]["containers"][0]["resources"]["requests"]
        u = used.setdefault(node, [0.0, 0.0, 0.0, 0.0])
        u[3] += float(req.get("nvidia.com/gpu", 0))
        u[0] += float(parse_quantity(req["cpu"]))
        u[1] += float(parse_quantity(req["memory"]))
        u[2] += 1
    for node, (cpu, mem, count, gpu) in used.items():
        alloc = c.api.get(NODES, "", node).decode()["status"]["allocatable"]
        assert cpu <= float(parse_quantity(alloc["cpu"])) + 1e-9
        assert mem <= float(parse_quantity(alloc["memory"]))
        assert count <= int(alloc["pods"])
        assert gpu <= int(alloc.get("nvidia.com/gpu", 0))


def anti_affinity_on(key: str, value: str) -> dict[str, Any]:
    term = {
        "labelSelector": {"matchLabels": {key: value}},
        "topologyKey": "kubernetes.io/hostname",
    }
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def _zone_counts(c: SimCluster, extra: dict[str, Any]) -> dict[str, int]:
    """Matching pods per zone, counted on the nodes passing the pod's node selector (as
    kube-scheduler's PodTopologySpread counts with nodeAffinityPolicy Honor)."""
    tier = (extra.get("nodeSelector") or {}).get("tier")
    zones = {
        n.name: n.labels["topology.kubernetes.io/zone"]
        for n in c.store.resource(("", "nodes")).objects.values()
        if tier is None or n.labels.get("tier") == tier
    }
    out: dict[str, int] = {}
    for obj in c.store.resource(("", "pods")).objects.values():
        node = obj.fields.get("spec.nodeName")
        if node in zones and obj.labels.get("spread") == "yes":
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


# -- more messages, requests and queueing -------------------------------------------------------


def condition(c: SimCluster, name: str) -> dict[str, Any]:
    status = c.api.get(PODS, "default", name).decode()["status"]
    return next(x for x in status["conditions"] if x["type"] == "PodScheduled")


def set_node(c: SimCluster, name: str, change: Any) -> None:
    node = c.api.get(NODES, "", name).decode()
    change(node)
    c.api.update(NODES, "", name, node)
    if "status" in node:
        c.api.update(NODES, "", name, node, subresource="status")


def test_message_gpu_not_ready_and_noexecute_taint() -> None:
    c = cluster(
        [
            {"name": "g", "count": 1, "gpus": 1},
            {"name": "n", "count": 2},
            {"name": "t", "count": 1, "taints": [{"key": "maint", "effect": "NoExecute"}]},
        ]
    )
    node = c.api.get(NODES, "", "n-1").decode()
    for cond in node["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond["status"] = "False"
    c.api.update(NODES, "", "n-1", node, subresource="status")
    body = pod("gpu")
    body["spec"]["containers"][0]["resources"]["limits"] = {"nvidia.com/gpu": "2"}
    body["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] = "2"
    c.scheduler.schedule_one(create(c, body))
    assert condition(c, "gpu")["message"] == (
        "0/4 nodes are available: 1 node(s) had untolerated taint {maint: }, "
        "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
        "2 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: "
        "2 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling."
    )


def test_message_spread_skew_and_missing_label() -> None:
    c = cluster(
        [
            {"name": "a", "count": 1, "zones": ["a"]},
            {"name": "b", "count": 1, "zones": ["b"]},
            {"name": "c", "count": 1, "zones": ["b"], "cpu": "1"},
        ]
    )
    node = c.api.get(NODES, "", "c-0").decode()
    del node["metadata"]["labels"]["topology.kubernetes.io/zone"]
    c.api.update(NODES, "", "c-0", node)
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "s"}},
        }
    ]
    for i in range(2):  # one per zone
        create(c, pod(f"s{i}", labels={"app": "s"}, topologySpreadConstraints=spread))
        assert c.scheduler.schedule_one(f"default/s{i}") in ("a-0", "b-0")
    create(c, pod("s2", labels={"app": "s"}, nodeName="a-0"))  # zone a: 2, zone b: 1
    taint_node(c, "b-0", {"key": "x", "effect": "NoSchedule"})
    key = create(c, pod("s3", labels={"app": "s"}, topologySpreadConstraints=spread))
    assert c.scheduler.schedule_one(key) is None
    # b-0 still counts as a domain (nodeTaintsPolicy Ignore): zone a would have skew 2.
    assert condition(c, "s3")["message"] == (
        "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints, "
        "1 node(s) didn't match pod topology spread constraints (missing required label), "
        "1 node(s) had untolerated taint {x: }. preemption: 0/3 nodes are available: "
        "1 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling."
    )


def test_effective_request_uses_init_containers_and_overhead() -> None:
    c = cluster([{"name": "n", "count": 1, "cpu": "4", "memory": "8Gi"}])
    body = pod("init", cpu="500m")
    body["spec"]["initContainers"] = [
        {"name": "i", "image": "x", "resources": {"requests": {"cpu": "3500m"}}}
    ]
    body["spec"]["overhead"] = {"cpu": "1"}
    c.scheduler.schedule_one(create(c, body))
    # max(500m, 3500m) + 1 = 4500m > 4 - reserved
    assert condition(c, "init")["message"].startswith(
        "0/1 nodes are available: 1 Insufficient cpu."
    )
    small = pod("init2", cpu="500m")
    small["spec"]["initContainers"] = [
        {"name": "i", "image": "x", "resources": {"requests": {"cpu": "1"}}}
    ]
    assert c.scheduler.schedule_one(create(c, small)) == "n-0"
    row = c.scheduler.table.index["n-0"]
    assert c.scheduler.table.requested[row, 0] == 1000.0  # max(500m, 1)


def test_unchanged_condition_is_not_rewritten() -> None:
    c = cluster([{"name": "n", "count": 1, "cpu": "1"}])
    key = create(c, pod("big", cpu="8"))
    c.scheduler.schedule_one(key)
    rv = c.api.get(PODS, "default", "big").rv
    c.scheduler.schedule_one(key)
    assert c.api.get(PODS, "default", "big").rv == rv
    assert c.scheduler.stats.failed_attempts == 2


def test_gated_pod_waits_for_its_gates() -> None:
    async def scenario() -> None:
        c = cluster([{"name": "n", "count": 1}], speed=50)
        c.start()
        try:
            create(c, pod("gated", schedulingGates=[{"name": "example.com/wait"}]))
            for _ in range(40):
                await asyncio.sleep(0.02)
                conds = (c.api.get(PODS, "default", "gated").decode().get("status") or {}).get(
                    "conditions"
                ) or []
                if conds:
                    break
            assert node_name_of(c, "default/gated") == ""
            cond = condition(c, "gated")
            assert (cond["status"], cond["reason"], cond["message"]) == (
                "False",
                "SchedulingGated",
                "Scheduling is blocked due to non-empty scheduling gates",
            )
            body = c.api.get(PODS, "default", "gated").decode()
            body["spec"]["schedulingGates"] = []
            c.api.update(PODS, "default", "gated", body)
            for _ in range(100):
                await asyncio.sleep(0.02)
                if node_name_of(c, "default/gated"):
                    break
            assert node_name_of(c, "default/gated") == "n-0"
        finally:
            await c.stop()

    asyncio.run(scenario())


async def test_updated_pending_pod_is_retried() -> None:
    c = cluster(
        [{"name": "n", "count": 1, "taints": [{"key": "k", "effect": "NoSchedule"}]}], speed=20
    )
    c.start()
    try:
        create(c, pod("tol"))
        await asyncio.sleep(0.1)
        assert "untolerated taint {k: }" in condition(c, "tol")["message"]
        body = c.api.get(PODS, "default", "tol").decode()
        body["spec"]["tolerations"].append({"key": "k", "operator": "Exists"})
        c.api.update(PODS, "default", "tol", body)
        for _ in range(100):  # backoff is 1 s of sim time
            await asyncio.sleep(0.05)
            if node_name_of(c, "default/tol"):
                break
        assert node_name_of(c, "default/tol") == "n-0"
    finally:
        await c.stop()


def test_terminal_and_deleted_pods_release_requests() -> None:
    c = cluster([{"name": "n", "count": 1, "cpu": "2"}])
    key = c.scheduler.schedule_one(create(c, pod("a", cpu="1")))
    assert key == "n-0"
    table = c.scheduler.table
    assert table.requested[0, 0] == 1000.0
    body = c.api.get(PODS, "default", "a").decode()
    body["status"]["phase"] = "Succeeded"
    c.api.update(PODS, "default", "a", body, subresource="status")
    assert table.requested[0, 0] == 0.0
    c.scheduler.schedule_one(create(c, pod("b", cpu="1")))
    assert table.requested[0, 0] == 1000.0
    c.api.delete(PODS, "default", "b", DeleteOptions(grace_period=0))
    assert c.store.get(("", "pods"), "default/b") is None
    assert table.requested[0, 0] == 0.0


def test_pod_bound_before_its_node_exists_is_counted() -> None:
    c = cluster([{"name": "n", "count": 1}])
    body = pod("early", cpu="1500m")
    body["spec"]["nodeName"] = "late-0"
    create(c, body)
    node = c.api.get(NODES, "", "n-0").decode()
    node["metadata"] = {"name": "late-0", "labels": {"kubernetes.io/hostname": "late-0"}}
    c.api.create(NODES, "", node)
    row = c.scheduler.table.index["late-0"]
    assert c.scheduler.table.requested[row, 0] == 1500.0


def test_heartbeat_does_not_count_as_a_cluster_change() -> None:
    c = cluster([{"name": "n", "count": 1}])
    version = c.scheduler._cluster_version
    node = c.api.get(NODES, "", "n-0").decode()
    for cond in node["status"]["conditions"]:
        cond["lastHeartbeatTime"] = "2030-01-01T00:00:00Z"
    c.api.update(NODES, "", "n-0", node, subresource="status")
    assert c.scheduler._cluster_version == version
    set_node(c, "n-0", lambda n: n["metadata"]["labels"].update({"new": "label"}))
    assert c.scheduler._cluster_version > version


def test_preferences_score_nodes() -> None:
    c = cluster(
        [
            {"name": "a", "count": 1, "labels": {"disk": "hdd"}},
            {"name": "b", "count": 1, "labels": {"disk": "ssd"}},
            {"name": "p", "count": 1, "taints": [{"key": "spot", "effect": "PreferNoSchedule"}]},
        ]
    )
    affinity = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "preference": {
                        "matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]
                    },
                }
            ]
        }
    }
    for i in range(5):
        assert c.scheduler.schedule_one(create(c, pod(f"ssd{i}", affinity=affinity))) == "b-0"
    placed = {c.scheduler.schedule_one(create(c, pod(f"any{i}", cpu="10m"))) for i in range(8)}
    assert "p-0" not in placed


def test_schedule_anyway_spreads_over_zones() -> None:
    c = cluster(
        [
            {"name": "a", "count": 2, "zones": ["a"], "cpu": "64", "memory": "256Gi"},
            {"name": "b", "count": 1, "zones": ["b"], "cpu": "64", "memory": "256Gi"},
        ]
    )
    soft = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "soft"}},
        }
    ]
    zones = Counter()
    for i in range(6):
        node = c.scheduler.schedule_one(
            create(c, pod(f"s{i}", labels={"app": "soft"}, topologySpreadConstraints=soft))
        )
        zones[node[0]] += 1  # pool name = zone
    assert zones == {"a": 3, "b": 3}


def test_replicaset_pods_get_default_spreading() -> None:
    c = SimCluster(
        Scenario.model_validate(
            {
                "name": "t",
                "nodePools": [{"name": "n", "count": 3, "cpu": "4", "memory": "4Gi"}],
                "scheduler": {"scoring": "MostAllocated"},
            }
        )
    )
    c.bootstrap()
    rs_type = REGISTRY.get("apps", "v1", "replicasets")
    assert rs_type is not None
    template = {
        "metadata": {"labels": {"app": "rs"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    rs = c.api.create(
        rs_type,
        "default",
        {
            "metadata": {"name": "rs"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "rs"}},
                "template": template,
            },
        },
    )
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "rs",
        "uid": rs.uid,
        "controller": True,
    }
    nodes = set()
    for i in range(3):
        body = pod(f"r{i}", cpu="500m", memory="512Mi", labels={"app": "rs"})
        body["metadata"]["ownerReferences"] = [owner]
        nodes.add(c.scheduler.schedule_one(create(c, body)))
    # MostAllocated alone packs (test_most_allocated_packs_nodes); the system-default
    # hostname spreading of a ReplicaSet's pods outweighs it.
    assert len(nodes) == 3


def test_long_message_is_truncated_in_the_event_only() -> None:
    pools = [
        {"name": f"p{i}", "count": 1, "taints": [{"key": f"k{i:03d}" * 8, "effect": "NoSchedule"}]}
        for i in range(20)
    ]
    c = cluster(pools)
    c.scheduler.schedule_one(create(c, pod("long")))
    message = condition(c, "long")["message"]
    assert len(message) > 1024
    assert message.endswith("20 Preemption is not helpful for scheduling.")
    (event,) = [e for e in events_for(c, "long") if e["reason"] == "FailedScheduling"]
    assert len(event["message"]) == 1024
    assert event["message"] == message[:1020] + " ..."


def anti_affinity(app: str, key: str = "kubernetes.io/hostname") -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def test_required_pod_anti_affinity_one_per_node() -> None:
    c = cluster([{"name": "n", "count": 3}])
    nodes = [
        c.scheduler.schedule_one(
            create(c, pod(f"a{i}", labels={"app": "a"}, affinity=anti_affinity("a")))
        )
        for i in range(3)
    ]
    assert sorted(nodes) == ["n-0", "n-1", "n-2"]
    assert (
        c.scheduler.schedule_one(
            create(c, pod("a3", labels={"app": "a"}, affinity=anti_affinity("a")))
        )
        is None
    )
    assert condition(c, "a3")["message"] == (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: "
        "0/3 nodes are available: 3 No preemption victims found for incoming pod."
    )
    # another namespace's pods do not count
    ns_type = REGISTRY.get("", "v1", "namespaces")
    assert ns_type is not None
    c.api.create(ns_type, "", {"metadata": {"name": "other"}})
    body = pod("o", labels={"app": "a"}, affinity=anti_affinity("a"))
    body["metadata"]["namespace"] = "other"
    assert c.scheduler.schedule_one(c.api.create(PODS, "other", body).key) is not None


def test_a_bound_pods_anti_affinity_keeps_the_pods_it_selects_out_of_its_zone() -> None:
    """The symmetric check: "web" pods say nothing about "guard", yet stay out of its zone."""
    c = cluster([{"name": "z", "count": 4, "zones": ["a", "b"]}])
    zones = {n.name: n.labels["topology.kubernetes.io/zone"] for n in c.store.resource(
        ("", "nodes")).objects.values()}  # fmt: skip
    zone_key = "topology.kubernetes.io/zone"
    guard = pod("guard", labels={"app": "guard"}, affinity=anti_affinity("web", zone_key))
    guarded = zones[c.scheduler.schedule_one(create(c, guard)) or ""]
    for i in range(4):
        node = c.scheduler.schedule_one(create(c, pod(f"web{i}", labels={"app": "web"})))
        assert node is not None and zones[node] != guarded

    cordon(c, *(name for name, zone in zones.items() if zone != guarded))
    assert c.scheduler.schedule_one(create(c, pod("web4", labels={"app": "web"}))) is None
    assert scheduling_message(c, "web4").startswith(
        "0/4 nodes are available: 2 node(s) didn't satisfy existing pods anti-affinity rules, "
        "2 node(s) were unschedulable."
    )
    # Pods it does not select, or in another namespace, are not kept out.
    assert c.scheduler.schedule_one(create(c, pod("api", labels={"app": "api"})))
    ns_type = REGISTRY.get("", "v1", "namespaces")
    assert ns_type is not None
    c.api.create(ns_type, "", {"metadata": {"name": "other"}})
    body = pod("web-other", labels={"app": "web"})
    body["metadata"]["namespace"] = "other"
    assert c.scheduler.schedule_one(c.api.create(PODS, "other", body).key) is not None
    # Once the guard is gone, so is its rule.
    c.api.delete(PODS, "default", "guard", DeleteOptions(grace_period=0))
    node = c.scheduler.schedule_one(create(c, pod("web5", labels={"app": "web"})))
    assert node is not None and zones[node] == guarded


def test_required_pod_affinity_follows_its_target() -> None:
    c = cluster([{"name": "z", "count": 4, "zones": ["a", "b"]}])
    affinity = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"app": "db"}},
                    "topologyKey": "topology.kubernetes.io/zone",
                }
            ]
        }
    }
    # nothing matches and the pod does not match itself: unschedulable, not resolvable
    assert c.scheduler.schedule_one(create(c, pod("web0", affinity=affinity))) is None
    assert condition(c, "web0")["message"] == (
        "0/4 nodes are available: 4 node(s) didn't match pod affinity rules. preemption: "
        "0/4 nodes are available: 4 Preemption is not helpful for scheduling."
    )
    db = c.scheduler.schedule_one(create(c, pod("db", labels={"app": "db"})))
    db_zone = c.api.get(NODES, "", db).labels["topology.kubernetes.io/zone"]
    for i in range(4):
        node = c.scheduler.schedule_one(create(c, pod(f"web{i + 1}", affinity=affinity)))
        assert c.api.get(NODES, "", node).labels["topology.kubernetes.io/zone"] == db_zone
    # the first pod of a group with affinity to itself may go anywhere
    term = affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    term["labelSelector"] = {"matchLabels": {"app": "db2"}}
    first = pod("first", labels={"app": "db2"}, affinity=affinity)
    assert c.scheduler.schedule_one(create(c, first)) is not None


# -- NodePorts ----------------------------------------------------------------------------------


def with_host_ports(body: dict[str, Any], *ports: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its container asking for ``ports`` (containerPort = hostPort)."""
    body["spec"]["containers"][0]["ports"] = [{"containerPort": p["hostPort"], **p} for p in ports]
    return body


def test_a_host_port_is_taken_once_per_node() -> None:
    """The DaemonSet-style trap: a Deployment with hostPort 80 runs one pod per node, and the
    rest wait with kube-scheduler's NodePorts message (before NodeResourcesFit's)."""
    c = cluster([{"name": "n", "count": 2, "cpu": "2"}])
    placed = [
        c.scheduler.schedule_one(create(c, with_host_ports(pod(f"web-{i}"), {"hostPort": 80})))
        for i in range(2)
    ]
    assert sorted(placed) == ["n-0", "n-1"]
    waiting = with_host_ports(pod("web-2"), {"hostPort": 80})
    assert c.scheduler.schedule_one(create(c, waiting)) is None
    assert condition(c, "web-2")["message"] == (
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. "
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    )
    # Each node is charged to the first filter that fails: NodePorts, then NodeResourcesFit.
    big = with_host_ports(pod("big", cpu="3"), {"hostPort": 80})
    assert c.scheduler.schedule_one(create(c, big)) is None
    assert condition(c, "big")["message"].startswith(
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports."
    )
    # Other ports, or the same port over UDP, are free.
    for name, port in (("dns", {"hostPort": 53, "protocol": "UDP"}), ("alt", {"hostPort": 81})):
        assert c.scheduler.schedule_one(create(c, with_host_ports(pod(name), port)))
    # A holder that goes frees its port.
    c.api.delete(PODS, "default", "web-0", DeleteOptions(grace_period=0))
    assert c.scheduler.schedule_one("default/web-2") == placed[0]


def test_host_ports_clash_on_the_same_ip_or_on_the_wildcard() -> None:
    c = cluster([{"name": "n", "count": 1}])
    first = with_host_ports(pod("a"), {"hostPort": 8080, "hostIP": "10.0.0.1"})
    assert c.scheduler.schedule_one(create(c, first)) == "n-0"
    other_ip = with_host_ports(pod("b"), {"hostPort": 8080, "hostIP": "10.0.0.2"})
    assert c.scheduler.schedule_one(create(c, other_ip)) == "n-0"
    for name, port in (
        ("same-ip", {"hostPort": 8080, "hostIP": "10.0.0.1"}),
        ("any-ip", {"hostPort": 8080}),  # 0.0.0.0 clashes with every address
    ):
        assert c.scheduler.schedule_one(create(c, with_host_ports(pod(name), port))) is None
        assert "1 node(s) didn't have free ports" in condition(c, name)["message"]
    c.api.delete(PODS, "default", "a", DeleteOptions(grace_period=0))
    c.api.delete(PODS, "default", "b", DeleteOptions(grace_period=0))
    wildcard = with_host_ports(pod("wild"), {"hostPort": 9090})
    assert c.scheduler.schedule_one(create(c, wildcard)) == "n-0"
    specific = with_host_ports(pod("specific"), {"hostPort": 9090, "hostIP": "10.0.0.3"})
    assert c.scheduler.schedule_one(create(c, specific)) is None


# -- InterPodAffinity scoring -------------------------------------------------------------------


def preferred(kind: str, app: str, weight: int = 100) -> dict[str, Any]:
    """A preferred ``kind`` (podAffinity or podAntiAffinity) term for app=``app`` per node."""
    term = {
        "labelSelector": {"matchLabels": {"app": app}},
        "topologyKey": "kubernetes.io/hostname",
    }
    return {
        kind: {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": weight, "podAffinityTerm": term}
            ]
        }
    }


def test_preferred_pod_affinity_outweighs_the_emptier_node() -> None:
    """LeastAllocated prefers the empty node; a preferred affinity to the pod on the busy one
    wins (InterPodAffinity's weight 2 x 100 against a few points of resource scores)."""
    c = cluster([{"name": "n", "count": 2, "cpu": "4", "memory": "8Gi"}])
    create(c, pod("cache", cpu="1", memory="1Gi", labels={"app": "cache"}, nodeName="n-1"))
    plain = create(c, pod("plain", labels={"app": "other"}))
    assert c.scheduler.schedule_one(plain) == "n-0"
    near = create(c, pod("near", labels={"app": "api"}, affinity=preferred("podAffinity", "cache")))
    assert c.scheduler.schedule_one(near) == "n-1"


def test_preferred_pod_anti_affinity_keeps_away_from_the_emptier_node() -> None:
    c = cluster([{"name": "n", "count": 2, "cpu": "4", "memory": "8Gi"}])
    create(c, pod("noisy", cpu="10m", labels={"app": "noisy"}, nodeName="n-0"))
    create(c, pod("filler", cpu="1", memory="1Gi", labels={"app": "f"}, nodeName="n-1"))
    quiet = create(
        c, pod("quiet", labels={"app": "q"}, affinity=preferred("podAntiAffinity", "noisy"))
    )
    assert c.scheduler.schedule_one(quiet) == "n-1"


def test_bound_pods_terms_score_the_pods_they_select() -> None:
    """The symmetric half: "web" pods say nothing, yet avoid the node of a pod preferring to
    be away from them, and are drawn to the node of a pod that requires them near
    (hardPodAffinityWeight 1 is enough between otherwise equal nodes)."""
    c = cluster([{"name": "n", "count": 2, "cpu": "4", "memory": "8Gi"}])
    loner = pod("loner", cpu="10m", labels={"app": "l"}, nodeName="n-0")
    loner["spec"]["affinity"] = preferred("podAntiAffinity", "web")
    create(c, loner)
    create(c, pod("other", cpu="1", labels={"app": "o"}, nodeName="n-1"))
    assert c.scheduler.schedule_one(create(c, pod("web-0", labels={"app": "web"}))) == "n-1"

    d = cluster([{"name": "n", "count": 2, "cpu": "4", "memory": "8Gi"}])
    needy = pod("needy", labels={"app": "n"}, nodeName="n-1")
    near_web: dict[str, Any] = {
        "labelSelector": {"matchLabels": {"app": "web"}},
        "topologyKey": "kubernetes.io/hostname",
    }
    needy["spec"]["affinity"] = {
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [near_web]}
    }
    create(d, needy)
    # n-1 holds "needy"'s 100m, so the resource scores alone would pick n-0 every time.
    for i in range(3):
        assert d.scheduler.schedule_one(create(d, pod(f"web-{i}", labels={"app": "web"}))) == "n-1"
