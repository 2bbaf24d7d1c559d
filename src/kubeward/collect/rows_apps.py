"""Workload kinds (deployments, replicasets, daemonsets, statefulsets, jobs, cronjobs, HPAs,
PDBs) as rows.

Counts default to 0 when the status omits them (as Go's zero values do in kube-state-metrics);
optional values KSM emits only when set (``spec.replicas`` of a StatefulSet, job times,
``spec.completions``/``spec.parallelism`` of a Job) are None, which the exposition skips.
The fields and defaults follow KSM's ``internal/store/{deployment,replicaset,daemonset,
statefulset,job,cronjob,horizontalpodautoscaler,poddisruptionbudget}.go``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from kubeward.collect.columnar import columns
from kubeward.collect.values import (
    NONE,
    OWNER_COLUMNS,
    condition_status,
    esc,
    owner_rows,
    quantity_value,
    unix_seconds,
)
from kubeward.kube.cron import next_after, parse_schedule
from kubeward.kube.intstr import scaled_value

Obj = dict[str, Any]

DEPLOYMENT_TABLES = (
    columns(
        "deployments",
        "namespace:dict deployment:str spec_replicas:int available:int unavailable:int updated:int "
        "replicas:int ready:int observed_generation:int metadata_generation:int paused:bool "
        "max_unavailable:int max_surge:int",
    ),
    columns("deployment_conditions", "reason:dict condition:dict status:dict"),
)
REPLICASET_TABLES = (
    columns(
        "replicasets",
        "namespace:dict replicaset:str spec_replicas:int replicas:int fully_labeled_replicas:int "
        "ready_replicas:int observed_generation:int metadata_generation:int",
    ),
    columns("replicaset_owners", OWNER_COLUMNS),
)
CRONJOB_TABLES = (
    columns(
        "cronjobs",
        "namespace:dict cronjob:str schedule:dict concurrency_policy:dict timezone:dict "
        "active:int last_schedule_time:int last_successful_time:int suspend:bool "
        "starting_deadline_seconds:int next_schedule_time:int resource_version:int "
        "successful_job_history_limit:int failed_job_history_limit:int",
    ),
)
PDB_TABLES = (
    columns(
        "poddisruptionbudgets",
        "namespace:dict poddisruptionbudget:str current_healthy:int desired_healthy:int "
        "disruptions_allowed:int expected_pods:int observed_generation:int",
    ),
)
DAEMONSET_TABLES = (
    columns(
        "daemonsets",
        "namespace:dict daemonset:str current_number_scheduled:int desired_number_scheduled:int "
        "number_available:int number_misscheduled:int number_ready:int number_unavailable:int "
        "updated_number_scheduled:int observed_generation:int metadata_generation:int",
    ),
)
STATEFULSET_TABLES = (
    columns(
        "statefulsets",
        "namespace:dict statefulset:str replicas:int status_replicas:int "
        "status_replicas_ready:int status_replicas_current:int status_replicas_updated:int "
        "status_replicas_available:int status_observed_generation:int metadata_generation:int "
        "current_revision:str update_revision:str ordinals_start:int "
        "pvc_when_deleted:dict pvc_when_scaled:dict",
    ),
)
JOB_TABLES = (
    columns(
        "jobs",
        "namespace:dict job_name:str active:int succeeded:int failed:int "
        "has_failed_condition:bool failed_reason:dict start_time:int completion_time:int "
        "spec_completions:int spec_parallelism:int spec_active_deadline_seconds:int ready:int",
    ),
    # The conditions KSM reads: kube_job_complete / kube_job_failed / kube_job_status_suspended.
    columns("job_conditions", "type:dict status:dict"),
    columns("job_owners", OWNER_COLUMNS),
)
JOB_CONDITION_TYPES = ("Complete", "Failed", "Suspended")
HPA_TABLES = (
    columns(
        "hpas",
        "namespace:dict horizontalpodautoscaler:str spec_max_replicas:int "
        "spec_min_replicas:int status_current_replicas:int status_desired_replicas:int "
        "metadata_generation:int scaletargetref_api_version:dict "
        "scaletargetref_kind:dict scaletargetref_name:str",
    ),
    columns("hpa_conditions", "condition:dict status:dict"),
    # spec.metrics[].*.target and status.currentMetrics[].*.current, one row per value set
    columns("hpa_target_metrics", "metric_name:dict metric_target_type:dict value:float"),
    columns("hpa_status_metrics", "metric_name:dict metric_target_type:dict value:float"),
)
# spec.metrics[].type -> the field holding that source (autoscaling/v2). ContainerResource
# targets are left out: recent KSM moved them to their own family
# (..._spec_target_container_metric, with a container label), and in this one a container
# target for "cpu" would repeat the series of a Resource target for "cpu".
HPA_METRIC_SOURCES = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "External": "external",
}


def _ns_name(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return esc(meta.get("namespace")), esc(meta.get("name"))


def _int(value: object, default: int | None = 0) -> int | None:
    return int(value) if isinstance(value, int | float) else default


def _generation(obj: Obj) -> int | None:
    return _int((obj.get("metadata") or {}).get("generation"))


def deployment_rows(obj: Obj) -> tuple[Any, ...]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    replicas = _int(spec.get("replicas"), 1)  # the API server defaults it to 1
    main = (
        *_ns_name(obj),
        replicas,
        _int(status.get("availableReplicas")),
        _int(status.get("unavailableReplicas")),
        _int(status.get("updatedReplicas")),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        _int(status.get("observedGeneration")),
        _generation(obj),
        bool(spec.get("paused")),
        *_rolling_update(spec, replicas or 0),
    )
    conditions = [
        (esc(c.get("reason")), esc(c.get("type")), condition_status(c.get("status")))
        for c in status.get("conditions") or ()
    ]
    return main, conditions


def replicaset_rows(obj: Obj) -> tuple[Any, ...]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    main = (
        *_ns_name(obj),
        _int(spec.get("replicas"), None),  # KSM: only when set (the API server defaults it)
        _int(status.get("replicas")),
        _int(status.get("fullyLabeledReplicas")),
        _int(status.get("readyReplicas")),
        _int(status.get("observedGeneration")),
        _generation(obj),
    )
    return main, owner_rows(obj, NONE)


def cronjob_rows(obj: Obj) -> tuple[Any, ...]:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    suspend = spec.get("suspend")
    rv = meta.get("resourceVersion")
    main = (
        *_ns_name(obj),
        esc(spec.get("schedule")),
        esc(spec.get("concurrencyPolicy")),
        esc(spec.get("timeZone") or "local"),  # KSM's word for "no spec.timeZone"
        len(status.get("active") or ()),
        unix_seconds(status.get("lastScheduleTime")),
        unix_seconds(status.get("lastSuccessfulTime")),
        suspend if isinstance(suspend, bool) else None,
        _int(spec.get("startingDeadlineSeconds"), None),
        None if suspend is True else _next_schedule_time(spec, status, meta),
        int(rv) if isinstance(rv, str) and rv.isdigit() else None,
        _int(spec.get("successfulJobsHistoryLimit"), None),
        _int(spec.get("failedJobsHistoryLimit"), None),
    )
    return (main,)


def _next_schedule_time(spec: Obj, status: Obj, meta: Obj) -> int | None:
    """The first scheduled time after the last one, or after creation if there was none (KSM's
    ``getNextScheduledTime``); None when the schedule or zone does not parse. Without
    ``spec.timeZone`` the schedule is read in UTC (KSM reads it in its own process's zone,
    which is UTC in its container image)."""
    since = status.get("lastScheduleTime") or meta.get("creationTimestamp")
    if not isinstance(since, str) or not since:
        return None
    try:
        schedule = parse_schedule(str(spec.get("schedule") or ""), spec.get("timeZone"))
        after = datetime.fromisoformat(since)
        return int(next_after(schedule, after).timestamp())
    except (ValueError, ZoneInfoNotFoundError):
        return None


def pdb_rows(obj: Obj) -> tuple[Any, ...]:
    status = obj.get("status") or {}
    return (
        (
            *_ns_name(obj),
            _int(status.get("currentHealthy")),
            _int(status.get("desiredHealthy")),
            _int(status.get("disruptionsAllowed")),
            _int(status.get("expectedPods")),
            _int(status.get("observedGeneration")),
        ),
    )


def _rolling_update(spec: Obj, replicas: int) -> tuple[int | None, int | None]:
    """(maxUnavailable rounded down, maxSurge rounded up) as counts of ``replicas``; None for
    both without ``strategy.rollingUpdate`` (KSM then emits neither family)."""
    rolling = (spec.get("strategy") or {}).get("rollingUpdate")
    if not isinstance(rolling, dict):
        return None, None
    return (
        _scaled_or_none(rolling.get("maxUnavailable"), replicas, round_up=False),
        _scaled_or_none(rolling.get("maxSurge"), replicas, round_up=True),
    )


def _scaled_or_none(value: object, total: int, round_up: bool) -> int | None:
    if not isinstance(value, int | str):
        return None
    try:
        return scaled_value(value, total, round_up)
    except ValueError:
        return None


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
        "observedGeneration",
    )
    return ((*_ns_name(obj), *(_int(status.get(f)) for f in fields), _generation(obj)),)


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
            _int(status.get("availableReplicas")),
            _int(status.get("observedGeneration")),
            _generation(obj),
            esc(status.get("currentRevision")),  # KSM exposes it even when empty
            esc(status.get("updateRevision")),
            _ordinals_start(spec),
            *_claim_retention(spec),
        ),
    )


def _ordinals_start(spec: Obj) -> int | None:
    """``spec.ordinals.start``, 0 when ``ordinals`` is set without it; None without ``ordinals``."""
    ordinals = spec.get("ordinals")
    return _int(ordinals.get("start")) if isinstance(ordinals, dict) else None


def _claim_retention(spec: Obj) -> tuple[str | None, str | None]:
    """(whenDeleted, whenScaled); None for both when neither is set (KSM emits no series)."""
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    deleted, scaled = esc(policy.get("whenDeleted")), esc(policy.get("whenScaled"))
    return (deleted, scaled) if deleted or scaled else (None, None)


def job_rows(obj: Obj) -> tuple[Any, ...]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = status.get("conditions") or ()
    failed_condition = next((c for c in conditions if c.get("type") == "Failed"), None)
    main = (
        *_ns_name(obj),
        _int(status.get("active")),
        _int(status.get("succeeded")),
        _int(status.get("failed")),
        failed_condition is not None,
        esc((failed_condition or {}).get("reason")),
        unix_seconds(status.get("startTime")),
        unix_seconds(status.get("completionTime")),
        _int(spec.get("completions"), None),
        _int(spec.get("parallelism"), None),
        _int(spec.get("activeDeadlineSeconds"), None),
        _int(status.get("ready")),  # KSM: 0 while the field is unset
    )
    condition_rows = [
        (c["type"], condition_status(c.get("status")))
        for c in conditions
        if c.get("type") in JOB_CONDITION_TYPES
    ]
    # KSM: one series with empty owner labels (not "<none>" as for pods) for a Job without one.
    return main, condition_rows, owner_rows(obj, "")


def hpa_rows(obj: Obj) -> tuple[Any, ...]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    target_ref = spec.get("scaleTargetRef") or {}
    return (
        (
            *_ns_name(obj),
            _int(spec.get("maxReplicas")),
            _int(spec.get("minReplicas"), 1),  # defaulted to 1 by the API server
            _int(status.get("currentReplicas")),
            _int(status.get("desiredReplicas")),
            _generation(obj),
            esc(target_ref.get("apiVersion")) or None,  # KSM leaves the label out when empty
            esc(target_ref.get("kind")),
            esc(target_ref.get("name")),
        ),
        [
            (esc(c.get("type")), condition_status(c.get("status")))
            for c in status.get("conditions") or ()
        ],
        _hpa_metric_values(spec.get("metrics"), "target"),
        _hpa_metric_values(status.get("currentMetrics"), "current"),
    )


def _hpa_metric_values(metrics: object, values: str) -> list[tuple[str, str, float]]:
    """``kube_horizontalpodautoscaler_{spec,status}_target_metric`` rows: for each supported
    entry of ``spec.metrics`` (``values="target"``) or ``status.currentMetrics``
    (``"current"``), one row per value that is set (``value``, ``averageUtilization``,
    ``averageValue``)."""
    rows = []
    for metric in metrics if isinstance(metrics, list) else ():
        field = HPA_METRIC_SOURCES.get(metric.get("type"))
        if field is None:
            continue  # KSM skips unsupported metric types
        source = metric.get(field) or {}
        if field == "resource":
            name = source.get("name")
        else:
            name = (source.get("metric") or {}).get("name")
        given = source.get(values) or {}
        label = esc(name)
        if given.get("value") is not None:
            value = quantity_value(str(given["value"]))
            if value is not None:
                rows.append((label, "value", value))
        utilization = given.get("averageUtilization")
        if isinstance(utilization, int | float):
            rows.append((label, "utilization", float(int(utilization))))
        if given.get("averageValue") is not None:
            value = quantity_value(str(given["averageValue"]))
            if value is not None:
                rows.append((label, "average", value))
    return rows
