"""Workload kinds (deployments, daemonsets, statefulsets, jobs, HPAs) flattened into rows.

Counts default to 0 when the status omits them (as Go's zero values do in kube-state-metrics);
optional values KSM emits only when set (``spec.replicas`` of a StatefulSet, job times) are
None, which the exposition skips.
"""

from __future__ import annotations

from typing import Any

from kubeward.collect.columnar import columns
from kubeward.collect.values import condition_status, esc, unix_seconds

Obj = dict[str, Any]

DEPLOYMENT_TABLES = (
    columns(
        "deployments",
        "namespace:dict deployment:str spec_replicas:int available:int unavailable:int updated:int",
    ),
    columns("deployment_conditions", "reason:dict condition:dict status:dict"),
)
DAEMONSET_TABLES = (
    columns(
        "daemonsets",
        "namespace:dict daemonset:str current_number_scheduled:int desired_number_scheduled:int "
        "number_available:int number_misscheduled:int number_ready:int number_unavailable:int "
        "updated_number_scheduled:int",
    ),
)
STATEFULSET_TABLES = (
    columns(
        "statefulsets",
        "namespace:dict statefulset:str replicas:int status_replicas:int "
        "status_replicas_ready:int status_replicas_current:int status_replicas_updated:int",
    ),
)
JOB_TABLES = (
    columns(
        "jobs",
        "namespace:dict job_name:str active:int succeeded:int failed:int "
        "has_failed_condition:bool failed_reason:dict start_time:int completion_time:int",
    ),
)
HPA_TABLES = (
    columns(
        "hpas",
        "namespace:dict horizontalpodautoscaler:str spec_max_replicas:int "
        "spec_min_replicas:int status_current_replicas:int status_desired_replicas:int",
    ),
)


def _ns_name(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return esc(meta.get("namespace")), esc(meta.get("name"))


def _int(value: object, default: int | None = 0) -> int | None:
    return int(value) if isinstance(value, int | float) else default


def deployment_rows(obj: Obj) -> tuple[Any, ...]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    main = (
        *_ns_name(obj),
        _int(spec.get("replicas"), 1),  # the API server defaults it to 1
        _int(status.get("availableReplicas")),
        _int(status.get("unavailableReplicas")),
        _int(status.get("updatedReplicas")),
    )
    conditions = [
        (esc(c.get("reason")), esc(c.get("type")), condition_status(c.get("status")))
        for c in status.get("conditions") or ()
    ]
    return main, conditions


def daemonset_rows(obj: Obj) -> tuple[Any, ...]:
    status = obj.get("status") or {}
    fields = (
        "currentNumberScheduled",
        "desiredNumberScheduled",
        "numberAvailable",
        "numberMisscheduled",
        "numberReady",
        "numberUnavailable",
        "updatedNumberScheduled",
    )
    return ((*_ns_name(obj), *(_int(status.get(f)) for f in fields)),)


def statefulset_rows(obj: Obj) -> tuple[Any, ...]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return (
        (
            *_ns_name(obj),
            _int(spec.get("replicas"), None),
            _int(status.get("replicas")),
            _int(status.get("readyReplicas")),
            _int(status.get("currentReplicas")),
            _int(status.get("updatedReplicas")),
        ),
    )


def job_rows(obj: Obj) -> tuple[Any, ...]:
    status = obj.get("status") or {}
    failed_condition = next(
        (c for c in status.get("conditions") or () if c.get("type") == "Failed"), None
    )
    return (
        (
            *_ns_name(obj),
            _int(status.get("active")),
            _int(status.get("succeeded")),
            _int(status.get("failed")),
            failed_condition is not None,
            esc((failed_condition or {}).get("reason")),
            unix_seconds(status.get("startTime")),
            unix_seconds(status.get("completionTime")),
        ),
    )


def hpa_rows(obj: Obj) -> tuple[Any, ...]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return (
        (
            *_ns_name(obj),
            _int(spec.get("maxReplicas")),
            _int(spec.get("minReplicas"), 1),  # defaulted to 1 by the API server
            _int(status.get("currentReplicas")),
            _int(status.get("desiredReplicas")),
        ),
    )
