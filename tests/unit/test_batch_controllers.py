"""Job and CronJob controllers in a running SimCluster: completions, parallelism, backoff,
deadlines, indexed jobs, TTL, and CronJob concurrency policies on simulated time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from kubeward.kube.registry import REGISTRY
from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.clock import SimClock, parse_time
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.cronjob import CronJobController
from kubeward.sim.control.job import INDEX_KEY, TRACKING, _format_indexes, _parse_indexes
from kubeward.sim.scenarios.model import Scenario
from kubeward.sim.store.objects import StoreEvent
from simproc import until

JOBS = REGISTRY.get("batch", "v1", "jobs")
CRONJOBS = REGISTRY.get("batch", "v1", "cronjobs")


@pytest.fixture
async def cluster() -> AsyncIterator[SimCluster]:
    c = SimCluster(
        Scenario.model_validate({"name": "b", "nodePools": [{"name": "n", "count": 3}]}),
        clock=SimClock(speed=200),
    )
    c.bootstrap()
    c.start()
    try:
        yield c
    finally:
        await c.stop()


def job_body(name: str, behaviour: dict, **spec: object) -> dict:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            **spec,
            "template": {
                "metadata": {"annotations": {ANNOTATION: json.dumps(behaviour)}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "work", "image": "batch:1"}],
                },
            },
        },
    }


def job_status(c: SimCluster, name: str) -> dict:
    obj = c.store.get(("batch", "jobs"), f"default/{name}")
    return (obj.decode().get("status") or {}) if obj is not None else {}


def condition_types(status: dict) -> list[str]:
    return [c["type"] for c in status.get("conditions") or () if c["status"] == "True"]


def pods_of(c: SimCluster, job: str) -> list[dict]:
    return [
        p.decode()
        for p in c.store.resource(("", "pods")).objects.values()
        if p.labels.get("batch.kubernetes.io/job-name") == job
    ]


def events(c: SimCluster, name: str) -> list[tuple[str, str]]:
    out = []
    for e in c.store.resource(("", "events")).objects.values():
        d = e.decode()
        if d["involvedObject"]["name"] == name:
            out.append((d["reason"], d["message"]))
    return out


async def test_completions_respect_parallelism(cluster: SimCluster) -> None:
    c = cluster
    active_peak = [0]
    live: set[str] = set()

    def track(e: StoreEvent) -> None:
        if e.storage_key != ("", "pods") or e.obj.labels.get("job-name") != "batch":
            return
        running = e.type != "DELETED" and e.obj.fields.get("status.phase") not in (
            "Succeeded",
            "Failed",
        )
        (live.add if running else live.discard)(e.obj.key)
        active_peak[0] = max(active_peak[0], len(live))

    c.store.add_listener(track)
    c.api.create(
        JOBS, "default", job_body("batch", {"runSeconds": 5}, completions=5, parallelism=2)
    )
    await until(lambda: "Complete" in condition_types(job_status(c, "batch")), timeout=20)
    status = job_status(c, "batch")
    assert status["succeeded"] == 5 and status.get("failed", 0) == 0
    assert "active" not in status and status["ready"] == 0  # active is omitempty
    assert condition_types(status) == ["SuccessCriteriaMet", "Complete"]
    complete = next(x for x in status["conditions"] if x["type"] == "Complete")
    assert complete["reason"] == "CompletionsReached"
    assert status["completionTime"] >= status["startTime"]
    assert active_peak[0] == 2  # never more than parallelism at once
    pods = pods_of(c, "batch")
    assert len(pods) == 5
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels["batch.kubernetes.io/controller-uid"] == labels["controller-uid"]
        assert pod["metadata"]["name"].startswith("batch-")
        assert TRACKING not in (pod["metadata"].get("finalizers") or [])
    evs = events(c, "batch")
    assert sum(1 for r, _ in evs if r == "SuccessfulCreate") == 5
    assert ("Completed", "Job completed") in evs
    assert all(m.startswith("Created pod: batch-") for r, m in evs if r == "SuccessfulCreate")


async def test_backoff_limit_fails_the_job_after_delayed_retries(cluster: SimCluster) -> None:
    c = cluster
    c.api.create(
        JOBS,
        "default",
        job_body("flaky", {"crashAfterSeconds": 1, "startupSeconds": 0}, backoffLimit=1),
    )
    await until(lambda: "Failed" in condition_types(job_status(c, "flaky")), timeout=20)
    status = job_status(c, "flaky")
    assert status["failed"] == 2 and status.get("succeeded", 0) == 0
    assert condition_types(status) == ["FailureTarget", "Failed"]
    failed = next(x for x in status["conditions"] if x["type"] == "Failed")
    assert (failed["reason"], failed["message"]) == (
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )
    assert ("BackoffLimitExceeded", "Job has reached the specified backoff limit") in events(
        c, "flaky"
    )
    pods = sorted(pods_of(c, "flaky"), key=lambda p: p["metadata"]["creationTimestamp"])
    assert len(pods) == 2
    first_end = max(
        parse_time(s["state"]["terminated"]["finishedAt"])
        for s in pods[0]["status"]["containerStatuses"]
    )
    second_start = parse_time(pods[1]["metadata"]["creationTimestamp"])
    assert second_start - first_end >= timedelta(seconds=9)  # 10 s pod failure backoff


async def test_active_deadline_ends_the_job(cluster: SimCluster) -> None:
    c = cluster
    c.api.create(JOBS, "default", job_body("slow", {"runSeconds": 3600}, activeDeadlineSeconds=20))
    await until(lambda: "Failed" in condition_types(job_status(c, "slow")), timeout=20)
    failed = next(x for x in job_status(c, "slow")["conditions"] if x["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    assert failed["message"] == "Job was active longer than specified deadline"
    start = parse_time(job_status(c, "slow")["startTime"])
    assert parse_time(failed["lastTransitionTime"]) - start >= timedelta(seconds=20)
    await until(lambda: not pods_of(c, "slow"))  # active pods deleted, then counted
    await until(lambda: job_status(c, "slow").get("failed") == 1)


async def test_indexed_job_and_ttl(cluster: SimCluster) -> None:
    c = cluster
    c.api.create(
        JOBS,
        "default",
        job_body(
            "shards",
            {"runSeconds": 2},
            completions=3,
            parallelism=3,
            completionMode="Indexed",
            ttlSecondsAfterFinished=30,
        ),
    )
    await until(lambda: "Complete" in condition_types(job_status(c, "shards")), timeout=20)
    status = job_status(c, "shards")
    assert status["completedIndexes"] == "0-2" and status["succeeded"] == 3
    pods = pods_of(c, "shards")
    indexes = sorted(p["metadata"]["annotations"][INDEX_KEY] for p in pods)
    assert indexes == ["0", "1", "2"]
    for p in pods:
        i = p["metadata"]["annotations"][INDEX_KEY]
        assert p["metadata"]["labels"][INDEX_KEY] == i
        assert p["metadata"]["name"].startswith(f"shards-{i}-")
        assert p["spec"]["hostname"] == f"shards-{i}"
        env = p["spec"]["containers"][0]["env"]
        assert env[0]["name"] == "JOB_COMPLETION_INDEX"
    # ttlSecondsAfterFinished: the Job goes 30 simulated seconds after it finished
    done = parse_time(status["completionTime"])
    await until(lambda: c.store.get(("batch", "jobs"), "default/shards") is None, timeout=20)
    assert c.clock.now() - done >= timedelta(seconds=29)


async def test_suspend_and_resume(cluster: SimCluster) -> None:
    c = cluster
    c.api.create(
        JOBS,
        "default",
        job_body("paused", {"runSeconds": 3600}, parallelism=2, completions=4, suspend=True),
    )
    await until(lambda: "Suspended" in condition_types(job_status(c, "paused")))
    assert pods_of(c, "paused") == [] and "startTime" not in job_status(c, "paused")

    def set_suspend(value: bool) -> None:
        job = c.api.get(JOBS, "default", "paused").decode()
        job["spec"]["suspend"] = value
        c.api.update(JOBS, "default", "paused", job)

    set_suspend(False)
    await until(lambda: job_status(c, "paused").get("active") == 2)
    suspended = next(x for x in job_status(c, "paused")["conditions"] if x["type"] == "Suspended")
    assert (suspended["status"], suspended["reason"]) == ("False", "JobResumed")
    assert ("Resumed", "Job resumed") in events(c, "paused")
    assert "startTime" in job_status(c, "paused")
    set_suspend(True)
    await until(
        lambda: not any(not p["metadata"].get("deletionTimestamp") for p in pods_of(c, "paused"))
    )
    await until(lambda: "Suspended" in condition_types(job_status(c, "paused")))
    assert ("Suspended", "Job suspended") in events(c, "paused")
    assert sum(1 for r, _ in events(c, "paused") if r == "SuccessfulDelete") == 2


@given(hs.sets(hs.integers(0, 60)))
def test_completed_indexes_round_trip(indexes: set[int]) -> None:
    text = _format_indexes(indexes)
    assert _parse_indexes(text) == indexes
    assert " " not in text and ",," not in text


def test_completed_indexes_format() -> None:
    assert _format_indexes({0, 1, 2, 4, 6, 7}) == "0-2,4,6-7"


# -- CronJob ------------------------------------------------------------------------------------


def cronjob(name: str, run_seconds: float, policy: str) -> dict:
    body = job_body(name, {"runSeconds": run_seconds})
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": policy,
            "jobTemplate": {"spec": body["spec"]},
        },
    }


def jobs_of(c: SimCluster, cronjob: str) -> list[dict]:
    return [
        j.decode()
        for j in c.store.resource(("batch", "jobs")).objects.values()
        if j.name.startswith(f"{cronjob}-") and not j.deleting
    ]


async def test_cronjob_concurrency_policies() -> None:
    c = SimCluster(
        Scenario.model_validate({"name": "cj", "nodePools": [{"name": "n", "count": 2}]}),
        clock=SimClock(speed=400),
    )
    c.bootstrap()
    c.start()
    try:
        for name, policy in (("allow", "Allow"), ("forbid", "Forbid"), ("replace", "Replace")):
            c.api.create(CRONJOBS, "default", cronjob(name, 3600, policy))
        # Allow: a new Job every minute although the previous ones still run
        await until(lambda: len(jobs_of(c, "allow")) >= 3, timeout=30)
        status = c.api.get(CRONJOBS, "default", "allow").decode()["status"]
        assert len(status["active"]) >= 3
        for job in jobs_of(c, "allow"):
            minutes = int(job["metadata"]["name"].rsplit("-", 1)[1])
            stamp = job["metadata"]["annotations"][
                "batch.kubernetes.io/cronjob-scheduled-timestamp"
            ]
            assert parse_time(stamp).timestamp() == minutes * 60
            assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
        created = [m for r, m in events(c, "allow") if r == "SuccessfulCreate"]
        assert created and all(m.startswith("Created job allow-") for m in created)
        # Forbid: one Job, later runs skipped
        assert len(jobs_of(c, "forbid")) == 1
        assert any(r == "JobAlreadyActive" for r, _ in events(c, "forbid"))
        # Replace: each run deletes the previous Job
        await until(lambda: any(r == "SuccessfulDelete" for r, _ in events(c, "replace")))
        await until(lambda: len(jobs_of(c, "replace")) == 1)
        deleted = [m for r, m in events(c, "replace") if r == "SuccessfulDelete"]
        assert deleted[0].startswith("Deleted job replace-")
        active = c.api.get(CRONJOBS, "default", "replace").decode()["status"]["active"]
        assert len(active) == 1
    finally:
        await c.stop()


async def test_cronjob_suspend_creates_nothing(cluster: SimCluster) -> None:
    c = cluster
    body = cronjob("paused", 1, "Allow")
    body["spec"]["suspend"] = True
    c.api.create(CRONJOBS, "default", body)
    await c.clock.sleep(150)
    assert jobs_of(c, "paused") == []
    # A run long ago: a suspended CronJob does not count its missed times (syncCronJob returns
    # before it looks at the schedule), so no TooManyMissedTimes, and its status is kept.
    cj = c.api.get(CRONJOBS, "default", "paused").decode()
    cj["status"] = {"lastScheduleTime": "2026-01-01T10:00:00Z"}
    c.api.update(CRONJOBS, "default", "paused", cj, subresource="status")
    await c.clock.sleep(150)
    assert jobs_of(c, "paused") == []
    assert [reason for reason, _ in events(c, "paused")] == []
    status = c.api.get(CRONJOBS, "default", "paused").decode()["status"]
    assert status == {"lastScheduleTime": "2026-01-01T10:00:00Z"}


def test_missed_schedules_are_counted_and_the_latest_is_run() -> None:
    now = datetime(2026, 5, 1, 12, 30, 20, tzinfo=UTC)
    schedule = ("*/5 * * * *", None)
    recent, count = CronJobController._missed(schedule, now - timedelta(hours=10), now)
    assert recent == datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    assert count == 120  # more than 100: TooManyMissedTimes
    recent, count = CronJobController._missed(schedule, now - timedelta(minutes=3), now)
    assert (recent, count) == (datetime(2026, 5, 1, 12, 30, tzinfo=UTC), 1)
    assert CronJobController._missed(schedule, now, now) == (None, 0)


def test_time_zone_schedule() -> None:
    from zoneinfo import ZoneInfo

    # 09:00 in New York (EDT, UTC-4) is 13:00 UTC
    now = datetime(2026, 5, 1, 13, 0, 30, tzinfo=UTC)
    recent, count = CronJobController._missed(
        ("0 9 * * *", ZoneInfo("America/New_York")), now - timedelta(hours=1), now
    )
    assert (recent, count) == (datetime(2026, 5, 1, 13, 0, tzinfo=UTC), 1)
