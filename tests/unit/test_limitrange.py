"""LimitRange semantics (kubeward.kube.limitrange): the API's defaulting of the object,
LimitRanger's defaults for pods and its bounds, and the object's validation."""

from __future__ import annotations

from typing import Any

from kubeward.kube.defaults import apply_defaults
from kubeward.kube.limitrange import aggregate, check_claim, check_pod, default_pod
from kubeward.kube.validation import validate_object


def limit_range(*items: dict[str, Any], name: str = "lr") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"limits": list(items)},
    }


def pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = list(init)
    return {"metadata": {"name": "p"}, "spec": spec}


def container(name: str = "app", **resources: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "image": "nginx", "resources": resources}


def test_the_api_defaults_container_items_from_max_and_min() -> None:
    lr = limit_range(
        {"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}},
        {"type": "Pod", "max": {"cpu": "4"}},
    )
    apply_defaults("", "LimitRange", lr)
    container_item, pod_item = lr["spec"]["limits"]
    assert container_item["default"] == {"cpu": "2"}
    assert container_item["defaultRequest"] == {"cpu": "2", "memory": "64Mi"}
    assert "default" not in pod_item  # only Container items get defaults


def test_defaults_fill_only_what_each_container_leaves_out() -> None:
    lr = limit_range(
        {
            "type": "Container",
            "default": {"cpu": "500m", "memory": "256Mi"},
            "defaultRequest": {"cpu": "100m"},
        }
    )
    p = pod(
        container("web", limits={"cpu": "1"}, requests={"cpu": "1"}),
        container("log"),
        init=(container("setup", requests={"cpu": "50m"}),),
    )
    default_pod([lr], p)
    web, log = p["spec"]["containers"]
    assert web["resources"] == {"limits": {"cpu": "1", "memory": "256Mi"}, "requests": {"cpu": "1"}}
    assert log["resources"] == {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "100m"},
    }
    assert p["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: memory limit for container web; cpu request for container log; "
        "cpu, memory limit for container log; cpu, memory limit for init container setup"
    )


def test_bounds_per_container_per_pod_and_per_claim() -> None:
    lr = limit_range(
        {"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}},
        {"type": "Pod", "max": {"cpu": "1"}, "maxLimitRequestRatio": {"cpu": "3"}},
        {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}},
    )
    fits = pod(container(requests={"cpu": "200m"}, limits={"cpu": "400m", "memory": "1Gi"}))
    assert check_pod([lr], fits) == []
    bad = pod(
        container("a", requests={"cpu": "50m"}, limits={"cpu": "600m", "memory": "2Gi"}),
        container("b", requests={"cpu": "500m"}, limits={"cpu": "500m"}),
    )
    assert check_pod([lr], bad) == [
        "minimum cpu usage per Container is 100m, but request is 50m",
        "maximum memory usage per Container is 1Gi, but limit is 2Gi",
        "maximum memory usage per Container is 1Gi.  No limit is specified",
        "maximum cpu usage per Pod is 1, but limit is 1100m",
    ]
    ratio = pod(container(requests={"cpu": "100m"}, limits={"cpu": "400m", "memory": "1Gi"}))
    assert check_pod([lr], ratio) == [
        "cpu max limit to request ratio per Pod is 3, but provided ratio is 4.000000"
    ]
    claim = {"spec": {"resources": {"requests": {"storage": "500Mi"}}}}
    assert check_claim([lr], claim) == [
        "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"
    ]


def test_the_aggregate_message() -> None:
    assert aggregate(["a"]) == "a"
    assert aggregate(["a", "a"]) == "a"  # utilerrors.Aggregate prints a repeated error once
    assert aggregate(["a", "b", "a"]) == "[a, b]"


def errors(*items: dict[str, Any]) -> list[str]:
    lr = limit_range(*items)
    return [e.message() for e in validate_object("", "LimitRange", lr, namespaced=True)]


def test_validation() -> None:
    assert errors({"type": "Container", "max": {"cpu": "1"}, "default": {"cpu": "500m"}}) == []
    assert errors({"type": "Node", "max": {"cpu": "1"}}) == [
        'spec.limits[0].type: Invalid value: "Node": must be a standard limit type or fully '
        "qualified"
    ]
    assert errors(
        {"type": "Container", "min": {"cpu": "1"}, "max": {"cpu": "4"}},
        {"type": "Container", "maxLimitRequestRatio": {"cpu": "500m"}},
    ) == [
        'spec.limits[1].type: Duplicate value: "Container"',
        'spec.limits[1].maxLimitRequestRatio[cpu]: Invalid value: "500m": ratio 500m is less '
        "than 1",
    ]
    assert errors(
        {
            "type": "Pod",
            "min": {"cpu": "1"},
            "max": {"cpu": "2"},
            "maxLimitRequestRatio": {"cpu": "3"},
        }
    ) == [
        'spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "3": ratio 3 is greater than '
        "max/min = 2.000000"
    ]
    assert errors(
        {
            "type": "Container",
            "default": {"nvidia.com/gpu": "2"},
            "defaultRequest": {"nvidia.com/gpu": "1"},
        }
    ) == [
        'spec.limits[0].defaultRequest[nvidia.com/gpu]: Invalid value: "1": default value 2 '
        "must equal to defaultRequest value 1 in nvidia.com/gpu"
    ]
    assert errors({"type": "PersistentVolumeClaim", "max": {"cpu": "1"}}) == [
        "spec.limits[0].limits: Required value: either minimum or maximum storage value is "
        "required, but neither was provided"
    ]
