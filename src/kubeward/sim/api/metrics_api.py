"""metrics.k8s.io/v1beta1 (NodeMetrics, PodMetrics) and cAdvisor-style Prometheus metrics,
served from the simulated usage model, in metrics-server's and the kubelet's formats."""

from __future__ import annotations

from typing import Any

from kubeward.kube import status as st
from kubeward.kube.selectors import LabelSelector, SelectorError, parse_label_selector
from kubeward.sim.nodes.usage import UsageModel

API_VERSION = "metrics.k8s.io/v1beta1"
WINDOW = "20.044s"  # what metrics-server reports for its scrape window


def _cpu(cores: float) -> str:
    return f"{int(cores * 1e9)}n"


def _memory(size: float) -> str:
    return f"{int(size // 1024)}Ki"


class MetricsProvider:
    def __init__(self, usage: UsageModel) -> None:
        self.usage = usage

    def _meta(self, name: str, labels: dict[str, str], namespace: str = "") -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "creationTimestamp": self.usage.clock.timestamp()}
        if namespace:
            meta["namespace"] = namespace
        if labels:
            meta["labels"] = labels
        return meta

    def node_metrics(self, name: str = "", selector: str = "") -> dict[str, Any]:
        sel = _selector(selector)
        nodes = self.usage.store.resource(("", "nodes")).objects
        usage = self.usage.node_usage()
        items = []
        for node_name, (cpu, memory) in sorted(usage.items()):
            node = nodes.get(node_name)
            if node is None or (name and node_name != name) or not sel.matches(node.labels):
                continue
            items.append(
                {
                    "metadata": self._meta(node_name, dict(node.labels)),
                    "timestamp": self.usage.clock.timestamp(),
                    "window": WINDOW,
                    "usage": {"cpu": _cpu(cpu), "memory": _memory(memory)},
                }
            )
        if name:
            if not items:
                raise st.not_found("nodes", "metrics.k8s.io", name)
            return {"kind": "NodeMetrics", "apiVersion": API_VERSION, **items[0]}
        return _list("NodeMetricsList", "NodeMetrics", items)

    def pod_metrics(
        self, namespace: str = "", name: str = "", selector: str = ""
    ) -> dict[str, Any]:
        sel = _selector(selector)
        items = []
        for key, run in sorted(self.usage.pods.items()):
            if namespace and run.namespace != namespace:
                continue
            if (name and run.name != name) or not sel.matches(run.labels):
                continue
            containers = [
                {"name": u.name, "usage": {"cpu": _cpu(u.cpu), "memory": _memory(u.memory)}}
                for u in self.usage.pod_usage(key)
            ]
            items.append(
                {
                    "metadata": self._meta(run.name, run.labels, run.namespace),
                    "timestamp": self.usage.clock.timestamp(),
                    "window": WINDOW,
                    "containers": containers,
                }
            )
        if name:
            if not items:
                raise st.not_found("pods", "metrics.k8s.io", name)
            return {"kind": "PodMetrics", "apiVersion": API_VERSION, **items[0]}
        return _list("PodMetricsList", "PodMetrics", items)

    def cadvisor(self, node: str = "") -> bytes:
        """container_cpu_usage_seconds_total and container_memory_working_set_bytes in the
        Prometheus text format. Hand-written: one line per container per family over 150,000
        pods is a hot path (prometheus_client would build a sample object per line)."""
        # No sample timestamps: simulated time may run ahead of the wall clock, and Prometheus
        # rejects samples from the future; the scrape time is the right one.
        cpu_lines = [
            "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.",
            "# TYPE container_cpu_usage_seconds_total counter",
        ]
        mem_lines = [
            "# HELP container_memory_working_set_bytes Current working set in bytes.",
            "# TYPE container_memory_working_set_bytes gauge",
        ]
        for key, run in sorted(self.usage.pods.items()):
            if node and run.node != node:
                continue
            seconds = self.usage.cpu_seconds(key)
            for u in self.usage.pod_usage(key):
                labels = (
                    f'container="{_esc(u.name)}",image="{_esc(u.image)}",'
                    f'name="{_esc(u.name)}",namespace="{_esc(run.namespace)}",'
                    f'node="{_esc(run.node)}",pod="{_esc(run.name)}"'
                )
                cpu_lines.append(
                    f"container_cpu_usage_seconds_total{{{labels}}} {seconds.get(u.name, 0.0):.6f}"
                )
                mem_lines.append(f"container_memory_working_set_bytes{{{labels}}} {int(u.memory)}")
        return ("\n".join(cpu_lines + mem_lines) + "\n").encode()


def _list(kind: str, item_kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": API_VERSION,
        "metadata": {},
        "items": [{"kind": item_kind, "apiVersion": API_VERSION, **i} for i in items],
    }


def _selector(text: str) -> LabelSelector:
    try:
        return parse_label_selector(text) if text else LabelSelector.everything()
    except SelectorError as exc:
        raise st.bad_request(f"unable to parse requirement: {exc}") from exc


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
