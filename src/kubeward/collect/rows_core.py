"""Core kinds (pods, nodes, namespaces) flattened into the rows of their tables.

Each ``*_rows`` function returns one entry per table of the kind: the main row (a tuple), then
lists of child rows. Label values are escaped here (see :func:`~kubeward.collect.values.esc`).
The fields and defaults follow kube-state-metrics' ``internal/store/pod.go`` and ``node.go``.
"""

from __future__ import annotations

from typing import Any

from kubeward.collect.columnar import columns
from kubeward.collect.values import condition_status, container_resource, esc, node_resource

Obj = dict[str, Any]
NONE = "<none>"  # KSM's value for a missing controller / owner

POD_TABLES = (
    columns(
        "pods",
        "namespace:dict pod:str uid:str node:dict host_ip:dict pod_ip:str created_by_kind:dict "
        "created_by_name:dict priority_class:dict host_network:dict phase:dict ready:dict",
    ),
    columns(
        "pod_containers",
        "container:dict restarts:int waiting:bool waiting_reason:dict "
        "last_terminated:bool last_terminated_reason:dict",
    ),
    columns("pod_resources", "container:dict type:dict resource:dict unit:dict value:float"),
    columns("pod_owners", "owner_kind:dict owner_name:dict owner_is_controller:dict"),
)

NODE_TABLES = (
    columns(
        "nodes",
        "node:str kernel_version:dict os_image:dict container_runtime_version:dict "
        "kubelet_version:dict kubeproxy_version:dict provider_id:str pod_cidr:str "
        "system_uuid:str internal_ip:str unschedulable:bool",
    ),
    columns("node_conditions", "condition:dict status:dict"),
    columns("node_resources", "type:dict resource:dict unit:dict value:float"),
    columns("node_taints", "key:dict value:dict effect:dict"),
)

NAMESPACE_TABLES = (columns("namespaces", "namespace:str phase:dict"),)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def pod_rows(obj: Obj) -> tuple[Any, ...]:
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    owners = meta.get("ownerReferences") or []
    controller = next((o for o in owners if o.get("controller")), None)
    ready = ""
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            ready = condition_status(cond.get("status"))
    main = (
        esc(meta.get("namespace")),
        esc(meta.get("name")),
        esc(meta.get("uid")),
        esc(spec.get("nodeName")),
        esc(status.get("hostIP")),
        esc(status.get("podIP")),
        esc(controller.get("kind")) or NONE if controller else NONE,
        esc(controller.get("name")) or NONE if controller else NONE,
        esc(spec.get("priorityClassName")),
        "true" if spec.get("hostNetwork") else "false",
        esc(status.get("phase")),
        ready,
    )
    containers = []
    for cs in status.get("containerStatuses") or ():
        state = cs.get("state") or {}
        waiting = state.get("waiting")
        last = (cs.get("lastState") or {}).get("terminated")
        containers.append(
            (
                esc(cs.get("name")),
                int(cs.get("restartCount") or 0),
                waiting is not None,
                esc((waiting or {}).get("reason")),
                last is not None,
                esc((last or {}).get("reason")),
            )
        )
    resources = []
    for c in spec.get("containers") or ():
        name = esc(c.get("name"))
        res = c.get("resources") or {}
        for type_ in ("requests", "limits"):
            for rname, qty in (res.get(type_) or {}).items():
                found = container_resource(str(rname), str(qty))
                if found is not None:
                    resources.append((name, type_, *found))
    owner_rows = [
        (esc(o.get("kind")), esc(o.get("name")), "true" if o.get("controller") else "false")
        for o in owners
    ] or [(NONE, NONE, NONE)]
    return main, containers, resources, owner_rows


def node_rows(obj: Obj) -> tuple[Any, ...]:
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    info = status.get("nodeInfo") or {}
    internal_ip = ""
    for address in status.get("addresses") or ():
        if address.get("type") == "InternalIP":
            internal_ip = address.get("address") or ""  # the last one wins, as in KSM
    main = (
        esc(meta.get("name")),
        esc(info.get("kernelVersion")),
        esc(info.get("osImage")),
        esc(info.get("containerRuntimeVersion")),
        esc(info.get("kubeletVersion")),
        esc(info.get("kubeProxyVersion")),
        esc(spec.get("providerID")),
        esc(spec.get("podCIDR")),
        esc(info.get("systemUUID")),
        esc(internal_ip),
        bool(spec.get("unschedulable")),
    )
    conditions = [
        (esc(c.get("type")), condition_status(c.get("status")))
        for c in status.get("conditions") or ()
    ]
    resources = []
    for type_ in ("capacity", "allocatable"):
        for rname, qty in (status.get(type_) or {}).items():
            found = node_resource(str(rname), str(qty))
            if found is not None:
                resources.append((type_, *found))
    taints = [
        (esc(t.get("key")), esc(t.get("value")), esc(t.get("effect")))
        for t in spec.get("taints") or ()
    ]
    return main, conditions, resources, taints


def namespace_rows(obj: Obj) -> tuple[Any, ...]:
    return ((esc(_meta(obj).get("name")), esc((obj.get("status") or {}).get("phase"))),)
