"""``kubeward collect`` against ``kubeward sim`` over HTTPS: every kube-state-metrics family it
exposes equals a recomputation from a direct LIST of the same cluster (master and workers), and
the real promtool accepts the master's and a worker's exposition.

Two clusters: ``tiny`` with objects made here (every family, including failure cases), and the
``demo`` scenario, whose controllers give its DaemonSet, StatefulSets, CronJob-owned Jobs and
HPA real status (the workload families are compared there)."""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from cronsim import CronSim

from e2e.test_collect_support import (
    Collector,
    Labels,
    Series,
    parse,
    promtool_check,
    start_collector,
)
from kubeward.collect.ksm import FAMILIES, FAMILY_NAMES
from kubeward.kube.quantity import to_int, to_milli
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e

NS = "col-e2e"


def behaviour(**fields: Any) -> dict[str, str]:
    return {"sim.kubeward.io/behaviour": json.dumps(fields)}


def template(labels: dict[str, str], container: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels, "annotations": kw.pop("annotations", {})},
        "spec": {"containers": [container], **kw},
    }


APP = {
    "name": "app",
    "image": "nginx:1.27",
    "resources": {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "200m", "memory": "128Mi"},
    },
}
CRON_TEMPLATE = template(
    {"job": "cron"}, {"name": "work", "image": "busybox:1.36"}, restartPolicy="Never"
)
OBJECTS: list[tuple[str, dict[str, Any]]] = [
    (
        "/apis/apps/v1/namespaces/{ns}/deployments",
        {
            "metadata": {"name": "web", "labels": {"e2e.kubeward.io/tier": "front"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": template({"app": "web"}, APP),
            },
        },
    ),
    (
        "/apis/apps/v1/namespaces/{ns}/deployments",
        {
            "metadata": {"name": "broken"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "broken"}},
                "template": template(
                    {"app": "broken"},
                    {"name": "app", "image": "nope:404"},
                    annotations=behaviour(imagePullable=False),
                ),
            },
        },
    ),
    (
        "/api/v1/namespaces/{ns}/pods",
        {
            "metadata": {"name": "crasher", "annotations": behaviour(crashAfterSeconds=1)},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]},
        },
    ),
    (
        "/api/v1/namespaces/{ns}/pods",
        {
            "metadata": {"name": "initialised"},
            "spec": {
                "initContainers": [
                    {"name": "setup", "image": "busybox:1.36", "resources": APP["resources"]},
                    {"name": "proxy", "image": "envoy:1.31", "restartPolicy": "Always"},
                ],
                "containers": [{"name": "app", "image": "nginx:1.27"}],
            },
        },
    ),
    (
        "/api/v1/namespaces/{ns}/pods",
        {
            # Its first init container's image cannot be pulled: it waits, with a reason.
            "metadata": {"name": "uninitialised", "annotations": behaviour(imagePullable=False)},
            "spec": {
                "initContainers": [{"name": "setup", "image": "nope:404"}],
                "containers": [{"name": "app", "image": "nginx:1.27"}],
            },
        },
    ),
    (
        # Yearly, so it never runs during the test: its next time is the next New Year in Berlin.
        "/apis/batch/v1/namespaces/{ns}/cronjobs",
        {
            "metadata": {"name": "yearly", "labels": {"app": "report"}},
            "spec": {
                "schedule": "0 0 1 1 *",
                "timeZone": "Europe/Berlin",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 300,
                "successfulJobsHistoryLimit": 2,
                "failedJobsHistoryLimit": 1,
                "jobTemplate": {"spec": {"template": CRON_TEMPLATE}},
            },
        },
    ),
    (
        # Suspended; the fixture writes the status of an earlier run (see cluster()).
        "/apis/batch/v1/namespaces/{ns}/cronjobs",
        {
            "metadata": {"name": "held"},
            "spec": {
                "schedule": "@hourly",
                "suspend": True,
                "jobTemplate": {"spec": {"template": CRON_TEMPLATE}},
            },
        },
    ),
    (
        "/api/v1/namespaces/{ns}/persistentvolumeclaims",
        {
            "metadata": {"name": "data", "labels": {"app": "db"}},
            "spec": {
                "storageClassName": "standard",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    ),
    (
        # Mounts the claim above (on no node: the families read the spec only).
        "/api/v1/namespaces/{ns}/pods",
        {
            "metadata": {"name": "claimant"},
            "spec": {
                "containers": [{"name": "app", "image": "busybox:1.36"}],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                    {
                        "name": "ro",
                        "persistentVolumeClaim": {"claimName": "data", "readOnly": True},
                    },
                ],
                "nodeSelector": {"e2e.kubeward.io/nowhere": "true"},
            },
        },
    ),
    (
        "/api/v1/namespaces/{ns}/services",
        {
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": 8080}],
                "externalTrafficPolicy": "Local",
                "externalIPs": ["198.51.100.1"],
            },
        },
    ),
    (
        # A static volume nobody claims (3Gi, of no class): Available, and an NFS source.
        "/api/v1/persistentvolumes",
        {
            "metadata": {"name": "e2e-nfs", "labels": {"app": "db"}},
            "spec": {
                "capacity": {"storage": "3Gi"},
                "accessModes": ["ReadWriteMany"],
                "nfs": {"server": "10.0.0.9", "path": "/export"},
                "storageClassName": "archive",
            },
        },
    ),
    (
        # In "default", where no pod is created: the API server defaults the Container item's
        # default and defaultRequest to max, which every new pod there would get.
        "/api/v1/namespaces/default/limitranges",
        {
            "metadata": {"name": "bounds"},
            "spec": {
                "limits": [
                    {"type": "Container", "max": {"memory": "64Gi"}},
                    {"type": "PersistentVolumeClaim", "max": {"storage": "1Ti"}},
                ]
            },
        },
    ),
    (
        # The simulator's quota controller fills in its status (hard, and used by this
        # namespace's pods, claims and the sidecar's 2Mi limit).
        "/api/v1/namespaces/{ns}/resourcequotas",
        {
            "metadata": {"name": "budget", "labels": {"app": "web"}},
            "spec": {
                "hard": {
                    "count/pods": "50",
                    "requests.storage": "10Gi",
                    "persistentvolumeclaims": "5",
                    "services.loadbalancers": "2",
                }
            },
        },
    ),
    (
        "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
        {
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        },
    ),
    (
        # No owner: kube_replicaset_owner's "<none>" series.
        "/apis/apps/v1/namespaces/{ns}/replicasets",
        {
            "metadata": {"name": "bare"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "bare"}},
                "template": template({"app": "bare"}, APP),
            },
        },
    ),
    (
        "/apis/apps/v1/namespaces/{ns}/statefulsets",
        {
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 1,
                "ordinals": {"start": 1},
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": template({"app": "db"}, {"name": "db", "image": "postgres:16"}),
            },
        },
    ),
    (
        "/apis/apps/v1/namespaces/{ns}/daemonsets",
        {
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": template({"app": "agent"}, {"name": "agent", "image": "agent:1"}),
            },
        },
    ),
    (
        "/apis/batch/v1/namespaces/{ns}/jobs",
        {
            "metadata": {"name": "once"},
            "spec": {
                "template": template(
                    {"job": "once"},
                    {"name": "work", "image": "busybox:1.36"},
                    restartPolicy="Never",
                    annotations=behaviour(runSeconds=1),
                )
            },
        },
    ),
    (
        "/apis/batch/v1/namespaces/{ns}/jobs",
        {
            "metadata": {"name": "wide"},
            "spec": {
                "completions": 4,
                "parallelism": 2,
                "template": template(
                    {"job": "wide"},
                    {"name": "work", "image": "busybox:1.36"},
                    restartPolicy="Never",
                    annotations=behaviour(runSeconds=1),
                ),
            },
        },
    ),
    (
        "/apis/batch/v1/namespaces/{ns}/jobs",
        {
            "metadata": {"name": "fails"},
            "spec": {
                "backoffLimit": 0,
                "template": template(
                    {"job": "fails"},
                    {"name": "work", "image": "busybox:1.36"},
                    restartPolicy="Never",
                    annotations=behaviour(crashAfterSeconds=1),
                ),
            },
        },
    ),
    (
        "/apis/batch/v1/namespaces/{ns}/jobs",
        {
            "metadata": {"name": "paused"},
            "spec": {
                "suspend": True,
                "activeDeadlineSeconds": 600,
                "template": template(
                    {"job": "paused"},
                    {"name": "work", "image": "busybox:1.36"},
                    restartPolicy="Never",
                ),
            },
        },
    ),
    (
        "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
        {
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    },
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "memory",
                            "target": {"type": "AverageValue", "averageValue": "96Mi"},
                        },
                    },
                    {
                        "type": "External",
                        "external": {
                            "metric": {"name": "queue_depth"},
                            "target": {"type": "Value", "value": "1500m"},
                        },
                    },
                ],
            },
        },
    ),
]

# Held by a finalizer once deleted, so the *_deletion_timestamp families have series. None of
# them runs a pod: the DaemonSet's and the pod's node selectors match no node.
HOLD = "e2e.kubeward.io/hold"
NOWHERE = {"nodeSelector": {"e2e.kubeward.io/nowhere": "true"}}
DOOMED: list[tuple[str, dict[str, Any]]] = [
    ("/api/v1/nodes", {"metadata": {"name": "doomed-node"}}),
    (
        "/api/v1/persistentvolumes",
        {
            "metadata": {"name": "doomed-volume"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/doomed", "type": "DirectoryOrCreate"},
                "storageClassName": "manual",
            },
        },
    ),
    (
        "/api/v1/namespaces/{ns}/pods",
        {"spec": {"containers": [{"name": "app", "image": "busybox:1.36"}], **NOWHERE}},
    ),
    (
        "/apis/apps/v1/namespaces/{ns}/deployments",
        {
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "doomed"}},
                "template": template({"app": "doomed"}, APP),
            }
        },
    ),
    (
        "/apis/apps/v1/namespaces/{ns}/daemonsets",
        {
            "spec": {
                "selector": {"matchLabels": {"app": "doomed"}},
                "template": template({"app": "doomed"}, APP, **NOWHERE),
            }
        },
    ),
    (
        "/apis/apps/v1/namespaces/{ns}/statefulsets",
        {
            "spec": {
                "replicas": 0,
                "serviceName": "doomed",
                "selector": {"matchLabels": {"app": "doomed"}},
                "template": template({"app": "doomed"}, APP),
            }
        },
    ),
    (
        "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
        {
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "doomed"},
                "maxReplicas": 2,
            }
        },
    ),
]

# --metric-labels-allowlist / --metric-annotations-allowlist of the collector under test (the
# demo's collector runs without them).
LABELS_ALLOWED = {
    "pods": ("app", "job-name"),
    "nodes": ("*",),
    "namespaces": ("kubernetes.io/metadata.name",),
    "services": ("app",),
    "persistentvolumeclaims": ("app",),
    "resourcequotas": ("app",),
    "persistentvolumes": ("app",),
    "storageclasses": ("*",),
    "deployments": ("e2e.kubeward.io/*",),
    "replicasets": ("app", "pod-template-hash"),
    "daemonsets": ("app",),
    "statefulsets": ("app",),
    "jobs": ("app",),
    "cronjobs": ("app",),
    "horizontalpodautoscalers": ("app",),
    "poddisruptionbudgets": ("app",),
}
# Every resource (the wildcard resource of kube-state-metrics' syntax).
ANNOTATIONS_ALLOWED = {"*": ("sim.kubeward.io/behaviour", "deployment.kubernetes.io/revision")}


def allowlist_option(allowed: dict[str, tuple[str, ...]]) -> str:
    return ",".join(f"{kind}=[{','.join(keys)}]" for kind, keys in allowed.items())


LISTS = {
    "pods": "/api/v1/pods",
    "nodes": "/api/v1/nodes",
    "namespaces": "/api/v1/namespaces",
    "services": "/api/v1/services",
    "persistentvolumeclaims": "/api/v1/persistentvolumeclaims",
    "resourcequotas": "/api/v1/resourcequotas",
    "persistentvolumes": "/api/v1/persistentvolumes",
    "storageclasses": "/apis/storage.k8s.io/v1/storageclasses",
    "limitranges": "/api/v1/limitranges",
    "deployments": "/apis/apps/v1/deployments",
    "replicasets": "/apis/apps/v1/replicasets",
    "daemonsets": "/apis/apps/v1/daemonsets",
    "statefulsets": "/apis/apps/v1/statefulsets",
    "jobs": "/apis/batch/v1/jobs",
    "cronjobs": "/apis/batch/v1/cronjobs",
    "hpas": "/apis/autoscaling/v2/horizontalpodautoscalers",
    "poddisruptionbudgets": "/apis/policy/v1/poddisruptionbudgets",
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    proc = start_sim(tmp_path_factory.mktemp("colsim"), "--scenario", "tiny", "--speed", "5")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def cluster(sim: SimProcess) -> Iterator[httpx.Client]:
    with sim.client() as client:
        r = client.post("/api/v1/namespaces", json={"metadata": {"name": NS}})
        assert r.status_code == 201, r.text
        for path, body in OBJECTS:
            r = client.post(path.format(ns=NS), json=body)
            assert r.status_code == 201, r.text
        taint = {"key": "e2e", "value": "yes", "effect": "PreferNoSchedule"}
        r = client.patch(
            "/api/v1/nodes/tiny-0",
            json={"spec": {"taints": [taint]}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.status_code == 200, r.text
        for path, body in DOOMED:
            body["metadata"] = {"name": body.get("metadata", {}).get("name", "doomed")}
            body["metadata"]["finalizers"] = [HOLD]
            r = client.post(path.format(ns=NS), json=body)
            assert r.status_code == 201, r.text
            r = client.delete(f"{path.format(ns=NS)}/{body['metadata']['name']}")
            assert r.status_code in (200, 202), r.text
            assert r.json()["metadata"].get("deletionTimestamp"), r.text

        # The simulator never restarts an init container, so this pod (on no node, so no
        # kubelet writes it) gets the status a kubelet writes after an init container failed.
        restarted = {
            "metadata": {"name": "init-restarted"},
            "spec": {
                "initContainers": [{"name": "setup", "image": "busybox:1.36"}],
                "containers": [{"name": "app", "image": "nginx:1.27"}],
                **NOWHERE,
            },
        }
        r = client.post(f"/api/v1/namespaces/{NS}/pods", json=restarted)
        assert r.status_code == 201, r.text
        failed_init = {
            "name": "setup",
            "image": "busybox:1.36",
            "ready": False,
            "restartCount": 2,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
        }
        r = client.patch(
            f"/api/v1/namespaces/{NS}/pods/init-restarted/status",
            json={"status": {"initContainerStatuses": [failed_init]}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.status_code == 200, r.text

        # A suspended CronJob keeps the times of its last run: the collector reads them.
        r = client.patch(
            f"/apis/batch/v1/namespaces/{NS}/cronjobs/held/status",
            json={
                "status": {
                    "lastScheduleTime": "2026-01-01T10:00:00Z",
                    "lastSuccessfulTime": "2026-01-01T10:00:42Z",
                }
            },
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.status_code == 200, r.text

        # The simulated driver provisions and binds the claim; the simulator never resizes one,
        # so the Resizing condition is written as the resizer would.
        claim_path = f"/api/v1/namespaces/{NS}/persistentvolumeclaims/data"
        eventually(lambda: client.get(claim_path).json()["status"].get("phase") == "Bound")
        r = client.patch(
            f"{claim_path}/status",
            json={"status": {"conditions": [{"type": "Resizing", "status": "False"}]}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.status_code == 200, r.text
        # The simulator has no cloud provider: give the load balancer an address, as one would.
        ingress = [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]
        r = client.patch(
            f"/api/v1/namespaces/{NS}/services/web/status",
            json={"status": {"loadBalancer": {"ingress": ingress}}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.status_code == 200, r.text

        def settled() -> bool:
            jobs = {j["metadata"]["name"]: j["status"] for j in listed(client, "jobs")}
            web = client.get(f"/apis/apps/v1/namespaces/{NS}/deployments/web").json()
            crasher = client.get(f"/api/v1/namespaces/{NS}/pods/crasher").json()
            restarts = [
                c.get("restartCount", 0) for c in crasher["status"].get("containerStatuses", [])
            ]
            return (
                jobs.get("once", {}).get("succeeded") == 1
                and jobs.get("wide", {}).get("succeeded") == 4
                and any(c["type"] == "Failed" for c in jobs.get("fails", {}).get("conditions", []))
                and web["status"].get("availableReplicas") == 2
                and bool(restarts)
                and restarts[0] >= 1
            )

        eventually(settled, timeout=60)
        yield client


@pytest.fixture(scope="module")
def collector(
    sim: SimProcess, cluster: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Collector]:
    proc = start_collector(
        tmp_path_factory.mktemp("col"),
        sim.kubeconfig,
        "--no-store",
        "--metric-labels-allowlist",
        allowlist_option(LABELS_ALLOWED),
        "--metric-annotations-allowlist",
        allowlist_option(ANNOTATIONS_ALLOWED),
        workers=2,
    )
    try:
        proc.wait_ready()
        yield proc
    finally:
        assert proc.stop() == 0, proc.log()


def listed(client: httpx.Client, kind: str) -> list[dict[str, Any]]:
    r = client.get(LISTS[kind])
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


# -- the recomputation: kube-state-metrics' rules written out plainly -----------------------


# kube_persistentvolume_info's volume-source labels (KSM's docs), all present, empty unless used.
KSM_PV_SOURCES = (
    "gce_persistent_disk_name",
    "host_path",
    "host_path_type",
    "ebs_volume_id",
    "azure_disk_name",
    "fc_wwids",
    "fc_lun",
    "fc_target_wwns",
    "iscsi_target_portal",
    "iscsi_iqn",
    "iscsi_lun",
    "iscsi_initiator_name",
    "local_path",
    "local_fs",
    "nfs_server",
    "nfs_path",
    "csi_driver",
    "csi_volume_handle",
)


def _l(**labels: str) -> Labels:
    return frozenset(labels.items())


def _statuses(status: str) -> dict[str, float]:
    return {s: float(status.lower() == s) for s in ("true", "false", "unknown")}


def _resource(name: str, qty: str, node: bool) -> tuple[str, str, float] | None:
    if name == "cpu":
        return "cpu", "core", to_milli(qty) / 1000
    if name in ("memory", "ephemeral-storage", "storage"):
        return name.replace("-", "_"), "byte", (to_milli(qty) / 1000 if node else to_int(qty))
    if node and name == "pods":
        return "pods", "integer", to_milli(qty) / 1000
    if name.startswith("hugepages-"):
        label = re.sub("[^a-zA-Z0-9_]", "_", name)
        return label, "byte", (to_milli(qty) / 1000 if node else to_int(qty))
    return None  # the simulated cluster has no other resources


def _hpa_quantity(qty: str) -> float:
    """KSM's convertValueToFloat64 for the sizes used here: MilliValue() / 1000."""
    return to_milli(qty) / 1000


# LISTS key -> (the word in its KSM family names, its identity labels from an object)
METADATA_FAMILIES: dict[str, tuple[str, Any]] = {
    "pods": ("pod", lambda m: {"namespace": m["namespace"], "pod": m["name"], "uid": m["uid"]}),
    "nodes": ("node", lambda m: {"node": m["name"]}),
    "namespaces": ("namespace", lambda m: {"namespace": m["name"]}),
    "services": (
        "service",
        lambda m: {"namespace": m["namespace"], "service": m["name"], "uid": m["uid"]},
    ),
    "persistentvolumeclaims": (
        "persistentvolumeclaim",
        lambda m: {"namespace": m["namespace"], "persistentvolumeclaim": m["name"]},
    ),
    "resourcequotas": (
        "resourcequota",
        lambda m: {"namespace": m["namespace"], "resourcequota": m["name"]},
    ),
    "persistentvolumes": ("persistentvolume", lambda m: {"persistentvolume": m["name"]}),
    "storageclasses": ("storageclass", lambda m: {"storageclass": m["name"]}),
    "limitranges": (
        "limitrange",
        lambda m: {"namespace": m["namespace"], "limitrange": m["name"]},
    ),
    "deployments": ("deployment", lambda m: {"namespace": m["namespace"], "deployment": m["name"]}),
    "replicasets": ("replicaset", lambda m: {"namespace": m["namespace"], "replicaset": m["name"]}),
    "daemonsets": ("daemonset", lambda m: {"namespace": m["namespace"], "daemonset": m["name"]}),
    "statefulsets": (
        "statefulset",
        lambda m: {"namespace": m["namespace"], "statefulset": m["name"]},
    ),
    "jobs": ("job", lambda m: {"namespace": m["namespace"], "job_name": m["name"]}),
    "cronjobs": ("cronjob", lambda m: {"namespace": m["namespace"], "cronjob": m["name"]}),
    "hpas": (
        "horizontalpodautoscaler",
        lambda m: {"namespace": m["namespace"], "horizontalpodautoscaler": m["name"]},
    ),
    "poddisruptionbudgets": (
        "poddisruptionbudget",
        lambda m: {"namespace": m["namespace"], "poddisruptionbudget": m["name"]},
    ),
}


def _allowlisted(prefix: str, values: dict[str, str], allowed: tuple[str, ...]) -> dict[str, str]:
    """KSM's label names for the keys used here (no two collide once sanitised)."""
    chosen = {k: v for k, v in values.items() if any(fnmatch.fnmatchcase(k, a) for a in allowed)}
    return {f"{prefix}_" + re.sub("[^a-zA-Z0-9_]", "_", k).lower(): v for k, v in chosen.items()}


def expected(
    c: dict[str, list[dict[str, Any]]],
    labels_allowed: dict[str, tuple[str, ...]] | None = None,
    annotations_allowed: dict[str, tuple[str, ...]] | None = None,
) -> Series:
    """Every family's series from the listed objects (kinds missing from ``c`` give none), for
    a collector run with these allowlists (keyed by KSM resource name)."""
    c = {kind: c.get(kind, []) for kind in LISTS}
    out: Series = {}

    def add(name: str, value: float, /, **labels: str) -> None:
        out[name, _l(**labels)] = value

    for kind, (word, identity) in METADATA_FAMILIES.items():
        resource = "horizontalpodautoscalers" if kind == "hpas" else kind
        for obj in c[kind]:
            m = obj["metadata"]
            key = identity(m)
            add(f"kube_{word}_created", _unix(m["creationTimestamp"]), **key)
            no_deletion_family = (
                "namespaces",
                "services",
                "persistentvolumeclaims",
                "resourcequotas",
                "limitranges",
                "storageclasses",
                "replicasets",
                "jobs",
                "cronjobs",
                "poddisruptionbudgets",
            )
            if m.get("deletionTimestamp") and kind not in no_deletion_family:
                add(f"kube_{word}_deletion_timestamp", _unix(m["deletionTimestamp"]), **key)
            for field, allowed in (
                ("labels", labels_allowed or {}),
                ("annotations", annotations_allowed or {}),
            ):
                keys = allowed.get("*") or allowed.get(resource)  # "*" wins, as in KSM
                if keys and kind != "limitranges":  # KSM has no such families for them
                    prefix = field.removesuffix("s")
                    extra = _allowlisted(prefix, m.get(field, {}), keys)
                    add(f"kube_{word}_{field}", 1, **key, **extra)

    def conditions(name: str, cond: dict[str, Any], **labels: str) -> None:
        for s, v in _statuses(cond["status"]).items():
            add(name, v, **labels, condition=cond["type"], status=s)

    for p in c["pods"]:
        m, spec, st = p["metadata"], p["spec"], p.get("status", {})
        pod = {"namespace": m["namespace"], "pod": m["name"], "uid": m["uid"]}
        owners = m.get("ownerReferences", [])
        ctrl = next((o for o in owners if o.get("controller")), {})
        add(
            "kube_pod_info",
            1,
            **pod,
            host_ip=st.get("hostIP", ""),
            pod_ip=st.get("podIP", ""),
            node=spec.get("nodeName", ""),
            created_by_kind=ctrl.get("kind", "<none>"),
            created_by_name=ctrl.get("name", "<none>"),
            priority_class=spec.get("priorityClassName", ""),
            host_network=str(bool(spec.get("hostNetwork"))).lower(),
        )
        for o in owners or [{"kind": "<none>", "name": "<none>", "controller": "<none>"}]:
            is_ctrl = (
                o["controller"]
                if o.get("controller") == "<none>"
                else str(bool(o.get("controller"))).lower()
            )
            add(
                "kube_pod_owner",
                1,
                **pod,
                owner_kind=o["kind"],
                owner_name=o["name"],
                owner_is_controller=is_ctrl,
            )
        if st.get("phase"):
            for phase in ("Pending", "Succeeded", "Failed", "Unknown", "Running"):
                add("kube_pod_status_phase", float(st["phase"] == phase), **pod, phase=phase)
        for cond in st.get("conditions", []):
            if cond["type"] == "Ready":
                for s, v in _statuses(cond["status"]).items():
                    add("kube_pod_status_ready", v, **pod, condition=s)
        scheduled = [cond for cond in st.get("conditions", []) if cond["type"] == "PodScheduled"]
        for cond in scheduled:
            for s, v in _statuses(cond["status"]).items():
                add("kube_pod_status_scheduled", v, **pod, condition=s)
            if cond["status"] == "True":
                add("kube_pod_status_scheduled_time", _go_unix(cond, "lastTransitionTime"), **pod)
            if cond["status"] == "False":
                add("kube_pod_status_unschedulable", 1, **pod)
        if st.get("startTime"):
            add("kube_pod_start_time", _unix(st["startTime"]), **pod)
        add("kube_pod_restart_policy", 1, **pod, type=spec.get("restartPolicy", ""))
        states = [cs.get("state", {}) for cs in st.get("containerStatuses", [])]
        finished = [_go_unix(s["terminated"], "finishedAt") for s in states if "terminated" in s]
        if finished and max(finished) > 0:
            add("kube_pod_completion_time", max(finished), **pod)
        given = {st.get("reason")} | {cond.get("reason") for cond in st.get("conditions", [])}
        given |= {s["terminated"].get("reason") for s in states if "terminated" in s}
        for reason in (
            "Evicted",
            "NodeAffinity",
            "NodeLost",
            "Shutdown",
            "UnexpectedAdmissionError",
        ):
            add("kube_pod_status_reason", float(reason in given), **pod, reason=reason)
        images = {ctr_spec["name"]: ctr_spec.get("image", "") for ctr_spec in spec["containers"]}
        for cs in st.get("containerStatuses", []):
            ctr = {**pod, "container": cs["name"]}
            add("kube_pod_container_status_restarts_total", cs.get("restartCount", 0), **ctr)
            state = cs.get("state", {})
            if cs["name"] in images:
                add(
                    "kube_pod_container_info",
                    1,
                    **ctr,
                    image_spec=images[cs["name"]],
                    image=cs.get("image", ""),
                    image_id=cs.get("imageID", ""),
                    container_id=cs.get("containerID", ""),
                )
            for word in ("waiting", "running", "terminated"):
                add(f"kube_pod_container_status_{word}", float(word in state), **ctr)
            add("kube_pod_container_status_ready", float(bool(cs.get("ready"))), **ctr)
            begun = state.get("running") or state.get("terminated")
            if begun is not None:
                add("kube_pod_container_state_started", _go_unix(begun, "startedAt"), **ctr)
            if "terminated" in state:
                reason = state["terminated"].get("reason", "")
                add("kube_pod_container_status_terminated_reason", 1, **ctr, reason=reason)
            if "terminated" in cs.get("lastState", {}):
                last_state = cs["lastState"]["terminated"]
                code = last_state.get("exitCode", 0)
                add("kube_pod_container_status_last_terminated_exitcode", code, **ctr)
                at = _go_unix(last_state, "finishedAt")
                add("kube_pod_container_status_last_terminated_timestamp", at, **ctr)
            waiting = cs.get("state", {}).get("waiting")
            if waiting is not None:
                add(
                    "kube_pod_container_status_waiting_reason",
                    1,
                    **ctr,
                    reason=waiting.get("reason", ""),
                )
            last = cs.get("lastState", {}).get("terminated")
            if last is not None:
                add(
                    "kube_pod_container_status_last_terminated_reason",
                    1,
                    **ctr,
                    reason=last.get("reason", ""),
                )
        for vol in spec.get("volumes", []):
            if "persistentVolumeClaim" in vol:
                claim = vol["persistentVolumeClaim"]
                ref = {**pod, "volume": vol["name"], "persistentvolumeclaim": claim["claimName"]}
                add("kube_pod_spec_volumes_persistentvolumeclaims_info", 1, **ref)
                read_only = float(bool(claim.get("readOnly")))
                add("kube_pod_spec_volumes_persistentvolumeclaims_readonly", read_only, **ref)
        init_specs = {ctr_spec["name"]: ctr_spec for ctr_spec in spec.get("initContainers", [])}
        for cs in st.get("initContainerStatuses", []):
            ctr = {**pod, "container": cs["name"]}
            state = cs.get("state", {})
            init = "kube_pod_init_container"
            add(f"{init}_status_restarts_total", cs.get("restartCount", 0), **ctr)
            add(f"{init}_status_ready", float(bool(cs.get("ready"))), **ctr)
            for word in ("waiting", "running", "terminated"):
                add(f"{init}_status_{word}", float(word in state), **ctr)
            for word in ("waiting", "terminated"):
                if word in state:
                    add(
                        f"{init}_status_{word}_reason",
                        1,
                        **ctr,
                        reason=state[word].get("reason", ""),
                    )
            last = cs.get("lastState", {}).get("terminated")
            if last is not None:
                add(
                    f"{init}_status_last_terminated_reason", 1, **ctr, reason=last.get("reason", "")
                )
            if cs["name"] in init_specs:
                add(
                    f"{init}_info",
                    1,
                    **ctr,
                    image_spec=init_specs[cs["name"]].get("image", ""),
                    image=cs.get("image", ""),
                    image_id=cs.get("imageID", ""),
                    container_id=cs.get("containerID", ""),
                    restart_policy=init_specs[cs["name"]].get("restartPolicy", ""),
                )
        for field, prefix in (("containers", "container"), ("initContainers", "init_container")):
            for ctr_spec in spec.get(field, []):
                for type_ in ("requests", "limits"):
                    for rname, qty in ctr_spec.get("resources", {}).get(type_, {}).items():
                        r = _resource(rname, qty, node=False)
                        if r:
                            add(
                                f"kube_pod_{prefix}_resource_{type_}",
                                r[2],
                                **pod,
                                container=ctr_spec["name"],
                                node=spec.get("nodeName", ""),
                                resource=r[0],
                                unit=r[1],
                            )
    for pvc in c["persistentvolumeclaims"]:
        m, spec, st = pvc["metadata"], pvc["spec"], pvc.get("status", {})
        key = {"namespace": m["namespace"], "persistentvolumeclaim": m["name"]}
        storage_class = m.get("annotations", {}).get(
            "volume.beta.kubernetes.io/storage-class", spec.get("storageClassName", "<none>")
        )
        add(
            "kube_persistentvolumeclaim_info",
            1,
            **key,
            storageclass=storage_class,
            volumename=spec.get("volumeName", ""),
        )
        if st.get("phase"):
            for phase in ("Lost", "Bound", "Pending"):
                value = float(st["phase"] == phase)
                add("kube_persistentvolumeclaim_status_phase", value, **key, phase=phase)
        storage = spec.get("resources", {}).get("requests", {}).get("storage")
        if storage is not None:
            add(
                "kube_persistentvolumeclaim_resource_requests_storage_bytes",
                to_int(storage),
                **key,
            )
        for mode in spec.get("accessModes", []):
            add("kube_persistentvolumeclaim_access_mode", 1, **key, access_mode=mode)
        for cond in st.get("conditions", []):
            conditions("kube_persistentvolumeclaim_status_condition", cond, **key)
    for svc in c["services"]:
        m, spec = svc["metadata"], svc["spec"]
        key = {"namespace": m["namespace"], "service": m["name"], "uid": m["uid"]}
        add(
            "kube_service_info",
            1,
            **key,
            cluster_ip=spec.get("clusterIP", ""),
            external_name=spec.get("externalName", ""),
            external_traffic_policy=spec.get("externalTrafficPolicy", ""),
            load_balancer_ip=spec.get("loadBalancerIP", ""),
        )
        add("kube_service_spec_type", 1, **key, type=spec.get("type", ""))
        for ip in spec.get("externalIPs", []):
            add("kube_service_spec_external_ip", 1, **key, external_ip=ip)
        for ing in svc.get("status", {}).get("loadBalancer", {}).get("ingress", []):
            add(
                "kube_service_status_load_balancer_ingress",
                1,
                **key,
                ip=ing.get("ip", ""),
                hostname=ing.get("hostname", ""),
            )
    for rs in c["replicasets"]:
        m, spec, st = rs["metadata"], rs.get("spec", {}), rs.get("status", {})
        key = {"namespace": m["namespace"], "replicaset": m["name"]}
        if "replicas" in spec:
            add("kube_replicaset_spec_replicas", spec["replicas"], **key)
        add("kube_replicaset_status_replicas", st.get("replicas", 0), **key)
        add(
            "kube_replicaset_status_fully_labeled_replicas",
            st.get("fullyLabeledReplicas", 0),
            **key,
        )
        add("kube_replicaset_status_ready_replicas", st.get("readyReplicas", 0), **key)
        add("kube_replicaset_status_observed_generation", st.get("observedGeneration", 0), **key)
        add("kube_replicaset_metadata_generation", m.get("generation", 0), **key)
        for o in m.get("ownerReferences", []):
            ctrl_flag = str(bool(o.get("controller"))).lower()
            add(
                "kube_replicaset_owner",
                1,
                **key,
                owner_kind=o["kind"],
                owner_name=o["name"],
                owner_is_controller=ctrl_flag,
            )
        if not m.get("ownerReferences"):
            none = "<none>"
            add("kube_replicaset_owner", 1, **key, owner_kind=none, owner_name=none,
                owner_is_controller=none)  # fmt: skip
    for cj in c["cronjobs"]:
        m, spec, st = cj["metadata"], cj["spec"], cj.get("status", {})
        key = {"namespace": m["namespace"], "cronjob": m["name"]}
        add(
            "kube_cronjob_info",
            1,
            **key,
            schedule=spec["schedule"],
            concurrency_policy=spec.get("concurrencyPolicy", ""),
            timezone=spec.get("timeZone", "local"),
        )
        add("kube_cronjob_status_active", len(st.get("active", [])), **key)
        add("kube_cronjob_metadata_resource_version", int(m["resourceVersion"]), **key)
        for family, field in (
            ("status_last_schedule_time", "lastScheduleTime"),
            ("status_last_successful_time", "lastSuccessfulTime"),
        ):
            if field in st:
                add(f"kube_cronjob_{family}", _unix(st[field]), **key)
        for family, field in (
            ("spec_starting_deadline_seconds", "startingDeadlineSeconds"),
            ("spec_successful_job_history_limit", "successfulJobsHistoryLimit"),
            ("spec_failed_job_history_limit", "failedJobsHistoryLimit"),
        ):
            if field in spec:
                add(f"kube_cronjob_{family}", spec[field], **key)
        if "suspend" in spec:
            add("kube_cronjob_spec_suspend", float(spec["suspend"]), **key)
        if not spec.get("suspend"):
            add("kube_cronjob_next_schedule_time", _next_cron_time(cj), **key)
    for pdb in c["poddisruptionbudgets"]:
        key = {
            "namespace": pdb["metadata"]["namespace"],
            "poddisruptionbudget": pdb["metadata"]["name"],
        }
        st = pdb.get("status", {})
        for family, field in (
            ("current_healthy", "currentHealthy"),
            ("desired_healthy", "desiredHealthy"),
            ("pod_disruptions_allowed", "disruptionsAllowed"),
            ("expected_pods", "expectedPods"),
            ("observed_generation", "observedGeneration"),
        ):
            add(f"kube_poddisruptionbudget_status_{family}", st.get(field, 0), **key)
    for sc in c["storageclasses"]:
        add(
            "kube_storageclass_info",
            1,
            storageclass=sc["metadata"]["name"],
            provisioner=sc["provisioner"],
            reclaim_policy=sc.get("reclaimPolicy", "Delete"),
            volume_binding_mode=sc.get("volumeBindingMode", "Immediate"),
        )
    for pv in c["persistentvolumes"]:
        key = {"persistentvolume": pv["metadata"]["name"]}
        spec, st = pv["spec"], pv.get("status", {})
        if spec.get("claimRef"):
            ref = spec["claimRef"]
            add(
                "kube_persistentvolume_claim_ref",
                1,
                **key,
                name=ref["name"],
                claim_namespace=ref.get("namespace", ""),
            )
        if st.get("phase"):
            for phase in ("Pending", "Available", "Bound", "Released", "Failed"):
                add("kube_persistentvolume_status_phase", st["phase"] == phase, **key, phase=phase)
        add("kube_persistentvolume_capacity_bytes", to_int(spec["capacity"]["storage"]), **key)
        sources = dict.fromkeys(KSM_PV_SOURCES, "")
        if "nfs" in spec:
            sources.update(nfs_server=spec["nfs"]["server"], nfs_path=spec["nfs"]["path"])
        if "hostPath" in spec:
            sources.update(
                host_path=spec["hostPath"]["path"], host_path_type=spec["hostPath"].get("type", "")
            )
        if "csi" in spec:
            sources.update(
                csi_driver=spec["csi"]["driver"], csi_volume_handle=spec["csi"]["volumeHandle"]
            )
        add(
            "kube_persistentvolume_info",
            1,
            **key,
            storageclass=spec.get("storageClassName", ""),
            reclaim_policy=spec.get("persistentVolumeReclaimPolicy", ""),
            **sources,
        )
        if spec.get("volumeMode"):
            add("kube_persistentvolume_volume_mode", 1, **key, volumemode=spec["volumeMode"])
        for mode in spec.get("accessModes", []):
            add("kube_persistentvolume_access_mode", 1, **key, access_mode=mode)
    for lr in c["limitranges"]:
        key = {"namespace": lr["metadata"]["namespace"], "limitrange": lr["metadata"]["name"]}
        for item in lr["spec"]["limits"]:
            for constraint in ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio"):
                for resource, quantity in item.get(constraint, {}).items():
                    add(
                        "kube_limitrange",
                        to_milli(quantity) / 1000,
                        **key,
                        resource=resource,
                        type=item["type"],
                        constraint=constraint,
                    )
    for rq in c["resourcequotas"]:
        key = {"namespace": rq["metadata"]["namespace"], "resourcequota": rq["metadata"]["name"]}
        for kind in ("hard", "used"):
            for resource, quantity in rq.get("status", {}).get(kind, {}).items():
                add(
                    "kube_resourcequota",
                    to_milli(quantity) / 1000,
                    **key,
                    resource=resource,
                    type=kind,
                )
    for n in c["nodes"]:
        name, spec, st = n["metadata"]["name"], n.get("spec", {}), n.get("status", {})
        info = st.get("nodeInfo", {})
        ip = [a["address"] for a in st.get("addresses", []) if a["type"] == "InternalIP"]
        add(
            "kube_node_info",
            1,
            node=name,
            kernel_version=info.get("kernelVersion", ""),
            os_image=info.get("osImage", ""),
            container_runtime_version=info.get("containerRuntimeVersion", ""),
            kubelet_version=info.get("kubeletVersion", ""),
            kubeproxy_version=info.get("kubeProxyVersion", ""),
            provider_id=spec.get("providerID", ""),
            pod_cidr=spec.get("podCIDR", ""),
            system_uuid=info.get("systemUUID", ""),
            internal_ip=ip[-1] if ip else "",
        )
        for cond in st.get("conditions", []):
            for s, v in _statuses(cond["status"]).items():
                add("kube_node_status_condition", v, node=name, condition=cond["type"], status=s)
        for type_ in ("capacity", "allocatable"):
            for rname, qty in st.get(type_, {}).items():
                r = _resource(rname, qty, node=True)
                if r:
                    add(f"kube_node_status_{type_}", r[2], node=name, resource=r[0], unit=r[1])
        add("kube_node_spec_unschedulable", float(bool(spec.get("unschedulable"))), node=name)
        for t in spec.get("taints", []):
            add(
                "kube_node_spec_taint",
                1,
                node=name,
                key=t["key"],
                value=t.get("value", ""),
                effect=t["effect"],
            )
    for ns in c["namespaces"]:
        phase = ns.get("status", {}).get("phase")
        for p in ("Active", "Terminating") if phase else ():
            add(
                "kube_namespace_status_phase",
                float(phase == p),
                namespace=ns["metadata"]["name"],
                phase=p,
            )
    for d in c["deployments"]:
        key = {"namespace": d["metadata"]["namespace"], "deployment": d["metadata"]["name"]}
        st = d.get("status", {})
        add("kube_deployment_spec_replicas", d["spec"]["replicas"], **key)
        add("kube_deployment_status_replicas_available", st.get("availableReplicas", 0), **key)
        add("kube_deployment_status_replicas_unavailable", st.get("unavailableReplicas", 0), **key)
        add("kube_deployment_status_replicas_updated", st.get("updatedReplicas", 0), **key)
        add("kube_deployment_status_replicas", st.get("replicas", 0), **key)
        add("kube_deployment_status_replicas_ready", st.get("readyReplicas", 0), **key)
        add("kube_deployment_status_observed_generation", st.get("observedGeneration", 0), **key)
        add("kube_deployment_metadata_generation", d["metadata"]["generation"], **key)
        add("kube_deployment_spec_paused", float(d["spec"].get("paused", False)), **key)
        rolling = d["spec"].get("strategy", {}).get("rollingUpdate")
        if rolling is not None:
            for field, suffix, rounding in (
                ("maxUnavailable", "max_unavailable", math.floor),
                ("maxSurge", "max_surge", math.ceil),
            ):
                value = rolling[field]
                if isinstance(value, str):  # "25%" of spec.replicas
                    value = rounding(int(value[:-1]) * d["spec"]["replicas"] / 100)
                add(f"kube_deployment_spec_strategy_rollingupdate_{suffix}", value, **key)
        for cond in st.get("conditions", []):
            for s, v in _statuses(cond["status"]).items():
                add(
                    "kube_deployment_status_condition",
                    v,
                    **key,
                    reason=cond.get("reason", ""),
                    condition=cond["type"],
                    status=s,
                )
    for ds in c["daemonsets"]:
        key = {"namespace": ds["metadata"]["namespace"], "daemonset": ds["metadata"]["name"]}
        st = ds.get("status", {})
        for field, suffix in [
            ("currentNumberScheduled", "current_number_scheduled"),
            ("desiredNumberScheduled", "desired_number_scheduled"),
            ("numberAvailable", "number_available"),
            ("numberMisscheduled", "number_misscheduled"),
            ("numberReady", "number_ready"),
            ("numberUnavailable", "number_unavailable"),
            ("updatedNumberScheduled", "updated_number_scheduled"),
            ("observedGeneration", "observed_generation"),
        ]:
            add(f"kube_daemonset_status_{suffix}", st.get(field, 0), **key)
        add("kube_daemonset_metadata_generation", ds["metadata"].get("generation", 0), **key)
    for ss in c["statefulsets"]:
        key = {"namespace": ss["metadata"]["namespace"], "statefulset": ss["metadata"]["name"]}
        st = ss.get("status", {})
        if "replicas" in ss["spec"]:
            add("kube_statefulset_replicas", ss["spec"]["replicas"], **key)
        add("kube_statefulset_status_replicas", st.get("replicas", 0), **key)
        add("kube_statefulset_status_replicas_ready", st.get("readyReplicas", 0), **key)
        add("kube_statefulset_status_replicas_current", st.get("currentReplicas", 0), **key)
        add("kube_statefulset_status_replicas_updated", st.get("updatedReplicas", 0), **key)
        add("kube_statefulset_status_replicas_available", st.get("availableReplicas", 0), **key)
        add("kube_statefulset_status_observed_generation", st.get("observedGeneration", 0), **key)
        add("kube_statefulset_metadata_generation", ss["metadata"].get("generation", 0), **key)
        for field, family in (
            ("currentRevision", "current_revision"),
            ("updateRevision", "update_revision"),
        ):
            add(f"kube_statefulset_status_{family}", 1, **key, revision=st.get(field, ""))
        if ss["spec"].get("ordinals") is not None:
            add("kube_statefulset_ordinals_start", ss["spec"]["ordinals"].get("start", 0), **key)
        policy = ss["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenDeleted") or policy.get("whenScaled"):
            add(
                "kube_statefulset_persistentvolumeclaim_retention_policy",
                1,
                **key,
                when_deleted=policy.get("whenDeleted", ""),
                when_scaled=policy.get("whenScaled", ""),
            )
    for j in c["jobs"]:
        key = {"namespace": j["metadata"]["namespace"], "job_name": j["metadata"]["name"]}
        st = j.get("status", {})
        add("kube_job_status_active", st.get("active", 0), **key)
        add("kube_job_status_succeeded", st.get("succeeded", 0), **key)
        failed = st.get("failed", 0)
        if not failed:
            add("kube_job_status_failed", 0, **key)
        else:
            conds = [x for x in st.get("conditions", []) if x["type"] == "Failed"]
            known = ("BackoffLimitExceeded", "DeadlineExceeded", "Evicted")
            for cond in conds:
                for r in known:
                    add("kube_job_status_failed", float(cond.get("reason") == r), **key, reason=r)
            if not any(x.get("reason") in known for x in conds):
                add("kube_job_status_failed", failed, **key, reason="")
        for field, suffix in (("startTime", "start_time"), ("completionTime", "completion_time")):
            if st.get(field):
                add(f"kube_job_status_{suffix}", _unix(st[field]), **key)
        for cond in st.get("conditions", []):
            family = {"Complete": "kube_job_complete", "Failed": "kube_job_failed"}
            if cond["type"] in family:
                for s, v in _statuses(cond["status"]).items():
                    add(family[cond["type"]], v, **key, condition=s)
        for field, suffix in (
            ("completions", "completions"),
            ("parallelism", "parallelism"),
            ("activeDeadlineSeconds", "active_deadline_seconds"),
        ):
            if j["spec"].get(field) is not None:
                add(f"kube_job_spec_{suffix}", j["spec"][field], **key)
        add("kube_job_info", 1, **key)
        add("kube_job_status_ready", st.get("ready", 0), **key)
        for cond in st.get("conditions", []):
            if cond["type"] == "Suspended":
                add("kube_job_status_suspended", float(cond["status"] == "True"), **key)
        owners = j["metadata"].get("ownerReferences", [])
        for o in owners:
            add(
                "kube_job_owner",
                1,
                **key,
                owner_kind=o["kind"],
                owner_name=o["name"],
                owner_is_controller=str(bool(o.get("controller"))).lower(),
            )
        if not owners:
            add("kube_job_owner", 1, **key, owner_kind="", owner_name="", owner_is_controller="")
    for h in c["hpas"]:
        key = {
            "namespace": h["metadata"]["namespace"],
            "horizontalpodautoscaler": h["metadata"]["name"],
        }
        st = h.get("status", {})
        add("kube_horizontalpodautoscaler_spec_max_replicas", h["spec"]["maxReplicas"], **key)
        add(
            "kube_horizontalpodautoscaler_spec_min_replicas", h["spec"].get("minReplicas", 1), **key
        )
        add(
            "kube_horizontalpodautoscaler_status_current_replicas",
            st.get("currentReplicas", 0),
            **key,
        )
        add(
            "kube_horizontalpodautoscaler_status_desired_replicas",
            st.get("desiredReplicas", 0),
            **key,
        )
        add(
            "kube_horizontalpodautoscaler_metadata_generation",
            h["metadata"].get("generation", 0),
            **key,
        )
        for cond in st.get("conditions", []):
            conditions("kube_horizontalpodautoscaler_status_condition", cond, **key)
        ref = h["spec"]["scaleTargetRef"]
        info = {"scaletargetref_kind": ref["kind"], "scaletargetref_name": ref["name"]}
        if ref.get("apiVersion"):
            info["scaletargetref_api_version"] = ref["apiVersion"]
        add("kube_horizontalpodautoscaler_info", 1, **key, **info)
        for family, metrics, values in (
            ("kube_horizontalpodautoscaler_spec_target_metric", h["spec"].get("metrics"), "target"),
            (
                "kube_horizontalpodautoscaler_status_target_metric",
                st.get("currentMetrics"),
                "current",
            ),
        ):
            for m in metrics or []:
                if m["type"] not in ("Object", "Pods", "Resource", "External"):
                    continue  # ContainerResource has a family of its own in recent KSM
                source = m[m["type"].lower()]  # "Resource" -> "resource"
                name = source["name"] if "name" in source else source["metric"]["name"]
                for field, type_, convert in (
                    ("value", "value", _hpa_quantity),
                    ("averageValue", "average", _hpa_quantity),
                    ("averageUtilization", "utilization", float),
                ):
                    if field in source[values]:
                        add(
                            family,
                            convert(source[values][field]),
                            **key,
                            metric_name=name,
                            metric_target_type=type_,
                        )
    return out


_CRON_MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *"}


def _next_cron_time(cj: dict[str, Any]) -> float:
    """KSM's getNextScheduledTime: the first time after the last schedule or creation, in the
    CronJob's zone (UTC without one)."""
    spec, st = cj["spec"], cj.get("status", {})
    since = datetime.fromisoformat(
        st.get("lastScheduleTime") or cj["metadata"]["creationTimestamp"]
    )
    zone = ZoneInfo(spec.get("timeZone", "UTC"))
    expr = _CRON_MACROS.get(spec["schedule"], spec["schedule"])
    return next(iter(CronSim(expr, since.astimezone(zone)))).timestamp()


def _unix(timestamp: str) -> float:
    return float(int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()))


def _go_unix(struct: dict[str, Any], field: str) -> float:
    """A timestamp inside a present struct as Go's ``Time.Unix()`` reads it: zero time when
    unset."""
    return _unix(struct[field]) if struct.get(field) else -62135596800.0


def ksm_only(series: Series) -> Series:
    return {
        k: v
        for k, v in series.items()
        if k[0].removesuffix("_total") in _FAMILIES or k[0] in _FAMILIES
    }


_FAMILIES = set(FAMILY_NAMES)


def _diff(actual: Series, want: Series) -> str:
    missing = sorted(str(k) for k in want.keys() - actual.keys())[:5]
    extra = sorted(str(k) for k in actual.keys() - want.keys())[:5]
    wrong = [(k, actual[k], want[k]) for k in want.keys() & actual.keys() if actual[k] != want[k]]
    return f"missing={missing} extra={extra} wrong={wrong[:5]}"


def test_every_family_equals_a_recomputation_from_a_direct_list(
    cluster: httpx.Client, collector: Collector
) -> None:
    failures: list[str] = []

    def matches() -> bool:
        before = {k: listed(cluster, k) for k in LISTS}
        master = ksm_only(parse(collector.scrape()))
        # Not vacuous: every family has series for the test's objects. Some appear only once
        # a controller has written status (the HPA's conditions), later on a loaded machine.
        missing = set(FAMILY_NAMES) - {name for name, _ in master}
        if missing:
            failures.append(f"families without series yet: {sorted(missing)}")
            return False
        after = {k: listed(cluster, k) for k in LISTS}
        if before != after:
            return False  # the cluster moved while we looked: try again
        want = expected(before, LABELS_ALLOWED, ANNOTATIONS_ALLOWED)
        if master != want:
            failures.append(_diff(master, want))
            return False
        # The workers' shards partition the master's view: nothing lost, nothing doubled.
        union: Series = {}
        for url in collector.workers:
            shard = ksm_only(parse(collector.scrape(url)))
            assert not shard.keys() & union.keys(), "a series is in two shards"
            union.update(shard)
        return union == master

    try:
        eventually(matches, timeout=90)
    except AssertionError:
        raise AssertionError(f"never matched; last differences: {failures[-3:]}") from None
    # The test objects are really there (the comparison is not vacuous).
    master = parse(collector.scrape())
    names = {name for name, _ in master}
    assert set(FAMILY_NAMES) <= names  # every family has series for the test's objects
    web = (
        "kube_deployment_status_replicas_available",
        frozenset({("namespace", NS), ("deployment", "web")}),
    )
    assert master[web] == 2
    # The simulator's disruption controller filled the PDB's status (2 pods, 1 may go).
    allowed = (
        "kube_poddisruptionbudget_status_pod_disruptions_allowed",
        frozenset({("namespace", NS), ("poddisruptionbudget", "web")}),
    )
    eventually(lambda: parse(collector.scrape()).get(allowed) == 1, timeout=30)
    fails = (
        "kube_job_status_failed",
        frozenset({("namespace", NS), ("job_name", "fails"), ("reason", "BackoffLimitExceeded")}),
    )
    assert master[fails] == 1
    tier = {("namespace", NS), ("deployment", "web"), ("label_e2e_kubeward_io_tier", "front")}
    assert master["kube_deployment_labels", frozenset(tier)] == 1
    crasher = {
        dict(labels).get("annotation_sim_kubeward_io_behaviour")
        for name, labels in master
        if name == "kube_pod_annotations" and ("pod", "crasher") in labels
    }
    assert crasher == {'{"crashAfterSeconds": 1}'}  # quotes survive the text format
    doomed = {
        dict(labels).get("node") for name, labels in master if name.endswith("_deletion_timestamp")
    }
    assert "doomed-node" in doomed


def test_promtool_accepts_master_and_worker_expositions(collector: Collector) -> None:
    master = collector.scrape()
    assert "kubeward_collector_stale_seconds" in master
    promtool_check(master)
    worker = collector.scrape(collector.workers[0])
    assert "kubeward_collector_shard_objects" in worker
    promtool_check(worker)


def test_worker_and_master_self_metrics_name_resources_alike(collector: Collector) -> None:
    """The shards' ``resource`` label is the master's (``deployments.apps``, not ``deployments``),
    so the two can be joined in a query."""

    def resources(text: str, name: str) -> set[str]:
        return {dict(labels)["resource"] for n, labels in parse(text) if n == name}

    master = resources(collector.scrape(), "kubeward_collector_objects")
    assert {"pods", "deployments.apps", "horizontalpodautoscalers.autoscaling"} <= master
    for url in collector.workers:
        text = collector.scrape(url)
        assert resources(text, "kubeward_collector_shard_objects") == master
        assert resources(text, "kubeward_collector_shard_deltas_applied_total") == master


# -- the demo scenario: workloads whose status the simulator's controllers keep --------------

WORKLOAD_LISTS = ("daemonsets", "statefulsets", "jobs", "hpas")
UNSEEN_IN_DEMO = ("_deletion_timestamp", "_labels", "_annotations")
WORKLOAD_FAMILIES = {
    f.name
    for f in FAMILIES
    if f.kind in ("daemonsets", "statefulsets", "jobs", "horizontalpodautoscalers")
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Collector]]:
    # At 30x the CronJob batch/cache-warmer (every 5 minutes) makes a Job every 10 s.
    sim = start_sim(tmp_path_factory.mktemp("demosim"), "--scenario", "demo", "--speed", "30")
    try:
        with sim.client() as client:

            def running() -> bool:
                jobs = listed(client, "jobs")
                hpa = listed(client, "hpas")
                sts = {
                    s["metadata"]["name"]: s.get("status", {})
                    for s in listed(client, "statefulsets")
                }
                return (
                    any(j["metadata"].get("ownerReferences") for j in jobs)
                    and any(h.get("status", {}).get("conditions") for h in hpa)
                    and sts.get("redis", {}).get("readyReplicas") == 3
                )

            eventually(running, timeout=90)
            proc = start_collector(
                tmp_path_factory.mktemp("democol"), sim.kubeconfig, "--no-store", workers=2
            )
            try:
                proc.wait_ready(60)
                yield client, proc
            finally:
                assert proc.stop() == 0, proc.log()
    finally:
        sim.stop()


def test_demo_workload_families_equal_a_recomputation(
    demo: tuple[httpx.Client, Collector],
) -> None:
    cluster, collector = demo
    failures: list[str] = []
    # The demo has no failed, suspended or deadlined Job, no StatefulSet with spec.ordinals and
    # nothing being deleted, and its collector no allowlist (the first test has them all).
    optional = {
        "kube_job_failed",
        "kube_job_status_suspended",
        "kube_job_spec_active_deadline_seconds",
        "kube_statefulset_ordinals_start",
    } | {name for name in WORKLOAD_FAMILIES if name.endswith(UNSEEN_IN_DEMO)}

    def workloads(series: Series) -> Series:
        return {k: v for k, v in series.items() if k[0] in WORKLOAD_FAMILIES}

    def matches() -> bool:
        before = {k: listed(cluster, k) for k in WORKLOAD_LISTS}
        master = workloads(parse(collector.scrape()))
        after = {k: listed(cluster, k) for k in WORKLOAD_LISTS}
        if before != after:
            return False  # a controller moved something while we looked: try again
        # Not vacuous: wait until the controllers' output fills every family the demo can
        # (a CronJob's first Job may still be running on a loaded machine).
        missing = WORKLOAD_FAMILIES - {name for name, _ in master} - optional
        if missing:
            failures.append(f"families without series yet: {sorted(missing)}")
            return False
        want = expected(before)
        if master != want:
            failures.append(_diff(master, want))
            return False
        union: Series = {}
        for url in collector.workers:
            union.update(workloads(parse(collector.scrape(url))))
        return union == master

    try:
        eventually(matches, timeout=90)
    except AssertionError:
        raise AssertionError(f"never matched; last differences: {failures[-3:]}") from None
    # What the comparison covered is real controller output, not empty families.
    master = workloads(parse(collector.scrape()))
    owners = [dict(ls) for n, ls in master if n == "kube_job_owner"]
    assert any(o["owner_kind"] == "CronJob" and o["owner_is_controller"] == "true" for o in owners)
    redis = {("namespace", "platform"), ("statefulset", "redis")}
    assert master["kube_statefulset_status_replicas_available", frozenset(redis)] == 3
    revisions = [dict(ls)["revision"] for n, ls in master if n.endswith("_revision")]
    assert revisions and all(r.startswith(("redis-", "postgres-")) for r in revisions)
    web = {("namespace", "shop"), ("horizontalpodautoscaler", "web")}
    target = {*web, ("metric_name", "cpu"), ("metric_target_type", "utilization")}
    assert master["kube_horizontalpodautoscaler_spec_target_metric", frozenset(target)] == 60
    able = {*web, ("condition", "AbleToScale"), ("status", "true")}
    assert ("kube_horizontalpodautoscaler_status_condition", frozenset(able)) in master
