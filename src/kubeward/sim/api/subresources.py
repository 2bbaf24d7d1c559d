"""Subresources with their own semantics: scale, pods/eviction, pods/binding."""

from __future__ import annotations

from typing import Any

from kubeward.kube import status as st
from kubeward.kube.disruption import pod_is_healthy
from kubeward.kube.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch
from kubeward.kube.registry import REGISTRY, ResourceType
from kubeward.kube.selectors import SelectorError, label_selector_from_dict
from kubeward.sim.api.rest import (
    PATCH_TYPES,
    DeleteOptions,
    Filter,
    ObjectAPI,
    check_resource_version,
    decode_patch,
)
from kubeward.sim.store.objects import StoredObject

PODS = REGISTRY.get("", "v1", "pods")
PDBS = REGISTRY.get("policy", "v1", "poddisruptionbudgets")
SUCCESS_201 = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Success",
    "code": 201,
}


def scale_of(obj: StoredObject) -> dict[str, Any]:
    """autoscaling/v1 Scale view of a deployment/replicaset/statefulset."""
    data = obj.decode()
    meta = data["metadata"]
    spec, status = data.get("spec") or {}, data.get("status") or {}
    try:
        selector = str(label_selector_from_dict(spec.get("selector")))
    except SelectorError:
        selector = ""
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector},
    }


def write_scale(
    api: ObjectAPI,
    rt: ResourceType,
    namespace: str,
    name: str,
    new_scale: Any,
    manager: str | None,
    dry_run: bool,
) -> dict[str, Any]:
    current = api.get(rt, namespace, name)
    if not isinstance(new_scale, dict):
        raise st.bad_request("the body of the request must be a Scale object")
    check_resource_version(rt, current, new_scale)
    replicas = (new_scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise st.invalid_object(
            "Scale",
            "autoscaling",
            name,
            [st.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
        )
    obj = current.decode()
    obj.setdefault("spec", {})["replicas"] = replicas
    stored = api.write_object(rt, current, obj, "", manager, dry_run)
    return scale_of(stored)


def patch_scale(
    api: ObjectAPI,
    rt: ResourceType,
    namespace: str,
    name: str,
    patch_type: str,
    body: bytes,
    manager: str | None,
    dry_run: bool,
) -> dict[str, Any]:
    current = api.get(rt, namespace, name)
    kind = PATCH_TYPES.get(patch_type)
    if kind is None or kind == "apply":
        raise st.StatusError(
            415, "UnsupportedMediaType", f"unsupported patch type for scale: {patch_type}"
        )
    patch = decode_patch(body, kind)
    scale = scale_of(current)
    try:
        if kind == "json":
            new = json_patch(scale, patch)
        elif kind == "merge":
            new = json_merge_patch(scale, patch)
        else:
            new = strategic_merge_patch(scale, patch)
    except PatchError as exc:
        raise st.StatusError(422, "Invalid", str(exc)) from exc
    return write_scale(api, rt, namespace, name, new, manager, dry_run)


def evict(api: ObjectAPI, namespace: str, name: str, body: Any) -> dict[str, Any]:
    """POST pods/<name>/eviction: delete the pod unless a PodDisruptionBudget forbids it."""
    assert PODS is not None and PDBS is not None
    if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
        raise st.bad_request("the body of the request must be an Eviction object")
    if (body.get("metadata") or {}).get("name") not in (None, name):
        raise st.bad_request("name in URL does not match name in Eviction object")
    pod_obj = api.get(PODS, namespace, name)
    pod = pod_obj.decode()
    options = DeleteOptions.parse(body.get("deleteOptions"), {})
    phase = (pod.get("status") or {}).get("phase")
    if pod["metadata"].get("deletionTimestamp") or phase in ("Succeeded", "Failed", "Pending"):
        # Terminal, pending or already-terminating pods never count against a budget.
        api.delete(PODS, namespace, name, options)
        return SUCCESS_201
    budgets = []
    for pdb_obj in api.list_objects(PDBS, Filter(PDBS, namespace)).items:
        pdb = pdb_obj.decode()
        try:
            selector = label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
        except SelectorError:
            continue
        if not selector.empty and selector.matches(pod_obj.labels):
            budgets.append((pdb, selector))
    if len(budgets) > 1:
        raise st.StatusError(
            500,
            "InternalError",
            "This pod has more than one "
            "PodDisruptionBudget, which the eviction subresource does not "
            "support.",
        )
    if budgets:
        pdb, _ = budgets[0]
        if not (not pod_is_healthy(pod) and _unhealthy_may_go(pdb)):
            _take_disruption(api, pdb, name)
    api.delete(PODS, namespace, name, options)
    return SUCCESS_201


def _unhealthy_may_go(pdb: dict[str, Any]) -> bool:
    """unhealthyPodEvictionPolicy: AlwaysAllow, or IfHealthyBudget (the default) while the
    budget is met: a not-Ready pod is evicted without using up a disruption."""
    policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
    status = pdb.get("status") or {}
    if policy == "AlwaysAllow":
        return True
    return int(status.get("currentHealthy", 0)) >= int(status.get("desiredHealthy", 0)) and (
        int(status.get("observedGeneration", 0)) >= int(pdb["metadata"].get("generation", 1))
    )


def _take_disruption(api: ObjectAPI, pdb: dict[str, Any], pod_name: str) -> None:
    """What the eviction handler does with a budget (Kubernetes' checkAndDecrement): refuse
    unless the disruption controller has observed the budget and allows a disruption; else
    take one (disruptionsAllowed - 1, the pod recorded in disruptedPods) in the same request,
    so two concurrent evictions cannot both pass."""
    assert PDBS is not None
    meta, status = pdb["metadata"], pdb.get("status") or {}
    pdb_name = meta["name"]

    def refuse(cause: str) -> st.StatusError:
        # No Retry-After, as Kubernetes: clients (kubectl drain) see the 429 and retry.
        return st.too_many_requests(
            "Cannot evict pod as it would violate the pod's disruption budget.",
            retry_after=0,
            details={"causes": [{"reason": "DisruptionBudget", "message": cause}]},
        )

    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 1)):
        raise refuse(f"The disruption budget {pdb_name} is still being processed by the server.")
    allowed = int(status.get("disruptionsAllowed", 0))
    if allowed <= 0:
        raise refuse(
            f"The disruption budget {pdb_name} needs {status.get('desiredHealthy', 0)} healthy "
            f"pods and has {status.get('currentHealthy', 0)} currently"
        )
    status["disruptionsAllowed"] = allowed - 1
    status.setdefault("disruptedPods", {})[pod_name] = api.clock.timestamp()
    pdb["status"] = status
    api.update(PDBS, meta["namespace"], pdb_name, pdb, subresource="status")


def bind(api: ObjectAPI, namespace: str, name: str, body: Any) -> dict[str, Any]:
    """POST pods/<name>/binding (what the scheduler does): set spec.nodeName once."""
    assert PODS is not None
    if not isinstance(body, dict):
        raise st.bad_request("the body of the request must be a Binding object")
    target = body.get("target") or {}
    node = target.get("name")
    if not node:
        raise st.invalid_object("Binding", "", name, [st.required("target.name")])
    current = api.get(PODS, namespace, name)
    pod = current.decode()
    spec = pod.setdefault("spec", {})
    if spec.get("nodeName"):
        raise st.conflict(
            "pods/binding", "", name, f'pod {name} is already assigned to node "{spec["nodeName"]}"'
        )
    if pod["metadata"].get("deletionTimestamp"):
        raise st.conflict(
            "pods/binding", "", name, f"pod {name} is being deleted, cannot be assigned to a host"
        )
    spec["nodeName"] = node
    status = pod.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append(
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": api.clock.timestamp(),
        }
    )
    status["conditions"] = conditions
    # Binding sets spec.nodeName, which the pod update validation would refuse; write directly
    # as the registry's binding storage does.
    api.store.update(PODS.storage_key, pod, current)  # pod is a fresh decode: no copy
    return SUCCESS_201
