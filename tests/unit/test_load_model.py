"""The modelled API server as a whole: OOM kills end every watch and clients relist; the
openai-outage scenario collapses without intervention; audit lines are audit.k8s.io/v1 Events."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from kubeward.sim.load.apf import Target
from kubeward.sim.load.audit import AuditLog, go_duration
from kubeward.sim.load.engine import CONNECTION_FAILED, Request
from kubeward.sim.load.headless import Prepared, prepare, run_model
from kubeward.sim.load.runner import LoadRunner, identity_of
from kubeward.sim.scenarios.model import load_scenario


@pytest.fixture(scope="module")
def outage_small() -> Prepared:
    return asyncio.run(prepare(load_scenario("openai-outage-small")))


@pytest.fixture(scope="module")
def tiny() -> Prepared:
    return asyncio.run(prepare(load_scenario("tiny")))


def _runner(prepared: Prepared, audit: AuditLog | None = None) -> LoadRunner:
    return run_model(prepared, 2, audit=audit)  # two quiet minutes: every informer is watching


def _until_killed(runner: LoadRunner) -> None:
    """Advance until the process is OOM-killed (a LIST's heap counts once etcd answered)."""
    model = runner.model
    deadline = model.now + 10
    while model.state.restarts == 0 and model.now < deadline:
        runner.advance_to(model.now + 0.001)


def test_a_list_holds_its_heap_once_etcd_has_answered(tiny: Prepared) -> None:
    """A quorum LIST's heap (etcd's reply, decoded objects, the response) exists once etcd has
    sent the reply; a small write dispatched beside it finishes before that."""
    runner = _runner(tiny)
    model = runner.model
    admin = identity_of("admin", ("system:masters",))
    before = model.memory()
    big = Request(admin, Target("list", True, "", "nodes", ""), ("", "nodes"))
    model.submit(big)
    assert big.cost is not None and big.cost.memory > 0 and big.cost.etcd > 0
    assert big.dispatched == model.now and model.memory() == before  # etcd still reading
    held = []
    while big.code == -1 and model.now < big.dispatched + 5:
        runner.advance_to(model.now + 0.0005)
        held.append((big.etcd_seconds > 0, model.memory() - before))
    assert big.code == 200 and big.cost is not None
    reading = [grown for answered, grown in held if not answered]
    answered = [grown for done, grown in held if done]
    assert reading and max(reading) < big.cost.memory  # only others' small requests
    assert answered and max(answered) >= big.cost.memory  # (times the GC headroom)
    assert model.memory() == pytest.approx(before, rel=0.01)  # released when it finished


def test_an_oom_kill_ends_every_watch_and_informers_relist_after_the_restart(
    tiny: Prepared,
) -> None:
    runner = _runner(tiny)
    model = runner.model
    watches = model.watcher_count()
    assert watches > 0 and model.state.up
    closed: list[int] = []
    handle = model.open_watch(("", "pods"), on_closed=lambda: closed.append(1))
    assert handle is not None
    codes: list[int] = []
    admin = identity_of("admin", ("system:masters",))
    big = Request(admin, Target("list", True, "", "nodes", ""), ("", "nodes"))
    big.on_done = lambda r, code: codes.append(code)
    model.capacity = type(model.capacity)(memory_limit=model.memory() + 1)  # no headroom left
    model.submit(big)  # its heap, once etcd's reply is in, pushes the process over the limit
    _until_killed(runner)
    assert codes == [CONNECTION_FAILED]
    assert closed == [1] and model.watcher_count() == 0
    assert not model.state.up and model.state.restarts == 1
    assert model.memory() == 0
    # While down, requests fail to connect; after restartSeconds the server is back, and
    # the informers list and watch again (the restarted server has its old limit back).
    model.capacity = type(model.capacity)()
    refused: list[int] = []
    again = Request(admin, Target("get", True, "", "pods", "default"), ("", "pods"))
    again.on_done = lambda r, code: refused.append(code)
    model.submit(again)
    assert refused == [CONNECTION_FAILED]
    runner.advance_to(model.now + model.capacity.restart_seconds + 90)
    assert model.state.up and model.state.ready
    assert model.watcher_count() >= watches


def test_openai_outage_small_collapses_without_intervention(outage_small: Prepared) -> None:
    scenario = outage_small.cluster.scenario
    onset = 300.0
    runner = run_model(outage_small, 30)
    summary = runner.summary(onset)
    assert summary["system_success_before"] > 0.99
    assert summary["apiserver_restarts"] >= 3
    first_oom = summary["oom_at_seconds"][0]
    assert onset < first_oom < onset + 600
    # memory climbed from its resting level up to the limit before the first kill
    # system components fail; DNS fails once CoreDNS's cache window has passed; no recovery
    assert summary["system_success_after"] < 0.5
    window = scenario.load.coredns.cache_window
    dns_failed_at = onset + summary["dns_failure_minutes_after_onset"] * 60
    assert dns_failed_at >= first_oom + window
    ok, total = runner.system_success(25 * 60, 30 * 60)
    assert total > 0 and ok / total < 0.2
    assert runner.coredns is not None and runner.coredns.failure_seconds > 10 * 60
    # the culprit is visible per client: the telemetry agents' requests
    agents = next(c for c in runner.clients if c.spec.name == "telemetry-agent")
    assert agents.stats.requests > 1000


def test_memory_climbs_after_the_rollout_until_the_first_kill(outage_small: Prepared) -> None:
    runner = LoadRunner(
        outage_small.cluster.scenario.load,
        outage_small.cluster.store,
        outage_small.cluster.clock,
    )
    runner.start(at=0.0)
    resting = []
    for second in range(0, 300, 10):
        runner.advance_to(second)
        resting.append(runner.model.memory())
    climbing = []
    while runner.model.state.restarts == 0 and runner.model.now < 900:
        runner.advance_to(runner.model.now + 1)
        if runner.model.state.up:
            climbing.append(runner.model.memory())
    assert runner.model.state.restarts == 1
    assert max(climbing) > 2 * max(resting)
    assert max(climbing) <= runner.model.capacity.memory_limit


def test_audit_lines_are_audit_k8s_io_v1_events(tiny: Prepared, tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog(path)
    runner = _runner(tiny, audit)
    audit.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) > 50
    users = set()
    for line in lines:
        event = orjson.loads(line)
        assert event["kind"] == "Event" and event["apiVersion"] == "audit.k8s.io/v1"
        assert event["level"] == "Metadata" and event["stage"] == "ResponseComplete"
        assert event["verb"] in ("get", "list", "watch", "create", "update", "patch", "delete")
        assert event["requestURI"].startswith(("/api/", "/apis/"))
        assert event["user"]["username"] and "system:authenticated" in event["user"]["groups"]
        assert isinstance(event["responseStatus"]["code"], int)
        received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
        completed = datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00"))
        assert completed >= received
        assert event["objectRef"]["resource"] and event["objectRef"]["apiVersion"] == "v1"
        assert event["annotations"]["sim.kubeward.io/priority-level"]
        users.add(event["user"]["username"])
    assert {"system:kube-scheduler", "system:serviceaccount:kube-system:coredns"} <= users
    assert runner.model.state.restarts == 0


def test_sampled_audit_lines_carry_their_rate(tiny: Prepared, tmp_path: Path) -> None:
    full, sampled = tmp_path / "full.log", tmp_path / "sampled.log"
    for path, rate in ((full, 1.0), (sampled, 0.1)):
        audit = AuditLog(path, sample=rate)
        _runner(tiny, audit)
        audit.close()
    n_full = len(full.read_bytes().splitlines())
    sampled_lines = sampled.read_bytes().splitlines()
    assert 0.03 * n_full < len(sampled_lines) < 0.2 * n_full
    rates = {
        orjson.loads(x)["annotations"]["sim.kubeward.io/audit-sample-rate"] for x in sampled_lines
    }
    assert rates == {"0.1"}
    with pytest.raises(ValueError, match="sample rate"):
        AuditLog(tmp_path / "x.log", sample=0)


def test_request_received_lines_show_the_requests_an_oom_kill_cut_short(
    tiny: Prepared, tmp_path: Path
) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog(path, request_received=True)
    runner = _runner(tiny, audit)
    model = runner.model
    admin = identity_of("admin", ("system:masters",))
    big = Request(admin, Target("list", True, "", "nodes", ""), ("", "nodes"), uri="/api/v1/nodes")
    model.capacity = type(model.capacity)(memory_limit=model.memory() + 1)  # no headroom left
    model.submit(big)  # its heap pushes the process over the limit: it never completes
    _until_killed(runner)
    assert model.state.restarts == 1
    audit.close()
    events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    received = {e["auditID"]: e for e in events if e["stage"] == "RequestReceived"}
    completed = {e["auditID"]: e for e in events if e["stage"] == "ResponseComplete"}
    assert len(received) + len(completed) == len(events) and len(completed) > 50
    # every completed request was logged when it arrived, under the same auditID
    assert set(completed) <= set(received)
    for audit_id, done in completed.items():
        first = received[audit_id]
        assert first["requestReceivedTimestamp"] == done["requestReceivedTimestamp"]
        assert first["stageTimestamp"] == first["requestReceivedTimestamp"]
        assert "responseStatus" not in first and first["requestURI"] == done["requestURI"]
    # the LIST that killed the server has only its first line
    (killed,) = [
        e for i, e in received.items() if i not in completed and e["user"]["username"] == "admin"
    ]
    assert killed["verb"] == "list" and killed["objectRef"]["resource"] == "nodes"


def test_go_durations() -> None:
    assert go_duration(0) == "0s"
    assert go_duration(0.0032) == "3.2ms"
    assert go_duration(1.5) == "1.5s"
    assert go_duration(123) == "2m3s"
    assert go_duration(3723) == "1h2m3s"
