"""Pod priority and preemption: the Priority admission plugin, PriorityClass rules, and the
scheduler's DefaultPreemption (victims, PDBs, nomination, messages)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as stg
from test_scheduler import EVENTS, PODS, events_for, node_name_of, pod, with_host_ports
from test_scheduler import cluster as running_cluster

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.scheduling.activequeue import ActiveQueue, raw_priority
from kubeward.sim.control.scheduling.nodetable import resource_amount
from kubeward.sim.control.scheduling.preemption import Candidate, Victim

# A node of cpu "2" has 1900m allocatable (100m reserved for the system).
FULL, HALF = "1900m", "950m"
PCS = REGISTRY.get("scheduling.k8s.io", "v1", "priorityclasses")
PDBS = REGISTRY.get("policy", "v1", "poddisruptionbudgets")
assert PCS is not None and PDBS is not None and EVENTS is not None


def cluster(pools: list[dict[str, Any]]) -> SimCluster:
    """Scheduler and API without the kubelets (which need a running loop to terminate pods;
    ``finish_deletions`` plays their part)."""
    c = running_cluster(pools)
    assert c.kubelet_pods is not None
    c.store.remove_listener(c.kubelet_pods._on_event)
    return c


def priority_class(c: SimCluster, name: str, value: int, **extra: Any) -> None:
    c.api.create(PCS, "", {"metadata": {"name": name}, "value": value, **extra})


def stored(c: SimCluster, name: str) -> dict[str, Any]:
    return c.api.get(PODS, "default", name).decode()


def place(c: SimCluster, name: str, cpu: str, cls: str = "", **spec: Any) -> str:
    body = pod(name, cpu=cpu, memory="1Mi", **spec)
    if cls:
        body["spec"]["priorityClassName"] = cls
    key = c.api.create(PODS, "default", body).key
    return c.scheduler.schedule_one(key) or ""


def scheduling_message(c: SimCluster, name: str) -> str:
    conditions = stored(c, name)["status"]["conditions"]
    return str(next(x["message"] for x in conditions if x["type"] == "PodScheduled"))


def finish_deletions(c: SimCluster) -> None:
    """What the kubelets do at the end of the grace period."""
    for obj in list(c.store.resource(("", "pods")).objects.values()):
        if obj.deleting:
            c.api.delete(PODS, obj.namespace, obj.name, DeleteOptions(grace_period=0))


def classes(c: SimCluster) -> None:
    priority_class(c, "low", 100)
    priority_class(c, "mid", 500)
    priority_class(c, "high", 1000)


# -- PriorityClass and the Priority admission plugin -------------------------------------------


def test_system_classes_exist_and_cannot_be_deleted() -> None:
    c = cluster([{"name": "n", "count": 1}])
    values = {
        o.name: o.decode()["value"] for o in c.store.resource(PCS.storage_key).objects.values()
    }
    assert values == {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}
    with pytest.raises(st.StatusError) as err:
        c.api.delete(PCS, "", "system-node-critical", DeleteOptions())
    assert err.value.code == 403
    assert "this is a system priority class and cannot be deleted" in err.value.message


def test_pod_gets_priority_and_policy_from_its_class() -> None:
    c = cluster([{"name": "n", "count": 1}])
    priority_class(c, "batch", 10, preemptionPolicy="Never")
    key = c.api.create(PODS, "default", pod("a", priorityClassName="batch")).key
    spec = c.store.get(("", "pods"), key).decode()["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (10, "Never")
    crit = c.api.create(PODS, "default", pod("b", priorityClassName="system-node-critical"))
    assert crit.decode()["spec"]["priority"] == 2000001000
    plain = c.api.create(PODS, "default", pod("c")).decode()["spec"]
    assert (plain["priority"], plain["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert "priorityClassName" not in plain


def test_unknown_class_is_forbidden_with_kube_apiservers_message() -> None:
    c = cluster([{"name": "n", "count": 1}])
    with pytest.raises(st.StatusError) as err:
        c.api.create(PODS, "default", pod("x", priorityClassName="y"))
    assert err.value.code == 403
    assert err.value.reason == "Forbidden"
    assert err.value.message == 'pods "x" is forbidden: no PriorityClass with name y was found'
    assert c.store.get(("", "pods"), "default/x") is None
    body = pod("", priorityClassName="y")
    body["metadata"] = {"generateName": "web-", "namespace": "default"}
    with pytest.raises(st.StatusError) as err:
        c.api.create(PODS, "default", body)
    assert err.value.message.startswith('pods "web-" is forbidden')


def test_priority_in_the_spec_must_match_the_class() -> None:
    c = cluster([{"name": "n", "count": 1}])
    priority_class(c, "high", 1000)
    with pytest.raises(st.StatusError) as err:
        c.api.create(PODS, "default", pod("x", priorityClassName="high", priority=5))
    assert err.value.code == 403
    assert "the integer value of priority (5) must not be provided in pod spec" in (
        err.value.message
    )


def test_global_default_class_applies_to_pods_without_one_and_is_unique() -> None:
    c = cluster([{"name": "n", "count": 1}])
    priority_class(c, "normal", 50, globalDefault=True)
    spec = c.api.create(PODS, "default", pod("a")).decode()["spec"]
    assert (spec["priorityClassName"], spec["priority"]) == ("normal", 50)
    with pytest.raises(st.StatusError) as err:
        priority_class(c, "other", 60, globalDefault=True)
    assert err.value.code == 403
    assert err.value.message == (
        'priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass normal is '
        "already marked as default. Only one default can exist"
    )


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"metadata": {"name": "system-mine"}, "value": 5}, "metadata.name", "reserved"),
        ({"metadata": {"name": "huge"}, "value": 1000000001}, "value", "maximum allowed"),
        ({"metadata": {"name": "p"}, "value": 1, "preemptionPolicy": "Sometimes"}, "", ""),
        ({"metadata": {"name": "novalue"}}, "value", "Required value"),
    ],
)
def test_invalid_priority_classes_name_the_field(
    body: dict[str, Any], field: str, detail: str
) -> None:
    c = cluster([{"name": "n", "count": 1}])
    with pytest.raises(st.StatusError) as err:
        c.api.create(PCS, "", body)
    assert err.value.code == 422
    assert (field or "preemptionPolicy") in err.value.message
    assert detail in err.value.message


def test_priority_class_value_is_immutable() -> None:
    c = cluster([{"name": "n", "count": 1}])
    priority_class(c, "a", 5)
    obj = c.api.get(PCS, "", "a").decode()
    assert obj["preemptionPolicy"] == "PreemptLowerPriority"
    obj["value"] = 6
    with pytest.raises(st.StatusError) as err:
        c.api.update(PCS, "", "a", obj)
    assert "value: Forbidden: may not be changed in an update." in err.value.message


# -- preemption --------------------------------------------------------------------------------


def test_preemption_evicts_the_fewest_lowest_priority_pods() -> None:
    c = cluster([{"name": "n", "count": 2, "cpu": "2", "memory": "8Gi"}])
    classes(c)
    # n-0: two low pods; n-1: one mid pod and one low pod (placement forced by nodeSelector).
    on = {"kubernetes.io/hostname": "n-0"}
    assert place(c, "low-a", HALF, "low", nodeSelector=on) == "n-0"
    assert place(c, "low-b", HALF, "low", nodeSelector=on) == "n-0"
    assert place(c, "mid-a", HALF, "mid", nodeSelector={"kubernetes.io/hostname": "n-1"})
    assert place(c, "low-c", HALF, "low", nodeSelector={"kubernetes.io/hostname": "n-1"})
    assert place(c, "high", HALF, "high") == ""
    high = stored(c, "high")
    # n-0 needs one low victim (highest victim 100); n-1 also one (low-c): tie on every
    # criterion but start time; either way exactly one low pod goes and mid-a stays.
    nominated = high["status"]["nominatedNodeName"]
    deleting = [o.name for o in c.store.resource(("", "pods")).objects.values() if o.deleting]
    assert len(deleting) == 1 and deleting[0].startswith("low-")
    victim = stored(c, deleting[0])
    assert victim["spec"]["nodeName"] == nominated
    assert victim["metadata"]["deletionGracePeriodSeconds"] == 30
    cond = next(x for x in victim["status"]["conditions"] if x["type"] == "DisruptionTarget")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "True",
        "PreemptionByScheduler",
        "default-scheduler: preempting to accommodate a higher priority pod",
    )
    (event,) = [e for e in events_for(c, deleting[0]) if e["reason"] == "Preempted"]
    assert event["type"] == "Normal"
    assert event["action"] == "Preempting"
    assert event["message"] == f"Preempted by pod {high['metadata']['uid']} on node {nominated}"
    assert event["related"]["name"] == "high"
    failed = [e for e in events_for(c, "high") if e["reason"] == "FailedScheduling"]
    assert failed[-1]["message"] == "0/2 nodes are available: 2 Insufficient cpu."
    assert c.scheduler.stats.preemptions == 1
    # Retried while the victim terminates: no second preemption.
    assert c.scheduler.schedule_one("default/high") is None
    assert len([o for o in c.store.resource(("", "pods")).objects.values() if o.deleting]) == 1
    cond = next(x for x in stored(c, "high")["status"]["conditions"] if x["type"] == "PodScheduled")
    assert cond["message"] == (
        "0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to a "
        "terminating pod on the nominated node."
    )
    finish_deletions(c)
    assert c.scheduler.schedule_one("default/high") == nominated


def test_victims_prefer_the_node_without_a_pdb_violation() -> None:
    c = cluster([{"name": "n", "count": 2, "cpu": "2", "memory": "8Gi"}])
    classes(c)
    place(c, "guarded", FULL, "low", labels={"app": "guarded"},
          nodeSelector={"kubernetes.io/hostname": "n-0"})  # fmt: skip
    place(c, "free", FULL, "mid", labels={"app": "free"},
          nodeSelector={"kubernetes.io/hostname": "n-1"})  # fmt: skip
    c.api.create(
        PDBS,
        "default",
        {
            "metadata": {"name": "guard"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
        },
    )
    assert place(c, "high", FULL, "high") == ""
    # PDB violations come first: the mid-priority pod goes although it has higher priority.
    assert stored(c, "high")["status"]["nominatedNodeName"] == "n-1"
    assert stored(c, "free")["metadata"].get("deletionTimestamp")
    assert not stored(c, "guarded")["metadata"].get("deletionTimestamp")


def test_lowest_highest_victim_priority_wins_then_fewest_victims() -> None:
    c = cluster([{"name": "n", "count": 2, "cpu": "2", "memory": "8Gi"}])
    classes(c)
    place(c, "mid-a", FULL, "mid", nodeSelector={"kubernetes.io/hostname": "n-0"})
    for i in range(2):
        place(c, f"low-{i}", HALF, "low", nodeSelector={"kubernetes.io/hostname": "n-1"})
    assert place(c, "high", FULL, "high") == ""
    assert stored(c, "high")["status"]["nominatedNodeName"] == "n-1"
    assert all(stored(c, f"low-{i}")["metadata"].get("deletionTimestamp") for i in range(2))


def test_candidate_order_matches_kube_scheduler() -> None:
    def cand(row: int, prios: list[int], pdb: int = 0, start: float = 0.0) -> Candidate:
        victims = [
            Victim(f"k{row}{i}", "d", "n", "u", p, start, None, {})  # type: ignore[arg-type]
            for i, p in enumerate(prios)
        ]
        return Candidate(row, victims, pdb)

    assert min([cand(0, [1], pdb=1), cand(1, [900])], key=Candidate.order).row == 1
    assert min([cand(0, [5, 5]), cand(1, [6])], key=Candidate.order).row == 0
    assert min([cand(0, [5, 5]), cand(1, [5, 4])], key=Candidate.order).row == 1  # smaller sum
    # each victim adds 2^31 to the sum: one more victim always costs more
    assert min([cand(0, [5, -1]), cand(1, [5])], key=Candidate.order).row == 1
    assert min([cand(0, [5], start=10.0), cand(1, [5], start=20.0)], key=Candidate.order).row == 1


def test_messages_when_preemption_cannot_help() -> None:
    c = cluster([{"name": "n", "count": 3, "cpu": "2", "memory": "8Gi"}])
    classes(c)
    node = c.api.get(REGISTRY.get("", "v1", "nodes"), "", "n-2").decode()
    node["spec"]["unschedulable"] = True
    c.api.update(REGISTRY.get("", "v1", "nodes"), "", "n-2", node)
    place(c, "mid-a", FULL, "mid", nodeSelector={"kubernetes.io/hostname": "n-0"})
    place(c, "low-a", HALF, "low", nodeSelector={"kubernetes.io/hostname": "n-1"})
    place(c, "mid-b", HALF, "mid", nodeSelector={"kubernetes.io/hostname": "n-1"})
    # A mid pod may only preempt low-a on n-1, which frees half of what it needs.
    assert place(c, "another", FULL, "mid") == ""
    cond = next(x for x in stored(c, "another")["status"]["conditions"])
    assert cond["message"] == (
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu. "
        "preemption: 0/3 nodes are available: 1 Insufficient cpu, 1 No preemption victims "
        "found for incoming pod, 1 Preemption is not helpful for scheduling."
    )
    assert not any(o.deleting for o in c.store.resource(("", "pods")).objects.values())
    priority_class(c, "polite", 2000, preemptionPolicy="Never")
    assert place(c, "polite-pod", FULL, "polite") == ""
    cond = next(x for x in stored(c, "polite-pod")["status"]["conditions"])
    assert cond["message"] == (
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu. "
        "preemption: not eligible due to preemptionPolicy=Never."
    )
    assert "nominatedNodeName" not in stored(c, "polite-pod")["status"]


def test_spread_constraints_are_evaluated_with_victims_removed() -> None:
    c = cluster([{"name": "z", "count": 2, "zones": ["a", "b"], "cpu": "4", "memory": "8Gi"}])
    classes(c)
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "s"}},
        }
    ]
    # Zone a (z-0) holds 2 low "s" pods, zone b (z-1) none and is full of mid pods.
    for i in range(2):
        place(c, f"s{i}", "1", "low", labels={"app": "s"},
              nodeSelector={"kubernetes.io/hostname": "z-0"})  # fmt: skip
    place(c, "mid-fill", "3900m", "mid", nodeSelector={"kubernetes.io/hostname": "z-1"})
    # A high "s" pod: z-1 is skew-fine but full of mid pods (victim: mid-fill); z-0 has room
    # (2 cpu) but skew 3 - 0 > 1 unless s-pods there are removed.
    assert place(c, "hs", "1", "high", labels={"app": "s"}, topologySpreadConstraints=spread) == ""
    # z-0 has room for the cpu; only the spread blocks it, and only removing both s-pods
    # there brings zone a to 0 + 1 against zone b's 0 (one reprieved s-pod would leave skew 2).
    # z-1 would need the mid pod gone: the lower highest-victim priority (100 < 500) wins.
    assert stored(c, "hs")["status"]["nominatedNodeName"] == "z-0"
    deleting = sorted(o.name for o in c.store.resource(("", "pods")).objects.values() if o.deleting)
    assert deleting == ["s0", "s1"]


def test_nominated_pod_holds_its_room_against_lower_priority_pods() -> None:
    c = cluster([{"name": "n", "count": 1, "cpu": "2", "memory": "8Gi"}])
    classes(c)
    place(c, "low-a", FULL, "low")
    assert place(c, "high", FULL, "high") == ""
    finish_deletions(c)
    # The freed room is held for "high": a mid pod created meanwhile does not take it.
    assert place(c, "mid-late", HALF, "mid") == ""
    assert c.scheduler.schedule_one("default/high") == "n-0"


async def test_preemptor_runs_after_the_victims_terminate() -> None:
    c = running_cluster([{"name": "n", "count": 1, "cpu": "2", "memory": "8Gi"}], speed=200)
    classes(c)
    c.start()
    try:
        c.api.create(PODS, "default", pod("low-a", cpu=FULL, priorityClassName="low"))
        for _ in range(200):
            await asyncio.sleep(0.02)
            if node_name_of(c, "default/low-a"):
                break
        c.api.create(PODS, "default", pod("high", cpu=FULL, priorityClassName="high"))
        for _ in range(400):
            await asyncio.sleep(0.05)
            if node_name_of(c, "default/high"):
                break
        assert node_name_of(c, "default/high") == "n-0"
        assert c.store.get(("", "pods"), "default/low-a") is None
        reasons = [e["reason"] for e in events_for(c, "low-a")]
        assert "Preempted" in reasons and "Killing" in reasons
    finally:
        await c.stop()


async def test_the_highest_priority_pending_pod_is_scheduled_first() -> None:
    """kube-scheduler's PrioritySort: pods pending together are tried highest priority first,
    so the one free place goes to "high", created last, and nothing is preempted."""
    c = cluster([{"name": "n", "count": 1, "cpu": "2", "memory": "8Gi"}])
    classes(c)
    for name in ("low", "mid", "high"):  # all queued before the scheduler's first turn
        c.api.create(PODS, "default", pod(name, cpu=FULL, priorityClassName=name))
    assert c.scheduler is not None
    task = asyncio.get_running_loop().create_task(c.scheduler.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if len(events_for(c, "low")) and len(events_for(c, "mid")):
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert node_name_of(c, "default/high") == "n-0"
    for name in ("low", "mid"):
        assert node_name_of(c, f"default/{name}") == ""
        assert [e["reason"] for e in events_for(c, name)] == ["FailedScheduling"]


def keep_away(app: str) -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def test_preemption_evicts_a_lower_priority_pod_whose_anti_affinity_keeps_the_pod_out() -> None:
    """The node has room; only "guard"'s anti-affinity keeps "web" out, so "guard" is the
    victim (never reprieved for fitting the resources)."""
    c = cluster([{"name": "n", "count": 1, "cpu": "2", "memory": "8Gi"}])
    classes(c)
    assert place(c, "guard", "100m", "low", labels={"app": "g"}, affinity=keep_away("web"))
    assert place(c, "filler", "100m", "low", labels={"app": "f"})
    assert place(c, "web", "100m", "high", labels={"app": "web"}) == ""
    assert stored(c, "web")["status"]["nominatedNodeName"] == "n-0"
    assert stored(c, "guard")["metadata"].get("deletionTimestamp")
    assert not stored(c, "filler")["metadata"].get("deletionTimestamp")
    finish_deletions(c)
    assert c.scheduler.schedule_one("default/web") == "n-0"


def test_preemption_cannot_lift_the_anti_affinity_of_a_pod_of_equal_or_higher_priority() -> None:
    c = cluster([{"name": "n", "count": 1, "cpu": "2", "memory": "8Gi"}])
    classes(c)
    assert place(c, "guard", "100m", "high", labels={"app": "g"}, affinity=keep_away("web"))
    assert place(c, "filler", "100m", "low", labels={"app": "f"})
    assert place(c, "web", "100m", "mid", labels={"app": "web"}) == ""
    assert scheduling_message(c, "web") == (
        "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules. "
        "preemption: 0/1 nodes are available: 1 node(s) didn't satisfy existing pods "
        "anti-affinity rules."
    )
    assert not stored(c, "filler")["metadata"].get("deletionTimestamp")


def place_with_port(c: SimCluster, name: str, cls: str, port: int) -> str:
    body = with_host_ports(pod(name, cpu="100m", memory="1Mi"), {"hostPort": port})
    body["spec"]["priorityClassName"] = cls
    return c.scheduler.schedule_one(c.api.create(PODS, "default", body).key) or ""


def test_preemption_evicts_the_lower_priority_pod_holding_a_host_port() -> None:
    """The node has room; only "proxy"'s port keeps "ingress" out, so "proxy" is the victim
    (never reprieved for fitting the resources), and "filler" stays."""
    c = cluster([{"name": "n", "count": 1, "cpu": "2", "memory": "8Gi"}])
    classes(c)
    assert place_with_port(c, "proxy", "low", 443) == "n-0"
    assert place(c, "filler", "100m", "low")
    assert place_with_port(c, "ingress", "high", 443) == ""
    assert stored(c, "ingress")["status"]["nominatedNodeName"] == "n-0"
    assert stored(c, "proxy")["metadata"].get("deletionTimestamp")
    assert not stored(c, "filler")["metadata"].get("deletionTimestamp")
    finish_deletions(c)
    assert c.scheduler.schedule_one("default/ingress") == "n-0"


def test_preemption_cannot_free_a_port_held_by_equal_or_higher_priority() -> None:
    c = cluster([{"name": "n", "count": 1, "cpu": "2", "memory": "8Gi"}])
    classes(c)
    assert place_with_port(c, "proxy", "mid", 443) == "n-0"
    assert place(c, "filler", "100m", "low")
    assert place_with_port(c, "ingress", "mid", 443) == ""
    assert scheduling_message(c, "ingress") == (
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod "
        "ports. preemption: 0/1 nodes are available: 1 node(s) didn't have free ports for the "
        "requested pod ports."
    )
    assert not stored(c, "filler")["metadata"].get("deletionTimestamp")


def test_the_active_queue_orders_by_priority_then_arrival() -> None:
    queue = ActiveQueue()
    for key, priority in (("a", 0), ("b", 10), ("c", 0), ("d", 10), ("e", -5)):
        queue.add(key, priority)
    queue.add("a", 99)  # queued already: keeps its place
    queue.discard("d")
    queue.add("d", 10)  # back in the queue: behind "b", which waited longer
    assert [queue.pop() for _ in range(len(queue))] == ["b", "d", "a", "c", "e"]
    with pytest.raises(IndexError):
        queue.pop()
    raw = b'{"metadata":{"labels":{"priority":"7"}},"spec":{"priority":-20,"containers":[]}}'
    assert raw_priority(raw) == -20
    assert raw_priority(b'{"spec":{"containers":[]}}') == 0


# -- property: never a victim of equal or higher priority; the preemptor fits afterwards -------

PRIORITIES = [0, 100, 500, 1000]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=stg.lists(stg.sampled_from(["1", "2", "4"]), min_size=1, max_size=5),
    pods=stg.lists(
        stg.tuples(stg.sampled_from(["250m", "500m", "1", "2"]), stg.sampled_from(PRIORITIES)),
        min_size=1,
        max_size=20,
    ),
    preemptor=stg.tuples(stg.sampled_from(["500m", "1", "2", "3"]), stg.sampled_from(PRIORITIES)),
    pdb=stg.booleans(),
)
def test_preemption_never_evicts_equal_or_higher_priority_and_the_preemptor_fits(
    nodes: list[str], pods: list[tuple[str, int]], preemptor: tuple[str, int], pdb: bool
) -> None:
    c = cluster([{"name": f"p{i}", "count": 1, "cpu": cpu, "memory": "64Gi"}
                 for i, cpu in enumerate(nodes)])  # fmt: skip
    for value in PRIORITIES[1:]:
        priority_class(c, f"c{value}", value)
    if pdb:
        c.api.create(
            PDBS,
            "default",
            {"metadata": {"name": "b"}, "spec": {"maxUnavailable": 0,
                                                 "selector": {"matchLabels": {"app": "x"}}}},
        )  # fmt: skip
    for i, (cpu, prio) in enumerate(pods):
        place(c, f"x{i}", cpu, f"c{prio}" if prio else "")
    earlier = {o.name for o in c.store.resource(("", "pods")).objects.values() if o.deleting}
    cpu, prio = preemptor
    node = place(c, "pre", cpu, f"c{prio}" if prio else "")
    if node:
        return  # it fitted without preemption
    now = {o.name: o for o in c.store.resource(("", "pods")).objects.values()}
    victims = [o for o in now.values() if o.deleting and o.name not in earlier]
    for v in victims:
        assert v.decode()["spec"]["priority"] < prio
    nominated = stored(c, "pre")["status"].get("nominatedNodeName")
    if nominated is None:
        assert not victims
        return
    # (a victim may also be a pod already terminating there, from an earlier preemption)
    assert {v.fields.get("spec.nodeName") for v in victims} <= {nominated}
    finish_deletions(c)
    assert c.scheduler.schedule_one("default/pre") == nominated
    # and the node is not overcommitted
    used = sum(
        resource_amount("cpu", o.decode()["spec"]["containers"][0]["resources"]["requests"]["cpu"])
        for o in c.store.resource(("", "pods")).objects.values()
        if o.fields.get("spec.nodeName") == nominated
    )
    node_obj = c.api.get(REGISTRY.get("", "v1", "nodes"), "", nominated).decode()
    assert used <= resource_amount("cpu", node_obj["status"]["allocatable"]["cpu"])


def test_scenario_priority_classes_reach_the_workloads_pods() -> None:
    from kubeward.sim.scenarios.model import Scenario
    from kubeward.sim.scenarios.workloads import manifests

    scenario = Scenario.model_validate(
        {
            "name": "t",
            "nodePools": [{"name": "n", "count": 1}],
            "priorityClasses": [
                {"name": "batch", "value": -10, "preemptionPolicy": "Never"},
                {"name": "normal", "value": 100, "globalDefault": True},
            ],
            "workloads": [{"name": "crunch", "kind": "Job", "priorityClassName": "batch"}],
        }
    )
    objects = list(manifests(scenario))
    assert objects[0][0] == ("scheduling.k8s.io", "v1", "priorityclasses")
    c = SimCluster(scenario)
    c.bootstrap()
    assert c.api.get(PCS, "", "normal").decode()["globalDefault"] is True
    job = c.api.get(REGISTRY.get("batch", "v1", "jobs"), "default", "crunch").decode()
    assert job["spec"]["template"]["spec"]["priorityClassName"] == "batch"
    plain = c.api.create(PODS, "default", pod("plain")).decode()["spec"]
    assert (plain["priorityClassName"], plain["priority"]) == ("normal", 100)
