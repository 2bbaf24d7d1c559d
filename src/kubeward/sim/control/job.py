"""The Job controller: run pods until ``completions`` succeed or ``backoffLimit`` is exceeded.

Kubernetes 1.31 semantics (``pkg/controller/job``, JobPodReplacementPolicy and JobSuccessPolicy
on): at most ``parallelism`` active pods; ``completionMode: Indexed`` gives each pod a
completion index (annotation, label, hostname, JOB_COMPLETION_INDEX) and tracks
``completedIndexes``; failed pods are replaced after an exponential delay (10 s doubling, capped
at 10 minutes, counted from the last failure since the last success); more failures than
``backoffLimit`` end the Job with FailureTarget then Failed (BackoffLimitExceeded);
``activeDeadlineSeconds`` ends it with DeadlineExceeded; success adds SuccessCriteriaMet then
Complete. Pods carry the ``batch.kubernetes.io/job-tracking`` finalizer until counted: counts are
cumulative in the status, so finished pods may be deleted. ``suspend`` deletes active pods.
``ttlSecondsAfterFinished`` deletes the finished Job (the ttl-after-finished controller's work).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.clock import parse_time
from kubeward.sim.control.events import NORMAL, WARNING, ObjectRef
from kubeward.sim.control.podcontrol import (
    PODS,
    PodOwnerController,
    PodsByOwner,
    is_active,
    owner_reference,
    pod_from_template,
)
from kubeward.sim.store.objects import StoredObject

JOBS = REGISTRY.get("batch", "v1", "jobs")
TRACKING = "batch.kubernetes.io/job-tracking"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
BACKOFF_INITIAL, BACKOFF_MAX = 10.0, 600.0
COMPLETIONS_MESSAGE = "Reached expected number of succeeded pods"


@dataclass(slots=True)
class Backoff:
    """The job's pod-failure backoff record: failures since the last success."""

    failures: int = 0
    last_failure: datetime | None = None


class JobController(PodOwnerController):
    name = "job-controller"

    owner_key = ("batch", "jobs")
    watches = (owner_key, ("", "pods"))

    def __init__(self, api: ObjectAPI, pods: PodsByOwner) -> None:
        super().__init__(api, pods, "job-controller")
        self._waiting: set[str] = set()
        self._backoff: dict[str, Backoff] = {}

    def reconcile(self, key: Hashable) -> None:
        assert JOBS is not None
        key = str(key)
        obj = self.store.get(("batch", "jobs"), key)
        if obj is None or obj.deleting:
            self._backoff.pop(key, None)
            return
        job = obj.decode()
        spec, old = job.get("spec") or {}, job.get("status") or {}
        status = dict(old)
        ref = ObjectRef.of(job, "Job")
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        owned = self.pods.pods(obj.uid)
        now = self.api.clock.now()
        stamp = self.api.clock.timestamp()

        # Count pods that finished since the last sync (they still hold the finalizer).
        new_succeeded = [p for p in owned if TRACKING in p.finalizers and _phase(p) == "Succeeded"]
        new_failed = [
            p
            for p in owned
            if TRACKING in p.finalizers
            and (_phase(p) == "Failed" or (p.deleting and _phase(p) != "Succeeded"))
        ]
        self._record_backoff(key, new_succeeded, new_failed, now)
        failed = int(status.get("failed", 0)) + len(new_failed)
        if indexed:
            done = _parse_indexes(status.get("completedIndexes", ""))
            done |= {
                i
                for p in new_succeeded
                if (i := _index_of(p)) is not None and i < int(completions or 0)
            }
            succeeded = len(done)
            status["completedIndexes"] = _format_indexes(done)
        else:
            succeeded = int(status.get("succeeded", 0)) + len(new_succeeded)
        active = [p for p in owned if is_active(p)]
        conditions = list(status.get("conditions") or ())

        if _finished(status):
            pass  # only counting and finalizers; then maybe the TTL
        elif spec.get("suspend"):
            for p in active:
                self._delete_pod(ref, p)
            active = []
            if not _has(conditions, "Suspended", "True"):
                conditions = _set(
                    conditions, "Suspended", "True", "JobSuspended", "Job suspended", stamp
                )
                status.pop("startTime", None)
                self.recorder.event(ref, NORMAL, "Suspended", "Job suspended")
        else:
            if _has(conditions, "Suspended", "True"):
                conditions = _set(
                    conditions, "Suspended", "False", "JobResumed", "Job resumed", stamp
                )
                self.recorder.event(ref, NORMAL, "Resumed", "Job resumed")
            status.setdefault("startTime", self.api.clock.timestamp())
            active, conditions, finished = self._progress(
                job, key, ref, active, succeeded, failed, conditions, now
            )
            if finished == "Complete":
                status["completionTime"] = self.api.clock.timestamp()
        status.update(
            active=len(active),
            succeeded=succeeded,
            failed=failed,
            ready=sum(1 for p in active if self.pods.ready_since(p) is not None),
            terminating=sum(1 for p in owned if p.deleting and _phase(p) not in _TERMINAL),
            uncountedTerminatedPods={},
        )
        if conditions:
            status["conditions"] = conditions
        keep = ("ready", "terminating", "uncountedTerminatedPods")
        status = {k: v for k, v in status.items() if v or k in keep}
        if status != old:
            job["status"] = status
            self.api.update(JOBS, obj.namespace, obj.name, job, subresource="status")
        # Counted now: the pods may go (the status write above is the record).
        self._release(new_succeeded + new_failed)
        if _finished(status):
            self._backoff.pop(key, None)
            self._expire(job, status, key)

    # -- progress -------------------------------------------------------------------------------

    def _progress(
        self,
        job: dict[str, Any],
        key: str,
        ref: ObjectRef,
        active: list[StoredObject],
        succeeded: int,
        failed: int,
        conditions: list[dict[str, Any]],
        now: datetime,
    ) -> tuple[list[StoredObject], list[dict[str, Any]], str | None]:
        spec, status = job.get("spec") or {}, job.get("status") or {}
        stamp = self.api.clock.timestamp()
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1))
        deadline = spec.get("activeDeadlineSeconds")
        start = parse_time(status.get("startTime") or self.api.clock.timestamp())
        failure = None
        if failed > int(spec.get("backoffLimit", 6)):
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif deadline is not None and now - start >= timedelta(seconds=int(deadline)):
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        if failure is not None:
            for p in active:
                self._delete_pod(ref, p)
            conditions = _set(conditions, "FailureTarget", "True", *failure, stamp)
            conditions = _set(conditions, "Failed", "True", *failure, stamp)
            self.recorder.event(ref, WARNING, failure[0], failure[1])
            return [], conditions, "Failed"
        complete = (
            succeeded >= int(completions)
            if completions is not None
            else succeeded > 0 and not active
        )
        if complete:
            for p in active:  # stragglers of a work queue, or extra indexes
                self._delete_pod(ref, p)
            conditions = _set(
                conditions,
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                COMPLETIONS_MESSAGE,
                stamp,
            )
            conditions = _set(
                conditions, "Complete", "True", "CompletionsReached", COMPLETIONS_MESSAGE, stamp
            )
            self.recorder.event(ref, NORMAL, "Completed", "Job completed")
            return [], conditions, "Complete"
        if completions is None:
            want = parallelism if succeeded == 0 else len(active)  # work queue: no new pods
        else:
            want = min(parallelism, int(completions) - succeeded)
        missing = want - len(active)
        if missing > 0:
            delay = self._delay(key, now)
            if delay > 0:
                if key not in self._waiting:
                    self._waiting.add(key)
                    self.api.clock.call_later(delay, self._retry, key)
            else:
                indexes: Iterable[int | None] = [None] * missing
                if spec.get("completionMode") == "Indexed":
                    indexes = self._free_indexes(job, active, int(completions or 0), missing)
                for index in indexes:
                    pod = self._create(job, ref, index)
                    if pod is not None:
                        active.append(pod)
        if deadline is not None:
            left = start + timedelta(seconds=int(deadline)) - now
            self.api.clock.call_later(left.total_seconds() + 0.5, self.enqueue, key)
        return active, conditions, None

    @staticmethod
    def _free_indexes(
        job: dict[str, Any], active: list[StoredObject], completions: int, count: int
    ) -> list[int]:
        """The lowest indexes neither completed nor running."""
        taken = _parse_indexes((job.get("status") or {}).get("completedIndexes", ""))
        taken |= {i for p in active if (i := _index_of(p)) is not None}
        return [i for i in range(completions) if i not in taken][:count]

    # -- backoff --------------------------------------------------------------------------------

    def _record_backoff(
        self,
        key: str,
        succeeded: list[StoredObject],
        failed: list[StoredObject],
        now: datetime,
    ) -> None:
        record = self._backoff.setdefault(key, Backoff())
        last_success = max((_finished_at(p) or now for p in succeeded), default=None)
        if failed:
            record.failures += len(failed)
            record.last_failure = max(_finished_at(p) or now for p in failed)
        if last_success is not None and (
            record.last_failure is None or last_success >= record.last_failure
        ):
            record.failures, record.last_failure = 0, None

    def _delay(self, key: str, now: datetime) -> float:
        record = self._backoff.get(key)
        if record is None or not record.failures or record.last_failure is None:
            return 0.0
        backoff = min(BACKOFF_INITIAL * 2 ** (record.failures - 1), BACKOFF_MAX)
        return max((record.last_failure + timedelta(seconds=backoff) - now).total_seconds(), 0.0)

    def _retry(self, key: str) -> None:
        self._waiting.discard(key)
        self.enqueue(key)

    # -- pods -----------------------------------------------------------------------------------

    def _create(self, job: dict[str, Any], ref: ObjectRef, index: int | None) -> Any:
        assert PODS is not None
        name = job["metadata"]["name"]
        template = (job.get("spec") or {}).get("template") or {}
        body = pod_from_template(
            template,
            owner_reference(job, "Job", "batch/v1"),
            generate_name=f"{name}-" if index is None else f"{name}-{index}-",
        )
        body["metadata"].setdefault("finalizers", []).append(TRACKING)
        if index is not None:
            body["metadata"].setdefault("annotations", {})[INDEX_KEY] = str(index)
            body["metadata"]["labels"][INDEX_KEY] = str(index)
            body["spec"]["hostname"] = f"{name}-{index}"
            env = {
                "name": "JOB_COMPLETION_INDEX",
                "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_KEY}']"}},
            }
            for kind in ("initContainers", "containers"):
                for c in body["spec"].get(kind) or ():
                    if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in c.get("env", ())):
                        c.setdefault("env", []).append(dict(env))
        try:
            pod = self.api.create(PODS, job["metadata"]["namespace"], body)
        except st.StatusError as exc:
            self.recorder.event(ref, WARNING, "FailedCreate", f"Error creating: {exc.message}")
            return None
        self.recorder.event(ref, NORMAL, "SuccessfulCreate", f"Created pod: {pod.name}")
        return pod

    def _release(self, counted: list[StoredObject]) -> None:
        """Counted pods lose the job-tracking finalizer (so deleting them really deletes)."""
        assert PODS is not None
        for p in counted:
            current = self.store.get(("", "pods"), p.key)
            if current is None or TRACKING not in current.finalizers:
                continue
            pod = current.decode()
            pod["metadata"]["finalizers"] = [f for f in current.finalizers if f != TRACKING]
            try:
                self.api.update(PODS, p.namespace, p.name, pod)
            except st.StatusError as exc:
                if exc.code != 404:
                    raise

    def _delete_pod(self, ref: ObjectRef, pod: StoredObject) -> None:
        assert PODS is not None
        try:
            self.api.delete(PODS, pod.namespace, pod.name, DeleteOptions())
        except st.StatusError as exc:
            if exc.code != 404:
                raise
            return
        self.recorder.event(ref, NORMAL, "SuccessfulDelete", f"Deleted pod: {pod.name}")

    # -- ttl-after-finished ---------------------------------------------------------------------

    def _expire(self, job: dict[str, Any], status: dict[str, Any], key: str) -> None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        finished_at = status.get("completionTime") or next(
            (
                c.get("lastTransitionTime")
                for c in status.get("conditions") or ()
                if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            ),
            None,
        )
        if not finished_at:
            return
        left = (
            parse_time(finished_at) + timedelta(seconds=int(ttl)) - self.api.clock.now()
        ).total_seconds()
        if left > 0:
            self.api.clock.call_later(left + 0.1, self.enqueue, key)
            return
        assert JOBS is not None
        try:
            # as the ttl-after-finished controller: foreground, with the uid as precondition
            self.api.delete(
                JOBS,
                job["metadata"]["namespace"],
                job["metadata"]["name"],
                DeleteOptions(propagation="Foreground", precondition_uid=job["metadata"]["uid"]),
            )
        except st.StatusError as exc:
            if exc.code not in (404, 409):
                raise


_TERMINAL = ("Succeeded", "Failed")


def _phase(pod: StoredObject) -> str:
    return pod.fields.get("status.phase", "")


def _index_of(pod: StoredObject) -> int | None:
    value = pod.labels.get(INDEX_KEY)
    if value is None:
        value = ((pod.decode()["metadata"].get("annotations")) or {}).get(INDEX_KEY)
    return int(value) if value is not None and str(value).isdigit() else None


def _finished_at(pod: StoredObject) -> datetime | None:
    latest = None
    for c in (pod.decode().get("status") or {}).get("containerStatuses") or ():
        ended = ((c.get("state") or {}).get("terminated") or {}).get("finishedAt")
        if ended and (latest is None or parse_time(ended) > latest):
            latest = parse_time(ended)
    return latest


def _parse_indexes(text: str) -> set[int]:
    """ "1,3-5" -> {1, 3, 4, 5} (the status.completedIndexes format)."""
    out: set[int] = set()
    for part in filter(None, (text or "").split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def _format_indexes(indexes: set[int]) -> str:
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i != run[-1] + 1:
            parts.append(_run(run))
            run = []
        run.append(i)
    if run:
        parts.append(_run(run))
    return ",".join(parts)


def _run(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def _finished(status: dict[str, Any]) -> bool:
    return _has(status.get("conditions") or (), "Complete", "True") or _has(
        status.get("conditions") or (), "Failed", "True"
    )


def _has(conditions: Iterable[dict[str, Any]], type_: str, status: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == status for c in conditions)


def _set(
    conditions: list[dict[str, Any]],
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: str,
) -> list[dict[str, Any]]:
    """Add or update a condition (ensureJobConditionStatus): times move only on a change."""
    out = []
    found = False
    for c in conditions:
        if c.get("type") == type_:
            found = True
            if c.get("status") != status:
                c = dict(c, status=status, reason=reason, message=message)
                c["lastTransitionTime"] = c["lastProbeTime"] = now
        out.append(c)
    if not found:
        out.append(
            {
                "type": type_,
                "status": status,
                "lastProbeTime": now,
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            }
        )
    return out
