"""Node objects for a scenario's node pools, as a kubelet registers them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from kubeward.kube.quantity import canonical, parse_quantity
from kubeward.sim.scenarios.model import REGION, NodePool, Scenario

# Where kubeward's cost features read prices (USD per hour, as a decimal string). Node pools
# set the node's price; virtual (serverless) pools also price each pod running on them.
PRICE_ANNOTATION = "sim.kubeward.io/hourly-price"
POD_PRICE_ANNOTATION = "sim.kubeward.io/pod-hourly-price"
# Extra start latency of every pod on a virtual node (the simulated kubelet adds it).
START_ANNOTATION = "sim.kubeward.io/pod-start-seconds"
# kube-reserved + system-reserved + eviction threshold, roughly what managed providers set.
_RESERVED_CPU = Decimal("0.1")
_RESERVED_MEMORY_FRACTION = Decimal("0.05")


def node_objects(scenario: Scenario, now: str) -> Iterator[dict[str, Any]]:
    index = 0
    for pool in scenario.node_pools:
        for i in range(pool.count):
            yield node_object(pool, i, index, scenario.kubelet_version, now)
            index += 1


def node_object(
    pool: NodePool, i: int, index: int, kubelet_version: str, now: str
) -> dict[str, Any]:
    name = f"{pool.name}-{i}"
    zone = pool.zone_of(i)
    host = index + 1  # 10.0.0.0 is the network address
    ip = f"10.{(host >> 16) & 255}.{(host >> 8) & 255}.{host & 255}"
    cpu = parse_quantity(pool.cpu)
    memory = parse_quantity(pool.memory)
    capacity = {
        "cpu": canonical(pool.cpu),
        "memory": canonical(pool.memory),
        "pods": str(pool.max_pods),
        "ephemeral-storage": "100Gi",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    }
    allocatable = dict(capacity)
    allocatable["cpu"] = canonical(str(max(cpu - _RESERVED_CPU, Decimal(0))))
    allocatable["memory"] = canonical(str(int(memory * (1 - _RESERVED_MEMORY_FRACTION))))
    if pool.gpus:
        capacity["nvidia.com/gpu"] = allocatable["nvidia.com/gpu"] = str(pool.gpus)
    labels = {"kubernetes.io/hostname": name, **pool.node_labels(zone)}
    annotations = {"node.alpha.kubernetes.io/ttl": "0", PRICE_ANNOTATION: f"{pool.hourly_price}"}
    taints = pool.node_taints()
    if pool.virtual:
        annotations[START_ANNOTATION] = f"{pool.pod_start_seconds}"
        annotations[POD_PRICE_ANNOTATION] = f"{pool.pod_hourly_price}"
    spec: dict[str, Any] = {
        "podCIDR": f"10.{64 + (index >> 8) % 64}.{index & 255}.0/24",
        "providerID": f"kubeward://{REGION}/{zone}/{name}",
    }
    if taints:
        spec["taints"] = taints
    conditions = [
        _condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            now,
        ),
        _condition(
            "DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now
        ),
        _condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            now,
        ),
        _condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now),
    ]
    node_uid = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": node_uid.replace("-", ""),
                "systemUUID": node_uid,
                "bootID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                "kernelVersion": "6.1.0-kubeward",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }
