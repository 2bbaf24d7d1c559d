"""The Job controller: run pods until ``completions`` succeed or ``backoffLimit`` is exceeded.

Kubernetes 1.31 semantics for NonIndexed Jobs: at most ``parallelism`` active pods; failed pods
are replaced after an exponential delay (10 s doubling, capped at 6 minutes); more failures
than ``backoffLimit`` end the Job with FailureTarget then Failed (BackoffLimitExceeded);
``activeDeadlineSeconds`` ends it with DeadlineExceeded; success adds Complete. Pods carry the
``batch.kubernetes.io/job-tracking`` finalizer until the controller has counted them.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import timedelta
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
    ready_since,
)

JOBS = REGISTRY.get("batch", "v1", "jobs")
TRACKING = "batch.kubernetes.io/job-tracking"
BACKOFF_INITIAL, BACKOFF_MAX = 10.0, 360.0


class JobController(PodOwnerController):
    name = "job-controller"

    owner_key = ("batch", "jobs")

    def __init__(self, api: ObjectAPI, pods: PodsByOwner) -> None:
        super().__init__(api, pods, "job-controller")
        self._waiting: set[str] = set()

    def reconcile(self, key: Hashable) -> None:
        assert JOBS is not None
        obj = self.store.get(("batch", "jobs"), str(key))
        if obj is None or obj.deleting:
            return
        job = obj.decode()
        spec, status = job.get("spec") or {}, dict(job.get("status") or {})
        owned = self.pods.pods(obj.uid)
        succeeded = failed = 0
        last_failure = None
        for p in owned:
            phase = p.fields.get("status.phase", "")
            if phase == "Succeeded":
                succeeded += 1
            elif phase == "Failed":
                failed += 1
                last_failure = p
        self._release_finished(owned)
        if spec.get("suspend") or _finished(status):
            return
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1))
        want_total = int(completions) if completions is not None else 1
        active = [p for p in owned if is_active(p)]
        now = self.api.clock.now()
        status.setdefault("startTime", self.api.clock.timestamp())
        ref = ObjectRef.of(job, "Job")
        conditions = list(status.get("conditions") or ())
        deadline = spec.get("activeDeadlineSeconds")
        failure = None
        if failed > int(spec.get("backoffLimit", 6)):
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif deadline is not None and now - parse_time(status["startTime"]) >= timedelta(
            seconds=int(deadline)
        ):
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        if failure is not None:
            for p in active:
                self._delete(obj.namespace, p.name)
            stamp = self.api.clock.timestamp()
            conditions += [
                _cond("FailureTarget", *failure, stamp),
                _cond("Failed", *failure, stamp),
            ]
            self.recorder.event(ref, WARNING, failure[0], failure[1])
            active = []
        elif succeeded >= want_total:
            stamp = self.api.clock.timestamp()
            conditions += [
                _cond(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    stamp,
                ),
                _cond(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    stamp,
                ),
            ]
            status["completionTime"] = stamp
            self.recorder.event(ref, NORMAL, "Completed", "Job completed")
        else:
            wanted = min(parallelism, want_total - succeeded) - len(active)
            if wanted > 0:
                delay = self._failure_delay(failed, last_failure, now)
                if delay > 0:
                    if str(key) not in self._waiting:
                        self._waiting.add(str(key))
                        self.api.clock.call_later(delay, self._retry, str(key))
                else:
                    for _ in range(wanted):
                        pod = self._create(job)
                        if pod is not None:
                            active.append(pod)
            if deadline is not None:
                left = parse_time(status["startTime"]) + timedelta(seconds=int(deadline)) - now
                self.api.clock.call_later(left.total_seconds() + 0.5, self.enqueue, str(key))
        status.update(
            active=len(active),
            succeeded=succeeded,
            failed=failed,
            ready=sum(1 for p in active if ready_since(p.decode()) is not None),
            uncountedTerminatedPods={},
        )
        if conditions:
            status["conditions"] = conditions
        status = {k: v for k, v in status.items() if v or k == "ready"}
        if status != (job.get("status") or {}):
            job["status"] = status
            self.api.update(JOBS, obj.namespace, obj.name, job, subresource="status")

    def _retry(self, key: str) -> None:
        self._waiting.discard(key)
        self.enqueue(key)

    @staticmethod
    def _failure_delay(failed: int, last: Any, now: Any) -> float:
        if not failed or last is None:
            return 0.0
        backoff = min(BACKOFF_INITIAL * 2 ** (failed - 1), BACKOFF_MAX)
        pod = last.decode()
        finished = None
        for c in (pod.get("status") or {}).get("containerStatuses") or ():
            term = (c.get("state") or {}).get("terminated") or {}
            if term.get("finishedAt"):
                finished = parse_time(term["finishedAt"])
        if finished is None:
            return 0.0
        return max((finished + timedelta(seconds=backoff) - now).total_seconds(), 0.0)

    def _create(self, job: dict[str, Any]) -> Any:
        assert PODS is not None
        template = (job.get("spec") or {}).get("template") or {}
        body = pod_from_template(
            template,
            owner_reference(job, "Job", "batch/v1"),
            generate_name=f"{job['metadata']['name']}-",
        )
        body["metadata"].setdefault("finalizers", []).append(TRACKING)
        ref = ObjectRef.of(job, "Job")
        try:
            pod = self.api.create(PODS, job["metadata"]["namespace"], body)
        except st.StatusError as exc:
            self.recorder.event(ref, WARNING, "FailedCreate", f"Error creating: {exc.message}")
            return None
        self.recorder.event(ref, NORMAL, "SuccessfulCreate", f"Created pod: {pod.name}")
        return pod

    def _release_finished(self, owned: list[Any]) -> None:
        """Counted pods lose the job-tracking finalizer (so deleting them really deletes)."""
        assert PODS is not None
        for p in owned:
            if TRACKING not in p.finalizers:
                continue
            if p.fields.get("status.phase") not in ("Succeeded", "Failed") and not p.deleting:
                continue
            pod = p.decode()
            pod["metadata"]["finalizers"] = [f for f in p.finalizers if f != TRACKING]
            try:
                self.api.update(PODS, p.namespace, p.name, pod)
            except st.StatusError:
                continue

    def _delete(self, namespace: str, name: str) -> None:
        assert PODS is not None
        try:
            self.api.delete(PODS, namespace, name, DeleteOptions())
        except st.StatusError as exc:
            if exc.code != 404:
                raise


def _finished(status: dict[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )


def _cond(type_: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }
