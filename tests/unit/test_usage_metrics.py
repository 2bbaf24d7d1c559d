"""Usage model, metrics.k8s.io documents, cAdvisor exposition and the HPA, in-process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.metrics_api import MetricsProvider
from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.scenarios.model import Scenario
from simproc import until

DEPLOYMENTS = REGISTRY.get("apps", "v1", "deployments")
HPAS = REGISTRY.get("autoscaling", "v2", "horizontalpodautoscalers")


def make(speed: float) -> SimCluster:
    c = SimCluster(
        Scenario.model_validate(
            {"name": "u", "nodePools": [{"name": "n", "count": 2, "cpu": "16"}]}
        ),
        clock=SimClock(speed=speed),
    )
    c.bootstrap()
    c.start()
    return c


def deployment(name: str, replicas: int, behaviour: dict[str, Any], cpu: str = "100m") -> dict:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {
                    "labels": {"app": name},
                    "annotations": {ANNOTATION: json.dumps(behaviour)},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:1",
                            "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }


async def test_shared_traffic_is_divided_and_metrics_documents() -> None:
    c = make(speed=50)
    try:
        c.api.create(
            DEPLOYMENTS,
            "default",
            deployment(
                "web",
                4,
                {"usage": {"cpu": {"base": "800m", "shared": True}, "memory": {"base": "100Mi"}}},
            ),
        )
        provider = MetricsProvider(c.usage)
        await until(lambda: sum(r.ready for r in c.usage.pods.values()) == 4)
        pods = provider.pod_metrics("default")
        assert pods["kind"] == "PodMetricsList" and len(pods["items"]) == 4
        item = pods["items"][0]
        assert item["apiVersion"] == "metrics.k8s.io/v1beta1" and item["window"]
        usage = item["containers"][0]["usage"]
        assert usage["cpu"] == "200000000n"  # 800m shared by 4 ready pods
        assert usage["memory"] == f"{100 * 1024}Ki"
        one = provider.pod_metrics("default", item["metadata"]["name"])
        assert one["kind"] == "PodMetrics"
        nodes = provider.node_metrics()
        total = sum(int(n["usage"]["cpu"][:-1]) for n in nodes["items"])
        assert total == 800_000_000 + 2 * 100_000_000  # pods + per-node overhead
        assert provider.node_metrics(selector="kubeward.io/node-pool=nope")["items"] == []
    finally:
        await c.stop()


async def test_cadvisor_exposition_parses_and_counts_up() -> None:
    c = make(speed=50)
    try:
        c.api.create(
            DEPLOYMENTS,
            "default",
            deployment(
                "api",
                2,
                {
                    "usage": {
                        "cpu": {"base": "500m"},
                        "memory": {"base": "64Mi", "leakPerHour": "1Gi"},
                    }
                },
            ),
        )
        provider = MetricsProvider(c.usage)
        await until(lambda: len(c.usage.pods) == 2)

        def samples() -> dict[tuple[str, str], float]:
            out = {}
            for family in text_string_to_metric_families(provider.cadvisor().decode()):
                for s in family.samples:
                    out[(s.name, s.labels["pod"])] = s.value
                    assert set(s.labels) == {
                        "container",
                        "image",
                        "name",
                        "namespace",
                        "node",
                        "pod",
                    }
            return out

        first = samples()
        await asyncio.sleep(0.2)  # 10 simulated seconds
        second = samples()
        for (name, pod), value in second.items():
            if name == "container_cpu_usage_seconds_total":
                assert value > first[(name, pod)]  # a counter that moves
            else:
                assert value >= first[(name, pod)]  # the leak grows the working set
        one_node = provider.cadvisor(next(iter(c.usage.pods.values())).node).decode()
        assert one_node.count("container_memory_working_set_bytes{") <= 2
    finally:
        await c.stop()


async def test_hpa_scales_up_under_load_and_reports_status() -> None:
    c = make(speed=100)
    try:
        c.api.create(
            DEPLOYMENTS,
            "default",
            deployment("busy", 2, {"usage": {"cpu": {"base": "300m"}}}, cpu="100m"),
        )
        c.api.create(
            HPAS,
            "default",
            {
                "metadata": {"name": "busy"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "busy",
                    },
                    "minReplicas": 1,
                    "maxReplicas": 5,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 50},
                            },
                        }
                    ],
                },
            },
        )
        # 300% of request against a 50% target: 2 -> 12 wanted; scale-up policy allows
        # max(2 * 2, 2 + 4) = 6, maxReplicas caps it at 5.
        await until(
            lambda: c.api.get(DEPLOYMENTS, "default", "busy").decode()["spec"]["replicas"] == 5
        )
        hpa = await until(
            lambda: (
                (c.api.get(HPAS, "default", "busy").decode().get("status") or {}).get("conditions")
                and c.api.get(HPAS, "default", "busy").decode()
            )
        )
        conditions = {x["type"]: x for x in hpa["status"]["conditions"]}
        assert conditions["ScalingActive"]["reason"] == "ValidMetricFound"
        assert (
            hpa["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 300
        )
        events = [
            e.decode()["message"]
            for e in c.store.resource(("", "events")).objects.values()
            if e.decode()["reason"] == "SuccessfulRescale"
        ]
        assert events[0] == (
            "New size: 5; reason: cpu resource utilization (percentage of request) above target"
        )
    finally:
        await c.stop()
