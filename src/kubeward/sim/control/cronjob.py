"""The CronJob controller (batch/v1, kube-controller-manager's cronjob v2), on simulated time.

At each scheduled time a Job ``<cronjob>-<scheduled unix minutes>`` is created from the job
template. Only the most recent missed time is run; more than 100 missed times raise
TooManyMissedTimes. ``startingDeadlineSeconds``, ``suspend``, ``concurrencyPolicy``
(Allow / Forbid / Replace), ``timeZone`` and the history limits work as in Kubernetes. Schedules
are read by :mod:`kubeward.kube.cron` (standard five fields or an ``@hourly``-style macro).
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from cronsim import CronSim

from kubeward.kube import status as st
from kubeward.kube.cron import Schedule, next_after, parse_schedule, times_after
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.clock import format_time, parse_time
from kubeward.sim.control.base import Controller
from kubeward.sim.control.events import NORMAL, WARNING, EventRecorder, ObjectRef
from kubeward.sim.control.podcontrol import owner_reference
from kubeward.sim.store.objects import StoreEvent

log = logging.getLogger("kubeward.sim.cronjob")

CRONJOBS = REGISTRY.get("batch", "v1", "cronjobs")
JOBS = REGISTRY.get("batch", "v1", "jobs")
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_MISSED = 100


class CronJobController(Controller):
    name = "cronjob-controller"
    watches = (("batch", "cronjobs"), ("batch", "jobs"))

    def __init__(self, api: ObjectAPI) -> None:
        super().__init__(api.store)
        self.api = api
        self.recorder = EventRecorder(api, "cronjob-controller")
        self._by_uid: dict[str, str] = {}
        self._jobs: dict[str, set[str]] = {}  # cronjob uid -> job keys
        self._timers: dict[str, Any] = {}

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        obj = event.obj
        if event.storage_key == ("batch", "cronjobs"):
            if event.type == "DELETED":
                self._by_uid.pop(obj.uid, None)
                return []
            self._by_uid[obj.uid] = obj.key
            return [obj.key]
        if event.storage_key == ("batch", "jobs"):
            for uid in obj.owner_uids:
                jobs = self._jobs.setdefault(uid, set())
                if event.type == "DELETED":
                    jobs.discard(obj.key)
                else:
                    jobs.add(obj.key)
            return [self._by_uid[u] for u in obj.owner_uids if u in self._by_uid]
        return []

    def reconcile(self, key: Hashable) -> None:
        assert CRONJOBS is not None
        obj = self.store.get(("batch", "cronjobs"), str(key))
        if obj is None or obj.deleting:
            return
        cj = obj.decode()
        spec, status = cj.get("spec") or {}, dict(cj.get("status") or {})
        ref = ObjectRef.of(cj, "CronJob")
        jobs = [
            j.decode()
            for k in sorted(self._jobs.get(obj.uid, ()))
            if (j := self.store.get(("batch", "jobs"), k)) is not None
        ]
        active, finished = self._split(cj, jobs, status, ref)
        schedule = None
        if not spec.get("suspend"):
            # As syncCronJob: a suspended CronJob's schedule is neither parsed nor counted (no
            # UnparseableSchedule, no TooManyMissedTimes); its jobs are still tracked.
            try:
                schedule = self._schedule(spec)
            except (ValueError, ZoneInfoNotFoundError) as exc:
                self.recorder.event(
                    ref,
                    WARNING,
                    "UnparseableSchedule",
                    f"unparseable schedule: {spec.get('schedule')!r} : {exc}",
                )
                return
            self._run_due(cj, schedule, active, status, ref)
        self._prune(cj, finished, ref)
        status["active"] = [
            {
                "kind": "Job",
                "namespace": j["metadata"]["namespace"],
                "name": j["metadata"]["name"],
                "uid": j["metadata"]["uid"],
                "apiVersion": "batch/v1",
                "resourceVersion": j["metadata"].get("resourceVersion", ""),
            }
            for j in active
        ]
        status = {k: v for k, v in status.items() if v}
        if status != (cj.get("status") or {}):
            cj["status"] = status
            self.api.update(CRONJOBS, obj.namespace, obj.name, cj, subresource="status")
        if schedule is not None:
            self._arm(str(key), schedule, self.api.clock.now())

    def _run_due(
        self,
        cj: dict[str, Any],
        schedule: Schedule,
        active: list[dict[str, Any]],
        status: dict[str, Any],
        ref: ObjectRef,
    ) -> None:
        """Start the Job of the most recent missed time, if it may start (``active`` and
        ``status.lastScheduleTime`` are updated in place)."""
        spec = cj["spec"]
        now = self.api.clock.now()
        since = parse_time(status.get("lastScheduleTime") or cj["metadata"]["creationTimestamp"])
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            # times older than the deadline are not worth starting: do not even count them
            since = max(since, now - timedelta(seconds=int(deadline)))
        when, missed = self._missed(schedule, since, now)
        if missed > MAX_MISSED:
            self.recorder.event(
                ref,
                WARNING,
                "TooManyMissedTimes",
                f"too many missed start times: {missed}. Set or decrease "
                ".spec.startingDeadlineSeconds or check clock skew",
            )
        if when is None:
            return
        if deadline is not None and (now - when).total_seconds() > int(deadline):
            self.recorder.event(
                ref,
                WARNING,
                "MissSchedule",
                "Missed scheduled time to start a job: "
                + email.utils.format_datetime(when.astimezone(UTC)),
            )
        elif self._may_start(cj, active, ref):
            job = self._create_job(cj, when, ref)
            if job is not None:
                active.append(job)
            status["lastScheduleTime"] = format_time(when)

    # -- schedule -------------------------------------------------------------------------------

    def _schedule(self, spec: dict[str, Any]) -> Schedule:
        return parse_schedule(str(spec.get("schedule", "")), spec.get("timeZone"))

    @staticmethod
    def _missed(schedule: Schedule, since: datetime, now: datetime) -> tuple[datetime | None, int]:
        """The most recent unmet schedule time after ``since`` and how many were missed
        (getMostRecentScheduleTime: the count is estimated from the gap between two times)."""
        expr, tz = schedule
        times = iter(times_after(schedule, since))
        t1 = next(times).astimezone(UTC)
        if t1 > now:
            return None, 0
        t2 = next(times).astimezone(UTC)
        if t2 > now:
            return t1, 1
        gap = (t2 - t1).total_seconds()
        count = int((now - t1).total_seconds() // gap) + 1
        local_now = now.astimezone(tz) if tz else now
        recent = t1
        for t in CronSim(expr, local_now + timedelta(seconds=1), reverse=True):
            t = t.astimezone(UTC)
            if t <= now:
                recent = max(t, t1)
                break
        return recent, count

    def _arm(self, key: str, schedule: Schedule, now: datetime) -> None:
        """Wake up at the next scheduled time."""
        nxt = next_after(schedule, now)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._timers[key] = self.api.clock.call_later(
            (nxt - now).total_seconds() + 0.5, self.enqueue, key
        )

    # -- jobs -----------------------------------------------------------------------------------

    def _split(
        self,
        cj: dict[str, Any],
        jobs: list[dict[str, Any]],
        status: dict[str, Any],
        ref: ObjectRef,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        active, finished = [], []
        was_active = {a.get("uid") for a in status.get("active") or ()}
        for job in jobs:
            done = _finished(job)
            if done is None:
                active.append(job)
                continue
            finished.append(job)
            if job["metadata"]["uid"] in was_active:
                self.recorder.event(
                    ref,
                    NORMAL,
                    "SawCompletedJob",
                    f"Saw completed job: {job['metadata']['name']}, status: {done}",
                )
                if done == "Complete":
                    status["lastSuccessfulTime"] = (job.get("status") or {}).get(
                        "completionTime", self.api.clock.timestamp()
                    )
        return active, finished

    def _may_start(self, cj: dict[str, Any], active: list[dict[str, Any]], ref: ObjectRef) -> bool:
        policy = (cj.get("spec") or {}).get("concurrencyPolicy", "Allow")
        if not active or policy == "Allow":
            return True
        if policy == "Forbid":
            self.recorder.event(
                ref,
                NORMAL,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and "
                "concurrency policy is Forbid",
            )
            return False
        for job in list(active):  # Replace
            self._delete_job(job, ref)
            active.remove(job)
        return True

    def _create_job(
        self, cj: dict[str, Any], when: datetime, ref: ObjectRef
    ) -> dict[str, Any] | None:
        assert JOBS is not None
        template = (cj.get("spec") or {}).get("jobTemplate") or {}
        tmeta = template.get("metadata") or {}
        name = f"{cj['metadata']['name']}-{int(when.timestamp()) // 60}"
        body = {
            "metadata": {
                "name": name,
                "labels": dict(tmeta.get("labels") or {}),
                "annotations": {
                    **(tmeta.get("annotations") or {}),
                    SCHEDULED_ANNOTATION: format_time(when),
                },
                "ownerReferences": [owner_reference(cj, "CronJob", "batch/v1")],
            },
            "spec": template.get("spec") or {},
        }
        try:
            job = self.api.create(JOBS, cj["metadata"]["namespace"], body).decode()
        except st.StatusError as exc:
            if exc.code == 409:
                return None  # already created for this time
            self.recorder.event(ref, WARNING, "FailedCreate", f"Error creating job: {exc.message}")
            return None
        self.recorder.event(ref, NORMAL, "SuccessfulCreate", f"Created job {name}")
        return job

    def _prune(self, cj: dict[str, Any], finished: list[dict[str, Any]], ref: ObjectRef) -> None:
        spec = cj.get("spec") or {}
        limits = {
            "Complete": int(spec.get("successfulJobsHistoryLimit", 3)),
            "Failed": int(spec.get("failedJobsHistoryLimit", 1)),
        }
        for kind, limit in limits.items():
            jobs = sorted(
                (j for j in finished if _finished(j) == kind),
                key=lambda j: j["metadata"]["creationTimestamp"],
            )
            for job in jobs[: max(len(jobs) - limit, 0)]:
                self._delete_job(job, ref)

    def _delete_job(self, job: dict[str, Any], ref: ObjectRef) -> None:
        assert JOBS is not None
        try:
            self.api.delete(
                JOBS,
                job["metadata"]["namespace"],
                job["metadata"]["name"],
                DeleteOptions(propagation="Background"),
            )
        except st.StatusError as exc:
            if exc.code != 404:
                raise
            return
        self.recorder.event(
            ref, NORMAL, "SuccessfulDelete", f"Deleted job {job['metadata']['name']}"
        )


def _finished(job: dict[str, Any]) -> str | None:
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None
