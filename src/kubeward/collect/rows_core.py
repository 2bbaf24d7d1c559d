"""Core kinds (pods, nodes, namespaces, services, persistentvolumeclaims) flattened into the
rows of their tables.

Each ``*_rows`` function returns one entry per table of the kind: the main row (a tuple), then
lists of child rows. Label values are escaped here (see :func:`~kubeward.collect.values.esc`).
The fields and defaults follow kube-state-metrics' ``internal/store/{pod,node,namespace,
service,persistentvolumeclaim}.go``.
"""

from __future__ import annotations

from typing import Any

from kubeward.collect.columnar import columns
from kubeward.collect.values import (
    NONE,
    OWNER_COLUMNS,
    condition_status,
    container_resource,
    esc,
    go_unix,
    node_resource,
    owner_rows,
    quantity_value,
    unix_seconds,
)
from kubeward.kube.quantity import QuantityError, to_int, to_milli

Obj = dict[str, Any]
# KSM's podStatusReasons: kube_pod_status_reason has one series per reason for every pod, 1 when
# the pod's status, one of its conditions or a terminated container gives that reason.
POD_STATUS_REASONS = ("Evicted", "NodeAffinity", "NodeLost", "Shutdown", "UnexpectedAdmissionError")
_REASON_BITS: dict[object, int] = {reason: 1 << i for i, reason in enumerate(POD_STATUS_REASONS)}

# One row per container status; the image, restart policy and in_spec come from the spec.
_CONTAINER_COLUMNS = (
    "container:dict restarts:int waiting:bool waiting_reason:dict "
    "last_terminated:bool last_terminated_reason:dict last_exit_code:int last_finished:int "
    "running:bool terminated:bool terminated_reason:dict ready:bool started:int "
    "in_spec:bool image_spec:dict image:dict image_id:str container_id:str restart_policy:dict"
)
_RESOURCE_COLUMNS = "container:dict type:dict resource:dict unit:dict value:float"

POD_TABLES = (
    columns(
        "pods",
        "namespace:dict pod:str uid:str node:dict host_ip:dict pod_ip:str created_by_kind:dict "
        "created_by_name:dict priority_class:dict host_network:dict phase:dict ready:dict "
        "scheduled:dict scheduled_time:int start_time:int completion_time:int "
        "restart_policy:dict status_reasons:int",
    ),
    columns("pod_containers", _CONTAINER_COLUMNS),
    columns("pod_resources", _RESOURCE_COLUMNS),
    columns("pod_owners", OWNER_COLUMNS),
    # Init containers (and sidecars: init containers with restartPolicy Always) have KSM
    # families of their own, so they get tables of their own rather than a flag to filter on.
    columns("pod_init_containers", _CONTAINER_COLUMNS),
    columns("pod_init_resources", _RESOURCE_COLUMNS),
    # spec.volumes that mount a claim (kube_pod_spec_volumes_persistentvolumeclaims_*).
    columns("pod_claims", "volume:str persistentvolumeclaim:str read_only:bool"),
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

PVC_TABLES = (
    columns(
        "persistentvolumeclaims",
        "namespace:dict persistentvolumeclaim:str storageclass:dict volumename:str phase:dict "
        "requests_storage_bytes:float",
    ),
    columns("pvc_access_modes", "access_mode:dict"),
    columns("pvc_conditions", "condition:dict status:dict"),
)
# kube_persistentvolume_info's source labels, in KSM's order, after storageclass.
PV_SOURCE_LABELS = (
    "gce_persistent_disk_name",
    "host_path",
    "host_path_type",
    "ebs_volume_id",
    "azure_disk_name",
    "fc_wwids",
    "fc_lun",
    "fc_target_wwns",
    "iscsi_target_portal",
    "iscsi_iqn",
    "iscsi_lun",
    "iscsi_initiator_name",
    "local_path",
    "local_fs",
    "nfs_server",
    "nfs_path",
    "csi_driver",
    "csi_volume_handle",
)
PV_TABLES = (
    columns(
        "persistentvolumes",
        "persistentvolume:str storageclass:dict "
        + " ".join(f"{label}:str" for label in PV_SOURCE_LABELS)
        + " reclaim_policy:dict phase:dict capacity_bytes:float volumemode:dict "
        "claim_name:str claim_namespace:dict has_claim:bool",
    ),
    columns("pv_access_modes", "access_mode:dict"),
)
STORAGECLASS_TABLES = (
    columns(
        "storageclasses",
        "storageclass:str provisioner:dict reclaim_policy:dict volume_binding_mode:dict",
    ),
)
LIMITRANGE_TABLES = (
    columns("limitranges", "namespace:dict limitrange:str"),
    # one row per resource of each item's min, max, default, defaultRequest and ratio
    columns("limitrange_values", "resource:dict type:dict constraint:dict value:float"),
)
LIMIT_CONSTRAINTS = ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio")
RESOURCEQUOTA_TABLES = (
    columns("resourcequotas", "namespace:dict resourcequota:str"),
    # status.hard then status.used, one row per resource (type is "hard" or "used")
    columns("resourcequota_values", "resource:dict type:dict value:float"),
)
# The annotation that named a claim's class before spec.storageClassName; KSM reads it first.
BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"

SERVICE_TABLES = (
    columns(
        "services",
        "namespace:dict service:str uid:str type:dict cluster_ip:str external_name:str "
        "external_traffic_policy:dict load_balancer_ip:str",
    ),
    columns("service_external_ips", "external_ip:str"),
    columns("service_load_balancer_ingress", "ip:str hostname:str"),
)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def pod_rows(obj: Obj) -> tuple[Any, ...]:
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    owners = meta.get("ownerReferences") or []
    controller = next((o for o in owners if o.get("controller")), None)
    ready = scheduled = ""
    scheduled_time = None
    reasons = _REASON_BITS.get(status.get("reason"), 0)
    for cond in status.get("conditions") or ():
        kind = cond.get("type")
        if kind == "Ready":
            ready = condition_status(cond.get("status"))
        elif kind == "PodScheduled":
            scheduled = condition_status(cond.get("status"))
            if scheduled == "true":
                scheduled_time = go_unix(cond.get("lastTransitionTime"))
        reasons |= _REASON_BITS.get(cond.get("reason"), 0)
    specs = {c.get("name"): c for c in spec.get("containers") or ()}
    containers = []
    completion = None
    for cs in status.get("containerStatuses") or ():
        containers.append(_container_row(cs, specs))
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated is not None:
            reasons |= _REASON_BITS.get(terminated.get("reason"), 0)
            finished = go_unix(terminated.get("finishedAt"))
            completion = finished if completion is None else max(completion, finished)
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
        scheduled,
        scheduled_time,
        unix_seconds(status.get("startTime")),
        completion if completion is not None and completion > 0 else None,
        esc(spec.get("restartPolicy")),
        reasons,
    )
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or ()}
    init_containers = [
        _container_row(cs, init_specs) for cs in status.get("initContainerStatuses") or ()
    ]
    return (
        main,
        containers,
        _resource_rows(spec.get("containers")),
        owner_rows(obj, NONE),
        init_containers,
        _resource_rows(spec.get("initContainers")),
        [
            (esc(v.get("name")), esc(claim.get("claimName")), bool(claim.get("readOnly")))
            for v in spec.get("volumes") or ()
            if (claim := v.get("persistentVolumeClaim")) is not None
        ],
    )


def _resource_rows(containers: list[Obj] | None) -> list[tuple[Any, ...]]:
    """Requests and limits of a spec's containers, in KSM's units (one row per resource)."""
    rows = []
    for c in containers or ():
        name = esc(c.get("name"))
        res = c.get("resources") or {}
        for type_ in ("requests", "limits"):
            for rname, qty in (res.get(type_) or {}).items():
                found = container_resource(str(rname), str(qty))
                if found is not None:
                    rows.append((name, type_, *found))
    return rows


def _container_row(cs: Obj, specs: dict[Any, Obj]) -> tuple[Any, ...]:
    """A container table's row: one container status, and what its spec (if any) asks for."""
    state = cs.get("state") or {}
    waiting, running = state.get("waiting"), state.get("running")
    terminated = state.get("terminated")
    last = (cs.get("lastState") or {}).get("terminated")
    started = running if running is not None else terminated
    name = cs.get("name")
    spec = specs.get(name)
    return (
        esc(name),
        int(cs.get("restartCount") or 0),
        waiting is not None,
        esc((waiting or {}).get("reason")),
        last is not None,
        esc((last or {}).get("reason")),
        int(last.get("exitCode") or 0) if last is not None else None,
        go_unix(last.get("finishedAt")) if last is not None else None,
        running is not None,
        terminated is not None,
        esc((terminated or {}).get("reason")),
        bool(cs.get("ready")),
        go_unix(started.get("startedAt")) if started is not None else None,
        # kube_pod_*container_info cover the statuses of the spec's containers only.
        spec is not None,
        esc(spec.get("image")) if spec is not None else "",
        esc(cs.get("image")),
        esc(cs.get("imageID")),
        esc(cs.get("containerID")),
        esc(spec.get("restartPolicy")) if spec is not None else "",
    )


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


def service_rows(obj: Obj) -> tuple[Any, ...]:
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    main = (
        esc(meta.get("namespace")),
        esc(meta.get("name")),
        esc(meta.get("uid")),
        esc(spec.get("type")),
        esc(spec.get("clusterIP")),
        esc(spec.get("externalName")),
        esc(spec.get("externalTrafficPolicy")),
        esc(spec.get("loadBalancerIP")),
    )
    external_ips = [(esc(ip),) for ip in spec.get("externalIPs") or ()]
    ingress = [
        (esc(i.get("ip")), esc(i.get("hostname")))
        for i in (status.get("loadBalancer") or {}).get("ingress") or ()
    ]
    return main, external_ips, ingress


def pvc_rows(obj: Obj) -> tuple[Any, ...]:
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    annotations = meta.get("annotations") or {}
    if BETA_STORAGE_CLASS in annotations:
        storage_class = annotations[BETA_STORAGE_CLASS]
    elif spec.get("storageClassName") is not None:
        storage_class = spec["storageClassName"]
    else:
        storage_class = NONE  # KSM's value for "no class requested"
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    found = container_resource("storage", str(storage)) if storage is not None else None
    main = (
        esc(meta.get("namespace")),
        esc(meta.get("name")),
        esc(storage_class),
        esc(spec.get("volumeName")),
        esc(status.get("phase")),
        found[2] if found is not None else None,
    )
    modes = [(esc(mode),) for mode in spec.get("accessModes") or ()]
    conditions = [
        (esc(c.get("type")), condition_status(c.get("status")))
        for c in status.get("conditions") or ()
    ]
    return main, modes, conditions


def resourcequota_rows(obj: Obj) -> tuple[Any, ...]:
    """KSM reads the status only: a quota the controller has not synced has no values yet.
    A quantity that does not parse is left out."""
    meta, status = _meta(obj), obj.get("status") or {}
    values = []
    for kind in ("hard", "used"):
        items = status.get(kind)
        for resource, quantity in (items if isinstance(items, dict) else {}).items():
            value = quantity_value(str(quantity))
            if value is not None:
                values.append((esc(resource), kind, value))
    return (esc(meta.get("namespace")), esc(meta.get("name"))), values


def limitrange_rows(obj: Obj) -> tuple[Any, ...]:
    """KSM's values are ``MilliValue()/1000`` (without the whole-value fallback of quotas); a
    quantity that does not parse is left out."""
    meta = _meta(obj)
    values = []
    for item in (obj.get("spec") or {}).get("limits") or ():
        if not isinstance(item, dict):
            continue
        for constraint in LIMIT_CONSTRAINTS:
            entries = item.get(constraint)
            for resource, quantity in (entries if isinstance(entries, dict) else {}).items():
                try:
                    value = to_milli(str(quantity)) / 1000
                except (QuantityError, ValueError):
                    continue
                values.append((esc(resource), esc(item.get("type")), constraint, value))
    return (esc(meta.get("namespace")), esc(meta.get("name"))), values


def _pv_source(spec: Obj) -> dict[str, str]:
    """The info labels of the one volume source a PersistentVolume has (KSM's switch)."""

    def src(key: str) -> Obj:
        value = spec.get(key)
        return value if isinstance(value, dict) else {}

    out: dict[str, str] = {}
    if src("gcePersistentDisk"):
        out["gce_persistent_disk_name"] = src("gcePersistentDisk").get("pdName", "")
    elif src("awsElasticBlockStore"):
        out["ebs_volume_id"] = src("awsElasticBlockStore").get("volumeID", "")
    elif src("azureDisk"):
        out["azure_disk_name"] = src("azureDisk").get("diskName", "")
    elif src("fc"):
        fc = src("fc")
        if fc.get("lun") is not None:
            out["fc_lun"] = str(fc["lun"])
        out["fc_target_wwns"] = ",".join(fc.get("targetWWNs") or ())
        out["fc_wwids"] = ",".join(fc.get("wwids") or ())
    elif src("iscsi"):
        iscsi = src("iscsi")
        out["iscsi_target_portal"] = iscsi.get("targetPortal", "")
        out["iscsi_iqn"] = iscsi.get("iqn", "")
        out["iscsi_lun"] = str(iscsi.get("lun", 0))
        out["iscsi_initiator_name"] = iscsi.get("initiatorName", "")
    elif src("nfs"):
        out["nfs_server"] = src("nfs").get("server", "")
        out["nfs_path"] = src("nfs").get("path", "")
    elif src("csi"):
        out["csi_driver"] = src("csi").get("driver", "")
        out["csi_volume_handle"] = src("csi").get("volumeHandle", "")
    elif src("local"):
        out["local_path"] = src("local").get("path", "")
        out["local_fs"] = src("local").get("fsType", "")
    elif src("hostPath"):
        out["host_path"] = src("hostPath").get("path", "")
        out["host_path_type"] = src("hostPath").get("type", "")
    return out


def pv_rows(obj: Obj) -> tuple[Any, ...]:
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    source = _pv_source(spec)
    storage = (spec.get("capacity") or {}).get("storage")
    try:
        capacity = float(to_int(str(storage))) if storage is not None else 0.0
    except (QuantityError, ValueError):
        capacity = 0.0
    claim = spec.get("claimRef") if isinstance(spec.get("claimRef"), dict) else None
    main = (
        esc(meta.get("name")),
        esc(spec.get("storageClassName")),
        *(esc(source.get(label, "")) for label in PV_SOURCE_LABELS),
        esc(spec.get("persistentVolumeReclaimPolicy")),
        esc(status.get("phase")),
        capacity,
        esc(spec.get("volumeMode")) or None,
        esc((claim or {}).get("name")),
        esc((claim or {}).get("namespace")),
        claim is not None,
    )
    modes = [(esc(mode),) for mode in spec.get("accessModes") or ()]
    return main, modes


def storageclass_rows(obj: Obj) -> tuple[Any, ...]:
    """KSM fills in the API's defaults when a class omits them (Delete, Immediate)."""
    return (
        (
            esc(_meta(obj).get("name")),
            esc(obj.get("provisioner")),
            esc(obj.get("reclaimPolicy") or "Delete"),
            esc(obj.get("volumeBindingMode") or "Immediate"),
        ),
    )
