"""Endpoints / EndpointSlices follow pods; PodDisruptionBudget status; evictions take from it.

Most tests run the API server with only these controllers (``simulate=False`` plus the
Endpoints and disruption controllers) and write pod status through the API as a kubelet
would, so every number is under the test's control. One test runs the whole simulation.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.api.subresources import evict
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.disruption import DisruptionController
from kubeward.sim.control.endpoints import APISERVER_IP, EndpointsController
from kubeward.sim.scenarios.model import Scenario
from simproc import until

DEPLOYMENTS = REGISTRY.get("apps", "v1", "deployments")
REPLICASETS = REGISTRY.get("apps", "v1", "replicasets")
JOBS = REGISTRY.get("batch", "v1", "jobs")
SERVICES = REGISTRY.get("", "v1", "services")
ENDPOINTS = REGISTRY.get("", "v1", "endpoints")
PDBS = REGISTRY.get("policy", "v1", "poddisruptionbudgets")
PODS = REGISTRY.get("", "v1", "pods")
SCENARIO = {"name": "e", "nodePools": [{"name": "n", "count": 2, "zones": ["za", "zb"]}]}


def controlled(speed: float = 100) -> SimCluster:
    """The API server with only the Endpoints and disruption controllers (nothing else runs
    pods): the test plays kubelet."""
    c = SimCluster(Scenario.model_validate(SCENARIO), clock=SimClock(speed=speed), simulate=False)
    c.controllers += [EndpointsController(c.api), DisruptionController(c.api)]
    c.bootstrap()
    c.start()
    return c


def pod(
    c: SimCluster,
    name: str,
    labels: dict[str, str],
    *,
    ip: str | None = "",
    ready: bool = True,
    owner: dict[str, Any] | None = None,
    port: tuple[str, int] = ("http", 8080),
) -> None:
    """A pod bound to n-0 and running as a kubelet reports it (``ip=None``: no IP yet)."""
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [{**owner, "controller": True}]
    c.api.create(
        PODS,
        "default",
        {
            "metadata": meta,
            "spec": {
                "nodeName": "n-0",
                "containers": [
                    {
                        "name": "c",
                        "image": "nginx",
                        "ports": [{"name": port[0], "containerPort": port[1]}],
                    }
                ],
            },
        },
    )
    set_status(c, name, ip=ip, ready=ready)


def set_status(c: SimCluster, name: str, *, ip: str | None = "", ready: bool = True) -> None:
    body = c.api.get(PODS, "default", name).decode()
    n = int(name.rsplit("-", 1)[-1]) if name[-1].isdigit() else 200
    status: dict[str, Any] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip is not None:
        status["podIP"] = ip or f"10.64.{n // 250}.{n % 250 + 2}"
    body["status"] = status
    c.api.update(PODS, "default", name, body, subresource="status")


def service(c: SimCluster, name: str = "web", **spec: Any) -> None:
    c.api.create(
        SERVICES,
        "default",
        {
            "metadata": {"name": name, "labels": {"team": "a"}},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                **spec,
            },
        },
    )


def endpoints(c: SimCluster, name: str = "web") -> dict[str, Any] | None:
    obj = c.store.get(ENDPOINTS.storage_key, f"default/{name}")
    return obj.decode() if obj is not None else None


def addresses(c: SimCluster, field: str = "addresses") -> list[str]:
    ep = endpoints(c) or {}
    return sorted(a["ip"] for s in ep.get("subsets") or () for a in s.get(field) or ())


def slices(c: SimCluster, svc: str = "web") -> list[dict[str, Any]]:
    return [
        s.decode()
        for s in c.store.resource(("discovery.k8s.io", "endpointslices")).objects.values()
        if s.labels.get("kubernetes.io/service-name") == svc
    ]


def slice_endpoints(c: SimCluster) -> dict[str, dict[str, Any]]:
    return {e["targetRef"]["name"]: e for s in slices(c) for e in s["endpoints"]}


def pdb(c: SimCluster, name: str = "web", **spec: Any) -> None:
    c.api.create(
        PDBS,
        "default",
        {"metadata": {"name": name}, "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}},
    )


def pdb_status(c: SimCluster, name: str = "web") -> dict[str, Any]:
    return c.api.get(PDBS, "default", name).decode().get("status") or {}


def events(c: SimCluster, reason: str) -> list[dict[str, Any]]:
    found = [e.decode() for e in c.store.resource(("", "events")).objects.values()]
    return [e for e in found if e.get("reason") == reason]


# -- Endpoints and EndpointSlices -----------------------------------------------------------------


async def test_endpoints_and_slices_follow_the_whole_simulation() -> None:
    """Deployment -> scheduler -> kubelet (pod IPs, readiness) -> Endpoints and slices."""
    c = SimCluster(Scenario.model_validate(SCENARIO), clock=SimClock(speed=100))
    c.bootstrap()
    c.start()
    try:
        service(c)
        c.api.create(
            DEPLOYMENTS,
            "default",
            {
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 3,
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
            },
        )
        await until(lambda: len(addresses(c)) == 3)
        ep = endpoints(c)
        assert ep is not None
        assert ep["subsets"][0]["ports"] == [{"port": 8080, "protocol": "TCP", "name": "http"}]
        assert ep["metadata"]["labels"] == {
            "team": "a",
            "endpointslice.kubernetes.io/skip-mirror": "true",
        }
        await until(lambda: len(slice_endpoints(c)) == 3)
        assert {e["zone"] for e in slice_endpoints(c).values()} <= {"za", "zb"}
        d = c.api.get(DEPLOYMENTS, "default", "web").decode()
        d["spec"]["replicas"] = 1
        c.api.update(DEPLOYMENTS, "default", "web", d)
        await until(lambda: len(addresses(c)) == 1)
        await until(lambda: len(slice_endpoints(c)) == 1)
    finally:
        await c.stop()


async def test_endpoints_split_ready_not_ready_and_leave_out_pods_without_ip() -> None:
    c = controlled()
    try:
        service(c)
        pod(c, "web-1", {"app": "web"})
        pod(c, "web-2", {"app": "web"}, ready=False)
        pod(c, "web-3", {"app": "web"}, ip=None)
        pod(c, "web-4", {"app": "web"}, port=("other", 9000))  # "http" does not resolve
        pod(c, "db-5", {"app": "db"})
        await until(lambda: addresses(c) == ["10.64.0.3"])
        assert addresses(c, "notReadyAddresses") == ["10.64.0.4"]
        ep = endpoints(c)
        assert ep is not None
        (subset,) = ep["subsets"]
        address = subset["addresses"][0]
        assert address["nodeName"] == "n-0"
        assert address["targetRef"]["name"] == "web-1" and address["targetRef"]["uid"]
        assert "endpoints.kubernetes.io/last-change-trigger-time" in ep["metadata"]["annotations"]
        # slices: every pod with an IP, grouped by resolved ports; web-4 in a port-less slice
        await until(lambda: set(slice_endpoints(c)) == {"web-1", "web-2", "web-4"})
        by_pod = slice_endpoints(c)
        assert by_pod["web-1"]["conditions"] == {
            "ready": True,
            "serving": True,
            "terminating": False,
        }
        assert by_pod["web-2"]["conditions"]["ready"] is False
        assert by_pod["web-1"]["zone"] == "za" and by_pod["web-1"]["nodeName"] == "n-0"
        ports = sorted(str(s["ports"]) for s in slices(c))
        assert ports == ["[]", "[{'name': 'http', 'port': 8080, 'protocol': 'TCP'}]"]
        for s in slices(c):
            labels = s["metadata"]["labels"]
            assert labels["endpointslice.kubernetes.io/managed-by"] == (
                "endpointslice-controller.k8s.io"
            )
            assert s["metadata"]["name"].startswith("web-") and len(s["metadata"]["name"]) == 9
            assert s["metadata"]["ownerReferences"][0]["kind"] == "Service"
        # readiness flips; the pod gets its IP
        set_status(c, "web-2")
        set_status(c, "web-3")
        await until(lambda: addresses(c) == ["10.64.0.3", "10.64.0.4", "10.64.0.5"])
        assert addresses(c, "notReadyAddresses") == []
        await until(lambda: "web-3" in slice_endpoints(c))
    finally:
        await c.stop()


async def test_terminating_pods_and_publish_not_ready_addresses() -> None:
    c = controlled()
    try:
        service(c)
        service(c, "pub", publishNotReadyAddresses=True)
        pod(c, "web-1", {"app": "web"})
        pod(c, "web-2", {"app": "web"}, ready=False)
        await until(lambda: addresses(c) == ["10.64.0.3"])
        # graceful delete: the pod stays, terminating, until a kubelet would remove it
        c.api.delete(PODS, "default", "web-1", DeleteOptions(grace_period=30))
        await until(lambda: addresses(c) == [])
        await until(lambda: slice_endpoints(c)["web-1"]["conditions"]["terminating"])
        assert slice_endpoints(c)["web-1"]["conditions"] == {
            "ready": False,
            "serving": True,
            "terminating": True,
        }
        pub = endpoints(c, "pub")
        assert pub is not None
        assert sorted(a["ip"] for a in pub["subsets"][0]["addresses"]) == [
            "10.64.0.3",
            "10.64.0.4",
        ]
        pub_slice = {e["targetRef"]["name"]: e for s in slices(c, "pub") for e in s["endpoints"]}
        assert pub_slice["web-1"]["conditions"]["ready"] is True  # published anyway
    finally:
        await c.stop()


async def test_service_changes_and_deletion() -> None:
    c = controlled()
    try:
        service(c)
        pod(c, "web-1", {"app": "web"})
        pod(c, "api-2", {"app": "api"}, port=("http", 7000))
        await until(lambda: addresses(c) == ["10.64.0.3"])
        svc = c.api.get(SERVICES, "default", "web").decode()
        svc["spec"]["selector"] = {"app": "api"}
        c.api.update(SERVICES, "default", "web", svc)
        await until(lambda: addresses(c) == ["10.64.0.4"])
        assert endpoints(c)["subsets"][0]["ports"][0]["port"] == 7000  # type: ignore[index]
        await until(lambda: set(slice_endpoints(c)) == {"api-2"})
        c.api.delete(SERVICES, "default", "web", DeleteOptions())
        await until(lambda: endpoints(c) is None and not slices(c))
        # a Service without selector is left to whoever made it
        c.api.create(
            SERVICES, "default", {"metadata": {"name": "manual"}, "spec": {"ports": [{"port": 1}]}}
        )
        await asyncio.sleep(0.1)
        assert endpoints(c, "manual") is None and not slices(c, "manual")
    finally:
        await c.stop()


async def test_kubernetes_service_endpoints_are_the_api_server() -> None:
    c = controlled()
    try:
        await until(lambda: endpoints(c, "kubernetes") is not None and slices(c, "kubernetes"))
        ep = endpoints(c, "kubernetes")
        assert ep is not None
        assert ep["subsets"] == [
            {
                "addresses": [{"ip": APISERVER_IP}],
                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
            }
        ]
        (s,) = slices(c, "kubernetes")
        assert s["metadata"]["name"] == "kubernetes"
        assert s["endpoints"] == [{"addresses": [APISERVER_IP], "conditions": {"ready": True}}]
        # deleted: put back
        c.api.delete(ENDPOINTS, "default", "kubernetes", DeleteOptions())
        await until(lambda: endpoints(c, "kubernetes") is not None)
    finally:
        await c.stop()


async def test_slices_hold_100_endpoints_and_endpoints_truncate_at_1000() -> None:
    c = controlled()
    try:
        service(c)
        for i in range(1003):
            pod(c, f"web-{i}", {"app": "web"}, ready=i < 900)
        await until(lambda: len(slice_endpoints(c)) == 1003, timeout=30)
        sizes = sorted(len(s["endpoints"]) for s in slices(c))
        assert sizes == [3] + [100] * 10
        await until(lambda: len(addresses(c)) == 900, timeout=30)
        ep = endpoints(c)
        assert ep is not None
        assert ep["metadata"]["annotations"]["endpoints.kubernetes.io/over-capacity"] == (
            "truncated"
        )
        assert len(addresses(c, "notReadyAddresses")) == 100  # ready ones first
        # one pod goes: only the slice that held it changes
        before = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in slices(c)}
        c.api.delete(PODS, "default", "web-500", DeleteOptions(grace_period=0))
        await until(lambda: len(slice_endpoints(c)) == 1002)
        after = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in slices(c)}
        assert sum(before[n] != after[n] for n in before) == 1
        # under capacity again: the annotation goes
        for i in range(900, 1003):
            c.api.delete(PODS, "default", f"web-{i}", DeleteOptions(grace_period=0))
        await until(lambda: len(addresses(c, "notReadyAddresses")) == 0, timeout=30)
        ep = endpoints(c)
        assert ep is not None
        assert "endpoints.kubernetes.io/over-capacity" not in ep["metadata"]["annotations"]
    finally:
        await c.stop()


# -- PodDisruptionBudget status -----------------------------------------------------------------


def owned_pods(c: SimCluster, count: int, deployment_replicas: int) -> None:
    """``count`` ready pods of a ReplicaSet whose Deployment wants ``deployment_replicas``."""
    d = c.api.create(
        DEPLOYMENTS,
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": deployment_replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                },
            },
        },
    )
    rs = c.api.create(
        REPLICASETS,
        "default",
        {
            "metadata": {
                "name": "web-abc",
                "labels": {"app": "web"},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "web",
                        "uid": d.uid,
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "replicas": count,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                },
            },
        },
    )
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": rs.uid}
    for i in range(count):
        pod(c, f"web-{i}", {"app": "web"}, owner=owner)


@pytest.mark.parametrize(
    ("spec", "expected", "desired", "allowed"),
    [
        # integer minAvailable counts the pods; the rest use the Deployment's scale (5)
        ({"minAvailable": 3}, 4, 3, 1),
        ({"minAvailable": "50%"}, 5, 3, 1),
        ({"maxUnavailable": 1}, 5, 4, 0),
        ({"maxUnavailable": "50%"}, 5, 2, 2),
        ({"minAvailable": "100%"}, 5, 5, 0),
    ],
)
async def test_pdb_status_numbers(
    spec: dict[str, Any], expected: int, desired: int, allowed: int
) -> None:
    c = controlled()
    try:
        owned_pods(c, 4, deployment_replicas=5)
        pdb(c, **spec)
        await until(lambda: pdb_status(c).get("currentHealthy") == 4)
        s = pdb_status(c)
        assert (s["expectedPods"], s["desiredHealthy"], s["disruptionsAllowed"]) == (
            expected,
            desired,
            allowed,
        )
        assert s["observedGeneration"] == 1
        (cond,) = s["conditions"]
        assert cond["type"] == "DisruptionAllowed"
        assert (cond["status"], cond["reason"]) == (
            ("True", "SufficientPods") if allowed else ("False", "InsufficientPods")
        )
        # a pod turns unready: one fewer healthy
        set_status(c, "web-0", ready=False)
        await until(lambda: pdb_status(c).get("currentHealthy") == 3)
        assert pdb_status(c)["disruptionsAllowed"] == max(0, allowed - 1)
    finally:
        await c.stop()


async def test_pdb_without_pods_and_with_pods_lacking_a_scale() -> None:
    c = controlled()
    try:
        pdb(c, minAvailable=1)
        await until(lambda: pdb_status(c).get("observedGeneration") == 1)
        assert pdb_status(c)["expectedPods"] == 0 and pdb_status(c)["disruptionsAllowed"] == 0
        await until(lambda: events(c, "NoPods"))
        assert events(c, "NoPods")[0]["message"] == "No matching pods found"
        # a Job's pods have no scale: a percentage budget cannot be computed
        job = c.api.create(
            JOBS,
            "default",
            {
                "metadata": {"name": "j"},
                "spec": {
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "busybox"}],
                        },
                    }
                },
            },
        )
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": job.uid}
        pod(c, "web-1", {"app": "web"}, owner=owner)
        pdb(c, "pct", maxUnavailable="10%")
        await until(lambda: pdb_status(c, "pct").get("conditions"))
        (cond,) = pdb_status(c, "pct")["conditions"]
        assert (cond["status"], cond["reason"]) == ("False", "SyncFailed")
        assert cond["message"] == 'found no controllers for pod "web-1"'
        assert events(c, "CalculateExpectedPodCountFailed")
    finally:
        await c.stop()


async def test_disrupted_pods_expire_after_two_minutes() -> None:
    c = controlled(speed=600)
    try:
        for i in range(3):
            pod(c, f"web-{i}", {"app": "web"})
        pdb(c, minAvailable=1)
        await until(lambda: pdb_status(c).get("disruptionsAllowed") == 2)
        # an eviction that never turns into a deletion (as if the delete failed)
        body = c.api.get(PDBS, "default", "web").decode()
        body["status"]["disruptedPods"] = {"web-0": c.clock.timestamp()}
        body["status"]["disruptionsAllowed"] = 1
        c.api.update(PDBS, "default", "web", body, subresource="status")
        set_status(c, "web-1")  # any pod event: the controller recomputes, web-0 excluded
        await asyncio.sleep(0.05)
        assert pdb_status(c)["currentHealthy"] == 2
        assert pdb_status(c)["disruptedPods"] == body["status"]["disruptedPods"]
        # 120 sim seconds = 0.2 s: counted again, with a NotDeleted warning on the pod
        await until(lambda: pdb_status(c).get("currentHealthy") == 3, timeout=5)
        assert "disruptedPods" not in pdb_status(c)
        (ev,) = events(c, "NotDeleted")
        assert ev["involvedObject"]["name"] == "web-0"
        assert (
            ev["message"] == "Pod was expected by PDB default/default to be deleted but it wasn't"
        )
    finally:
        await c.stop()


# -- eviction -----------------------------------------------------------------------------------


async def test_eviction_takes_from_the_budget_and_marks_the_pod() -> None:
    c = controlled()
    try:
        for i in range(3):
            pod(c, f"web-{i}", {"app": "web"})
        pdb(c, minAvailable=1)
        await until(lambda: pdb_status(c).get("disruptionsAllowed") == 2)
        # dry run: nothing changes
        evict(c.api, "default", "web-0", {}, dry_run=True)
        assert pdb_status(c)["disruptionsAllowed"] == 2
        assert not c.api.get(PODS, "default", "web-0").deleting
        evict(c.api, "default", "web-0", {})
        s = pdb_status(c)
        assert s["disruptionsAllowed"] == 1 and set(s["disruptedPods"]) == {"web-0"}
        gone = c.api.get(PODS, "default", "web-0").decode()
        assert gone["metadata"]["deletionTimestamp"]
        target = next(x for x in gone["status"]["conditions"] if x["type"] == "DisruptionTarget")
        assert (target["status"], target["reason"], target["message"]) == (
            "True",
            "EvictionByEvictionAPI",
            "Eviction API: evicting",
        )
        evict(c.api, "default", "web-1", {})
        s = pdb_status(c)
        assert s["disruptionsAllowed"] == 0
        assert s["conditions"][0]["reason"] == "InsufficientPods"  # set by the handler
        with pytest.raises(st.StatusError) as info:
            evict(c.api, "default", "web-2", {})
        assert info.value.code == 429
        assert info.value.message == (
            "Cannot evict pod as it would violate the pod's disruption budget."
        )
        assert info.value.details["causes"] == [
            {
                "reason": "DisruptionBudget",
                "message": "The disruption budget web needs 1 healthy pods and has 3 currently",
            }
        ]
        assert "Retry-After" not in (info.value.headers or {})
        # the controller confirms: deleting pods are not healthy; nothing is allowed
        await until(lambda: pdb_status(c).get("currentHealthy") == 1)
        assert pdb_status(c)["disruptionsAllowed"] == 0 and "disruptedPods" not in pdb_status(c)
    finally:
        await c.stop()


async def test_eviction_of_unready_pods_and_unobserved_budgets() -> None:
    c = controlled()
    try:
        for i in range(3):
            pod(c, f"web-{i}", {"app": "web"}, ready=i > 0)
        pdb(c, minAvailable=2)
        await until(lambda: pdb_status(c).get("currentHealthy") == 2)
        assert pdb_status(c)["disruptionsAllowed"] == 0
        # not Ready and the budget is met: evicted without using a disruption
        evict(c.api, "default", "web-0", {})
        assert "disruptedPods" not in pdb_status(c)
        # a Ready pod is refused
        with pytest.raises(st.StatusError) as info:
            evict(c.api, "default", "web-1", {})
        assert info.value.code == 429
        # budget not met (IfHealthyBudget): an unready pod is refused too ...
        set_status(c, "web-2", ready=False)
        await until(lambda: pdb_status(c).get("currentHealthy") == 1)
        with pytest.raises(st.StatusError):
            evict(c.api, "default", "web-2", {})
        # ... unless the policy is AlwaysAllow
        body = c.api.get(PDBS, "default", "web").decode()
        body["spec"]["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
        c.api.update(PDBS, "default", "web", body)
        evict(c.api, "default", "web-2", {})
        assert c.api.get(PODS, "default", "web-2").deleting
        # a budget the controller has not observed yet: 429 "still being processed", retry 10 s
        pod(c, "web-9", {"app": "web"})
        body = c.api.get(PDBS, "default", "web").decode()
        body["spec"]["minAvailable"] = 0
        c.api.update(PDBS, "default", "web", body)  # generation 3, status still at 2
        with pytest.raises(st.StatusError) as info:
            evict(c.api, "default", "web-9", {})
        assert info.value.code == 429
        assert info.value.details["causes"][0]["message"] == (
            "The disruption budget web is still being processed by the server."
        )
        assert info.value.headers["Retry-After"] == "10"
    finally:
        await c.stop()


@settings(max_examples=25, deadline=None)
@given(
    pods=hs.integers(min_value=1, max_value=8),
    min_available=hs.integers(min_value=0, max_value=8),
    # after which evictions the controller gets to run (the rest arrive back to back)
    pauses=hs.sets(hs.integers(min_value=0, max_value=8)),
)
def test_concurrent_evictions_never_exceed_the_budget(
    pods: int, min_available: int, pauses: set[int]
) -> None:
    async def run() -> tuple[int, int]:
        c = controlled(speed=1000)
        try:
            for i in range(pods):
                pod(c, f"web-{i}", {"app": "web"})
            pdb(c, minAvailable=min_available)
            await until(lambda: pdb_status(c).get("currentHealthy") == pods)
            passed = 0
            for i in range(pods):
                try:
                    evict(c.api, "default", f"web-{i}", {})
                    passed += 1
                except st.StatusError as exc:
                    assert exc.code == 429
                if i in pauses:
                    await asyncio.sleep(0.02)
            live = sum(1 for p in c.store.resource(("", "pods")).objects.values() if not p.deleting)
            return passed, live
        finally:
            await c.stop()

    passed, live = asyncio.run(run())
    # no replacements come back here, so exactly the budget's disruptions pass
    assert passed == max(0, pods - min_available)
    assert live == min(pods, max(min_available, 0))
