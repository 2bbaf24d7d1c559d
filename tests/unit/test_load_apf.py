"""API Priority and Fairness: the default configuration's classification, seats, queues,
rejections and time-outs, as kube-apiserver applies them."""

from __future__ import annotations

import math

import pytest

from kubeward.sim.load.apf import FlowControl, Identity, PriorityLevel, Target
from kubeward.sim.load.bootstrap import flow_schemas, priority_levels
from kubeward.sim.load.cost import Capacity, Cost
from kubeward.sim.load.engine import CONNECTION_FAILED, APIServerModel, Request
from kubeward.sim.load.runner import identity_of

SERVER_CL = 600


def defaults() -> FlowControl:
    fc = FlowControl(SERVER_CL)
    fc.configure(_with_uids(flow_schemas()), _with_uids(priority_levels()))
    return fc


def _with_uids(objs: list[dict]) -> list[dict]:
    return [{**o, "metadata": {**o["metadata"], "uid": o["metadata"]["name"]}} for o in objs]


def sa(ns: str, name: str) -> Identity:
    return identity_of(
        f"system:serviceaccount:{ns}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{ns}"),
    )


LIST_PODS = Target("list", True, "", "pods", "")


@pytest.mark.parametrize(
    ("who", "target", "schema", "level"),
    [
        (identity_of("admin", ("system:masters",)), LIST_PODS, "exempt", "exempt"),
        (identity_of("system:node:n1", ("system:nodes",)), LIST_PODS, "system-nodes", "system"),
        (
            identity_of("system:node:n1", ("system:nodes",)),
            Target("update", True, "coordination.k8s.io", "leases", "kube-node-lease"),
            "system-node-high",
            "node-high",
        ),
        (
            identity_of("system:kube-scheduler", ()),
            Target("update", True, "coordination.k8s.io", "leases", "kube-system"),
            "system-leader-election",
            "leader-election",
        ),
        (identity_of("system:kube-scheduler", ()), LIST_PODS, "kube-scheduler", "workload-high"),
        (sa("kube-system", "coredns"), LIST_PODS, "kube-system-service-accounts", "workload-high"),
        (sa("monitoring", "agent"), LIST_PODS, "service-accounts", "workload-low"),
        (identity_of("jane", ()), LIST_PODS, "global-default", "global-default"),
        (
            identity_of("jane", ()),
            Target("get", False, path="/healthz"),
            "probes",
            "exempt",
        ),
    ],
)
def test_default_flow_schemas_classify_like_kube_apiserver(
    who: Identity, target: Target, schema: str, level: str
) -> None:
    match = defaults().classify(who, target)
    assert match is not None
    assert (match[0].name, match[1].name) == (schema, level)


def test_seats_are_the_level_share_of_the_server_concurrency_limit() -> None:
    fc = defaults()
    shares = {"system": 30, "node-high": 40, "leader-election": 10, "workload-high": 40}
    shares |= {"workload-low": 100, "global-default": 20, "catch-all": 5}
    total = sum(shares.values())
    for name, share in shares.items():
        assert fc.levels[name].seats == math.ceil(SERVER_CL * share / total), name
    assert fc.levels["exempt"].exempt


def test_shuffle_sharding_deals_a_stable_hand_of_distinct_queues() -> None:
    level = defaults().levels["workload-low"]
    hand = level.hand("system:serviceaccount:monitoring:agent")
    assert hand == level.hand("system:serviceaccount:monitoring:agent")
    assert len(set(hand)) == level.hand_size == 6
    assert all(0 <= q < level.queues for q in hand)
    hands = {tuple(level.hand(f"user-{i}")) for i in range(50)}
    assert len(hands) > 45  # different flows land on different hands


def _small_level(queue_length: int = 2, queues: int = 1, shares: int = 1) -> dict:
    return {
        "metadata": {"name": "tiny", "uid": "tiny"},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": shares,
                "limitResponse": {
                    "type": "Queue",
                    "queuing": {"queues": queues, "handSize": 1, "queueLengthLimit": queue_length},
                },
            },
        },
    }


def _schema_for(user: str, level: str) -> dict:
    return {
        "metadata": {"name": "slow-agent", "uid": "slow-agent"},
        "spec": {
            "priorityLevelConfiguration": {"name": level},
            "matchingPrecedence": 500,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [
                        {
                            "kind": "ServiceAccount",
                            "serviceAccount": {"namespace": "monitoring", "name": user},
                        }
                    ],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "namespaces": ["*"],
                            "clusterScope": True,
                        }
                    ],
                }
            ],
        },
    }


class _Stats:
    """A store of 10,000 pods for the model (what StoreStats would report)."""

    def collection(self, key, namespace, selectivity=1.0):
        from kubeward.sim.load.cost import Collection

        return Collection(10_000, 10_000 * 4096.0, 10_000)

    def total_bytes(self) -> float:
        return 10_000 * 4096.0

    def drain_events(self) -> dict:
        return {}


def _model(cores: float = 1.0) -> APIServerModel:
    model = APIServerModel(_Stats(), Capacity(cores=cores))  # type: ignore[arg-type]
    model.configure(
        [*_with_uids(flow_schemas()), _schema_for("agent", "tiny")],
        [*_with_uids(priority_levels()), _small_level()],
    )
    return model


def _request(who: Identity, codes: list[int], verb: str = "list") -> Request:
    return Request(
        who,
        Target(verb, True, "", "pods", ""),
        ("", "pods"),
        on_done=lambda r, code: codes.append(code),
    )


def test_a_small_level_queues_then_rejects_its_flow_while_system_requests_run() -> None:
    model = _model()
    tiny = model.flow.levels["tiny"]
    assert tiny.seats == 3  # ceil(600 * 1 / 246); a 10-seat LIST still runs, alone
    agent, node = sa("monitoring", "agent"), identity_of("system:node:n1", ("system:nodes",))
    agent_codes: list[int] = []
    node_codes: list[int] = []
    for _ in range(10):
        model.submit(_request(agent, agent_codes))
    # one executes (a LIST wider than the level runs alone), two wait, seven are rejected
    assert tiny.executing_requests == 1 and tiny.waiting_count == 2
    assert agent_codes == [429] * 7
    for _ in range(5):
        model.submit(_request(node, node_codes))
    model.advance(60)
    assert node_codes == [200] * 5
    assert agent_codes == [429] * 7 + [200] * 3
    assert tiny.executing == 0 and tiny.waiting_count == 0


def test_queued_requests_time_out_with_429_after_the_queue_wait_limit() -> None:
    model = _model(cores=0.001)  # one LIST takes many minutes
    codes: list[int] = []
    reasons: list[str] = []
    agent = sa("monitoring", "agent")
    for _ in range(3):
        request = _request(agent, codes)
        request.on_done = lambda r, code: (codes.append(code), reasons.append(r.reject_reason))
        model.submit(request)
    model.advance(model.capacity.queue_wait_limit + 2)
    assert codes == [429, 429] and reasons == ["time-out", "time-out"]


def test_a_reject_level_rejects_at_once_and_new_objects_take_effect_immediately() -> None:
    model = _model(cores=0.001)
    agent = sa("monitoring", "agent")
    codes: list[int] = []
    model.submit(_request(agent, codes))
    model.submit(_request(agent, codes))  # waits in the tiny level's queue
    # The operator deletes the FlowSchema: the queued request is classified again, now to
    # the default service-accounts schema, and runs at once.
    model.configure(_with_uids(flow_schemas()), [*_with_uids(priority_levels()), _small_level()])
    assert model.flow.levels["tiny"].waiting_count == 0
    assert model.flow.levels["workload-low"].executing_requests == 1
    reject = _small_level()
    reject["spec"]["limited"]["limitResponse"] = {"type": "Reject"}
    model.configure(
        [*_with_uids(flow_schemas()), _schema_for("agent", "tiny")],
        [*_with_uids(priority_levels()), reject],
    )
    model.submit(_request(agent, codes))  # the level's one seat is in use: rejected
    assert codes == [429]


def test_exempt_requests_never_queue() -> None:
    model = _model(cores=0.001)
    admin = identity_of("admin", ("system:masters",))
    codes: list[int] = []
    for _ in range(20):  # 20 x 10 seats, far beyond any level's limit
        model.submit(_request(admin, codes))
    assert model.flow.levels["exempt"].executing_requests == 20
    assert PriorityLevel.of(priority_levels()[0]).exempt
    assert Cost(0, 0, 0, 1, 0).seats == 1


def test_while_the_restarted_server_fills_its_cache_exempt_requests_wait_without_time_out() -> None:
    """APF never queues exempt requests, so its queue-wait time-out cannot reject them (an
    administrator's fix must get through a long start-up); other levels' requests time out."""
    model = _model(cores=0.001)  # filling the cache of 10,000 pods takes minutes at this speed
    admin = identity_of("admin", ("system:masters",))
    killed: list[int] = []
    model.capacity = Capacity(cores=0.001, memory_limit=1)
    model.submit(_request(admin, killed))
    model.advance(model.now + 5)
    assert killed == [CONNECTION_FAILED] and model.state.restarts == 1
    model.capacity = Capacity(cores=0.001)
    model.advance(model.now + model.capacity.restart_seconds + 1)
    assert model.state.up and not model.state.ready
    exempt: list[int] = []
    other: list[int] = []
    model.submit(_request(admin, exempt, verb="get"))
    model.submit(_request(sa("default", "app"), other, verb="get"))
    model.advance(model.now + model.capacity.queue_wait_limit + 5)
    assert other == [429] and exempt == []  # still waiting for the cache, not rejected
    assert not model.state.ready
