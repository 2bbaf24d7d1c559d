"""DaemonSets: one pod per eligible node, new nodes get one, rolling template updates."""

from __future__ import annotations

from collections import Counter

from kubeward.kube.registry import REGISTRY
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.scenarios.model import Scenario
from simproc import until

DAEMONSETS = REGISTRY.get("apps", "v1", "daemonsets")
NODES = REGISTRY.get("", "v1", "nodes")


def daemonset(image: str = "fluent-bit:3.1", tolerate_gpu: bool = False) -> dict:
    spec: dict = {"containers": [{"name": "agent", "image": image}]}
    if tolerate_gpu:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    return {
        "metadata": {"name": "logs", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "logs"}},
            "template": {"metadata": {"labels": {"app": "logs"}}, "spec": spec},
        },
    }


def running_per_node(c: SimCluster) -> Counter[str]:
    return Counter(
        p.fields.get("spec.nodeName", "")
        for p in c.store.resource(("", "pods")).objects.values()
        if p.labels.get("app") == "logs"
        and p.fields.get("status.phase") == "Running"
        and not p.deleting
    )


async def test_one_pod_per_eligible_node_and_new_nodes() -> None:
    c = SimCluster(
        Scenario.model_validate(
            {
                "name": "d",
                "nodePools": [
                    {"name": "n", "count": 3},
                    {
                        "name": "g",
                        "count": 1,
                        "gpus": 1,
                        "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
                    },
                ],
            }
        ),
        clock=SimClock(speed=100),
    )
    c.bootstrap()
    c.start()
    try:
        c.api.create(DAEMONSETS, "default", daemonset())
        await until(lambda: running_per_node(c) == Counter({"n-0": 1, "n-1": 1, "n-2": 1}))
        status = c.api.get(DAEMONSETS, "default", "logs").decode()["status"]
        assert status["desiredNumberScheduled"] == 3  # the tainted GPU node is not eligible
        await until(
            lambda: (
                c.api.get(DAEMONSETS, "default", "logs").decode()["status"].get("numberReady") == 3
            )
        )
        pod = next(p.decode() for p in c.store.resource(("", "pods")).objects.values())
        keys = {t["key"] for t in pod["spec"]["tolerations"]}
        assert "node.kubernetes.io/unreachable" in keys
        assert (
            pod["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"
            ]["nodeSelectorTerms"][0]["matchFields"][0]["key"]
            == "metadata.name"
        )
        new = c.api.get(NODES, "", "n-0").decode()
        new["metadata"] = {"name": "n-9", "labels": {"kubernetes.io/hostname": "n-9"}}
        c.api.create(NODES, "", new)
        await until(lambda: running_per_node(c).get("n-9") == 1)
        # a template change rolls every pod to the new revision
        ds = c.api.get(DAEMONSETS, "default", "logs").decode()
        ds["spec"]["template"]["spec"]["containers"][0]["image"] = "fluent-bit:3.2"
        c.api.update(DAEMONSETS, "default", "logs", ds)

        def rolled() -> bool:
            pods = [
                p.decode()
                for p in c.store.resource(("", "pods")).objects.values()
                if not p.deleting and p.fields.get("status.phase") == "Running"
            ]
            return len(pods) == 4 and all(
                p["spec"]["containers"][0]["image"] == "fluent-bit:3.2" for p in pods
            )

        await until(rolled, timeout=20)
        status = c.api.get(DAEMONSETS, "default", "logs").decode()["status"]
        assert status["updatedNumberScheduled"] == 4
    finally:
        await c.stop()
