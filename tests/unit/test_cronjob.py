"""CronJobs on simulated time: jobs on schedule, history limits, concurrency policies."""

from __future__ import annotations

import json

from kubeward.kube.registry import REGISTRY
from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.cronjob import SCHEDULED_ANNOTATION
from kubeward.sim.scenarios.model import Scenario
from simproc import until

CRONJOBS = REGISTRY.get("batch", "v1", "cronjobs")


def cronjob(name: str, run_seconds: float, policy: str = "Allow") -> dict:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedule": "* * * * *",
            "concurrencyPolicy": policy,
            "successfulJobsHistoryLimit": 2,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "metadata": {
                            "annotations": {ANNOTATION: json.dumps({"runSeconds": run_seconds})}
                        },
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "job", "image": "report:1"}],
                        },
                    }
                }
            },
        },
    }


def jobs_of(c: SimCluster, prefix: str) -> list[dict]:
    return [
        j.decode()
        for j in c.store.resource(("batch", "jobs")).objects.values()
        if j.name.startswith(prefix) and not j.deleting
    ]


def reasons(c: SimCluster, name: str) -> list[str]:
    return [
        e.decode()["reason"]
        for e in c.store.resource(("", "events")).objects.values()
        if e.decode()["involvedObject"]["name"] == name
    ]


async def test_jobs_run_on_schedule_and_history_is_pruned() -> None:
    c = SimCluster(
        Scenario.model_validate({"name": "c", "nodePools": [{"name": "n", "count": 1}]}),
        clock=SimClock(speed=300),
    )
    c.bootstrap()
    c.start()
    try:
        c.api.create(CRONJOBS, "default", cronjob("report", 5))
        c.api.create(CRONJOBS, "default", cronjob("slow", 600, policy="Forbid"))
        await until(lambda: "SawCompletedJob" in reasons(c, "report"), timeout=20)
        job = jobs_of(c, "report-")[0]
        minutes = int(job["metadata"]["name"].rsplit("-", 1)[1])
        assert job["metadata"]["annotations"][SCHEDULED_ANNOTATION].endswith(":00Z")
        assert minutes * 60 == int(
            __import__("calendar").timegm(
                __import__("time").strptime(
                    job["metadata"]["annotations"][SCHEDULED_ANNOTATION], "%Y-%m-%dT%H:%M:%SZ"
                )
            )
        )
        # after a few minutes only successfulJobsHistoryLimit=2 finished jobs remain
        await until(lambda: reasons(c, "report").count("SuccessfulDelete") >= 1, timeout=30)
        finished = [j for j in jobs_of(c, "report-") if j.get("status", {}).get("completionTime")]
        assert len(finished) <= 2
        status = c.api.get(CRONJOBS, "default", "report").decode()["status"]
        assert status["lastScheduleTime"] and status["lastSuccessfulTime"]
        # Forbid: the 10-minute job blocks the next runs
        await until(lambda: "JobAlreadyActive" in reasons(c, "slow"), timeout=20)
        assert len(jobs_of(c, "slow-")) == 1
    finally:
        await c.stop()
