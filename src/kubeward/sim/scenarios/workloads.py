"""Scenario workloads as the Kubernetes objects a user would ``kubectl apply``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.scenarios.model import Scenario, Workload

# (group, version, plural) of each object, for ObjectAPI
Manifest = tuple[tuple[str, str, str], dict[str, Any]]


def manifests(scenario: Scenario) -> Iterator[Manifest]:
    """What exists at start: the PriorityClasses, every workload's, quota's and limit range's
    namespace, the ResourceQuotas, LimitRanges and StorageClasses, and the workloads without
    createAt."""
    for pc in scenario.priority_classes:
        yield ("scheduling.k8s.io", "v1", "priorityclasses"), pc.manifest()
    namespaces = {w.namespace for w in scenario.workloads}
    namespaces |= {q.namespace for q in scenario.resource_quotas}
    namespaces |= {lr.namespace for lr in scenario.limit_ranges}
    for ns in sorted(namespaces - {"default"}):
        yield ("", "v1", "namespaces"), {"metadata": {"name": ns}}
    for quota in scenario.resource_quotas:
        yield ("", "v1", "resourcequotas"), quota.manifest()
    for limits in scenario.limit_ranges:
        yield ("", "v1", "limitranges"), limits.manifest()
    for sc in scenario.storage_classes:
        yield ("storage.k8s.io", "v1", "storageclasses"), sc.manifest()
    for w in scenario.workloads:
        if not w.create_at:
            yield from _copies(w)


def delayed_manifests(scenario: Scenario) -> list[tuple[float, list[Manifest]]]:
    """Workloads created later: (simulated seconds after start, their objects)."""
    return [(w.create_at, list(_copies(w))) for w in scenario.workloads if w.create_at]


def _copies(w: Workload) -> Iterator[Manifest]:
    if w.copies == 1:
        yield from workload_objects(w)
        return
    for i in range(w.copies):
        yield from workload_objects(w.model_copy(update={"name": f"{w.name}-{i}", "copies": 1}))


def pod_template(w: Workload) -> dict[str, Any]:
    container: dict[str, Any] = {"name": w.name, "image": w.image}
    resources = {}
    if w.requests.as_dict():
        resources["requests"] = w.requests.as_dict()
    if w.limits.as_dict():
        resources["limits"] = w.limits.as_dict()
    if resources:
        container["resources"] = resources
    if w.service is not None:
        container["ports"] = [{"containerPort": w.service.target_port, "protocol": "TCP"}]
    if w.behaviour.readiness_delay_seconds and w.service is not None:
        container["readinessProbe"] = {
            "httpGet": {"path": "/healthz", "port": w.service.target_port},
            "periodSeconds": 10,
        }
    spec: dict[str, Any] = {"containers": [container]}
    if w.node_selector:
        spec["nodeSelector"] = dict(w.node_selector)
    if w.tolerations:
        spec["tolerations"] = list(w.tolerations)
    if w.priority_class_name:
        spec["priorityClassName"] = w.priority_class_name
    if w.kind in ("Job", "CronJob"):
        spec["restartPolicy"] = w.restart_policy or "OnFailure"
    annotations = {ANNOTATION: w.behaviour.annotation()} if w.behaviour.annotation() != "{}" else {}
    meta: dict[str, Any] = {"labels": _labels(w)}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": spec}


def _labels(w: Workload) -> dict[str, str]:
    return {"app": w.name, **w.labels}


def workload_objects(w: Workload) -> Iterator[Manifest]:
    meta = {"name": w.name, "namespace": w.namespace, "labels": _labels(w)}
    selector = {"matchLabels": {"app": w.name}}
    template = pod_template(w)
    if w.kind == "Deployment":
        yield (
            ("apps", "v1", "deployments"),
            {
                "metadata": meta,
                "spec": {"replicas": w.replicas, "selector": selector, "template": template},
            },
        )
    elif w.kind == "StatefulSet":
        yield (
            ("apps", "v1", "statefulsets"),
            {
                "metadata": meta,
                "spec": _statefulset_spec(w, selector, template),
            },
        )
    elif w.kind == "DaemonSet":
        yield (
            ("apps", "v1", "daemonsets"),
            {
                "metadata": meta,
                "spec": {"selector": selector, "template": template},
            },
        )
    elif w.kind == "Job":
        yield ("batch", "v1", "jobs"), {"metadata": meta, "spec": _job_spec(w, template)}
    else:
        yield (
            ("batch", "v1", "cronjobs"),
            {
                "metadata": meta,
                "spec": _cronjob_spec(w, template),
            },
        )
    if w.service is not None:
        service: dict[str, Any] = {
            "selector": {"app": w.name},
            "ports": [{"port": w.service.port, "targetPort": w.service.target_port}],
        }
        if w.kind == "StatefulSet":
            # the governing Service of a StatefulSet is headless: one DNS name per pod
            service["clusterIP"] = "None"
        yield ("", "v1", "services"), {"metadata": meta, "spec": service}
    if w.hpa is not None:
        yield (
            ("autoscaling", "v2", "horizontalpodautoscalers"),
            {
                "metadata": meta,
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": w.kind, "name": w.name},
                    "minReplicas": w.hpa.min_replicas,
                    "maxReplicas": w.hpa.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "averageUtilization": w.hpa.target_cpu_utilization,
                                },
                            },
                        }
                    ],
                },
            },
        )
    if w.pdb is not None:
        budget: dict[str, Any] = {"selector": selector}
        if w.pdb.min_available is not None:
            budget["minAvailable"] = w.pdb.min_available
        else:
            budget["maxUnavailable"] = w.pdb.max_unavailable
        yield ("policy", "v1", "poddisruptionbudgets"), {"metadata": meta, "spec": budget}


def _statefulset_spec(
    w: Workload, selector: dict[str, Any], template: dict[str, Any]
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": w.replicas,
        "serviceName": w.name,
        "selector": selector,
        "template": template,
    }
    if w.storage is not None:
        # No volumeMount: kubeward's API validates StatefulSet pod templates like Pods (real
        # Kubernetes skips that), so a mount of a claim template would be refused.
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": w.storage}},
                    **({"storageClassName": w.storage_class} if w.storage_class else {}),
                },
            }
        ]
    return spec


def _cronjob_spec(w: Workload, template: dict[str, Any]) -> dict[str, Any]:
    # The Job's pods are labelled by the Job controller; the workload's own labels stay.
    spec: dict[str, Any] = {"schedule": w.schedule, "jobTemplate": {"spec": _job_spec(w, template)}}
    if w.time_zone:
        spec["timeZone"] = w.time_zone
    return spec


def _job_spec(w: Workload, template: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": template}
    if w.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = w.active_deadline_seconds
    if w.completions is not None:
        spec["completions"] = w.completions
    if w.parallelism is not None:
        spec["parallelism"] = w.parallelism
    if w.backoff_limit is not None:
        spec["backoffLimit"] = w.backoff_limit
    return spec
