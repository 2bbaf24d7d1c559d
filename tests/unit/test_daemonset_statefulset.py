"""DaemonSets (eligible nodes, taints, nodes coming and going, failed daemons) and StatefulSets
(OrderedReady, reverse scale-down, Parallel, partitioned rolling update, claims) in a running
SimCluster."""

from __future__ import annotations

import json

from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.scenarios.model import Scenario
from kubeward.sim.store.objects import StoreEvent
from simproc import until

DAEMONSETS = REGISTRY.get("apps", "v1", "daemonsets")
STATEFULSETS = REGISTRY.get("apps", "v1", "statefulsets")
NODES = REGISTRY.get("", "v1", "nodes")
PODS = REGISTRY.get("", "v1", "pods")
PVS = REGISTRY.get("", "v1", "persistentvolumes")


def new_cluster(pools: list[dict], speed: float = 100) -> SimCluster:
    c = SimCluster(
        Scenario.model_validate({"name": "t", "nodePools": pools}), clock=SimClock(speed=speed)
    )
    c.bootstrap()
    return c


def daemon_pods(c: SimCluster) -> dict[str, str]:
    """node -> phase of the live daemon pods."""
    return {
        p.fields.get("spec.nodeName", "") or "?": p.fields.get("status.phase", "")
        for p in c.store.resource(("", "pods")).objects.values()
        if p.labels.get("app") == "agent" and not p.deleting
    }


def ds_status(c: SimCluster) -> dict:
    return c.api.get(DAEMONSETS, "default", "agent").decode().get("status") or {}


def events(c: SimCluster, name: str) -> list[tuple[str, str]]:
    out = []
    for e in c.store.resource(("", "events")).objects.values():
        d = e.decode()
        if d["involvedObject"]["name"] == name:
            out.append((d["reason"], d["message"]))
    return out


def set_taints(c: SimCluster, node: str, taints: list[dict]) -> None:
    n = c.api.get(NODES, "", node).decode()
    n["spec"]["taints"] = taints
    c.api.update(NODES, "", node, n)


async def test_daemonset_follows_eligible_nodes_and_taints() -> None:
    c = new_cluster(
        [
            {"name": "a", "count": 2, "labels": {"disk": "ssd"}},
            {"name": "b", "count": 1, "labels": {"disk": "hdd"}},
            {
                "name": "g",
                "count": 1,
                "labels": {"disk": "ssd"},
                "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
            },
        ]
    )
    c.start()
    try:
        c.api.create(
            DAEMONSETS,
            "default",
            {
                "metadata": {"name": "agent", "namespace": "default"},
                "spec": {
                    "selector": {"matchLabels": {"app": "agent"}},
                    "template": {
                        "metadata": {"labels": {"app": "agent"}},
                        "spec": {
                            "nodeSelector": {"disk": "ssd"},
                            "containers": [{"name": "agent", "image": "agent:1"}],
                        },
                    },
                },
            },
        )
        # nodeSelector excludes b-0, the untolerated taint excludes g-0
        await until(lambda: daemon_pods(c) == {"a-0": "Running", "a-1": "Running"})
        await until(lambda: ds_status(c).get("numberAvailable") == 2)
        status = ds_status(c)
        assert status["desiredNumberScheduled"] == 2 and status["numberMisscheduled"] == 0
        assert status["updatedNumberScheduled"] == 2 and status["observedGeneration"] == 1
        created = [m for r, m in events(c, "agent") if r == "SuccessfulCreate"]
        assert len(created) == 2 and all(m.startswith("Created pod: agent-") for m in created)
        pod = next(
            p.decode()
            for p in c.store.resource(("", "pods")).objects.values()
            if p.labels.get("app") == "agent"
        )
        tolerations = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
        assert ("node.kubernetes.io/not-ready", "NoExecute") in tolerations
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerations
        assert ("node.kubernetes.io/network-unavailable", "NoSchedule") not in tolerations
        assert pod["metadata"]["labels"]["controller-revision-hash"]

        # a node added later gets a daemon
        node = c.api.get(NODES, "", "a-0").decode()
        node["metadata"] = {
            "name": "a-9",
            "labels": {**node["metadata"]["labels"], "kubernetes.io/hostname": "a-9"},
        }
        c.api.create(NODES, "", node)
        await until(lambda: daemon_pods(c).get("a-9") == "Running")
        await until(lambda: ds_status(c).get("desiredNumberScheduled") == 3)

        # a NoSchedule taint only makes the running daemon misscheduled ...
        set_taints(c, "a-1", [{"key": "maintenance", "effect": "NoSchedule"}])
        await until(lambda: ds_status(c).get("numberMisscheduled") == 1)
        assert daemon_pods(c).get("a-1") == "Running"
        assert ds_status(c)["desiredNumberScheduled"] == 2
        # ... a NoExecute taint evicts it
        set_taints(c, "a-1", [{"key": "maintenance", "effect": "NoExecute"}])
        await until(lambda: "a-1" not in daemon_pods(c))
        await until(lambda: ds_status(c).get("numberMisscheduled") == 0)

        # a removed node's daemon goes
        c.api.delete(NODES, "", "a-9", DeleteOptions())
        await until(lambda: "a-9" not in daemon_pods(c))
        await until(lambda: ds_status(c).get("desiredNumberScheduled") == 1)
        assert any(r == "SuccessfulDelete" for r, _ in events(c, "agent"))
    finally:
        await c.stop()


async def test_failed_daemon_pod_is_replaced() -> None:
    c = new_cluster([{"name": "n", "count": 1}])
    c.start()
    try:
        c.api.create(
            DAEMONSETS,
            "default",
            {
                "metadata": {"name": "agent", "namespace": "default"},
                "spec": {
                    "selector": {"matchLabels": {"app": "agent"}},
                    "template": {
                        "metadata": {"labels": {"app": "agent"}},
                        "spec": {"containers": [{"name": "agent", "image": "agent:1"}]},
                    },
                },
            },
        )
        await until(lambda: daemon_pods(c) == {"n-0": "Running"})
        pod = next(
            p.decode()
            for p in c.store.resource(("", "pods")).objects.values()
            if p.labels.get("app") == "agent"
        )
        # the kubelet reports the pod failed (as after a node-level failure)
        pod["status"]["phase"] = "Failed"
        pod["status"]["reason"] = "NodeShutdown"
        c.api.update(PODS, "default", pod["metadata"]["name"], pod, subresource="status")
        name = pod["metadata"]["name"]
        await until(lambda: any(r == "FailedDaemonPod" for r, _ in events(c, "agent")))
        msg = next(m for r, m in events(c, "agent") if r == "FailedDaemonPod")
        assert msg == f"Found failed daemon pod default/{name} on node n-0, will try to kill it"
        await until(
            lambda: any(
                p.labels.get("app") == "agent"
                and p.name != name
                and p.fields.get("status.phase") == "Running"
                for p in c.store.resource(("", "pods")).objects.values()
            )
        )
    finally:
        await c.stop()


def statefulset(replicas: int, policy: str = "OrderedReady", partition: int = 0) -> dict:
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "podManagementPolicy": policy,
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}},
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {
                    "labels": {"app": "web"},
                    "annotations": {
                        ANNOTATION: json.dumps({"startupSeconds": 2, "readinessDelaySeconds": 10})
                    },
                },
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "www"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }


def pod_ready(c: SimCluster, name: str) -> bool:
    obj = c.store.get(("", "pods"), f"default/{name}")
    if obj is None:
        return False
    conditions = (obj.decode().get("status") or {}).get("conditions") or ()
    return any(x["type"] == "Ready" and x["status"] == "True" for x in conditions)


def sts_status(c: SimCluster) -> dict:
    return c.api.get(STATEFULSETS, "default", "web").decode().get("status") or {}


async def test_ordered_ready_creation_and_reverse_scale_down() -> None:
    c = new_cluster([{"name": "n", "count": 2}])
    order: list[tuple[str, str, bool]] = []  # (event, pod, predecessor ready at that moment)

    def watch(e: StoreEvent) -> None:
        if e.storage_key != ("", "pods") or not e.obj.name.startswith("web-"):
            return
        ordinal = int(e.obj.name.rsplit("-", 1)[1])
        if e.type == "ADDED":
            order.append(("create", e.obj.name, ordinal == 0 or pod_ready(c, f"web-{ordinal - 1}")))
        elif e.obj.deleting and (e.prev is None or not e.prev.deleting):
            order.append(("delete", e.obj.name, True))

    c.store.add_listener(watch)
    c.start()
    try:
        c.api.create(STATEFULSETS, "default", statefulset(3))
        await until(lambda: sts_status(c).get("readyReplicas") == 3, timeout=20)
        assert order == [
            ("create", "web-0", True),
            ("create", "web-1", True),  # only once web-0 was Running and Ready
            ("create", "web-2", True),
        ]
        status = sts_status(c)
        assert status["replicas"] == 3 and status["availableReplicas"] == 3
        assert status["currentRevision"] == status["updateRevision"]
        pod = c.api.get(PODS, "default", "web-2").decode()
        labels = pod["metadata"]["labels"]
        assert labels["controller-revision-hash"] == status["updateRevision"]
        assert status["updateRevision"].startswith("web-")
        assert labels["statefulset.kubernetes.io/pod-name"] == "web-2"
        assert labels["apps.kubernetes.io/pod-index"] == "2"
        assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("web-2", "web")
        evs = events(c, "web")
        assert ("SuccessfulCreate", "create Pod web-0 in StatefulSet web successful") in evs
        assert (
            "SuccessfulCreate",
            "create Claim www-web-0 Pod web-0 in StatefulSet web success",
        ) in evs
        pvc = c.api.get(REGISTRY.get("", "v1", "persistentvolumeclaims"), "default", "www-web-0")
        claim = pvc.decode()
        assert claim["status"]["phase"] == "Bound"
        volume = c.api.get(PVS, "", claim["spec"]["volumeName"]).decode()
        assert volume["spec"]["claimRef"]["name"] == "www-web-0"
        assert volume["status"]["phase"] == "Bound"

        order.clear()
        s = c.api.get(STATEFULSETS, "default", "web").decode()
        s["spec"]["replicas"] = 0
        c.api.update(STATEFULSETS, "default", "web", s)
        await until(lambda: sts_status(c).get("replicas") == 0, timeout=20)
        assert [name for kind, name, _ in order if kind == "delete"] == ["web-2", "web-1", "web-0"]
        assert ("SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful") in events(
            c, "web"
        )
    finally:
        await c.stop()


async def test_parallel_policy_and_partitioned_update() -> None:
    c = new_cluster([{"name": "n", "count": 2}])
    created_before_ready: list[str] = []

    def watch(e: StoreEvent) -> None:
        if (
            e.storage_key == ("", "pods")
            and e.type == "ADDED"
            and e.obj.name.startswith("web-")
            and not any(pod_ready(c, f"web-{i}") for i in range(3))
        ):
            created_before_ready.append(e.obj.name)

    c.store.add_listener(watch)
    c.start()
    try:
        c.api.create(STATEFULSETS, "default", statefulset(3, policy="Parallel", partition=1))
        await until(lambda: sts_status(c).get("readyReplicas") == 3, timeout=20)
        assert sorted(created_before_ready) == ["web-0", "web-1", "web-2"]
        old = sts_status(c)["updateRevision"]
        s = c.api.get(STATEFULSETS, "default", "web").decode()
        s["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
        c.api.update(STATEFULSETS, "default", "web", s)

        def revisions() -> dict[str, str]:
            return {
                p.name: p.labels.get("controller-revision-hash", "")
                for p in c.store.resource(("", "pods")).objects.values()
                if p.name.startswith("web-") and not p.deleting
            }

        await until(
            lambda: (
                sts_status(c).get("updatedReplicas") == 2
                and sts_status(c).get("readyReplicas") == 3
            ),
            timeout=20,
        )
        status = sts_status(c)
        new = status["updateRevision"]
        assert new != old
        # pods at or above the partition are updated, web-0 stays on the old revision
        assert revisions() == {"web-0": old, "web-1": new, "web-2": new}
        assert status["currentRevision"] == old and status["currentReplicas"] == 1
    finally:
        await c.stop()


async def test_daemonset_on_delete_strategy() -> None:
    c = new_cluster([{"name": "n", "count": 2}])
    c.start()
    try:
        c.api.create(
            DAEMONSETS,
            "default",
            {
                "metadata": {"name": "agent", "namespace": "default"},
                "spec": {
                    "selector": {"matchLabels": {"app": "agent"}},
                    "updateStrategy": {"type": "OnDelete"},
                    "template": {
                        "metadata": {"labels": {"app": "agent"}},
                        "spec": {"containers": [{"name": "agent", "image": "agent:1"}]},
                    },
                },
            },
        )
        await until(lambda: daemon_pods(c) == {"n-0": "Running", "n-1": "Running"})
        ds = c.api.get(DAEMONSETS, "default", "agent").decode()
        ds["spec"]["template"]["spec"]["containers"][0]["image"] = "agent:2"
        c.api.update(DAEMONSETS, "default", "agent", ds)
        await until(lambda: ds_status(c).get("observedGeneration") == 2)
        assert "updatedNumberScheduled" not in ds_status(c)  # nothing replaced by itself

        def images() -> dict[str, str]:
            return {
                p.fields.get("spec.nodeName", ""): p.decode()["spec"]["containers"][0]["image"]
                for p in c.store.resource(("", "pods")).objects.values()
                if p.labels.get("app") == "agent" and not p.deleting
            }

        assert images() == {"n-0": "agent:1", "n-1": "agent:1"}
        victim = next(
            p.name
            for p in c.store.resource(("", "pods")).objects.values()
            if p.fields.get("spec.nodeName") == "n-0"
        )
        c.api.delete(PODS, "default", victim, DeleteOptions(grace_period=0))
        await until(lambda: images() == {"n-0": "agent:2", "n-1": "agent:1"})
        await until(lambda: ds_status(c).get("updatedNumberScheduled") == 1)
    finally:
        await c.stop()
