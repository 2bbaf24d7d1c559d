"""Endpoints / EndpointSlices follow pods; PodDisruptionBudget status; evictions take from it."""

from __future__ import annotations

import pytest

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.api.subresources import evict
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.scenarios.model import Scenario
from simproc import until

DEPLOYMENTS = REGISTRY.get("apps", "v1", "deployments")
SERVICES = REGISTRY.get("", "v1", "services")
ENDPOINTS = REGISTRY.get("", "v1", "endpoints")
PDBS = REGISTRY.get("policy", "v1", "poddisruptionbudgets")
PODS = REGISTRY.get("", "v1", "pods")


def make() -> SimCluster:
    c = SimCluster(
        Scenario.model_validate(
            {"name": "e", "nodePools": [{"name": "n", "count": 2, "zones": ["za", "zb"]}]}
        ),
        clock=SimClock(speed=100),
    )
    c.bootstrap()
    c.start()
    return c


def app(replicas: int) -> dict:
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx",
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ]
                },
            },
        },
    }


def slices(c: SimCluster) -> list[dict]:
    return [
        s.decode()
        for s in c.store.resource(("discovery.k8s.io", "endpointslices")).objects.values()
    ]


async def test_endpoints_and_slices_follow_ready_pods() -> None:
    c = make()
    try:
        c.api.create(
            SERVICES,
            "default",
            {
                "metadata": {"name": "web"},
                "spec": {
                    "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                },
            },
        )
        c.api.create(DEPLOYMENTS, "default", app(3))

        def addresses() -> list[str]:
            ep = c.store.get(ENDPOINTS.storage_key, "default/web")
            subsets = ep.decode().get("subsets", []) if ep else []
            return [a["ip"] for s in subsets for a in s.get("addresses", [])]

        await until(lambda: len(addresses()) == 3)
        ep = c.api.get(ENDPOINTS, "default", "web").decode()
        assert ep["subsets"][0]["ports"] == [{"port": 8080, "protocol": "TCP", "name": "http"}]
        assert ep["subsets"][0]["addresses"][0]["targetRef"]["kind"] == "Pod"
        (slice_,) = slices(c)
        assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
        assert slice_["addressType"] == "IPv4"
        assert len(slice_["endpoints"]) == 3
        assert {e["zone"] for e in slice_["endpoints"]} <= {"za", "zb"}
        assert all(e["conditions"]["ready"] for e in slice_["endpoints"])
        d = c.api.get(DEPLOYMENTS, "default", "web").decode()
        d["spec"]["replicas"] = 1
        c.api.update(DEPLOYMENTS, "default", "web", d)
        await until(lambda: len(addresses()) == 1)
        c.api.delete(SERVICES, "default", "web", DeleteOptions())
        await until(lambda: c.store.get(ENDPOINTS.storage_key, "default/web") is None)
        await until(lambda: not slices(c))
    finally:
        await c.stop()


async def test_pdb_status_and_evictions_take_from_the_budget() -> None:
    c = make()
    try:
        c.api.create(DEPLOYMENTS, "default", app(4))
        c.api.create(
            PDBS,
            "default",
            {
                "metadata": {"name": "web"},
                "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}},
            },
        )

        def status() -> dict:
            return c.api.get(PDBS, "default", "web").decode().get("status") or {}

        await until(lambda: status().get("currentHealthy") == 4)
        s = status()
        assert (s["expectedPods"], s["desiredHealthy"], s["disruptionsAllowed"]) == (4, 2, 2)
        assert s["conditions"][0]["reason"] == "SufficientPods"
        names = sorted(p.name for p in c.store.resource(("", "pods")).objects.values())
        # two evictions in a row pass, the third is refused before any pod comes back
        evict(c.api, "default", names[0], {})
        evict(c.api, "default", names[1], {})
        with pytest.raises(st.StatusError) as info:
            evict(c.api, "default", names[2], {})
        assert info.value.code == 429
        assert "needs 2 healthy pods and has" in str(info.value.details)
        assert set(status().get("disruptedPods", {})) <= {names[0], names[1]}
        # replacements become ready: the budget allows disruptions again
        await until(lambda: status().get("disruptionsAllowed") == 2)
    finally:
        await c.stop()
