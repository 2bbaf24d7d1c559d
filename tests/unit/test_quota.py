"""ResourceQuota semantics (kubeward.kube.quota): charges, sums, scopes, admission messages and
validation; and a scenario's quota in force at bootstrap, in process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeward.kube.quota import (
    Charge,
    QuotaRefused,
    add,
    admit,
    as_strings,
    matching_resources,
    parse_list,
    pod_requests,
    pod_usage,
    recount,
    usage,
)
from kubeward.kube.registry import REGISTRY
from kubeward.kube.validation import validate_object
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.deployment import DeploymentController
from kubeward.sim.control.replicaset import ReplicaSetController
from kubeward.sim.scenarios.model import Scenario
from simproc import until


def container(name: str = "app", **resources: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "image": "nginx", "resources": resources}


def pod(*containers: dict[str, Any], phase: str = "Running", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": list(containers), **spec},
        "status": {"phase": phase},
    }


def rq(hard: dict[str, str], used: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    status = {"hard": hard, "used": used if used is not None else dict.fromkeys(hard, "0")}
    return {
        "metadata": {"name": "q", "namespace": "ns"},
        "spec": {"hard": hard, **spec},
        "status": status,
    }


def test_pod_usage_counts_compute_while_running_and_the_object_always() -> None:
    p = pod(container(requests={"cpu": "250m", "memory": "64Mi"}, limits={"memory": "128Mi"}))
    assert as_strings(pod_usage(p)) == {
        "count/pods": "1",
        "cpu": "250m",
        "limits.memory": "128Mi",
        "memory": "64Mi",
        "pods": "1",
        "requests.cpu": "250m",
        "requests.memory": "64Mi",
    }
    for phase in ("Succeeded", "Failed"):
        assert as_strings(pod_usage({**p, "status": {"phase": phase}})) == {"count/pods": "1"}


def test_pod_requests_take_init_containers_sidecars_and_overhead_into_account() -> None:
    spec = {
        "containers": [
            container("a", requests={"cpu": "100m"}),
            container("b", requests={"cpu": "100m"}),
        ],
        "initContainers": [
            {**container("sidecar", requests={"cpu": "50m"}), "restartPolicy": "Always"},
            container("setup", requests={"cpu": "500m"}),
        ],
        "overhead": {"cpu": "10m"},
    }
    # Containers 200m + sidecar 50m = 250m; setup runs next to the sidecar: 550m; + overhead.
    assert as_strings(pod_requests(spec)) == {"cpu": "560m"}


def test_sums_keep_the_format_of_their_first_part() -> None:
    assert as_strings(add(parse_list({"m": "1Gi"}), parse_list({"m": "512Mi"}))) == {"m": "1536Mi"}
    assert as_strings(add(parse_list({"c": "0"}), parse_list({"c": "100m"}))) == {"c": "100m"}
    assert as_strings(add(parse_list({"c": "1"}), parse_list({"c": "500m"}))) == {"c": "1500m"}


def test_charges_of_other_kinds() -> None:
    ports = [{"port": 80, "nodePort": 30080}, {"port": 81}]
    svc = {"spec": {"type": "LoadBalancer", "ports": ports}}
    assert as_strings(usage("", "services", svc)) == {
        "count/services": "1",
        "services": "1",
        "services.loadbalancers": "1",
        "services.nodeports": "2",  # as intended, before allocation
    }
    svc["spec"]["allocateLoadBalancerNodePorts"] = False
    assert as_strings(usage("", "services", svc))["services.nodeports"] == "1"
    pvc = {"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}}}}
    assert as_strings(usage("", "persistentvolumeclaims", pvc)) == {
        "count/persistentvolumeclaims": "1",
        "fast.storageclass.storage.k8s.io/persistentvolumeclaims": "1",
        "fast.storageclass.storage.k8s.io/requests.storage": "5Gi",
        "persistentvolumeclaims": "1",
        "requests.storage": "5Gi",
    }
    assert as_strings(usage("apps", "deployments", {})) == {"count/deployments.apps": "1"}
    hard = ["count/deployments.apps", "pods", "requests.nvidia.com/gpu", "count/pods", "cpu"]
    assert matching_resources("apps", "deployments", hard) == ["count/deployments.apps"]
    assert matching_resources("", "pods", hard) == [
        "pods",
        "requests.nvidia.com/gpu",
        "count/pods",
        "cpu",
    ]


def test_admission_charges_what_fits_and_names_what_does_not() -> None:
    quota = rq({"requests.cpu": "1", "pods": "5"}, {"requests.cpu": "600m", "pods": "1"})
    small = pod(container(requests={"cpu": "400m"}))
    [(name, used)] = admit([quota], "", "pods", small)
    assert name == "q" and as_strings(used) == {"pods": "2", "requests.cpu": "1"}
    big = pod(container(requests={"cpu": "500m"}))
    with pytest.raises(QuotaRefused) as refused:
        admit([quota], "", "pods", big)
    assert str(refused.value) == (
        "exceeded quota: q, requested: requests.cpu=500m, used: requests.cpu=600m, "
        "limited: requests.cpu=1"
    )


def test_admission_wants_requests_for_cpu_and_memory_quotas() -> None:
    quota = rq({"requests.cpu": "1", "limits.memory": "1Gi"})
    p = pod(
        container("web", requests={"cpu": "100m"}),
        container("log"),
        initContainers=[container("init", limits={"memory": "1Mi"})],
    )
    with pytest.raises(QuotaRefused) as refused:
        admit([quota], "", "pods", p)
    assert str(refused.value) == (
        "failed quota: q: must specify limits.memory for: log,web; requests.cpu for: init,log"
    )


def test_admission_waits_for_the_controller() -> None:
    fresh = {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "1"}}}
    assert admit([fresh], "", "pods", pod(container())) == []  # no status.hard yet
    half = rq({"pods": "1", "count/pods": "2"}, used={"pods": "0"})
    with pytest.raises(QuotaRefused, match=r"^status unknown for quota: q, resources: count/pods$"):
        admit([half], "", "pods", pod(container()))


@pytest.mark.parametrize(
    ("scope", "charged"),
    [
        ({"scopes": ["BestEffort"]}, ["plain"]),
        ({"scopes": ["NotBestEffort"]}, ["sized", "deadline", "high"]),
        ({"scopes": ["Terminating"]}, ["deadline"]),
        ({"scopes": ["NotTerminating"]}, ["plain", "sized", "high"]),
        (
            {
                "scopeSelector": {
                    "matchExpressions": [
                        {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
                    ]
                }
            },
            ["high"],
        ),
        (
            {
                "scopeSelector": {
                    "matchExpressions": [
                        {"scopeName": "PriorityClass", "operator": "NotIn", "values": ["high"]}
                    ]
                }
            },
            ["plain", "sized", "deadline"],
        ),
        (
            {
                "scopeSelector": {
                    "matchExpressions": [{"scopeName": "PriorityClass", "operator": "Exists"}]
                }
            },
            ["high"],
        ),
        (
            {
                "scopeSelector": {
                    "matchExpressions": [{"scopeName": "PriorityClass", "operator": "DoesNotExist"}]
                }
            },
            ["plain", "sized", "deadline"],
        ),
    ],
)
def test_scopes_select_pods(scope: dict[str, Any], charged: list[str]) -> None:
    pods = {
        "plain": pod(container()),
        "sized": pod(container(requests={"cpu": "100m"})),
        "deadline": pod(container(limits={"memory": "1Mi"}), activeDeadlineSeconds=60),
        "high": pod(container(requests={"cpu": "1"}), priorityClassName="high"),
    }
    spec = {"hard": {"pods": "10"}, **scope}
    charges = {name: Charge.of("", "pods", p) for name, p in pods.items()}
    counted = [
        name for name, c in charges.items() if recount(spec, [], [c]).get("pods") is not None
    ]
    assert counted == charged
    # A scoped quota covers pods only.
    assert as_strings(
        recount(
            {**spec, "hard": {"count/configmaps": "3"}},
            [("", "configmaps")],
            [Charge.of("", "configmaps", {})],
        )
    ) == {"count/configmaps": "0"}


def test_recount_zeroes_what_nothing_uses_and_leaves_out_unknown_names() -> None:
    spec = {"hard": {"requests.cpu": "2", "count/widgets.example.com": "1", "services": "3"}}
    kinds = [("", "pods"), ("", "services")]
    charges = [
        Charge.of("", "pods", pod(container(requests={"cpu": "300m"}))),
        Charge.of("", "pods", pod(container(requests={"cpu": "300m"}), phase="Succeeded")),
    ]
    assert as_strings(recount(spec, kinds, charges)) == {"requests.cpu": "300m", "services": "0"}


def quota_errors(spec: dict[str, Any]) -> list[str]:
    rt = REGISTRY.get("", "v1", "resourcequotas")
    assert rt is not None
    obj = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": "ns"},
        "spec": spec,
    }
    return [e.message() for e in validate_object(rt.group, rt.kind, obj, namespaced=True)]


def test_validation() -> None:
    assert quota_errors({"hard": {"cpu": "1", "count/deployments.apps": "2"}}) == []
    assert quota_errors({"hard": {"bogus": "1"}}) == [
        'spec.hard[bogus]: Invalid value: "bogus": must be a standard resource type or fully '
        "qualified"
    ]
    assert quota_errors({"hard": {"pods": "1"}, "scopes": ["Terminating", "NotTerminating"]}) == [
        'spec.scopes: Invalid value: []core.ResourceQuotaScope{"Terminating", "NotTerminating"}: '
        "conflicting scopes"
    ]
    assert quota_errors(
        {
            "hard": {"pods": "1"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "BestEffort", "operator": "In", "values": ["x"]}]
            },
        }
    ) == [
        "spec.scopeSelector.matchExpressions.operator: Invalid value: \"In\": must be 'Exist' "
        "when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, "
        "ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or "
        "ResourceQuotaScopeCrossNamespacePodAffinity"
    ]


async def test_a_scenario_quota_holds_from_the_first_pod() -> None:
    """The quota is synced at bootstrap, so the ReplicaSet controller, started at once, meets
    it already: one pod of three, and a FailedCreate naming the quota."""
    scenario = Scenario.model_validate(
        {
            "name": "t",
            "nodePools": [{"name": "n", "count": 1}],
            "resourceQuotas": [{"name": "few", "namespace": "shop", "hard": {"pods": "1"}}],
            "workloads": [{"name": "web", "namespace": "shop", "replicas": 3}],
        }
    )
    c = SimCluster(scenario, clock=SimClock(speed=100))
    c.bootstrap()
    loop = asyncio.get_running_loop()
    wanted = (ReplicaSetController, DeploymentController)
    tasks = [loop.create_task(x.run()) for x in c.controllers if isinstance(x, wanted)]
    try:

        def failed() -> list[str]:
            return [
                e.decode()["message"]
                for e in c.store.resource(("", "events")).objects.values()
                if b'"FailedCreate"' in e.raw
            ]

        messages = await until(failed)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert "exceeded quota: few, requested: pods=1, used: pods=1, limited: pods=1" in messages[0]
    assert len(c.store.resource(("", "pods")).objects) == 1


def test_an_update_is_charged_only_what_it_adds() -> None:
    quota = rq({"requests.storage": "10Gi", "services.loadbalancers": "1"})
    quota["status"]["used"] = {"requests.storage": "4Gi", "services.loadbalancers": "0"}

    def pvc(size: str) -> dict[str, Any]:
        return {"spec": {"resources": {"requests": {"storage": size}}}}

    [(_, used)] = admit([quota], "", "persistentvolumeclaims", pvc("6Gi"), old=pvc("4Gi"))
    assert as_strings(used)["requests.storage"] == "6Gi"
    assert admit([quota], "", "persistentvolumeclaims", pvc("4Gi"), old=pvc("6Gi")) == []
    lb = {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    [(_, used)] = admit([quota], "", "services", lb, old={"spec": {"type": "ClusterIP"}})
    assert as_strings(used)["services.loadbalancers"] == "1"
