"""kube-state-metrics semantics of the exposition, object by object, and its text format
checked by the real promtool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubeward.collect.kinds import STATE_KIND_BY_NAME
from kubeward.collect.ksm import (
    FAMILIES,
    FAMILY_NAMES,
    KSM_NAMES,
    FamilyFilterError,
    exposition,
    families_named,
    select_families,
)
from kubeward.collect.metadata import NO_ALLOWLISTS, MetadataRows, parse_allowlist
from kubeward.collect.state import ShardState

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
PODS = STATE_KIND_BY_NAME["pods"]


def render(objects: dict[str, list[dict[str, Any]]], metadata: MetadataRows = NO_ALLOWLISTS) -> str:
    state = ShardState()
    for kind, objs in objects.items():
        rows = STATE_KIND_BY_NAME[kind].rows
        ops = [
            (f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}", rows(o, metadata))
            for o in objs
        ]
        state.apply(kind, ops)
    return b"".join(bytes(p) for p in exposition(state.snapshot())).decode()


def parse(text: str) -> Series:
    out: Series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def of(series: Series, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in series.items() if n == name}


def L(**labels: str) -> frozenset[tuple[str, str]]:  # reads like a literal
    return frozenset(labels.items())


def promtool() -> str:
    path = os.environ.get("KUBEWARD_PROMTOOL") or shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(path).exists():
        pytest.fail(
            "promtool not found: run scripts/install-prometheus.sh (Debian package prometheus) "
            "or set KUBEWARD_PROMTOOL"
        )
    return path


POD = {
    "metadata": {
        "name": "web-1",
        "namespace": "shop",
        "uid": "u-1",
        "ownerReferences": [
            {"kind": "ReplicaSet", "name": "web-7f", "controller": True},
            {"kind": "Thing", "name": "other"},
        ],
    },
    "spec": {
        "nodeName": "n1",
        "priorityClassName": "high",
        "containers": [
            {
                "name": "app",
                "resources": {
                    "requests": {"cpu": "250m", "memory": "64Mi"},
                    "limits": {"cpu": "1", "memory": "128Mi"},
                },
            },
            {"name": "sidecar"},
        ],
    },
    "status": {
        "phase": "Running",
        "hostIP": "10.0.0.1",
        "podIP": "10.64.0.9",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            {
                "name": "app",
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 1}},
            },
            {"name": "sidecar", "restartCount": 0, "state": {"running": {}}},
        ],
    },
}
BARE_POD = {"metadata": {"name": "bare", "namespace": "shop", "uid": "u-2"}, "spec": {}}


def test_pod_families() -> None:
    s = parse(render({"pods": [POD, BARE_POD]}))
    web = {"namespace": "shop", "pod": "web-1", "uid": "u-1"}
    bare = {"namespace": "shop", "pod": "bare", "uid": "u-2"}
    assert of(s, "kube_pod_info") == {
        L(
            **web,
            host_ip="10.0.0.1",
            pod_ip="10.64.0.9",
            node="n1",
            created_by_kind="ReplicaSet",
            created_by_name="web-7f",
            priority_class="high",
            host_network="false",
        ): 1,
        L(
            **bare,
            host_ip="",
            pod_ip="",
            node="",
            created_by_kind="<none>",
            created_by_name="<none>",
            priority_class="",
            host_network="false",
        ): 1,
    }
    assert of(s, "kube_pod_owner") == {
        L(**web, owner_kind="ReplicaSet", owner_name="web-7f", owner_is_controller="true"): 1,
        L(**web, owner_kind="Thing", owner_name="other", owner_is_controller="false"): 1,
        L(**bare, owner_kind="<none>", owner_name="<none>", owner_is_controller="<none>"): 1,
    }
    # Every phase for a pod with a phase, none for one without.
    assert of(s, "kube_pod_status_phase") == {
        L(**web, phase=p): float(p == "Running")
        for p in ("Pending", "Succeeded", "Failed", "Unknown", "Running")
    }
    assert of(s, "kube_pod_status_ready") == {
        L(**web, condition="true"): 0,
        L(**web, condition="false"): 1,
        L(**web, condition="unknown"): 0,
    }
    assert of(s, "kube_pod_container_status_restarts_total") == {
        L(**web, container="app"): 4,
        L(**web, container="sidecar"): 0,
    }
    assert of(s, "kube_pod_container_status_waiting_reason") == {
        L(**web, container="app", reason="CrashLoopBackOff"): 1
    }
    assert of(s, "kube_pod_container_status_last_terminated_reason") == {
        L(**web, container="app", reason="Error"): 1
    }
    res = {**web, "container": "app", "node": "n1"}
    assert of(s, "kube_pod_container_resource_requests") == {
        L(**res, resource="cpu", unit="core"): 0.25,
        L(**res, resource="memory", unit="byte"): 67108864,
    }
    assert of(s, "kube_pod_container_resource_limits") == {
        L(**res, resource="cpu", unit="core"): 1,
        L(**res, resource="memory", unit="byte"): 134217728,
    }


T0, T1, T2 = "2026-01-02T03:04:05Z", "2026-01-02T03:05:00Z", "2026-01-02T03:06:30Z"
U0, U1, U2 = 1767323045, 1767323100, 1767323190
GO_ZERO = -62135596800  # Go's zero time.Time: a present state without its timestamp

# A finished Job pod, an evicted one, an unschedulable one and a running one.
STATE_PODS = [
    {
        "metadata": {"name": "done", "namespace": "ns", "uid": "u-d"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "a", "image": "busybox:1.36"}, {"name": "b", "image": "b:1"}],
        },
        "status": {
            "phase": "Succeeded",
            "startTime": T0,
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": T0}],
            "containerStatuses": [
                {
                    "name": "a",
                    "image": "docker.io/library/busybox:1.36",
                    "imageID": "docker.io/library/busybox@sha256:aa",
                    "containerID": "containerd://c-a",
                    "state": {
                        "terminated": {
                            "reason": "Completed",
                            "exitCode": 0,
                            "startedAt": T0,
                            "finishedAt": T1,
                        }
                    },
                },
                # no startedAt (Go's zero time); the latest finish, so the pod's completion time
                {"name": "b", "state": {"terminated": {"reason": "Completed", "finishedAt": T2}}},
                # not a spec container: no kube_pod_container_info; no finishedAt (Go's zero)
                {"name": "ghost", "state": {"terminated": {"reason": "Error", "exitCode": 2}}},
            ],
        },
    },
    {
        "metadata": {"name": "evicted", "namespace": "ns", "uid": "u-e"},
        "spec": {"restartPolicy": "Always", "containers": [{"name": "a", "image": "x:1"}]},
        "status": {"phase": "Failed", "reason": "Evicted", "startTime": T0},
    },
    {
        "metadata": {"name": "stuck", "namespace": "ns", "uid": "u-s"},
        "spec": {"containers": [{"name": "a", "image": "x:1"}]},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "lastTransitionTime": T0,
                }
            ],
        },
    },
    {
        "metadata": {"name": "up", "namespace": "ns", "uid": "u-u"},
        "spec": {"restartPolicy": "Always", "containers": [{"name": "a", "image": "x:1"}]},
        "status": {
            "phase": "Running",
            "startTime": T0,
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "DisruptionTarget", "status": "True", "reason": "NodeLost"},
            ],
            "containerStatuses": [
                {
                    "name": "a",
                    "image": "x:1",
                    "ready": True,
                    "restartCount": 1,
                    "state": {"running": {"startedAt": T1}},
                    "lastState": {
                        "terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": T1}
                    },
                }
            ],
        },
    },
]


def test_pod_state_families() -> None:
    s = parse(render({"pods": STATE_PODS}))
    done = {"namespace": "ns", "pod": "done", "uid": "u-d"}
    evicted = {"namespace": "ns", "pod": "evicted", "uid": "u-e"}
    stuck = {"namespace": "ns", "pod": "stuck", "uid": "u-s"}
    up = {"namespace": "ns", "pod": "up", "uid": "u-u"}
    assert of(s, "kube_pod_container_info") == {
        L(
            **done,
            container="a",
            image_spec="busybox:1.36",
            image="docker.io/library/busybox:1.36",
            image_id="docker.io/library/busybox@sha256:aa",
            container_id="containerd://c-a",
        ): 1,
        L(**done, container="b", image_spec="b:1", image="", image_id="", container_id=""): 1,
        L(**up, container="a", image_spec="x:1", image="x:1", image_id="", container_id=""): 1,
    }
    containers = {
        (n, c): labels
        for n, c, labels in [
            ("done", "a", L(**done, container="a")),
            ("done", "b", L(**done, container="b")),
            ("done", "ghost", L(**done, container="ghost")),
            ("up", "a", L(**up, container="a")),
        ]
    }

    def per_container(name: str) -> dict[tuple[str, str], float]:
        values = of(s, name)
        return {key: values[labels] for key, labels in containers.items() if labels in values}

    assert per_container("kube_pod_container_status_waiting") == {
        ("done", "a"): 0, ("done", "b"): 0, ("done", "ghost"): 0, ("up", "a"): 0
    }  # fmt: skip
    assert per_container("kube_pod_container_status_running") == {
        ("done", "a"): 0, ("done", "b"): 0, ("done", "ghost"): 0, ("up", "a"): 1
    }  # fmt: skip
    assert per_container("kube_pod_container_status_terminated") == {
        ("done", "a"): 1, ("done", "b"): 1, ("done", "ghost"): 1, ("up", "a"): 0
    }  # fmt: skip
    assert per_container("kube_pod_container_status_ready") == {
        ("done", "a"): 0, ("done", "b"): 0, ("done", "ghost"): 0, ("up", "a"): 1
    }  # fmt: skip
    assert len(of(s, "kube_pod_container_status_waiting")) == 4  # statuses only, nothing else
    assert of(s, "kube_pod_container_status_terminated_reason") == {
        L(**done, container="a", reason="Completed"): 1,
        L(**done, container="b", reason="Completed"): 1,
        L(**done, container="ghost", reason="Error"): 1,
    }
    # Running: its start; terminated: the terminated state's start (Go's zero when unset).
    assert of(s, "kube_pod_container_state_started") == {
        L(**done, container="a"): U0,
        L(**done, container="b"): GO_ZERO,
        L(**done, container="ghost"): GO_ZERO,
        L(**up, container="a"): U1,
    }
    assert of(s, "kube_pod_container_status_last_terminated_exitcode") == {
        L(**up, container="a"): 137
    }
    assert of(s, "kube_pod_container_status_last_terminated_timestamp") == {
        L(**up, container="a"): U1
    }
    assert of(s, "kube_pod_start_time") == {L(**done): U0, L(**evicted): U0, L(**up): U0}
    assert of(s, "kube_pod_completion_time") == {L(**done): U2}  # the latest finish
    assert of(s, "kube_pod_status_scheduled") == {
        **{L(**done, condition=c): float(c == "true") for c in ("true", "false", "unknown")},
        **{L(**stuck, condition=c): float(c == "false") for c in ("true", "false", "unknown")},
        **{L(**up, condition=c): float(c == "true") for c in ("true", "false", "unknown")},
    }
    # Only a True condition has a time; one without lastTransitionTime gives Go's zero.
    assert of(s, "kube_pod_status_scheduled_time") == {L(**done): U0, L(**up): GO_ZERO}
    assert of(s, "kube_pod_status_unschedulable") == {L(**stuck): 1}
    reasons = ("Evicted", "NodeAffinity", "NodeLost", "Shutdown", "UnexpectedAdmissionError")
    expected_reasons = {"evicted": "Evicted", "up": "NodeLost"}  # status.reason; a condition's
    assert of(s, "kube_pod_status_reason") == {
        L(**pod, reason=r): float(expected_reasons.get(pod["pod"]) == r)
        for pod in (done, evicted, stuck, up)
        for r in reasons
    }
    assert of(s, "kube_pod_restart_policy") == {
        L(**done, type="Never"): 1,
        L(**evicted, type="Always"): 1,
        L(**stuck, type=""): 1,  # unset (an API server defaults it to Always)
        L(**up, type="Always"): 1,
    }


INIT_POD = {
    "metadata": {"namespace": "ns", "name": "init", "uid": "u-i"},
    "spec": {
        "nodeName": "n1",
        "initContainers": [
            {"name": "setup", "image": "setup:1", "resources": {"requests": {"cpu": "250m"}}},
            {
                "name": "proxy",
                "image": "envoy:1",
                "restartPolicy": "Always",  # a sidecar
                "resources": {"limits": {"memory": "64Mi"}},
            },
            {"name": "migrate", "image": "migrate:1"},
        ],
        "containers": [{"name": "app", "image": "app:1", "resources": {"requests": {"cpu": "1"}}}],
    },
    "status": {
        "initContainerStatuses": [
            {
                "name": "setup",
                "ready": True,
                "restartCount": 0,
                "image": "docker.io/library/setup:1",
                "imageID": "docker.io/library/setup@sha256:aa",
                "containerID": "containerd://c-s",
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
            },
            {
                "name": "proxy",
                "ready": True,
                "restartCount": 1,
                "image": "envoy:1",
                "state": {"running": {"startedAt": "2025-03-01T12:00:00Z"}},
            },
            {
                "name": "migrate",
                "ready": False,
                "restartCount": 3,
                "image": "migrate:1",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
            },
        ],
        "containerStatuses": [
            {
                "name": "app",
                "ready": False,
                "restartCount": 0,
                "image": "app:1",
                "state": {"waiting": {"reason": "PodInitializing"}},
            },
        ],
    },
}


def test_init_container_families() -> None:
    s = parse(render({"pods": [INIT_POD]}))
    pod = {"namespace": "ns", "pod": "init", "uid": "u-i"}
    setup, proxy, migrate = ({**pod, "container": c} for c in ("setup", "proxy", "migrate"))
    assert of(s, "kube_pod_init_container_info") == {
        L(
            **setup,
            image_spec="setup:1",
            image="docker.io/library/setup:1",
            image_id="docker.io/library/setup@sha256:aa",
            container_id="containerd://c-s",
            restart_policy="",
        ): 1,
        L(**proxy, image_spec="envoy:1", image="envoy:1", image_id="", container_id="",
          restart_policy="Always"): 1,
        L(**migrate, image_spec="migrate:1", image="migrate:1", image_id="", container_id="",
          restart_policy=""): 1,
    }  # fmt: skip
    assert of(s, "kube_pod_init_container_status_restarts_total") == {
        L(**setup): 0, L(**proxy): 1, L(**migrate): 3
    }  # fmt: skip
    assert of(s, "kube_pod_init_container_status_ready") == {
        L(**setup): 1, L(**proxy): 1, L(**migrate): 0
    }  # fmt: skip
    assert of(s, "kube_pod_init_container_status_waiting") == {
        L(**setup): 0, L(**proxy): 0, L(**migrate): 1
    }  # fmt: skip
    assert of(s, "kube_pod_init_container_status_running") == {
        L(**setup): 0, L(**proxy): 1, L(**migrate): 0
    }  # fmt: skip
    assert of(s, "kube_pod_init_container_status_terminated") == {
        L(**setup): 1, L(**proxy): 0, L(**migrate): 0
    }  # fmt: skip
    assert of(s, "kube_pod_init_container_status_waiting_reason") == {
        L(**migrate, reason="CrashLoopBackOff"): 1
    }
    assert of(s, "kube_pod_init_container_status_terminated_reason") == {
        L(**setup, reason="Completed"): 1
    }
    assert of(s, "kube_pod_init_container_status_last_terminated_reason") == {
        L(**migrate, reason="Error"): 1
    }
    assert of(s, "kube_pod_init_container_resource_requests") == {
        L(**setup, node="n1", resource="cpu", unit="core"): 0.25
    }
    assert of(s, "kube_pod_init_container_resource_limits") == {
        L(**proxy, node="n1", resource="memory", unit="byte"): 64 * 2**20
    }
    # The pod's own container families leave init containers out, and the other way round.
    assert of(s, "kube_pod_container_resource_requests") == {
        L(**pod, container="app", node="n1", resource="cpu", unit="core"): 1
    }
    assert set(of(s, "kube_pod_container_status_waiting")) == {L(**pod, container="app")}
    assert of(s, "kube_pod_completion_time") == {}  # init containers do not count (as in KSM)


def test_pod_claim_volume_families() -> None:
    pod = {
        "metadata": {"namespace": "shop", "name": "db-0", "uid": "u-db"},
        "spec": {
            "containers": [{"name": "db", "image": "postgres:16"}],
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}},
                {"name": "seed", "persistentVolumeClaim": {"claimName": "seed", "readOnly": True}},
                {"name": "tmp", "emptyDir": {}},  # not a claim: no series
            ],
        },
    }
    s = parse(render({"pods": [pod]}))
    ident = {"namespace": "shop", "pod": "db-0", "uid": "u-db"}
    data = L(**ident, volume="data", persistentvolumeclaim="data-db-0")
    seed = L(**ident, volume="seed", persistentvolumeclaim="seed")
    assert of(s, "kube_pod_spec_volumes_persistentvolumeclaims_info") == {data: 1, seed: 1}
    assert of(s, "kube_pod_spec_volumes_persistentvolumeclaims_readonly") == {data: 0, seed: 1}


def test_pod_status_reason_from_a_terminated_container() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {"containers": [{"name": "a"}]},
        "status": {
            "containerStatuses": [{"name": "a", "state": {"terminated": {"reason": "Shutdown"}}}]
        },
    }
    values = of(parse(render({"pods": [pod]})), "kube_pod_status_reason")
    assert {dict(k)["reason"] for k, v in values.items() if v == 1} == {"Shutdown"}


NODE = {
    "metadata": {"name": "n1"},
    "spec": {
        "unschedulable": True,
        "podCIDR": "10.64.0.0/24",
        "providerID": "kubeward://r/z/n1",
        "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}],
    },
    "status": {
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "3800m", "memory": "7Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "Unknown"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        "nodeInfo": {
            "kernelVersion": "6.1",
            "osImage": "Debian",
            "containerRuntimeVersion": "containerd://1.7",
            "kubeletVersion": "v1.31.0",
            "kubeProxyVersion": "v1.31.0",
            "systemUUID": "sys-1",
        },
    },
}


def test_node_families() -> None:
    s = parse(render({"nodes": [NODE]}))
    assert of(s, "kube_node_info") == {
        L(
            node="n1",
            kernel_version="6.1",
            os_image="Debian",
            container_runtime_version="containerd://1.7",
            kubelet_version="v1.31.0",
            kubeproxy_version="v1.31.0",
            provider_id="kubeward://r/z/n1",
            pod_cidr="10.64.0.0/24",
            system_uuid="sys-1",
            internal_ip="10.0.0.1",
        ): 1
    }
    assert of(s, "kube_node_status_condition") == {
        L(node="n1", condition="Ready", status=st): float(st == "unknown")
        for st in ("true", "false", "unknown")
    }
    assert of(s, "kube_node_status_capacity") == {
        L(node="n1", resource="cpu", unit="core"): 4,
        L(node="n1", resource="memory", unit="byte"): 8 * 2**30,
        L(node="n1", resource="pods", unit="integer"): 110,
    }
    assert of(s, "kube_node_status_allocatable")[L(node="n1", resource="cpu", unit="core")] == 3.8
    assert of(s, "kube_node_spec_unschedulable") == {L(node="n1"): 1}
    assert of(s, "kube_node_spec_taint") == {
        L(node="n1", key="node.kubernetes.io/unschedulable", value="", effect="NoSchedule"): 1
    }


def test_workload_families() -> None:
    deployment = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 3},
        "status": {
            "availableReplicas": 2,
            "unavailableReplicas": 1,
            "updatedReplicas": 3,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
            ],
        },
    }
    statefulset = {"metadata": {"name": "db", "namespace": "shop"}, "spec": {}, "status": {}}
    daemonset = {
        "metadata": {"name": "agent", "namespace": "kube-system"},
        "status": {"desiredNumberScheduled": 3, "numberReady": 2, "numberMisscheduled": 1},
    }
    hpa = {
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"maxReplicas": 10},
        "status": {"currentReplicas": 3, "desiredReplicas": 4},
    }
    namespace = {"metadata": {"name": "shop"}, "status": {"phase": "Terminating"}}
    s = parse(
        render(
            {
                "deployments": [deployment],
                "statefulsets": [statefulset],
                "daemonsets": [daemonset],
                "horizontalpodautoscalers": [hpa],
                "namespaces": [namespace],
            }
        )
    )
    d = {"namespace": "shop", "deployment": "web"}
    assert of(s, "kube_deployment_spec_replicas") == {L(**d): 3}
    assert of(s, "kube_deployment_status_replicas_available") == {L(**d): 2}
    assert of(s, "kube_deployment_status_replicas_unavailable") == {L(**d): 1}
    assert of(s, "kube_deployment_status_replicas_updated") == {L(**d): 3}
    assert of(s, "kube_deployment_status_condition") == {
        L(**d, reason="MinimumReplicasAvailable", condition="Available", status=st): float(
            st == "true"
        )
        for st in ("true", "false", "unknown")
    }
    # An unset spec.replicas is not exposed (KSM checks for nil); status counts default to 0.
    assert of(s, "kube_statefulset_replicas") == {}
    assert of(s, "kube_statefulset_status_replicas_ready") == {
        L(namespace="shop", statefulset="db"): 0
    }
    ds = {"namespace": "kube-system", "daemonset": "agent"}
    assert of(s, "kube_daemonset_status_desired_number_scheduled") == {L(**ds): 3}
    assert of(s, "kube_daemonset_status_number_ready") == {L(**ds): 2}
    assert of(s, "kube_daemonset_status_number_misscheduled") == {L(**ds): 1}
    assert of(s, "kube_daemonset_status_updated_number_scheduled") == {L(**ds): 0}
    h = {"namespace": "shop", "horizontalpodautoscaler": "web"}
    assert of(s, "kube_horizontalpodautoscaler_spec_min_replicas") == {L(**h): 1}  # default
    assert of(s, "kube_horizontalpodautoscaler_spec_max_replicas") == {L(**h): 10}
    assert of(s, "kube_horizontalpodautoscaler_status_desired_replicas") == {L(**h): 4}
    assert of(s, "kube_namespace_status_phase") == {
        L(namespace="shop", phase="Active"): 0,
        L(namespace="shop", phase="Terminating"): 1,
    }


def test_service_families() -> None:
    lb = {
        "metadata": {"name": "front", "namespace": "shop", "uid": "s-1"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.20",
            "externalTrafficPolicy": "Local",
            "loadBalancerIP": "203.0.113.7",
            "externalIPs": ["198.51.100.1", "198.51.100.2"],
        },
        "status": {
            "loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}
        },
    }
    alias = {
        "metadata": {"name": "db", "namespace": "shop", "uid": "s-2"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"},
    }
    s = parse(render({"services": [lb, alias]}))
    front = {"namespace": "shop", "service": "front", "uid": "s-1"}
    db = {"namespace": "shop", "service": "db", "uid": "s-2"}
    assert of(s, "kube_service_info") == {
        L(**front, cluster_ip="10.96.0.20", external_name="", external_traffic_policy="Local",
          load_balancer_ip="203.0.113.7"): 1,
        L(**db, cluster_ip="", external_name="db.example.com", external_traffic_policy="",
          load_balancer_ip=""): 1,
    }  # fmt: skip
    assert of(s, "kube_service_spec_type") == {
        L(**front, type="LoadBalancer"): 1,
        L(**db, type="ExternalName"): 1,
    }
    assert of(s, "kube_service_spec_external_ip") == {
        L(**front, external_ip="198.51.100.1"): 1,
        L(**front, external_ip="198.51.100.2"): 1,
    }
    assert of(s, "kube_service_status_load_balancer_ingress") == {
        L(**front, ip="203.0.113.7", hostname=""): 1,
        L(**front, ip="", hostname="lb.example.com"): 1,
    }
    assert "kube_service_created" in FAMILY_NAMES
    assert "kube_service_deletion_timestamp" not in FAMILY_NAMES  # none in KSM


def test_persistentvolumeclaim_families() -> None:
    bound = {
        "metadata": {"name": "data-db-0", "namespace": "shop"},
        "spec": {
            "storageClassName": "fast",
            "volumeName": "pvc-123",
            "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
            "resources": {"requests": {"storage": "10Gi"}},
        },
        "status": {
            "phase": "Bound",
            "conditions": [{"type": "FileSystemResizePending", "status": "True"}],
        },
    }
    legacy = {  # the beta annotation wins over spec.storageClassName, as in KSM
        "metadata": {
            "name": "old",
            "namespace": "shop",
            "annotations": {"volume.beta.kubernetes.io/storage-class": "slow"},
        },
        "spec": {"storageClassName": "fast"},
        "status": {"phase": "Pending"},
    }
    fresh = {"metadata": {"name": "new", "namespace": "shop"}, "spec": {}}  # no class, no phase
    s = parse(render({"persistentvolumeclaims": [bound, legacy, fresh]}))
    claim = {"namespace": "shop", "persistentvolumeclaim": "data-db-0"}
    assert of(s, "kube_persistentvolumeclaim_info") == {
        L(**claim, storageclass="fast", volumename="pvc-123"): 1,
        L(namespace="shop", persistentvolumeclaim="old", storageclass="slow", volumename=""): 1,
        L(namespace="shop", persistentvolumeclaim="new", storageclass="<none>", volumename=""): 1,
    }
    phases = of(s, "kube_persistentvolumeclaim_status_phase")
    assert phases == {
        **{L(**claim, phase=p): float(p == "Bound") for p in ("Lost", "Bound", "Pending")},
        **{
            L(namespace="shop", persistentvolumeclaim="old", phase=p): float(p == "Pending")
            for p in ("Lost", "Bound", "Pending")
        },
    }  # an unset phase: no series
    assert of(s, "kube_persistentvolumeclaim_resource_requests_storage_bytes") == {
        L(**claim): 10 * 2**30
    }
    assert of(s, "kube_persistentvolumeclaim_access_mode") == {
        L(**claim, access_mode="ReadWriteOnce"): 1,
        L(**claim, access_mode="ReadOnlyMany"): 1,
    }
    assert of(s, "kube_persistentvolumeclaim_status_condition") == {
        L(**claim, condition="FileSystemResizePending", status=st): float(st == "true")
        for st in ("true", "false", "unknown")
    }
    assert "kube_persistentvolumeclaim_deletion_timestamp" not in FAMILY_NAMES


def test_replicaset_families() -> None:
    owned = {
        "metadata": {
            "name": "web-5d8f",
            "namespace": "shop",
            "generation": 3,
            "ownerReferences": [
                {"kind": "Deployment", "name": "web", "controller": True},
                {"kind": "Thing", "name": "other"},  # not a controller: "false"
            ],
        },
        "spec": {"replicas": 3},
        "status": {
            "replicas": 3,
            "fullyLabeledReplicas": 2,
            "readyReplicas": 1,
            "observedGeneration": 2,
        },
    }
    bare = {"metadata": {"name": "bare", "namespace": "shop"}, "spec": {}, "status": {}}
    s = parse(render({"replicasets": [owned, bare]}))
    web, b = L(namespace="shop", replicaset="web-5d8f"), L(namespace="shop", replicaset="bare")
    assert of(s, "kube_replicaset_spec_replicas") == {web: 3}  # unset: no series, as in KSM
    assert of(s, "kube_replicaset_status_replicas") == {web: 3, b: 0}
    assert of(s, "kube_replicaset_status_fully_labeled_replicas") == {web: 2, b: 0}
    assert of(s, "kube_replicaset_status_ready_replicas") == {web: 1, b: 0}
    assert of(s, "kube_replicaset_status_observed_generation") == {web: 2, b: 0}
    assert of(s, "kube_replicaset_metadata_generation") == {web: 3, b: 0}
    rs = {"namespace": "shop", "replicaset": "web-5d8f"}
    assert of(s, "kube_replicaset_owner") == {
        L(**rs, owner_kind="Deployment", owner_name="web", owner_is_controller="true"): 1,
        L(**rs, owner_kind="Thing", owner_name="other", owner_is_controller="false"): 1,
        L(namespace="shop", replicaset="bare", owner_kind="<none>", owner_name="<none>",
          owner_is_controller="<none>"): 1,
    }  # fmt: skip
    # KSM has no kube_replicaset_deletion_timestamp.
    assert "kube_replicaset_deletion_timestamp" not in FAMILY_NAMES
    assert "kube_replicaset_created" in FAMILY_NAMES


def test_cronjob_families() -> None:
    nightly = {
        "metadata": {
            "name": "nightly",
            "namespace": "ops",
            "resourceVersion": "4711",
            "creationTimestamp": "2025-03-01T12:00:00Z",
        },
        "spec": {
            "schedule": "30 2 * * *",
            "timeZone": "Europe/Berlin",
            "concurrencyPolicy": "Forbid",
            "suspend": False,
            "startingDeadlineSeconds": 60,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
        },
        "status": {
            "active": [{"name": "nightly-1"}, {"name": "nightly-2"}],
            "lastScheduleTime": "2025-03-02T01:30:00Z",  # 02:30 in Berlin (CET)
            "lastSuccessfulTime": "2025-03-01T01:31:00Z",
        },
    }
    never_ran = {
        "metadata": {
            "name": "hourly",
            "namespace": "ops",
            "creationTimestamp": "2025-03-01T12:10:00Z",
        },
        "spec": {"schedule": "@hourly"},
    }
    paused = {
        "metadata": {
            "name": "paused",
            "namespace": "ops",
            "creationTimestamp": "2025-03-01T12:00:00Z",
        },
        "spec": {"schedule": "*/5 * * * *", "suspend": True},
    }
    broken = {  # the API server refuses such a schedule; a stored one must not stop the rows
        "metadata": {
            "name": "broken",
            "namespace": "ops",
            "creationTimestamp": "2025-03-01T12:00:00Z",
        },
        "spec": {"schedule": "61 * * * *"},
    }
    s = parse(render({"cronjobs": [nightly, never_ran, paused, broken]}))
    n, h, p = (L(namespace="ops", cronjob=c) for c in ("nightly", "hourly", "paused"))
    assert of(s, "kube_cronjob_info") == {
        L(namespace="ops", cronjob="nightly", schedule="30 2 * * *", concurrency_policy="Forbid",
          timezone="Europe/Berlin"): 1,
        L(namespace="ops", cronjob="hourly", schedule="@hourly", concurrency_policy="",
          timezone="local"): 1,
        L(namespace="ops", cronjob="paused", schedule="*/5 * * * *", concurrency_policy="",
          timezone="local"): 1,
        L(namespace="ops", cronjob="broken", schedule="61 * * * *", concurrency_policy="",
          timezone="local"): 1,
    }  # fmt: skip
    assert of(s, "kube_cronjob_status_active") == {
        n: 2,
        h: 0,
        p: 0,
        L(namespace="ops", cronjob="broken"): 0,
    }
    assert of(s, "kube_cronjob_status_last_schedule_time") == {n: 1740879000}
    assert of(s, "kube_cronjob_status_last_successful_time") == {n: 1740792660}
    assert of(s, "kube_cronjob_spec_suspend") == {n: 0, p: 1}  # unset: no series
    assert of(s, "kube_cronjob_spec_starting_deadline_seconds") == {n: 60}
    # After the last run (02:30 Berlin on 2 March): 02:30 Berlin on 3 March; never run: the
    # first after creation (13:00 UTC); suspended: none.
    assert of(s, "kube_cronjob_next_schedule_time") == {n: 1740965400, h: 1740834000}
    assert of(s, "kube_cronjob_metadata_resource_version") == {n: 4711}
    assert of(s, "kube_cronjob_spec_successful_job_history_limit") == {n: 3}
    assert of(s, "kube_cronjob_spec_failed_job_history_limit") == {n: 1}
    assert "kube_cronjob_deletion_timestamp" not in FAMILY_NAMES  # none in KSM


def test_poddisruptionbudget_families() -> None:
    pdb = {
        "metadata": {"name": "web", "namespace": "shop", "generation": 2},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": {
            "currentHealthy": 3,
            "desiredHealthy": 2,
            "disruptionsAllowed": 1,
            "expectedPods": 4,
            "observedGeneration": 2,
        },
    }
    fresh = {"metadata": {"name": "new", "namespace": "shop"}, "spec": {}}  # no status yet
    s = parse(render({"poddisruptionbudgets": [pdb, fresh]}))
    web = L(namespace="shop", poddisruptionbudget="web")
    new = L(namespace="shop", poddisruptionbudget="new")
    prefix = "kube_poddisruptionbudget_status"
    assert of(s, f"{prefix}_current_healthy") == {web: 3, new: 0}
    assert of(s, f"{prefix}_desired_healthy") == {web: 2, new: 0}
    assert of(s, f"{prefix}_pod_disruptions_allowed") == {web: 1, new: 0}
    assert of(s, f"{prefix}_expected_pods") == {web: 4, new: 0}
    assert of(s, f"{prefix}_observed_generation") == {web: 2, new: 0}
    assert "kube_poddisruptionbudget_created" in FAMILY_NAMES
    assert "kube_poddisruptionbudget_deletion_timestamp" not in FAMILY_NAMES  # none in KSM


def test_resourcequota_family_reads_the_status() -> None:
    quota = {
        "metadata": {"name": "compute", "namespace": "shop"},
        "spec": {"hard": {"requests.cpu": "4", "pods": "10"}},
        "status": {
            "hard": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "10"},
            "used": {"requests.cpu": "1500m", "requests.memory": "512Mi", "pods": "3"},
        },
    }
    fresh = {"metadata": {"name": "new", "namespace": "shop"}, "spec": {"hard": {"pods": "1"}}}
    s = parse(render({"resourcequotas": [quota, fresh]}))

    def key(resource: str, type_: str) -> frozenset[tuple[str, str]]:
        return L(namespace="shop", resourcequota="compute", resource=resource, type=type_)

    assert of(s, "kube_resourcequota") == {
        key("requests.cpu", "hard"): 4,
        key("requests.memory", "hard"): 8 * 2**30,
        key("pods", "hard"): 10,
        key("requests.cpu", "used"): 1.5,
        key("requests.memory", "used"): 512 * 2**20,
        key("pods", "used"): 3,
    }  # the quota without a status has no series, as in KSM
    assert "kube_resourcequota_created" in FAMILY_NAMES
    assert "kube_resourcequota_deletion_timestamp" not in FAMILY_NAMES  # none in KSM


def test_persistentvolume_families() -> None:
    provisioned = {
        "metadata": {"name": "pvc-1"},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": "standard",
            "volumeMode": "Filesystem",
            "csi": {"driver": "sim.kubeward.io", "volumeHandle": "h-1"},
            "claimRef": {"namespace": "shop", "name": "data"},
        },
        "status": {"phase": "Bound"},
    }
    static = {
        "metadata": {"name": "nfs"},
        "spec": {
            "capacity": {"storage": "1500M"},
            "nfs": {"server": "10.0.0.9", "path": "/export"},
            "persistentVolumeReclaimPolicy": "Retain",
        },
    }  # no phase yet, no volumeMode, no claim
    s = parse(render({"persistentvolumes": [provisioned, static]}))
    pvc1, nfs = L(persistentvolume="pvc-1"), L(persistentvolume="nfs")
    assert of(s, "kube_persistentvolume_claim_ref") == {
        L(persistentvolume="pvc-1", name="data", claim_namespace="shop"): 1
    }
    phases = of(s, "kube_persistentvolume_status_phase")
    assert {dict(k)["phase"]: v for k, v in phases.items()} == {
        "Pending": 0,
        "Available": 0,
        "Bound": 1,
        "Released": 0,
        "Failed": 0,
    }  # none for the volume without a phase
    assert of(s, "kube_persistentvolume_capacity_bytes") == {pvc1: 10 * 2**30, nfs: 1.5e9}
    info = {dict(k)["persistentvolume"]: dict(k) for k in of(s, "kube_persistentvolume_info")}
    assert info["pvc-1"]["csi_driver"] == "sim.kubeward.io"
    assert info["pvc-1"]["csi_volume_handle"] == "h-1"
    assert info["pvc-1"]["storageclass"] == "standard"
    assert info["pvc-1"]["reclaim_policy"] == "Delete"
    assert (info["nfs"]["nfs_server"], info["nfs"]["nfs_path"]) == ("10.0.0.9", "/export")
    assert info["nfs"]["csi_driver"] == ""  # every source label, empty when unused, as KSM
    assert of(s, "kube_persistentvolume_volume_mode") == {
        L(persistentvolume="pvc-1", volumemode="Filesystem"): 1
    }
    assert of(s, "kube_persistentvolume_access_mode") == {
        L(persistentvolume="pvc-1", access_mode="ReadWriteOnce"): 1,
        L(persistentvolume="pvc-1", access_mode="ReadOnlyMany"): 1,
    }
    assert "kube_persistentvolume_deletion_timestamp" in FAMILY_NAMES


def test_storageclass_info_fills_in_the_defaults() -> None:
    standard = {
        "metadata": {"name": "standard"},
        "provisioner": "sim.kubeward.io",
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    bare = {"metadata": {"name": "bare"}, "provisioner": "ebs.csi.aws.com"}
    s = parse(render({"storageclasses": [standard, bare]}))
    assert of(s, "kube_storageclass_info") == {
        L(
            storageclass="standard",
            provisioner="sim.kubeward.io",
            reclaim_policy="Retain",
            volume_binding_mode="WaitForFirstConsumer",
        ): 1,
        L(
            storageclass="bare",
            provisioner="ebs.csi.aws.com",
            reclaim_policy="Delete",
            volume_binding_mode="Immediate",
        ): 1,
    }
    assert "kube_storageclass_deletion_timestamp" not in FAMILY_NAMES


def test_limitrange_family_has_a_series_per_constraint() -> None:
    lr = {
        "metadata": {"name": "bounds", "namespace": "shop"},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "max": {"cpu": "2"},
                    "default": {"memory": "256Mi"},
                    "defaultRequest": {"cpu": "100m"},
                    "maxLimitRequestRatio": {"memory": "2"},
                },
                {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}},
            ]
        },
    }
    s = parse(render({"limitranges": [lr]}))

    def key(resource: str, type_: str, constraint: str) -> frozenset[tuple[str, str]]:
        return L(
            namespace="shop",
            limitrange="bounds",
            resource=resource,
            type=type_,
            constraint=constraint,
        )

    assert of(s, "kube_limitrange") == {
        key("cpu", "Container", "max"): 2,
        key("memory", "Container", "default"): 256 * 2**20,
        key("cpu", "Container", "defaultRequest"): 0.1,
        key("memory", "Container", "maxLimitRequestRatio"): 2,
        key("storage", "PersistentVolumeClaim", "min"): 2**30,
    }
    # KSM has only these two families for LimitRanges.
    assert [n for n in FAMILY_NAMES if n.startswith("kube_limitrange")] == [
        "kube_limitrange",
        "kube_limitrange_created",
    ]


def test_deployment_generation_pause_and_rolling_update_counts() -> None:
    rolling = {
        "metadata": {"name": "web", "namespace": "shop", "generation": 4},
        "spec": {
            "replicas": 10,
            "paused": True,
            # percentages of spec.replicas: unavailable rounds down, surge rounds up
            "strategy": {"rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "33%"}},
        },
        "status": {"replicas": 11, "readyReplicas": 9, "observedGeneration": 3},
    }
    counts = {
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 2}}},
    }
    recreate = {
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"}},
    }
    s = parse(render({"deployments": [rolling, counts, recreate]}))

    def d(name: str) -> frozenset[tuple[str, str]]:
        return L(namespace="shop", deployment=name)

    assert of(s, "kube_deployment_status_replicas") == {d("web"): 11, d("api"): 0, d("db"): 0}
    assert of(s, "kube_deployment_status_replicas_ready") == {d("web"): 9, d("api"): 0, d("db"): 0}
    assert of(s, "kube_deployment_status_observed_generation")[d("web")] == 3
    assert of(s, "kube_deployment_metadata_generation")[d("web")] == 4
    assert of(s, "kube_deployment_spec_paused") == {d("web"): 1, d("api"): 0, d("db"): 0}
    # No rollingUpdate (Recreate): neither family has a series for it.
    assert of(s, "kube_deployment_spec_strategy_rollingupdate_max_unavailable") == {
        d("web"): 2,
        d("api"): 0,
    }
    assert of(s, "kube_deployment_spec_strategy_rollingupdate_max_surge") == {
        d("web"): 4,
        d("api"): 2,
    }


def job(name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "batch"}, "status": status}


def test_job_families_and_failure_reasons() -> None:
    failed_condition = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    odd_condition = [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]
    s = parse(
        render(
            {
                "jobs": [
                    job(
                        "ok",
                        succeeded=1,
                        startTime="1970-01-01T00:00:10Z",
                        completionTime="1970-01-01T00:01:00Z",
                    ),
                    job("running", active=2, startTime="1970-01-01T00:00:20Z"),
                    job("backoff", failed=3, conditions=failed_condition),
                    job("policy", failed=1, conditions=odd_condition),
                    job("retrying", failed=2),
                ]
            }
        )
    )

    def j(name: str, **labels: str) -> frozenset[tuple[str, str]]:
        return L(namespace="batch", job_name=name, **labels)

    assert of(s, "kube_job_status_failed") == {
        # Nothing failed: one series without a reason label.
        j("ok"): 0,
        j("running"): 0,
        # A known reason: one series per known reason, 1 on the condition's.
        j("backoff", reason="BackoffLimitExceeded"): 1,
        j("backoff", reason="DeadlineExceeded"): 0,
        j("backoff", reason="Evicted"): 0,
        j("policy", reason="BackoffLimitExceeded"): 0,
        j("policy", reason="DeadlineExceeded"): 0,
        j("policy", reason="Evicted"): 0,
        # An unknown reason or no Failed condition: reason="" with the count.
        j("policy", reason=""): 1,
        j("retrying", reason=""): 2,
    }
    assert of(s, "kube_job_status_active")[j("running")] == 2
    assert of(s, "kube_job_status_succeeded")[j("ok")] == 1
    assert of(s, "kube_job_status_start_time") == {j("ok"): 10, j("running"): 20}
    assert of(s, "kube_job_status_completion_time") == {j("ok"): 60}


def test_job_conditions_spec_and_owner() -> None:
    complete = job("done", succeeded=1, conditions=[{"type": "Complete", "status": "True"}])
    complete["spec"] = {"completions": 3, "parallelism": 2}
    complete["metadata"]["ownerReferences"] = [
        {"kind": "CronJob", "name": "nightly", "controller": True},
        {"kind": "Thing", "name": "other"},  # no controller field: "false"
    ]
    failed = job(
        "broke",
        failed=1,
        conditions=[
            {"type": "Suspended", "status": "False"},  # resumed
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"},
        ],
    )
    failed["spec"] = {"parallelism": 0}  # set (even to 0) is exposed; unset is not
    paused = job("paused", conditions=[{"type": "Suspended", "status": "True"}])
    paused["spec"] = {"suspend": True, "activeDeadlineSeconds": 600}
    complete["status"]["ready"] = 2
    s = parse(render({"jobs": [complete, failed, job("fresh"), paused]}))

    def j(name: str, **labels: str) -> frozenset[tuple[str, str]]:
        return L(namespace="batch", job_name=name, **labels)

    statuses = ("true", "false", "unknown")
    # One series per status in a label named "condition", only for jobs with the condition.
    assert of(s, "kube_job_complete") == {
        j("done", condition=c): float(c == "true") for c in statuses
    }
    assert of(s, "kube_job_failed") == {
        j("broke", condition=c): float(c == "true") for c in statuses
    }
    assert of(s, "kube_job_spec_completions") == {j("done"): 3}
    assert of(s, "kube_job_spec_parallelism") == {j("done"): 2, j("broke"): 0}
    assert of(s, "kube_job_owner") == {
        j("done", owner_kind="CronJob", owner_name="nightly", owner_is_controller="true"): 1,
        j("done", owner_kind="Thing", owner_name="other", owner_is_controller="false"): 1,
        # No owner: empty labels, not the "<none>" of kube_pod_owner.
        j("broke", owner_kind="", owner_name="", owner_is_controller=""): 1,
        j("fresh", owner_kind="", owner_name="", owner_is_controller=""): 1,
        j("paused", owner_kind="", owner_name="", owner_is_controller=""): 1,
    }
    names = ("done", "broke", "fresh", "paused")
    assert of(s, "kube_job_info") == {j(n): 1 for n in names}
    assert of(s, "kube_job_status_ready") == {j(n): 2 if n == "done" else 0 for n in names}
    # Only jobs with a Suspended condition; 1 while it is True.
    assert of(s, "kube_job_status_suspended") == {j("broke"): 0, j("paused"): 1}
    assert of(s, "kube_job_spec_active_deadline_seconds") == {j("paused"): 600}


def test_daemonset_and_statefulset_generations_and_revisions() -> None:
    daemonset = {
        "metadata": {"name": "agent", "namespace": "kube-system", "generation": 4},
        "status": {"observedGeneration": 3},
    }
    statefulset = {
        "metadata": {"name": "db", "namespace": "shop", "generation": 2},
        "spec": {"replicas": 3},
        "status": {
            "replicas": 3,
            "availableReplicas": 2,
            "observedGeneration": 2,
            "currentRevision": "db-7c9f",
            "updateRevision": "db-5d4b",
        },
    }
    fresh = {"metadata": {"name": "new", "namespace": "shop"}, "spec": {}}
    s = parse(render({"daemonsets": [daemonset], "statefulsets": [statefulset, fresh]}))
    ds = L(namespace="kube-system", daemonset="agent")
    assert of(s, "kube_daemonset_metadata_generation") == {ds: 4}
    assert of(s, "kube_daemonset_status_observed_generation") == {ds: 3}
    db, new = (
        {"namespace": "shop", "statefulset": "db"},
        {"namespace": "shop", "statefulset": "new"},
    )
    assert of(s, "kube_statefulset_status_replicas_available") == {L(**db): 2, L(**new): 0}
    assert of(s, "kube_statefulset_status_observed_generation") == {L(**db): 2, L(**new): 0}
    assert of(s, "kube_statefulset_metadata_generation") == {L(**db): 2, L(**new): 0}
    # Revisions are exposed even before the controller set them (as KSM does: revision="").
    assert of(s, "kube_statefulset_status_current_revision") == {
        L(**db, revision="db-7c9f"): 1,
        L(**new, revision=""): 1,
    }
    assert of(s, "kube_statefulset_status_update_revision") == {
        L(**db, revision="db-5d4b"): 1,
        L(**new, revision=""): 1,
    }


def test_hpa_conditions_generation_and_target_metrics() -> None:
    def target(**fields: Any) -> dict[str, Any]:
        return {"type": "X", **fields}

    hpa = {
        "metadata": {"name": "web", "namespace": "shop", "generation": 5},
        "spec": {
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": target(averageUtilization=60)},
                },
                {
                    "type": "Resource",
                    "resource": {"name": "memory", "target": target(averageValue="512Mi")},
                },
                {
                    "type": "Pods",
                    "pods": {"metric": {"name": "rps"}, "target": target(averageValue="500m")},
                },
                {
                    "type": "Object",
                    "object": {
                        "metric": {"name": "hits"},
                        "describedObject": {"kind": "Ingress", "name": "main"},
                        "target": target(value="10k", averageValue="2"),
                    },
                },
                {
                    "type": "External",
                    "external": {"metric": {"name": "queue"}, "target": target(value="30")},
                },
                {
                    "type": "ContainerResource",
                    "containerResource": {
                        "name": "cpu",
                        "container": "app",
                        "target": target(averageUtilization=70),
                    },
                },
                # Skipped: unsupported types, as KSM skips them, and container targets,
                # which recent KSM exposes in a family of their own.
                {"type": "Unknown", "unknown": {}},
            ],
        },
        "status": {
            "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"},
                {"type": "ScalingLimited", "status": "False"},
            ]
        },
    }
    s = parse(render({"horizontalpodautoscalers": [hpa]}))
    h = {"namespace": "shop", "horizontalpodautoscaler": "web"}
    assert of(s, "kube_horizontalpodautoscaler_metadata_generation") == {L(**h): 5}
    assert of(s, "kube_horizontalpodautoscaler_status_condition") == {
        L(**h, condition=c, status=st): float(st == want)
        for c, want in (("AbleToScale", "true"), ("ScalingLimited", "false"))
        for st in ("true", "false", "unknown")
    }

    def m(name: str, type_: str) -> frozenset[tuple[str, str]]:
        return L(**h, metric_name=name, metric_target_type=type_)

    # Quantities as MilliValue()/1000: "500m" -> 0.5, "512Mi" -> 536870912, "10k" -> 10000.
    assert of(s, "kube_horizontalpodautoscaler_spec_target_metric") == {
        m("cpu", "utilization"): 60,
        m("memory", "average"): 536870912,
        m("rps", "average"): 0.5,
        m("hits", "value"): 10000,
        m("hits", "average"): 2,
        m("queue", "value"): 30,
    }


def test_statefulset_created_start_ordinal_and_claim_retention() -> None:
    db = {
        "metadata": {
            "name": "db",
            "namespace": "shop",
            "creationTimestamp": "2025-03-01T12:00:00Z",
        },
        "spec": {
            "ordinals": {"start": 5},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Delete",
                "whenScaled": "Retain",
            },
        },
    }
    # No ordinals, no policy, no creation time (a hand-made object): no series for those.
    bare = {"metadata": {"name": "bare", "namespace": "shop"}, "spec": {"ordinals": {}}}
    older = {"metadata": {"name": "older", "namespace": "shop"}, "spec": {}}
    s = parse(render({"statefulsets": [db, bare, older]}))
    key = {"namespace": "shop", "statefulset": "db"}
    assert of(s, "kube_statefulset_created") == {L(**key): 1740830400}
    # spec.ordinals set without start: the start is 0 (Go's zero value), as KSM reports it.
    assert of(s, "kube_statefulset_ordinals_start") == {
        L(**key): 5,
        L(namespace="shop", statefulset="bare"): 0,
    }
    assert of(s, "kube_statefulset_persistentvolumeclaim_retention_policy") == {
        L(**key, when_deleted="Delete", when_scaled="Retain"): 1
    }


def test_hpa_info_created_and_current_metrics() -> None:
    web = {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "creationTimestamp": "2025-03-01T12:00:00Z",
        },
        "spec": {
            "maxReplicas": 10,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        },
        "status": {
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {"averageUtilization": 73, "averageValue": "146m"},
                    },
                },
                {
                    "type": "External",
                    "external": {"metric": {"name": "queue"}, "current": {"value": "42"}},
                },
                {"type": "Unknown", "unknown": {}},
            ]
        },
    }
    legacy = {
        "metadata": {"name": "rc", "namespace": "shop"},
        "spec": {
            "maxReplicas": 2,
            "scaleTargetRef": {"kind": "ReplicationController", "name": "rc"},
        },
    }
    s = parse(render({"horizontalpodautoscalers": [web, legacy]}))
    h = {"namespace": "shop", "horizontalpodautoscaler": "web"}
    assert of(s, "kube_horizontalpodautoscaler_info") == {
        L(
            **h,
            scaletargetref_api_version="apps/v1",
            scaletargetref_kind="Deployment",
            scaletargetref_name="web",
        ): 1,
        # Without an apiVersion in the reference, KSM leaves the label out.
        L(
            namespace="shop",
            horizontalpodautoscaler="rc",
            scaletargetref_kind="ReplicationController",
            scaletargetref_name="rc",
        ): 1,
    }
    assert of(s, "kube_horizontalpodautoscaler_created") == {L(**h): 1740830400}
    assert of(s, "kube_horizontalpodautoscaler_status_target_metric") == {
        L(**h, metric_name="cpu", metric_target_type="utilization"): 73,
        L(**h, metric_name="cpu", metric_target_type="average"): 0.146,
        L(**h, metric_name="queue", metric_target_type="value"): 42,
    }


def allowlists(labels: str | None = None, annotations: str | None = None) -> MetadataRows:
    kinds = tuple(STATE_KIND_BY_NAME)
    return MetadataRows(
        parse_allowlist(labels, "label", kinds), parse_allowlist(annotations, "annotation", kinds)
    )


def with_meta(obj: dict[str, Any], **meta: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(obj))
    copy["metadata"].update(meta)
    return copy


LABELLED_POD = with_meta(
    POD,
    labels={"app": "web", "app.kubernetes.io/name": "shop", "tier": "front", "podHash": "7f"},
    annotations={"team": 'ops "core"', "note": "line\nbreak"},
)


def test_labels_and_annotations_only_for_allowlisted_kinds_and_keys() -> None:
    meta = allowlists("pods=[app, app.kubernetes.io/*, podHash, absent]", "pods=[*]")
    s = parse(render({"pods": [LABELLED_POD, BARE_POD], "nodes": [NODE]}, meta))
    web = {"namespace": "shop", "pod": "web-1", "uid": "u-1"}
    bare = {"namespace": "shop", "pod": "bare", "uid": "u-2"}
    assert of(s, "kube_pod_labels") == {
        # tier is not allowlisted; podHash becomes snake case; a pod without any: no label_*
        L(**web, label_app="web", label_app_kubernetes_io_name="shop", label_pod_hash="7f"): 1,
        L(**bare): 1,
    }
    assert of(s, "kube_pod_annotations") == {
        L(**web, annotation_team='ops "core"', annotation_note="line\nbreak"): 1,
        L(**bare): 1,
    }
    # No allowlist for nodes: no series at all, as in kube-state-metrics.
    assert of(s, "kube_node_labels") == {} and of(s, "kube_node_annotations") == {}


def test_no_allowlist_means_no_labels_series() -> None:
    s = parse(render({"pods": [LABELLED_POD]}))
    assert not [name for name, _ in s if name.endswith(("_labels", "_annotations"))]


def test_a_wildcard_resource_allowlists_every_kind_and_overrides_the_others() -> None:
    node = with_meta(NODE, labels={"zone": "a", "pool": "gpu"})
    meta = allowlists("pods=[tier],*=[zone,app]")
    s = parse(render({"pods": [LABELLED_POD], "nodes": [node]}, meta))
    assert of(s, "kube_node_labels") == {L(node="n1", label_zone="a"): 1}
    web = {"namespace": "shop", "pod": "web-1", "uid": "u-1"}
    assert of(s, "kube_pod_labels") == {L(**web, label_app="web"): 1}  # not tier


def test_created_and_deletion_timestamps_of_every_kind() -> None:
    stamps = {"creationTimestamp": "2025-03-01T12:00:00Z"}
    deleting = {**stamps, "deletionTimestamp": "2025-03-01T12:00:30Z"}
    objects = {
        "pods": [with_meta(POD, **deleting), with_meta(BARE_POD, **stamps)],
        "nodes": [with_meta(NODE, **deleting)],
        "namespaces": [{"metadata": {"name": "shop", **deleting}}],
        "deployments": [{"metadata": {"name": "d", "namespace": "shop", **deleting}}],
        "daemonsets": [{"metadata": {"name": "ds", "namespace": "shop", **deleting}}],
        "statefulsets": [{"metadata": {"name": "ss", "namespace": "shop", **deleting}}],
        "jobs": [{"metadata": {"name": "j", "namespace": "shop", **deleting}}],
        "horizontalpodautoscalers": [{"metadata": {"name": "h", "namespace": "shop", **deleting}}],
    }
    s = parse(render(objects))
    created, deleted = 1740830400, 1740830430
    web = {"namespace": "shop", "pod": "web-1", "uid": "u-1"}
    bare = {"namespace": "shop", "pod": "bare", "uid": "u-2"}
    assert of(s, "kube_pod_created") == {L(**web): created, L(**bare): created}
    assert of(s, "kube_pod_deletion_timestamp") == {L(**web): deleted}  # only while deleting
    identity = {
        "nodes": {"node": "n1"},
        "namespaces": {"namespace": "shop"},
        "deployments": {"namespace": "shop", "deployment": "d"},
        "daemonsets": {"namespace": "shop", "daemonset": "ds"},
        "statefulsets": {"namespace": "shop", "statefulset": "ss"},
        "jobs": {"namespace": "shop", "job_name": "j"},
        "horizontalpodautoscalers": {"namespace": "shop", "horizontalpodautoscaler": "h"},
    }
    for kind, labels in identity.items():
        prefix = f"kube_{KSM_NAMES[kind]}"
        assert of(s, f"{prefix}_created") == {L(**labels): created}, kind
        if kind in ("namespaces", "jobs"):  # KSM has no such family
            assert f"{prefix}_deletion_timestamp" not in {f.name for f in FAMILIES}
        else:
            assert of(s, f"{prefix}_deletion_timestamp") == {L(**labels): deleted}, kind


def test_every_family_has_help_and_type_even_when_empty() -> None:
    text = render({})
    for family in FAMILIES:
        assert f"# HELP {family.name} " in text
        assert f"# TYPE {family.name} {family.type}\n" in text
    assert len(parse(text)) == 0


def test_promtool_accepts_the_exposition_with_awkward_label_values(tmp_path: Path) -> None:
    awkward = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {"nodeName": 'node "quoted" \\ back', "priorityClassName": "line\nbreak"},
        "status": {"phase": "Pending"},
    }
    awkward["metadata"]["labels"] = {"a-b": 'x"y', "a.b": "z\\", "A_b": "line\nbreak"}
    text = render({"pods": [POD, awkward], "nodes": [NODE]}, allowlists("*=[*]", "*=[*]"))
    # Keys that collide once sanitised keep every value, numbered in key order (KSM's rule).
    assert (
        of(parse(text), "kube_pod_labels")[
            L(
                namespace="ns",
                pod="p",
                uid="u",
                label_a_b_conflict1="line\nbreak",
                label_a_b_conflict2='x"y',
                label_a_b_conflict3="z\\",
            )
        ]
        == 1
    )
    assert (
        parse(text)[
            (
                "kube_pod_info",
                L(
                    namespace="ns",
                    pod="p",
                    uid="u",
                    host_ip="",
                    pod_ip="",
                    node='node "quoted" \\ back',
                    created_by_kind="<none>",
                    created_by_name="<none>",
                    priority_class="line\nbreak",
                    host_network="false",
                ),
            )
        ]
        == 1
    )
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendering_slice_by_slice_changes_nothing(tmp_path: Path) -> None:
    """Renders cut the objects into slices to bound memory; the text must not depend on it."""
    state = ShardState()
    pods = []
    for i in range(10):
        p = json.loads(json.dumps(POD))
        p["metadata"].update(name=f"web-{i}", uid=f"u-{i}")
        p["spec"]["containers"] = p["spec"]["containers"][: 1 + i % 2]
        pods.append(p)
    state.apply("pods", [(f"shop/web-{i}", PODS.rows(p)) for i, p in enumerate(pods)])
    state.apply("pods", [("shop/web-3", None)])  # a hole in the seqs
    state.apply("nodes", [("n1", STATE_KIND_BY_NAME["nodes"].rows(NODE))])
    tables = state.snapshot()

    def blocks(size: int) -> list[tuple[str, list[str]]]:
        """(family, its sorted sample lines) in exposition order."""
        text = b"".join(bytes(p) for p in exposition(tables, size)).decode()
        out: list[tuple[str, list[str]]] = []
        for line in text.splitlines():
            if line.startswith("# HELP "):
                out.append((line.split()[2], []))
            elif not line.startswith("#"):
                assert line.split("{")[0].split(" ")[0].startswith(out[-1][0])  # contiguous
                out[-1][1].append(line)
        return [(name, sorted(lines)) for name, lines in out]

    whole = blocks(25_000)
    assert sum(line.startswith("kube_pod_info{") for _, ls in whole for line in ls) == 9
    for size in (1, 3, 4):
        assert blocks(size) == whole


# -- --metric-allowlist / --metric-denylist ------------------------------------------------------


def test_family_allowlist_matches_anywhere_in_the_name() -> None:
    families, unmatched = select_families("kube_pod_status_phase,_node_spec_", None)
    assert families == (
        "kube_pod_status_phase",
        "kube_node_spec_unschedulable",
        "kube_node_spec_taint",
    )
    assert unmatched == []


def test_family_denylist_keeps_the_rest_in_order() -> None:
    families, _ = select_families(None, "^kube_pod_container_, _labels$")
    assert "kube_pod_container_info" not in families and "kube_pod_labels" not in families
    assert "kube_pod_info" in families and "kube_pod_annotations" in families
    assert list(families) == [name for name in FAMILY_NAMES if name in families]
    assert len(families) == len(FAMILY_NAMES) - sum(
        1 for n in FAMILY_NAMES if n.startswith("kube_pod_container_") or n.endswith("_labels")
    )


def test_family_filters_refuse_both_and_bad_patterns_and_report_typos() -> None:
    assert select_families(None, None) == (FAMILY_NAMES, [])
    with pytest.raises(FamilyFilterError, match="mutually exclusive"):
        select_families("kube_pod_info", "kube_node_info")
    with pytest.raises(FamilyFilterError, match=r"'kube_\(' is not a regular expression"):
        select_families(None, "kube_(")
    families, unmatched = select_families("kube_pod_info,kube_pod_phase", None)
    assert families == ("kube_pod_info",) and unmatched == ["kube_pod_phase"]


def test_exposition_of_selected_families_only() -> None:
    state = ShardState()
    state.apply("pods", [("shop/web-1", PODS.rows(POD))])
    wanted, _ = select_families("kube_pod_info$,kube_pod_status_ready", None)
    text = b"".join(
        bytes(p) for p in exposition(state.snapshot(), families=families_named(wanted))
    ).decode()
    assert {name for name, _ in parse(text)} == {"kube_pod_info", "kube_pod_status_ready"}
    assert text.count("# HELP") == 2
