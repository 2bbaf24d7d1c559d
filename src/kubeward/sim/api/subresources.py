"""Subresources with their own semantics: scale, pods/eviction, pods/binding."""

from __future__ import annotations

from typing import Any

from kubeward.kube import status as st
from kubeward.kube.disruption import pod_is_healthy, update_disruption_allowed_condition
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
# Evictions the disruption controller has not confirmed yet, past which the handler refuses.
MAX_DISRUPTED_PODS = 2000
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


def evict(
    api: ObjectAPI, namespace: str, name: str, body: Any, dry_run: bool = False
) -> dict[str, Any]:
    """POST pods/<name>/eviction: delete the pod unless a PodDisruptionBudget forbids it.

    Kubernetes' EvictionREST: terminal, pending and terminating pods go without a budget check;
    a not-Ready pod goes without using up a disruption when the budget is met (or its
    unhealthyPodEvictionPolicy is AlwaysAllow); otherwise the budget must allow a disruption,
    which the request takes from the budget's status before deleting the pod."""
    assert PODS is not None and PDBS is not None
    if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
        raise st.bad_request("the body of the request must be an Eviction object")
    if (body.get("metadata") or {}).get("name") not in (None, name):
        raise st.bad_request("name in URL does not match name in Eviction object")
    pod_obj = api.get(PODS, namespace, name)
    pod = pod_obj.decode()
    options = DeleteOptions.parse(body.get("deleteOptions"), {})
    options.dry_run = options.dry_run or dry_run
    phase = (pod.get("status") or {}).get("phase")
    if pod["metadata"].get("deletionTimestamp") or phase in ("Succeeded", "Failed", "Pending"):
        # Terminal, pending or already-terminating pods never count against a budget.
        _mark_and_delete(api, pod_obj, options)
        return SUCCESS_201
    budgets = []
    for pdb_obj in api.list_objects(PDBS, Filter(PDBS, namespace)).items:
        pdb = pdb_obj.decode()
        try:
            selector = label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
        except SelectorError:
            continue
        # A budget with an empty selector matches nothing here (it selects all pods for the
        # disruption controller).
        if not selector.empty and selector.matches(pod_obj.labels):
            budgets.append(pdb)
    if len(budgets) > 1:
        raise st.StatusError(
            500,
            "InternalError",
            "This pod has more than one "
            "PodDisruptionBudget, which the eviction subresource does not "
            "support.",
        )
    if budgets and not (not pod_is_healthy(pod) and _unhealthy_may_go(budgets[0])):
        _take_disruption(api, budgets[0], name, options.dry_run)
    _mark_and_delete(api, pod_obj, options)
    return SUCCESS_201


def _mark_and_delete(api: ObjectAPI, pod_obj: StoredObject, options: DeleteOptions) -> None:
    """addConditionAndDeletePod: DisruptionTarget=True (EvictionByEvictionAPI) on the pod, then
    the delete."""
    assert PODS is not None
    if not options.dry_run:
        pod = pod_obj.decode()
        status = pod.setdefault("status", {})
        conditions = status.setdefault("conditions", [])
        previous = next((c for c in conditions if c.get("type") == "DisruptionTarget"), None)
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": (
                previous.get("lastTransitionTime")
                if previous is not None and previous.get("status") == "True"
                else api.clock.timestamp()
            ),
            "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting",
        }
        if previous != condition:
            status["conditions"] = [
                c for c in conditions if c.get("type") != "DisruptionTarget"
            ] + [condition]
            api.update(PODS, pod_obj.namespace, pod_obj.name, pod, subresource="status")
    api.delete(PODS, pod_obj.namespace, pod_obj.name, options)


def _unhealthy_may_go(pdb: dict[str, Any]) -> bool:
    """A not-Ready pod is evicted without using up a disruption when the budget's
    unhealthyPodEvictionPolicy is AlwaysAllow, or (IfHealthyBudget, the default) while the
    budget is met: currentHealthy >= desiredHealthy > 0."""
    policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
    if policy == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    desired = int(status.get("desiredHealthy", 0))
    return int(status.get("currentHealthy", 0)) >= desired > 0


def _take_disruption(api: ObjectAPI, pdb: dict[str, Any], pod_name: str, dry_run: bool) -> None:
    """checkAndDecrement: refuse unless the disruption controller has observed the budget and
    allows a disruption; else take one (disruptionsAllowed - 1, the pod recorded in
    disruptedPods) in the same request, so two concurrent evictions cannot both pass."""
    assert PDBS is not None
    meta, status = pdb["metadata"], pdb.get("status") or {}
    pdb_name = meta["name"]

    def refuse(cause: str, retry_after: int) -> st.StatusError:
        return st.too_many_requests(
            "Cannot evict pod as it would violate the pod's disruption budget.",
            retry_after=retry_after,
            details={"causes": [{"reason": "DisruptionBudget", "message": cause}]},
        )

    if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 1)):
        raise refuse(
            f"The disruption budget {pdb_name} is still being processed by the server.", 10
        )
    allowed = int(status.get("disruptionsAllowed", 0))
    if allowed < 0:
        raise st.forbidden_error(
            f'poddisruptionbudget.policy "{pdb_name}" is forbidden: '
            "pdb disruptions allowed is negative",
            "poddisruptionbudget",
            "policy",
            pdb_name,
        )
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
        raise st.forbidden_error(
            f'poddisruptionbudget.policy "{pdb_name}" is forbidden: DisruptedPods map too big '
            "- too many evictions not confirmed by PDB controller",
            "poddisruptionbudget",
            "policy",
            pdb_name,
        )
    if allowed == 0:
        # No Retry-After, as Kubernetes: clients (kubectl drain) see the 429 and retry.
        raise refuse(
            f"The disruption budget {pdb_name} needs {status.get('desiredHealthy', 0)} healthy "
            f"pods and has {status.get('currentHealthy', 0)} currently",
            0,
        )
    if dry_run:
        return
    status["disruptionsAllowed"] = allowed - 1
    if allowed == 1:
        update_disruption_allowed_condition(status, api.clock.timestamp())
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
