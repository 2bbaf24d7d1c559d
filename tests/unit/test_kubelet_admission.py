"""The kubelet's admission check (``kubeward.sim.nodes.admission``): its order, reasons and
messages, against a node and the pods already active on it."""

from __future__ import annotations

from typing import Any

from kubeward.sim.nodes.admission import AdmitNode, admit, admitted

NODE = {
    "metadata": {"name": "n-0", "labels": {"disk": "ssd"}},
    "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]},
    "status": {
        "allocatable": {"cpu": "1900m", "memory": "4Gi", "pods": "3", "nvidia.com/gpu": "1"}
    },
}
TOLERATE = [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]


def spec(cpu: str = "100m", memory: str = "64Mi", **more: Any) -> dict[str, Any]:
    extra = more.pop("extra", {})
    container = {
        "name": "c",
        "image": "nginx",
        "resources": {"requests": {"cpu": cpu, "memory": memory, **extra}},
        **more.pop("container", {}),
    }
    return {"containers": [container], "tolerations": TOLERATE, **more}


def reason(pod: dict[str, Any], *active: dict[str, Any]) -> tuple[str, str] | None:
    rejection = admit(pod, AdmitNode.of(NODE), [admitted(a) for a in active])
    return None if rejection is None else (rejection.reason, rejection.message)


def test_a_pod_that_fits_is_admitted() -> None:
    assert reason(spec(), spec(), spec()) is None


def test_resources_name_what_was_requested_used_and_there() -> None:
    assert reason(spec(cpu="1"), spec(cpu="1")) == (
        "OutOfcpu",
        "Node didn't have enough resource: cpu, requested: 1000, used: 1000, capacity: 1900",
    )
    assert reason(spec(memory="3Gi"), spec(memory="2Gi")) == (
        "OutOfmemory",
        "Node didn't have enough resource: memory, requested: 3221225472, used: 2147483648, "
        "capacity: 4294967296",
    )
    # pods are checked first: a full node says OutOfpods even when cpu is short too
    assert reason(spec(cpu="1"), spec(cpu="1"), spec(), spec()) == (
        "OutOfpods",
        "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3",
    )


def test_device_plugin_resources_fail_in_the_device_manager_first() -> None:
    gpu = {"nvidia.com/gpu": "1"}
    assert reason(spec(cpu="4", extra=gpu), spec(extra=gpu)) == (
        "UnexpectedAdmissionError",
        "Allocate failed due to requested number of devices unavailable for nvidia.com/gpu. "
        "Requested: 1, Available: 0, which is unexpected",
    )
    assert reason(spec(extra={"example.com/fpga": "1"})) == (
        "UnexpectedAdmissionError",
        "Allocate failed due to can't allocate unregistered device example.com/fpga, which is "
        "unexpected",
    )
    assert reason(spec(extra=gpu)) is None


def test_predicates_after_resources_in_the_kubelets_order() -> None:
    wrong_disk = spec(nodeSelector={"disk": "hdd"}, container={"ports": [port(80)]})
    assert reason(wrong_disk, spec(container={"ports": [port(80)]})) == (
        "NodeAffinity",
        "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
    )
    required = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}
                ]
            }
        }
    }
    assert reason(spec(affinity=required)) is None
    assert reason(spec(container={"ports": [port(80)]}), spec(container={"ports": [port(80)]})) == (
        "NodePorts",
        "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports",
    )
    untolerated = spec()
    untolerated["tolerations"] = []
    assert reason(untolerated) == (
        "TaintToleration",
        "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate",
    )


def port(number: int) -> dict[str, Any]:
    return {"containerPort": number, "hostPort": number}
