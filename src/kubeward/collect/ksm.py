"""kube-state-metrics v2 families: names, HELP, types, labels and semantics of KSM's
``internal/store/{pod,node,service,persistentvolumeclaim,deployment,replicaset,daemonset,statefulset,job,cronjob,namespace,
horizontalpodautoscaler,poddisruptionbudget}.go``, rendered from a shard's columns.

Conventions copied from KSM: one series per condition *status* (true/false/unknown, value 1 on
the current one); phases as one series per possible phase; ``<none>`` for a pod without a
controller or owner; a family with no series still gets its HELP and TYPE lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from kubeward.collect.render import SLICE_OBJECTS, KindView, slices, views
from kubeward.collect.rows_core import POD_STATUS_REASONS, PV_SOURCE_LABELS
from kubeward.collect.textwriter import Line, Text, flags, floats, header, ints

Render = Callable[[KindView], list[Text]]

CONDITION_STATUSES = ("true", "false", "unknown")
POD_PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
NAMESPACE_PHASES = ("Active", "Terminating")
PVC_PHASES = ("Lost", "Bound", "Pending")
PV_PHASES = ("Pending", "Available", "Bound", "Released", "Failed")
JOB_FAILURE_REASONS = ("BackoffLimitExceeded", "DeadlineExceeded", "Evicted")


@dataclass(frozen=True)
class Family:
    name: str
    help: str
    type: str
    kind: str
    render: Render

    @property
    def header(self) -> bytes:
        return header(self.name, self.help, self.type)


# -- helpers ---------------------------------------------------------------------------------


def _simple(name: str, help_text: str, kind: str, column: str, fmt: str = "int") -> Family:
    converter = ints if fmt == "int" else (floats if fmt == "float" else flags)

    def render(v: KindView) -> list[Text]:
        return [Line(name).text(v.identity).value(converter(v.main_col(column)))]

    return Family(name, help_text, "gauge", kind, render)


def _child_rows(name: str, table: str, labels: tuple[str, ...]) -> Render:
    """Value 1 per row of a child table, with the columns ``labels`` as labels."""

    def render(v: KindView) -> list[Text]:
        line = Line(name).text(v.child_identity(table))
        for label in labels:
            line.label(label, v.col(table, label))
        return [line.value("1")]

    return render


def _info(name: str, labels: tuple[str, ...]) -> Render:
    """Value 1 per object, with the main table's columns ``labels`` as labels."""

    def render(v: KindView) -> list[Text]:
        line = Line(name).text(v.identity)
        for label in labels:
            line.label(label, v.main_col(label))
        return [line.value("1")]

    return render


def _one_of(name: str, v: KindView, column: str, label: str, values: tuple[str, ...]) -> list[Text]:
    """One series per possible value, 1 on the current one; objects with an empty value get
    none (KSM skips an unset phase / a pod without a Ready condition)."""
    current = v.main_col(column)
    present = pc.not_equal(current, "")
    ident, current = v.identity.filter(present), current.filter(present)
    return [
        Line(name).text(ident).label(label, value).value(flags(pc.equal(current, value)))
        for value in values
    ]


def _conditions(name: str, v: KindView, table: str, extra: tuple[str, ...] = ()) -> list[Text]:
    """``condition``/``status`` series of a conditions child table (3 per condition)."""
    ident = v.child_identity(table)
    status = v.col(table, "status")
    out = []
    for value in CONDITION_STATUSES:
        line = Line(name).text(ident)
        for label in extra:
            line.label(label, v.col(table, label))
        line.label("condition", v.col(table, "condition")).label("status", value)
        out.append(line.value(flags(pc.equal(status, value))))
    return out


# -- pods ------------------------------------------------------------------------------------


def _container_reason(name: str, flag: str, reason: str, table: str = "pod_containers") -> Render:
    """One series, value 1, per container status in the state ``flag`` names, with that
    state's ``reason``."""

    def render(v: KindView) -> list[Text]:
        mask = v.col(table, flag)
        line = Line(name).text(v.child_identity(table, mask))
        line.label("container", v.col(table, "container").filter(mask))
        return [line.label("reason", v.col(table, reason).filter(mask)).value("1")]

    return render


def _container_values(
    name: str, column: str, fmt: str = "int", table: str = "pod_containers"
) -> Render:
    """One series per container status, valued by ``column`` (a null value: no series)."""
    converter = flags if fmt == "flag" else ints

    def render(v: KindView) -> list[Text]:
        line = Line(name).text(v.child_identity(table))
        line.label("container", v.col(table, "container"))
        return [line.value(converter(v.col(table, column)))]

    return render


_CONTAINER_INFO = ("container", "image_spec", "image", "image_id", "container_id")


def _container_info(name: str, table: str, labels: tuple[str, ...]) -> Render:
    """Value 1 per status of a container the spec names, with ``labels``."""

    def render(v: KindView) -> list[Text]:
        mask = v.col(table, "in_spec")
        line = Line(name).text(v.child_identity(table, mask))
        for label in labels:
            line.label(label, v.col(table, label).filter(mask))
        return [line.value("1")]

    return render


def _pod_unschedulable(v: KindView) -> list[Text]:
    """1 for a pod whose PodScheduled condition is False; no series otherwise."""
    mask = pc.equal(v.main_col("scheduled"), "false")
    return [Line("kube_pod_status_unschedulable").text(v.identity.filter(mask)).value("1")]


def _pod_status_reason(v: KindView) -> list[Text]:
    reasons = v.main_col("status_reasons")
    out = []
    for bit, reason in enumerate(POD_STATUS_REASONS):
        hit = pc.not_equal(pc.bit_wise_and(reasons, 1 << bit), 0)
        line = Line("kube_pod_status_reason").text(v.identity).label("reason", reason)
        out.append(line.value(flags(hit)))
    return out


def _pod_restart_policy(v: KindView) -> list[Text]:
    line = Line("kube_pod_restart_policy").text(v.identity)
    return [line.label("type", v.main_col("restart_policy")).value("1")]


def _pod_claims_read_only(v: KindView) -> list[Text]:
    table = "pod_claims"
    line = Line("kube_pod_spec_volumes_persistentvolumeclaims_readonly")
    line.text(v.child_identity(table))
    line.label("volume", v.col(table, "volume"))
    line.label("persistentvolumeclaim", v.col(table, "persistentvolumeclaim"))
    return [line.value(flags(v.col(table, "read_only")))]


def _pod_resources(name: str, type_: str, table: str = "pod_resources") -> Render:
    def render(v: KindView) -> list[Text]:
        mask = pc.equal(v.col(table, "type"), type_)
        node = v.of_parent(table, v.main_col("node")).filter(mask)
        line = Line(name).text(v.child_identity(table, mask))
        line.label("container", v.col(table, "container").filter(mask)).label("node", node)
        line.label("resource", v.col(table, "resource").filter(mask))
        line.label("unit", v.col(table, "unit").filter(mask))
        return [line.value(floats(v.col(table, "value").filter(mask)))]

    return render


def _owners(name: str, table: str) -> Render:
    """``kube_pod_owner`` / ``kube_job_owner`` / ...: one series per ownerReference."""
    return _child_rows(name, table, ("owner_kind", "owner_name", "owner_is_controller"))


# -- nodes -----------------------------------------------------------------------------------


def _node_resources(name: str, type_: str) -> Render:
    def render(v: KindView) -> list[Text]:
        t = "node_resources"
        mask = pc.equal(v.col(t, "type"), type_)
        line = Line(name).text(v.child_identity(t, mask))
        line.label("resource", v.col(t, "resource").filter(mask))
        line.label("unit", v.col(t, "unit").filter(mask))
        return [line.value(floats(v.col(t, "value").filter(mask)))]

    return render


def _node_taint(v: KindView) -> list[Text]:
    t = "node_taints"
    line = Line("kube_node_spec_taint").text(v.child_identity(t))
    for label in ("key", "value", "effect"):
        line.label(label, v.col(t, label))
    return [line.value("1")]


# -- jobs ------------------------------------------------------------------------------------


def _job_failed(v: KindView) -> list[Text]:
    """KSM's rules: no ``reason`` label while nothing failed; with a Failed condition, one
    series per known reason (1 on the condition's); and ``reason=""`` with the count when the
    reason is none of the known ones or there is no Failed condition."""
    name = "kube_job_status_failed"
    failed = v.main_col("failed")
    reason = v.main_col("failed_reason")
    condition = v.main_col("has_failed_condition")
    known = pc.and_(condition, pc.is_in(reason, pa.array(JOB_FAILURE_REASONS)))
    none = pc.equal(failed, 0)
    some = pc.invert(none)
    per_reason = pc.and_(some, condition)
    unknown = pc.and_(some, pc.invert(known))
    out = [Line(name).text(v.identity.filter(none)).value(ints(failed.filter(none)))]
    for r in JOB_FAILURE_REASONS:
        hit = flags(pc.equal(reason.filter(per_reason), r))
        out.append(Line(name).text(v.identity.filter(per_reason)).label("reason", r).value(hit))
    line = Line(name).text(v.identity.filter(unknown)).label("reason", "")
    out.append(line.value(ints(failed.filter(unknown))))
    return out


def _job_condition(name: str, type_: str) -> Render:
    """``kube_job_complete`` / ``kube_job_failed``: for each condition of that type, one series
    per status in a ``condition`` label (KSM names the label so), 1 on the current one."""

    def render(v: KindView) -> list[Text]:
        t = "job_conditions"
        mask = pc.equal(v.col(t, "type"), type_)
        ident, status = v.child_identity(t, mask), v.col(t, "status").filter(mask)
        return [
            Line(name).text(ident).label("condition", value).value(flags(pc.equal(status, value)))
            for value in CONDITION_STATUSES
        ]

    return render


def _job_suspended(v: KindView) -> list[Text]:
    """One series per Suspended condition: 1 while its status is True."""
    t = "job_conditions"
    mask = pc.equal(v.col(t, "type"), "Suspended")
    status = v.col(t, "status").filter(mask)
    line = Line("kube_job_status_suspended").text(v.child_identity(t, mask))
    return [line.value(flags(pc.equal(status, "true")))]


# -- statefulsets ----------------------------------------------------------------------------


def _revision(name: str, column: str) -> Render:
    def render(v: KindView) -> list[Text]:
        return [Line(name).text(v.identity).label("revision", v.main_col(column)).value("1")]

    return render


def _claim_retention(v: KindView) -> list[Text]:
    """One series per StatefulSet with a retention policy (null columns: none, no line)."""
    line = Line("kube_statefulset_persistentvolumeclaim_retention_policy").text(v.identity)
    line.label("when_deleted", v.main_col("pvc_when_deleted"))
    line.label("when_scaled", v.main_col("pvc_when_scaled"))
    return [line.value("1")]


# -- horizontal pod autoscalers --------------------------------------------------------------


def _hpa_info(v: KindView) -> list[Text]:
    """``scaletargetref_api_version`` only when the reference has one, as KSM does."""
    api_version = v.main_col("scaletargetref_api_version")
    out = []
    for has_version in (True, False):
        mask = pc.is_valid(api_version) if has_version else pc.is_null(api_version)
        line = Line("kube_horizontalpodautoscaler_info").text(v.identity.filter(mask))
        if has_version:
            line.label("scaletargetref_api_version", api_version.filter(mask))
        line.label("scaletargetref_kind", v.main_col("scaletargetref_kind").filter(mask))
        line.label("scaletargetref_name", v.main_col("scaletargetref_name").filter(mask))
        out.append(line.value("1"))
    return out


def _hpa_metric(name: str, table: str) -> Render:
    def render(v: KindView) -> list[Text]:
        line = Line(name).text(v.child_identity(table))
        line.label("metric_name", v.col(table, "metric_name"))
        line.label("metric_target_type", v.col(table, "metric_target_type"))
        return [line.value(floats(v.col(table, "value")))]

    return render


def _pv_claim_ref(v: KindView) -> list[Text]:
    """Only volumes with a claimRef; labels ``name`` then ``claim_namespace``, as KSM."""
    keep = v.main_col("has_claim")
    line = Line("kube_persistentvolume_claim_ref").text(v.identity.filter(keep))
    line.label("name", v.main_col("claim_name").filter(keep))
    line.label("claim_namespace", v.main_col("claim_namespace").filter(keep))
    return [line.value("1")]


def _pv_volume_mode(v: KindView) -> list[Text]:
    """Only volumes with spec.volumeMode set (the API server defaults it to Filesystem)."""
    mode = v.main_col("volumemode")
    keep = pc.is_valid(mode)
    line = Line("kube_persistentvolume_volume_mode").text(v.identity.filter(keep))
    return [line.label("volumemode", mode.filter(keep)).value("1")]


def _limitrange(v: KindView) -> list[Text]:
    table = "limitrange_values"
    line = Line("kube_limitrange").text(v.child_identity(table))
    line.label("resource", v.col(table, "resource")).label("type", v.col(table, "type"))
    line.label("constraint", v.col(table, "constraint"))
    return [line.value(floats(v.col(table, "value")))]


def _resourcequota(v: KindView) -> list[Text]:
    table = "resourcequota_values"
    line = Line("kube_resourcequota").text(v.child_identity(table))
    line.label("resource", v.col(table, "resource")).label("type", v.col(table, "type"))
    return [line.value(floats(v.col(table, "value")))]


# -- metadata (every kind) -------------------------------------------------------------------

# Kind -> the word in its KSM family names (kube_<word>_created).
KSM_NAMES = {
    "pods": "pod",
    "nodes": "node",
    "namespaces": "namespace",
    "services": "service",
    "persistentvolumeclaims": "persistentvolumeclaim",
    "persistentvolumes": "persistentvolume",
    "storageclasses": "storageclass",
    "resourcequotas": "resourcequota",
    "limitranges": "limitrange",
    "deployments": "deployment",
    "replicasets": "replicaset",
    "daemonsets": "daemonset",
    "statefulsets": "statefulset",
    "jobs": "job",
    "cronjobs": "cronjob",
    "horizontalpodautoscalers": "horizontalpodautoscaler",
    "poddisruptionbudgets": "poddisruptionbudget",
}
# KSM has no kube_<kind>_deletion_timestamp for these.
_NO_DELETION_FAMILY = (
    "namespaces",
    "storageclasses",
    "resourcequotas",
    "limitranges",
    "services",
    "persistentvolumeclaims",
    "replicasets",
    "jobs",
    "cronjobs",
    "poddisruptionbudgets",
)


# The kinds with kube_<kind>_labels and _annotations families (KSM has none for LimitRanges),
# which are the kinds --metric-labels-allowlist and --metric-annotations-allowlist accept.
LABELLED_KINDS = tuple(kind for kind in KSM_NAMES if kind != "limitranges")


def _timestamp(name: str, column: str) -> Render:
    def render(v: KindView) -> list[Text]:
        return [
            Line(name).text(v.child_identity("metadata")).value(ints(v.col("metadata", column)))
        ]

    return render


def _allowlisted(name: str, column: str) -> Render:
    """One series per object when its kind has an allowlist (a null column: none)."""

    def render(v: KindView) -> list[Text]:
        text = v.col("metadata", column)
        mask = pc.is_valid(text)
        line = Line(name).text(v.child_identity("metadata", mask)).more(text.filter(mask))
        return [line.value("1")]

    return render


def _metadata_families(kind: str) -> Iterator[Family]:
    prefix = f"kube_{KSM_NAMES[kind]}"
    yield Family(
        f"{prefix}_created",
        "Unix creation timestamp",
        "gauge",
        kind,
        _timestamp(f"{prefix}_created", "created"),
    )
    if kind not in _NO_DELETION_FAMILY:
        name = f"{prefix}_deletion_timestamp"
        yield Family(name, "Unix deletion timestamp", "gauge", kind, _timestamp(name, "deleted"))
    if kind not in LABELLED_KINDS:
        return
    for column in ("labels", "annotations"):
        name = f"{prefix}_{column}"
        help_text = f"Kubernetes {column} converted to Prometheus labels."
        yield Family(name, help_text, "gauge", kind, _allowlisted(name, column))


# -- the families ----------------------------------------------------------------------------

FAMILIES: tuple[Family, ...] = (
    # pods
    Family(
        "kube_pod_info",
        "Information about pod.",
        "gauge",
        "pods",
        _info(
            "kube_pod_info",
            (
                "host_ip",
                "pod_ip",
                "node",
                "created_by_kind",
                "created_by_name",
                "priority_class",
                "host_network",
            ),
        ),
    ),
    Family(
        "kube_pod_owner",
        "Information about the Pod's owner.",
        "gauge",
        "pods",
        _owners("kube_pod_owner", "pod_owners"),
    ),
    Family(
        "kube_pod_status_phase",
        "The pods current phase.",
        "gauge",
        "pods",
        lambda v: _one_of("kube_pod_status_phase", v, "phase", "phase", POD_PHASES),
    ),
    Family(
        "kube_pod_status_ready",
        "Describes whether the pod is ready to serve requests.",
        "gauge",
        "pods",
        lambda v: _one_of("kube_pod_status_ready", v, "ready", "condition", CONDITION_STATUSES),
    ),
    Family(
        "kube_pod_container_status_restarts_total",
        "The number of container restarts per container.",
        "counter",
        "pods",
        _container_values("kube_pod_container_status_restarts_total", "restarts"),
    ),
    Family(
        "kube_pod_container_status_waiting_reason",
        "Describes the reason the container is currently in waiting state.",
        "gauge",
        "pods",
        _container_reason("kube_pod_container_status_waiting_reason", "waiting", "waiting_reason"),
    ),
    Family(
        "kube_pod_container_status_last_terminated_reason",
        "Describes the last reason the container was in terminated state.",
        "gauge",
        "pods",
        _container_reason(
            "kube_pod_container_status_last_terminated_reason",
            "last_terminated",
            "last_terminated_reason",
        ),
    ),
    Family(
        "kube_pod_container_resource_requests",
        "The number of requested request resource by a container.",
        "gauge",
        "pods",
        _pod_resources("kube_pod_container_resource_requests", "requests"),
    ),
    Family(
        "kube_pod_container_resource_limits",
        "The number of requested limit resource by a container.",
        "gauge",
        "pods",
        _pod_resources("kube_pod_container_resource_limits", "limits"),
    ),
    Family(
        "kube_pod_container_info",
        "Information about a container in a pod.",
        "gauge",
        "pods",
        _container_info("kube_pod_container_info", "pod_containers", _CONTAINER_INFO),
    ),
    Family(
        "kube_pod_container_status_waiting",
        "Describes whether the container is currently in waiting state.",
        "gauge",
        "pods",
        _container_values("kube_pod_container_status_waiting", "waiting", "flag"),
    ),
    Family(
        "kube_pod_container_status_running",
        "Describes whether the container is currently in running state.",
        "gauge",
        "pods",
        _container_values("kube_pod_container_status_running", "running", "flag"),
    ),
    Family(
        "kube_pod_container_status_terminated",
        "Describes whether the container is currently in terminated state.",
        "gauge",
        "pods",
        _container_values("kube_pod_container_status_terminated", "terminated", "flag"),
    ),
    Family(
        "kube_pod_container_status_terminated_reason",
        "Describes the reason the container is currently in terminated state.",
        "gauge",
        "pods",
        _container_reason(
            "kube_pod_container_status_terminated_reason", "terminated", "terminated_reason"
        ),
    ),
    Family(
        "kube_pod_container_status_ready",
        "Describes whether the containers readiness check succeeded.",
        "gauge",
        "pods",
        _container_values("kube_pod_container_status_ready", "ready", "flag"),
    ),
    Family(
        "kube_pod_container_state_started",
        "Start time in unix timestamp for a pod container.",
        "gauge",
        "pods",
        _container_values("kube_pod_container_state_started", "started"),
    ),
    Family(
        "kube_pod_container_status_last_terminated_exitcode",
        "Describes the exit code for the last container in terminated state.",
        "gauge",
        "pods",
        _container_values("kube_pod_container_status_last_terminated_exitcode", "last_exit_code"),
    ),
    Family(
        "kube_pod_container_status_last_terminated_timestamp",
        "Last terminated time for a pod container in unix timestamp.",
        "gauge",
        "pods",
        _container_values("kube_pod_container_status_last_terminated_timestamp", "last_finished"),
    ),
    Family(
        "kube_pod_init_container_info",
        "Information about an init container in a pod.",
        "gauge",
        "pods",
        _container_info(
            "kube_pod_init_container_info",
            "pod_init_containers",
            (*_CONTAINER_INFO, "restart_policy"),
        ),
    ),
    Family(
        "kube_pod_init_container_resource_requests",
        "The number of requested request resource by an init container.",
        "gauge",
        "pods",
        _pod_resources(
            "kube_pod_init_container_resource_requests", "requests", "pod_init_resources"
        ),
    ),
    Family(
        "kube_pod_init_container_resource_limits",
        "The number of requested limit resource by an init container.",
        "gauge",
        "pods",
        _pod_resources("kube_pod_init_container_resource_limits", "limits", "pod_init_resources"),
    ),
    Family(
        "kube_pod_init_container_status_restarts_total",
        "The number of restarts for the init container.",
        "counter",
        "pods",
        _container_values(
            "kube_pod_init_container_status_restarts_total", "restarts", table="pod_init_containers"
        ),
    ),
    Family(
        "kube_pod_init_container_status_waiting",
        "Describes whether the init container is currently in waiting state.",
        "gauge",
        "pods",
        _container_values(
            "kube_pod_init_container_status_waiting", "waiting", "flag", "pod_init_containers"
        ),
    ),
    Family(
        "kube_pod_init_container_status_waiting_reason",
        "Describes the reason the init container is currently in waiting state.",
        "gauge",
        "pods",
        _container_reason(
            "kube_pod_init_container_status_waiting_reason",
            "waiting",
            "waiting_reason",
            "pod_init_containers",
        ),
    ),
    Family(
        "kube_pod_init_container_status_running",
        "Describes whether the init container is currently in running state.",
        "gauge",
        "pods",
        _container_values(
            "kube_pod_init_container_status_running", "running", "flag", "pod_init_containers"
        ),
    ),
    Family(
        "kube_pod_init_container_status_terminated",
        "Describes whether the init container is currently in terminated state.",
        "gauge",
        "pods",
        _container_values(
            "kube_pod_init_container_status_terminated", "terminated", "flag", "pod_init_containers"
        ),
    ),
    Family(
        "kube_pod_init_container_status_terminated_reason",
        "Describes the reason the init container is currently in terminated state.",
        "gauge",
        "pods",
        _container_reason(
            "kube_pod_init_container_status_terminated_reason",
            "terminated",
            "terminated_reason",
            "pod_init_containers",
        ),
    ),
    Family(
        "kube_pod_init_container_status_last_terminated_reason",
        "Describes the last reason the init container was in terminated state.",
        "gauge",
        "pods",
        _container_reason(
            "kube_pod_init_container_status_last_terminated_reason",
            "last_terminated",
            "last_terminated_reason",
            "pod_init_containers",
        ),
    ),
    Family(
        "kube_pod_init_container_status_ready",
        "Describes whether the init containers readiness check succeeded.",
        "gauge",
        "pods",
        _container_values(
            "kube_pod_init_container_status_ready", "ready", "flag", "pod_init_containers"
        ),
    ),
    Family(
        "kube_pod_spec_volumes_persistentvolumeclaims_info",
        "Information about persistentvolumeclaim volumes in a pod.",
        "gauge",
        "pods",
        _child_rows(
            "kube_pod_spec_volumes_persistentvolumeclaims_info",
            "pod_claims",
            ("volume", "persistentvolumeclaim"),
        ),
    ),
    Family(
        "kube_pod_spec_volumes_persistentvolumeclaims_readonly",
        "Describes whether a persistentvolumeclaim is mounted read only.",
        "gauge",
        "pods",
        _pod_claims_read_only,
    ),
    _simple("kube_pod_start_time", "Start time in unix timestamp for a pod.", "pods", "start_time"),
    _simple(
        "kube_pod_completion_time",
        "Completion time in unix timestamp for a pod.",
        "pods",
        "completion_time",
    ),
    Family(
        "kube_pod_status_scheduled",
        "Describes the status of the scheduling process for the pod.",
        "gauge",
        "pods",
        lambda v: _one_of(
            "kube_pod_status_scheduled", v, "scheduled", "condition", CONDITION_STATUSES
        ),
    ),
    _simple(
        "kube_pod_status_scheduled_time",
        "Unix timestamp when pod moved into scheduled status",
        "pods",
        "scheduled_time",
    ),
    Family(
        "kube_pod_status_unschedulable",
        "Describes the unschedulable status for the pod.",
        "gauge",
        "pods",
        _pod_unschedulable,
    ),
    Family("kube_pod_status_reason", "The pod status reasons", "gauge", "pods", _pod_status_reason),
    Family(
        "kube_pod_restart_policy",
        "Describes the restart policy in use by this pod.",
        "gauge",
        "pods",
        _pod_restart_policy,
    ),
    # nodes
    Family(
        "kube_node_info",
        "Information about a cluster node.",
        "gauge",
        "nodes",
        _info(
            "kube_node_info",
            (
                "kernel_version",
                "os_image",
                "container_runtime_version",
                "kubelet_version",
                "kubeproxy_version",
                "provider_id",
                "pod_cidr",
                "system_uuid",
                "internal_ip",
            ),
        ),
    ),
    Family(
        "kube_node_status_condition",
        "The condition of a cluster node.",
        "gauge",
        "nodes",
        lambda v: _conditions("kube_node_status_condition", v, "node_conditions"),
    ),
    Family(
        "kube_node_status_capacity",
        "The capacity for different resources of a node.",
        "gauge",
        "nodes",
        _node_resources("kube_node_status_capacity", "capacity"),
    ),
    Family(
        "kube_node_status_allocatable",
        "The allocatable for different resources of a node that are available for scheduling.",
        "gauge",
        "nodes",
        _node_resources("kube_node_status_allocatable", "allocatable"),
    ),
    _simple(
        "kube_node_spec_unschedulable",
        "Whether a node can schedule new pods.",
        "nodes",
        "unschedulable",
        "flag",
    ),
    Family("kube_node_spec_taint", "The taint of a cluster node.", "gauge", "nodes", _node_taint),
    # namespaces
    Family(
        "kube_namespace_status_phase",
        "kubernetes namespace status phase.",
        "gauge",
        "namespaces",
        lambda v: _one_of("kube_namespace_status_phase", v, "phase", "phase", NAMESPACE_PHASES),
    ),
    # deployments
    _simple(
        "kube_deployment_spec_replicas",
        "Number of desired pods for a deployment.",
        "deployments",
        "spec_replicas",
    ),
    _simple(
        "kube_deployment_status_replicas_available",
        "The number of available replicas per deployment.",
        "deployments",
        "available",
    ),
    _simple(
        "kube_deployment_status_replicas_unavailable",
        "The number of unavailable replicas per deployment.",
        "deployments",
        "unavailable",
    ),
    _simple(
        "kube_deployment_status_replicas_updated",
        "The number of updated replicas per deployment.",
        "deployments",
        "updated",
    ),
    _simple(
        "kube_deployment_status_replicas",
        "The number of replicas per deployment.",
        "deployments",
        "replicas",
    ),
    _simple(
        "kube_deployment_status_replicas_ready",
        "The number of ready replicas per deployment.",
        "deployments",
        "ready",
    ),
    _simple(
        "kube_deployment_status_observed_generation",
        "The generation observed by the deployment controller.",
        "deployments",
        "observed_generation",
    ),
    _simple(
        "kube_deployment_metadata_generation",
        "Sequence number representing a specific generation of the desired state.",
        "deployments",
        "metadata_generation",
    ),
    _simple(
        "kube_deployment_spec_paused",
        "Whether the deployment is paused and will not be processed by the deployment controller.",
        "deployments",
        "paused",
        "flag",
    ),
    _simple(
        "kube_deployment_spec_strategy_rollingupdate_max_unavailable",
        "Maximum number of unavailable replicas during a rolling update of a deployment.",
        "deployments",
        "max_unavailable",
    ),
    _simple(
        "kube_deployment_spec_strategy_rollingupdate_max_surge",
        "Maximum number of replicas that can be scheduled above the desired number of "
        "replicas during a rolling update of a deployment.",
        "deployments",
        "max_surge",
    ),
    Family(
        "kube_deployment_status_condition",
        "The current status conditions of a deployment.",
        "gauge",
        "deployments",
        lambda v: _conditions(
            "kube_deployment_status_condition", v, "deployment_conditions", ("reason",)
        ),
    ),
    # services
    Family(
        "kube_service_info",
        "Information about service.",
        "gauge",
        "services",
        _info(
            "kube_service_info",
            ("cluster_ip", "external_name", "external_traffic_policy", "load_balancer_ip"),
        ),
    ),
    Family(
        "kube_service_spec_type",
        "Type about service.",
        "gauge",
        "services",
        _info("kube_service_spec_type", ("type",)),
    ),
    Family(
        "kube_service_spec_external_ip",
        "Service external ips. One series for each ip",
        "gauge",
        "services",
        _child_rows("kube_service_spec_external_ip", "service_external_ips", ("external_ip",)),
    ),
    Family(
        "kube_service_status_load_balancer_ingress",
        "Service load balancer ingress status",
        "gauge",
        "services",
        _child_rows(
            "kube_service_status_load_balancer_ingress",
            "service_load_balancer_ingress",
            ("ip", "hostname"),
        ),
    ),
    # persistentvolumeclaims
    Family(
        "kube_persistentvolumeclaim_info",
        "Information about persistent volume claim.",
        "gauge",
        "persistentvolumeclaims",
        _info("kube_persistentvolumeclaim_info", ("storageclass", "volumename")),
    ),
    Family(
        "kube_persistentvolumeclaim_status_phase",
        "The phase the persistent volume claim is currently in.",
        "gauge",
        "persistentvolumeclaims",
        lambda v: _one_of(
            "kube_persistentvolumeclaim_status_phase", v, "phase", "phase", PVC_PHASES
        ),
    ),
    _simple(
        "kube_persistentvolumeclaim_resource_requests_storage_bytes",
        "The capacity of storage requested by the persistent volume claim.",
        "persistentvolumeclaims",
        "requests_storage_bytes",
        "float",
    ),
    Family(
        "kube_persistentvolumeclaim_access_mode",
        "The access mode(s) specified by the persistent volume claim.",
        "gauge",
        "persistentvolumeclaims",
        _child_rows("kube_persistentvolumeclaim_access_mode", "pvc_access_modes", ("access_mode",)),
    ),
    Family(
        "kube_persistentvolumeclaim_status_condition",
        "Information about status of different conditions of persistent volume claim.",
        "gauge",
        "persistentvolumeclaims",
        lambda v: _conditions("kube_persistentvolumeclaim_status_condition", v, "pvc_conditions"),
    ),
    # persistentvolumes
    Family(
        "kube_persistentvolume_claim_ref",
        "Information about the Persistent Volume Claim Reference.",
        "gauge",
        "persistentvolumes",
        _pv_claim_ref,
    ),
    Family(
        "kube_persistentvolume_status_phase",
        "The phase indicates if a volume is available, bound to a claim, or released by a claim.",
        "gauge",
        "persistentvolumes",
        lambda v: _one_of("kube_persistentvolume_status_phase", v, "phase", "phase", PV_PHASES),
    ),
    Family(
        "kube_persistentvolume_info",
        "Information about persistentvolume.",
        "gauge",
        "persistentvolumes",
        _info(
            "kube_persistentvolume_info",
            ("storageclass", *PV_SOURCE_LABELS, "reclaim_policy"),
        ),
    ),
    _simple(
        "kube_persistentvolume_capacity_bytes",
        "Persistentvolume capacity in bytes.",
        "persistentvolumes",
        "capacity_bytes",
        "float",
    ),
    Family(
        "kube_persistentvolume_volume_mode",
        "Volume Mode information for the PersistentVolume.",
        "gauge",
        "persistentvolumes",
        _pv_volume_mode,
    ),
    Family(
        "kube_persistentvolume_access_mode",
        "Access modes of the PersistentVolume.",
        "gauge",
        "persistentvolumes",
        _child_rows("kube_persistentvolume_access_mode", "pv_access_modes", ("access_mode",)),
    ),
    # replicasets
    _simple(
        "kube_replicaset_spec_replicas",
        "Number of desired pods for a ReplicaSet.",
        "replicasets",
        "spec_replicas",
    ),
    _simple(
        "kube_replicaset_status_replicas",
        "The number of replicas per ReplicaSet.",
        "replicasets",
        "replicas",
    ),
    _simple(
        "kube_replicaset_status_fully_labeled_replicas",
        "The number of fully labeled replicas per ReplicaSet.",
        "replicasets",
        "fully_labeled_replicas",
    ),
    _simple(
        "kube_replicaset_status_ready_replicas",
        "The number of ready replicas per ReplicaSet.",
        "replicasets",
        "ready_replicas",
    ),
    _simple(
        "kube_replicaset_status_observed_generation",
        "The generation observed by the ReplicaSet controller.",
        "replicasets",
        "observed_generation",
    ),
    _simple(
        "kube_replicaset_metadata_generation",
        "Sequence number representing a specific generation of the desired state.",
        "replicasets",
        "metadata_generation",
    ),
    Family(
        "kube_replicaset_owner",
        "Information about the ReplicaSet's owner.",
        "gauge",
        "replicasets",
        _owners("kube_replicaset_owner", "replicaset_owners"),
    ),
    # daemonsets
    _simple(
        "kube_daemonset_status_current_number_scheduled",
        "The number of nodes running at least one daemon pod and are supposed to.",
        "daemonsets",
        "current_number_scheduled",
    ),
    _simple(
        "kube_daemonset_status_desired_number_scheduled",
        "The number of nodes that should be running the daemon pod.",
        "daemonsets",
        "desired_number_scheduled",
    ),
    _simple(
        "kube_daemonset_status_number_available",
        "The number of nodes that should be running the daemon pod and have one or more of "
        "the daemon pod running and available",
        "daemonsets",
        "number_available",
    ),
    _simple(
        "kube_daemonset_status_number_misscheduled",
        "The number of nodes running a daemon pod but are not supposed to.",
        "daemonsets",
        "number_misscheduled",
    ),
    _simple(
        "kube_daemonset_status_number_ready",
        "The number of nodes that should be running the daemon pod and have one or more of "
        "the daemon pod running and ready.",
        "daemonsets",
        "number_ready",
    ),
    _simple(
        "kube_daemonset_status_number_unavailable",
        "The number of nodes that should be running the daemon pod and have none of the "
        "daemon pod running and available",
        "daemonsets",
        "number_unavailable",
    ),
    _simple(
        "kube_daemonset_status_updated_number_scheduled",
        "The total number of nodes that are running updated daemon pod",
        "daemonsets",
        "updated_number_scheduled",
    ),
    _simple(
        "kube_daemonset_status_observed_generation",
        "The most recent generation observed by the daemon set controller.",
        "daemonsets",
        "observed_generation",
    ),
    _simple(
        "kube_daemonset_metadata_generation",
        "Sequence number representing a specific generation of the desired state.",
        "daemonsets",
        "metadata_generation",
    ),
    # statefulsets
    _simple(
        "kube_statefulset_replicas",
        "Number of desired pods for a StatefulSet.",
        "statefulsets",
        "replicas",
    ),
    _simple(
        "kube_statefulset_status_replicas",
        "The number of replicas per StatefulSet.",
        "statefulsets",
        "status_replicas",
    ),
    _simple(
        "kube_statefulset_status_replicas_ready",
        "The number of ready replicas per StatefulSet.",
        "statefulsets",
        "status_replicas_ready",
    ),
    _simple(
        "kube_statefulset_status_replicas_current",
        "The number of current replicas per StatefulSet.",
        "statefulsets",
        "status_replicas_current",
    ),
    _simple(
        "kube_statefulset_status_replicas_updated",
        "The number of updated replicas per StatefulSet.",
        "statefulsets",
        "status_replicas_updated",
    ),
    _simple(
        "kube_statefulset_status_replicas_available",
        "The number of available replicas per StatefulSet.",
        "statefulsets",
        "status_replicas_available",
    ),
    _simple(
        "kube_statefulset_status_observed_generation",
        "The generation observed by the StatefulSet controller.",
        "statefulsets",
        "status_observed_generation",
    ),
    _simple(
        "kube_statefulset_metadata_generation",
        "Sequence number representing a specific generation of the desired state for the "
        "StatefulSet.",
        "statefulsets",
        "metadata_generation",
    ),
    _simple(
        "kube_statefulset_ordinals_start",
        "Start ordinal of the StatefulSet.",
        "statefulsets",
        "ordinals_start",
    ),
    Family(
        "kube_statefulset_persistentvolumeclaim_retention_policy",
        "Count of retention policy for StatefulSet template PVCs",
        "gauge",
        "statefulsets",
        _claim_retention,
    ),
    Family(
        "kube_statefulset_status_current_revision",
        "Indicates the version of the StatefulSet used to generate Pods in the sequence "
        "[0,currentReplicas).",
        "gauge",
        "statefulsets",
        _revision("kube_statefulset_status_current_revision", "current_revision"),
    ),
    Family(
        "kube_statefulset_status_update_revision",
        "Indicates the version of the StatefulSet used to generate Pods in the sequence "
        "[replicas-updatedReplicas,replicas)",
        "gauge",
        "statefulsets",
        _revision("kube_statefulset_status_update_revision", "update_revision"),
    ),
    # jobs
    _simple("kube_job_status_active", "The number of actively running pods.", "jobs", "active"),
    _simple(
        "kube_job_status_succeeded",
        "The number of pods which reached Phase Succeeded.",
        "jobs",
        "succeeded",
    ),
    Family(
        "kube_job_status_failed",
        "The number of pods which reached Phase Failed and the reason for failure.",
        "gauge",
        "jobs",
        _job_failed,
    ),
    _simple(
        "kube_job_status_start_time",
        "StartTime represents time when the job was acknowledged by the Job Manager.",
        "jobs",
        "start_time",
    ),
    _simple(
        "kube_job_status_completion_time",
        "CompletionTime represents time when the job was completed.",
        "jobs",
        "completion_time",
    ),
    Family(
        "kube_job_complete",
        "The job has completed its execution.",
        "gauge",
        "jobs",
        _job_condition("kube_job_complete", "Complete"),
    ),
    Family(
        "kube_job_failed",
        "The job has failed its execution.",
        "gauge",
        "jobs",
        _job_condition("kube_job_failed", "Failed"),
    ),
    _simple(
        "kube_job_spec_completions",
        "The desired number of successfully finished pods the job should be run with.",
        "jobs",
        "spec_completions",
    ),
    _simple(
        "kube_job_spec_parallelism",
        "The maximum desired number of pods the job should run at any given time.",
        "jobs",
        "spec_parallelism",
    ),
    Family(
        "kube_job_owner",
        "Information about the Job's owner.",
        "gauge",
        "jobs",
        _owners("kube_job_owner", "job_owners"),
    ),
    Family(
        "kube_job_info",
        "Information about job.",
        "gauge",
        "jobs",
        lambda v: [Line("kube_job_info").text(v.identity).value("1")],
    ),
    _simple(
        "kube_job_spec_active_deadline_seconds",
        "The duration in seconds relative to the startTime that the job may be active before "
        "the system tries to terminate it.",
        "jobs",
        "spec_active_deadline_seconds",
    ),
    _simple(
        "kube_job_status_ready",
        "The number of ready pods that belong to this Job.",
        "jobs",
        "ready",
    ),
    Family(
        "kube_job_status_suspended",
        "The number of pods which reached Phase Suspended.",
        "gauge",
        "jobs",
        _job_suspended,
    ),
    # horizontal pod autoscalers
    _simple(
        "kube_horizontalpodautoscaler_spec_max_replicas",
        "Upper limit for the number of pods that can be set by the autoscaler; cannot be "
        "smaller than MinReplicas.",
        "horizontalpodautoscalers",
        "spec_max_replicas",
    ),
    _simple(
        "kube_horizontalpodautoscaler_spec_min_replicas",
        "Lower limit for the number of pods that can be set by the autoscaler, default 1.",
        "horizontalpodautoscalers",
        "spec_min_replicas",
    ),
    _simple(
        "kube_horizontalpodautoscaler_status_current_replicas",
        "Current number of replicas of pods managed by this autoscaler.",
        "horizontalpodautoscalers",
        "status_current_replicas",
    ),
    _simple(
        "kube_horizontalpodautoscaler_status_desired_replicas",
        "Desired number of replicas of pods managed by this autoscaler.",
        "horizontalpodautoscalers",
        "status_desired_replicas",
    ),
    _simple(
        "kube_horizontalpodautoscaler_metadata_generation",
        "The generation observed by the HorizontalPodAutoscaler controller.",
        "horizontalpodautoscalers",
        "metadata_generation",
    ),
    Family(
        "kube_horizontalpodautoscaler_status_condition",
        "The condition of this autoscaler.",
        "gauge",
        "horizontalpodautoscalers",
        lambda v: _conditions("kube_horizontalpodautoscaler_status_condition", v, "hpa_conditions"),
    ),
    Family(
        "kube_horizontalpodautoscaler_spec_target_metric",
        "The metric specifications used by this autoscaler when calculating the desired "
        "replica count.",
        "gauge",
        "horizontalpodautoscalers",
        _hpa_metric("kube_horizontalpodautoscaler_spec_target_metric", "hpa_target_metrics"),
    ),
    Family(
        "kube_horizontalpodautoscaler_status_target_metric",
        "The current metric status used by this autoscaler when calculating the desired "
        "replica count.",
        "gauge",
        "horizontalpodautoscalers",
        _hpa_metric("kube_horizontalpodautoscaler_status_target_metric", "hpa_status_metrics"),
    ),
    Family(
        "kube_horizontalpodautoscaler_info",
        "Information about this autoscaler.",
        "gauge",
        "horizontalpodautoscalers",
        _hpa_info,
    ),
    # cronjobs
    Family(
        "kube_cronjob_info",
        "Info about cronjob.",
        "gauge",
        "cronjobs",
        _info("kube_cronjob_info", ("schedule", "concurrency_policy", "timezone")),
    ),
    _simple(
        "kube_cronjob_status_active",
        "Active holds pointers to currently running jobs.",
        "cronjobs",
        "active",
    ),
    _simple(
        "kube_cronjob_status_last_schedule_time",
        "LastScheduleTime keeps information of when was the last time the job was successfully "
        "scheduled.",
        "cronjobs",
        "last_schedule_time",
    ),
    _simple(
        "kube_cronjob_status_last_successful_time",
        "LastSuccessfulTime keeps information of when was the last time the job was completed "
        "successfully.",
        "cronjobs",
        "last_successful_time",
    ),
    _simple(
        "kube_cronjob_spec_suspend",
        "Suspend flag tells the controller to suspend subsequent executions.",
        "cronjobs",
        "suspend",
        "flag",
    ),
    _simple(
        "kube_cronjob_spec_starting_deadline_seconds",
        "Deadline in seconds for starting the job if it misses scheduled time for any reason.",
        "cronjobs",
        "starting_deadline_seconds",
    ),
    _simple(
        "kube_cronjob_next_schedule_time",
        "Next time the cronjob should be scheduled. The time after lastScheduleTime, or after "
        "the cron job's creation time if it's never been scheduled. Use this to determine if the "
        "job is delayed.",
        "cronjobs",
        "next_schedule_time",
    ),
    _simple(
        "kube_cronjob_metadata_resource_version",
        "Resource version representing a specific version of the cronjob.",
        "cronjobs",
        "resource_version",
    ),
    _simple(
        "kube_cronjob_spec_successful_job_history_limit",
        "Successful job history limit tells the controller how many completed jobs should be "
        "preserved.",
        "cronjobs",
        "successful_job_history_limit",
    ),
    _simple(
        "kube_cronjob_spec_failed_job_history_limit",
        "Failed job history limit tells the controller how many failed jobs should be preserved.",
        "cronjobs",
        "failed_job_history_limit",
    ),
    # poddisruptionbudgets
    _simple(
        "kube_poddisruptionbudget_status_current_healthy",
        "Current number of healthy pods",
        "poddisruptionbudgets",
        "current_healthy",
    ),
    _simple(
        "kube_poddisruptionbudget_status_desired_healthy",
        "Minimum desired number of healthy pods",
        "poddisruptionbudgets",
        "desired_healthy",
    ),
    _simple(
        "kube_poddisruptionbudget_status_pod_disruptions_allowed",
        "Number of pod disruptions that are currently allowed",
        "poddisruptionbudgets",
        "disruptions_allowed",
    ),
    _simple(
        "kube_poddisruptionbudget_status_expected_pods",
        "Total number of pods counted by this disruption budget",
        "poddisruptionbudgets",
        "expected_pods",
    ),
    _simple(
        "kube_poddisruptionbudget_status_observed_generation",
        "Most recent generation observed when updating this PDB status",
        "poddisruptionbudgets",
        "observed_generation",
    ),
    # storageclasses
    Family(
        "kube_storageclass_info",
        "Information about storageclass.",
        "gauge",
        "storageclasses",
        _info("kube_storageclass_info", ("provisioner", "reclaim_policy", "volume_binding_mode")),
    ),
    # limitranges
    Family(
        "kube_limitrange",
        "Information about limit range.",
        "gauge",
        "limitranges",
        _limitrange,
    ),
    # resourcequotas
    Family(
        "kube_resourcequota",
        "Information about resource quota.",
        "gauge",
        "resourcequotas",
        _resourcequota,
    ),
    # created, deletion timestamp, labels and annotations of every kind
    *(family for kind in KSM_NAMES for family in _metadata_families(kind)),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)
_BY_NAME = {f.name: f for f in FAMILIES}


class FamilyFilterError(ValueError):
    pass


def select_families(allow: str | None, deny: str | None) -> tuple[tuple[str, ...], list[str]]:
    """The families ``--metric-allowlist`` / ``--metric-denylist`` leave enabled, in FAMILIES
    order, and the patterns that match no family (likely typos). As in kube-state-metrics:
    comma-separated names or regular expressions, each matching anywhere in a family name
    (``kube_pod_container_status`` takes all of those), and the two lists are mutually
    exclusive."""
    if allow is not None and deny is not None:
        raise FamilyFilterError(
            "--metric-allowlist and --metric-denylist are mutually exclusive: give one of them"
        )
    given = allow if allow is not None else deny
    if given is None:
        return FAMILY_NAMES, []
    patterns = []
    for item in (part.strip() for part in given.split(",")):
        if not item:
            continue
        try:
            patterns.append(re.compile(item))
        except re.error as exc:
            raise FamilyFilterError(f"{item!r} is not a regular expression: {exc}") from None
    matched = {name for name in FAMILY_NAMES if any(p.search(name) for p in patterns)}
    keep = matched if allow is not None else set(FAMILY_NAMES) - matched
    unmatched = [p.pattern for p in patterns if not any(p.search(n) for n in FAMILY_NAMES)]
    return tuple(name for name in FAMILY_NAMES if name in keep), unmatched


def families_named(names: Sequence[str]) -> tuple[Family, ...]:
    """The families of ``names`` (all of them known: a typo is a bug, so KeyError)."""
    return tuple(_BY_NAME[name] for name in names)


def render_families(
    tables: dict[str, list[pa.Table]],
    slice_objects: int = SLICE_OBJECTS,
    families: Sequence[Family] = FAMILIES,
) -> Iterator[tuple[Family, Iterator[Text]]]:
    """Each family's lines (without HELP/TYPE) for a shard snapshot, in the order of
    ``families``, as pieces produced slice by slice (consume a family's pieces before asking
    for the next)."""
    plans = {kind: slices(kind, t, slice_objects) for kind, t in tables.items()}
    for family in families:
        pieces = (p for view in views(family.kind, plans[family.kind]) for p in family.render(view))
        yield family, pieces


def exposition(
    tables: dict[str, list[pa.Table]],
    slice_objects: int = SLICE_OBJECTS,
    families: Sequence[Family] = FAMILIES,
) -> Iterator[Text]:
    """The complete text exposition of a snapshot, piece by piece."""
    for family, body in render_families(tables, slice_objects, families):
        yield family.header
        yield from body
