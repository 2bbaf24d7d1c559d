"""Persistent volumes: kube-controller-manager's persistentvolume-binder and pvc/pv-protection
controllers, and a simulated CSI provisioner (``sim.kubeward.io``) behind StorageClasses that
name it.

A claim is bound to the smallest Available volume that fits it (same class, enough capacity,
its access modes, its selector); failing that, a class whose provisioner is the simulated one
gets a new volume ``pvc-<claim uid>``, at once (``Immediate``) or once a pod using the claim
is scheduled (``WaitForFirstConsumer``). Claims of another provisioner wait, as they would for
a driver that is not installed. A volume whose claim is gone is ``Released``, and deleted when
its reclaim policy is ``Delete`` and the simulated provisioner made it. The events are the
controllers': ``ExternalProvisioning``, ``Provisioning``, ``ProvisioningSucceeded``,
``WaitForFirstConsumer``, ``FailedBinding``, ``ProvisioningFailed``.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable
from decimal import Decimal
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.nodeaffinity import ZONE_LABEL, terms_match, volume_node_terms
from kubeward.kube.quota import claim_storage, parse_list
from kubeward.kube.registry import REGISTRY
from kubeward.kube.selectors import SelectorError, label_selector_from_dict
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.control.base import Controller
from kubeward.sim.control.events import NORMAL, WARNING, EventRecorder, ObjectRef
from kubeward.sim.csi import PROVISIONER
from kubeward.sim.store.objects import StoredObject, StoreEvent
from kubeward.sim.store.store import Store

PVC_PROTECTION = "kubernetes.io/pvc-protection"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PV_PROTECTION = "kubernetes.io/pv-protection"

PVCS = REGISTRY.get("", "v1", "persistentvolumeclaims")
PVS = REGISTRY.get("", "v1", "persistentvolumes")
CLAIMS, VOLUMES = ("", "persistentvolumeclaims"), ("", "persistentvolumes")
CLASSES, PODS = ("storage.k8s.io", "storageclasses"), ("", "pods")
NODES = ("", "nodes")
_TERMINAL = ("Succeeded", "Failed")
_WAITS = b'"volumeBindingMode":"WaitForFirstConsumer"'


def claim_names(pod: dict[str, Any]) -> list[str]:
    """The claims a pod's volumes mount."""
    return [
        str(v["persistentVolumeClaim"].get("claimName", ""))
        for v in (pod.get("spec") or {}).get("volumes") or ()
        if isinstance(v, dict) and isinstance(v.get("persistentVolumeClaim"), dict)
    ]


def _claim_ref(meta: dict[str, Any]) -> dict[str, Any]:
    """A volume's reference to the claim it is bound to."""
    return {
        "kind": "PersistentVolumeClaim",
        "apiVersion": "v1",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
        "resourceVersion": meta.get("resourceVersion", ""),
    }


def _storage(resources: Any) -> Decimal:
    """The ``storage`` entry of a capacity map, 0 when absent or unparsable."""
    size = parse_list(resources).get("storage")
    return size.amount if size is not None else Decimal(0)


class VolumeController(Controller):
    name = "persistentvolume-controller"
    watches = (CLAIMS, VOLUMES, CLASSES, PODS)

    def __init__(self, api: ObjectAPI) -> None:
        super().__init__(api.store)
        self.api = api
        self.recorder = EventRecorder(api, "persistentvolume-controller")
        self.provisioner = EventRecorder(api, f"{PROVISIONER}_sim-csi-controller")
        self.expander = EventRecorder(api, "volume_expand")
        self.resizer = EventRecorder(api, f"external-resizer {PROVISIONER}")

    # -- what to look at ------------------------------------------------------------------------

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        obj = event.obj
        if event.storage_key == CLAIMS:
            if event.type == "DELETED" and b'"volumeName"' in obj.raw:
                # Its volume is Released now (and reclaimed).
                volume = (obj.decode().get("spec") or {}).get("volumeName")
                return [("volume", str(volume))] if volume else []
            return [("claim", obj.key)]
        if event.storage_key == VOLUMES:
            if b'"phase":"Available"' in obj.raw and event.type != "DELETED":
                return [("volume", obj.key), *self._pending_claims()]
            return [("volume", obj.key)]
        if event.storage_key == CLASSES:
            return self._pending_claims()  # a new class may be what a claim waits for
        if event.storage_key == PODS and self.store.resource(CLAIMS).objects:
            if event.type == "MODIFIED":
                # Only a pod's first node (a first consumer) or its end (a claim being deleted
                # may now be unused) matter; most pod writes are neither.
                prev, phase = event.prev, obj.fields.get("status.phase")
                was_placed = prev is not None and bool(prev.fields.get("spec.nodeName"))
                placed = not was_placed and bool(obj.fields.get("spec.nodeName"))
                ended = phase in _TERMINAL and (
                    prev is None or prev.fields.get("status.phase") not in _TERMINAL
                )
                if not placed and not ended:
                    return []
            if b'"persistentVolumeClaim"' in obj.raw:
                return [("claim", f"{obj.namespace}/{name}") for name in claim_names(obj.decode())]
        return []

    def _pending_claims(self) -> list[Hashable]:
        claims = self.store.resource(CLAIMS).objects
        return [("claim", key) for key, c in claims.items() if b'"volumeName"' not in c.raw]

    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        kind, name = key
        if kind == "claim":
            self._claim(str(name))
        else:
            self._volume(str(name))

    # -- claims ---------------------------------------------------------------------------------

    def _claim(self, key: str) -> None:
        assert PVCS is not None
        stored = self.store.get(CLAIMS, key)
        if stored is None:
            return
        claim = stored.decode()
        meta, spec = claim["metadata"], claim.get("spec") or {}
        namespace, name = meta["namespace"], meta["name"]
        if stored.deleting:
            if PVC_PROTECTION in stored.finalizers and not self._in_use(namespace, name):
                meta["finalizers"] = [f for f in stored.finalizers if f != PVC_PROTECTION]
                self.api.update(PVCS, meta["namespace"], meta["name"], claim)
            return
        volume_name = spec.get("volumeName")
        if volume_name:
            volume = self.store.get(VOLUMES, volume_name)
            if volume is None:
                return
            if (claim.get("status") or {}).get("phase") != "Bound":
                self._bind(claim, volume.decode())
            else:
                self._expand(claim, volume.decode())
            return
        class_name = spec.get("storageClassName") or ""
        sc_obj = self.store.get(CLASSES, class_name) if class_name else None
        ref = ObjectRef.of(claim, "PersistentVolumeClaim")
        node: dict[str, Any] | None = None
        if sc_obj is not None and _WAITS in sc_obj.raw:
            # Binding, static or provisioned, waits for a pod placed on a node.
            node = self._consumer_node(namespace, name)
            if node is None:
                message = "waiting for first consumer to be created before binding"
                self.recorder.event(ref, NORMAL, "WaitForFirstConsumer", message)
                return
            claim = self._select_node(claim, node["metadata"]["name"])
        match = self._match(claim, class_name, node)
        if match is not None:
            self._bind(claim, match)
            return
        if not class_name:
            message = "no persistent volumes available for this claim and no storage class is set"
            self.recorder.event(ref, NORMAL, "FailedBinding", message)
            return
        if sc_obj is None:
            message = f'storageclass.storage.k8s.io "{class_name}" not found'
            self.recorder.event(ref, WARNING, "ProvisioningFailed", message)
            return
        sc = sc_obj.decode()
        provisioner = str(sc.get("provisioner", ""))
        self.recorder.event(
            ref,
            NORMAL,
            "ExternalProvisioning",
            f"Waiting for a volume to be created either by the external provisioner "
            f"'{provisioner}' or manually by the system administrator. If volume creation is "
            "delayed, please verify that the provisioner is running and correctly registered.",
        )
        annotations = meta.setdefault("annotations", {})
        if annotations.get("volume.kubernetes.io/storage-provisioner") != provisioner:
            annotations["volume.beta.kubernetes.io/storage-provisioner"] = provisioner
            annotations["volume.kubernetes.io/storage-provisioner"] = provisioner
            claim = self.api.update(PVCS, meta["namespace"], meta["name"], claim).decode()
        if provisioner == PROVISIONER:
            self._provision(claim, sc, node)

    def _consumers(self, namespace: str, claim: str) -> list[StoredObject]:
        """The pods that have not finished and mount the claim."""
        pods = self.store.resource(PODS).objects
        needle = f'"claimName":"{claim}"'.encode()
        found = []
        for key in pods.irange(f"{namespace}/", f"{namespace}/\uffff"):
            pod = pods[key]
            if needle not in pod.raw or pod.fields.get("status.phase") in _TERMINAL:
                continue
            if claim in claim_names(pod.decode()):
                found.append(pod)
        return found

    def _in_use(self, namespace: str, claim: str) -> bool:
        return bool(self._consumers(namespace, claim))

    def _consumer_node(self, namespace: str, claim: str) -> dict[str, Any] | None:
        """The node of the first consumer placed on one (what WaitForFirstConsumer waits
        for), if it still exists."""
        for pod in self._consumers(namespace, claim):
            node_name = pod.fields.get("spec.nodeName")
            node = self.store.get(NODES, node_name) if node_name else None
            if node is not None:
                return node.decode()
        return None

    def _node_zones(self) -> list[str]:
        """The zones of the cluster's nodes, sorted (what the driver's nodes report)."""
        nodes = self.store.resource(NODES).objects.values()
        return sorted({z for n in nodes if (z := n.labels.get(ZONE_LABEL))})

    def _select_node(self, claim: dict[str, Any], node: str) -> dict[str, Any]:
        """The scheduler's ``volume.kubernetes.io/selected-node`` annotation, which tells the
        provisioner where the consumer runs."""
        assert PVCS is not None
        annotations = claim["metadata"].setdefault("annotations", {})
        if annotations.get(SELECTED_NODE) == node:
            return claim
        annotations[SELECTED_NODE] = node
        meta = claim["metadata"]
        return self.api.update(PVCS, meta["namespace"], meta["name"], claim).decode()

    def _match(
        self, claim: dict[str, Any], class_name: str, node: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The smallest Available volume of the claim's class that fits it (and, with a
        ``node``, whose nodeAffinity reaches that node)."""
        candidates = [
            (size, pv)
            for size, pv in fitting_volumes(self.store, claim, class_name)
            if node is None or _reaches(pv, node)
        ]
        return min(candidates, key=lambda c: c[0])[1] if candidates else None

    def _provision(
        self, claim: dict[str, Any], sc: dict[str, Any], node: dict[str, Any] | None = None
    ) -> None:
        """The simulated CSI driver: a volume of the requested size, made at once, reachable
        from one topology segment (``_topology_segment``)."""
        assert PVS is not None
        meta, spec = claim["metadata"], claim.get("spec") or {}
        ref = ObjectRef.of(claim, "PersistentVolumeClaim")
        self.provisioner.event(
            ref,
            NORMAL,
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{meta["namespace"]}/'
            f'{meta["name"]}"',
        )
        volume = f"pvc-{meta['uid']}"
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        pv = {
            "metadata": {
                "name": volume,
                "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
            },
            "spec": {
                "capacity": {"storage": size},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                "storageClassName": sc["metadata"]["name"],
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "csi": {"driver": PROVISIONER, "volumeHandle": meta["uid"]},
                "claimRef": _claim_ref(meta),
            },
        }
        if sc.get("mountOptions"):
            pv["spec"]["mountOptions"] = list(sc["mountOptions"])
        segment = _topology_segment(sc, node, str(meta["uid"]), self._node_zones())
        if segment:
            expressions = [{"key": k, "operator": "In", "values": [v]} for k, v in segment]
            pv["spec"]["nodeAffinity"] = {
                "required": {"nodeSelectorTerms": [{"matchExpressions": expressions}]}
            }
        try:
            created = self.api.create(PVS, "", pv).decode()
        except st.StatusError as exc:
            if exc.code != 409:
                raise
            created = self.api.get(PVS, "", volume).decode()
        self.provisioner.event(
            ref, NORMAL, "ProvisioningSucceeded", f"Successfully provisioned volume {volume}"
        )
        self._bind(claim, created)

    def _bind(self, claim: dict[str, Any], pv: dict[str, Any]) -> None:
        """Both halves of a binding: the volume's claimRef and phase, then the claim's
        volumeName, annotations and status."""
        assert PVCS is not None and PVS is not None
        meta, spec = claim["metadata"], claim.setdefault("spec", {})
        pv_spec = pv.setdefault("spec", {})
        name = pv["metadata"]["name"]
        if (pv_spec.get("claimRef") or {}).get("uid") != meta["uid"]:
            pv_spec["claimRef"] = _claim_ref(meta)
            pv.setdefault("metadata", {}).setdefault("annotations", {})[
                "pv.kubernetes.io/bound-by-controller"
            ] = "yes"
            pv = self.api.update(PVS, "", name, pv).decode()
        if (pv.get("status") or {}).get("phase") != "Bound":
            pv["status"] = {"phase": "Bound"}
            pv = self.api.update(PVS, "", name, pv, subresource="status").decode()
        if spec.get("volumeName") != name:
            annotations = meta.setdefault("annotations", {})
            annotations["pv.kubernetes.io/bind-completed"] = "yes"
            annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
            spec["volumeName"] = name
            claim = self.api.update(PVCS, meta["namespace"], meta["name"], claim).decode()
        pv_spec = pv.get("spec") or {}
        status = claim.setdefault("status", {})  # conditions and the like are kept
        status["phase"] = "Bound"
        status["accessModes"] = pv_spec.get("accessModes") or []
        status["capacity"] = dict(pv_spec.get("capacity") or {})
        self.api.update(PVCS, meta["namespace"], meta["name"], claim, subresource="status")

    def _expand(self, claim: dict[str, Any], pv: dict[str, Any]) -> None:
        """Grow a bound claim's volume to its new storage request. The simulated driver needs
        no node-side file system resize, so the claim's capacity follows at once."""
        assert PVCS is not None and PVS is not None
        status = claim.get("status") or {}
        wanted = claim_storage(claim)
        if wanted is None or wanted.amount <= _storage(status.get("capacity")):
            return
        ref = ObjectRef.of(claim, "PersistentVolumeClaim")
        message = "waiting for an external controller to expand this PVC"
        self.expander.event(ref, WARNING, "ExternalExpanding", message)
        pv_spec = pv.get("spec") or {}
        if (pv_spec.get("csi") or {}).get("driver") != PROVISIONER:
            return  # another driver's resizer would take it from here
        name = pv["metadata"]["name"]
        self.resizer.event(ref, NORMAL, "Resizing", f"External resizer is resizing volume {name}")
        if _storage(pv_spec.get("capacity")) < wanted.amount:
            pv_spec.setdefault("capacity", {})["storage"] = str(wanted)
            self.api.update(PVS, "", name, pv)
        status["capacity"] = {**(status.get("capacity") or {}), "storage": str(wanted)}
        claim["status"] = status
        meta = claim["metadata"]
        self.api.update(PVCS, meta["namespace"], meta["name"], claim, subresource="status")
        self.resizer.event(ref, NORMAL, "VolumeResizeSuccessful", "Resize volume succeeded")

    # -- volumes --------------------------------------------------------------------------------

    def _volume(self, name: str) -> None:
        assert PVS is not None
        stored = self.store.get(VOLUMES, name)
        if stored is None:
            return
        pv = stored.decode()
        spec, phase = pv.get("spec") or {}, (pv.get("status") or {}).get("phase")
        ref = spec.get("claimRef") or {}
        claim = None
        if ref.get("name"):
            claim = self.store.get(CLAIMS, f"{ref.get('namespace', '')}/{ref['name']}")
        gone = bool(ref.get("uid")) and (claim is None or claim.uid != ref.get("uid"))
        if stored.deleting:
            if PV_PROTECTION in stored.finalizers and (phase != "Bound" or gone):
                pv["metadata"]["finalizers"] = [f for f in stored.finalizers if f != PV_PROTECTION]
                self.api.update(PVS, "", name, pv)
            return
        if gone:
            if phase != "Released":
                pv["status"] = {"phase": "Released"}
                self.api.update(PVS, "", name, pv, subresource="status")
            made_here = (pv["metadata"].get("annotations") or {}).get(
                "pv.kubernetes.io/provisioned-by"
            ) == PROVISIONER
            if spec.get("persistentVolumeReclaimPolicy") == "Delete" and made_here:
                self.api.delete(PVS, "", name, DeleteOptions())
            return
        if not ref.get("uid") and phase in (None, "Pending"):
            pv["status"] = {"phase": "Available"}
            self.api.update(PVS, "", name, pv, subresource="status")
        elif ref.get("uid") and phase != "Bound" and claim is not None:
            pv["status"] = {"phase": "Bound"}
            self.api.update(PVS, "", name, pv, subresource="status")


def fitting_volumes(
    store: Store, claim: dict[str, Any], class_name: str
) -> list[tuple[Decimal, dict[str, Any]]]:
    """(size, volume) of every Available volume of the claim's class that it could bind:
    large enough, with its access modes and volume mode, selected by its selector, and not
    reserved for another claim."""
    spec = claim.get("spec") or {}
    requested = claim_storage(claim)
    wanted = requested.amount if requested is not None else Decimal(0)
    modes = set(spec.get("accessModes") or ())
    mode = spec.get("volumeMode") or "Filesystem"
    try:
        selector = label_selector_from_dict(spec["selector"]) if spec.get("selector") else None
    except (SelectorError, TypeError, ValueError):
        return []
    meta = claim["metadata"]
    found = []
    for obj in store.resource(VOLUMES).objects.values():
        if obj.deleting or b'"phase":"Available"' not in obj.raw:
            continue
        pv = obj.decode()
        pv_spec = pv.get("spec") or {}
        ref = pv_spec.get("claimRef")
        if ref and (ref.get("namespace"), ref.get("name")) != (meta["namespace"], meta["name"]):
            continue  # reserved for another claim
        size = _storage(pv_spec.get("capacity"))
        if (pv_spec.get("storageClassName") or "") != class_name or size < wanted:
            continue
        if not modes <= set(pv_spec.get("accessModes") or ()):
            continue
        if (pv_spec.get("volumeMode") or "Filesystem") != mode:
            continue
        if selector is not None and not selector.matches(obj.labels):
            continue
        found.append((size, pv))
    return found


def _topology_segment(
    sc: dict[str, Any], node: dict[str, Any] | None, uid: str, node_zones: list[str]
) -> list[tuple[str, str]]:
    """Where a new volume is reachable from, as (label, value) pairs (empty: everywhere).

    The driver's disks are zonal. For a consumer's node (WaitForFirstConsumer) it is that
    node's zone. Made before any node is known (Immediate), it is one of the segments the
    class's ``allowedTopologies`` allow or, for a class that allows everywhere, one of the
    zones the cluster's nodes are in (``node_zones``, sorted): external-provisioner asks the
    driver for any topology its nodes report, in random order, and the driver makes the disk
    in the first. The pick is by the claim's UID, so it is random but repeatable. With no
    zoned node the volume reaches every node."""
    if node is not None:
        zone = ((node.get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL)
        return [(ZONE_LABEL, zone)] if zone else []
    segments: list[list[tuple[str, str]]] = []
    for term in sc.get("allowedTopologies") or []:
        combos: list[list[tuple[str, str]]] = [[]]
        for e in term.get("matchLabelExpressions") or []:
            combos = [[*c, (e["key"], v)] for c in combos for v in e.get("values") or []]
        segments += [c for c in combos if c]  # validation keeps these well formed
    if not segments:
        segments = [[(ZONE_LABEL, zone)] for zone in node_zones]
    if not segments:
        return []
    return segments[zlib.crc32(uid.encode()) % len(segments)]


def _reaches(pv: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether the volume's nodeAffinity lets ``node`` use it."""
    terms = volume_node_terms(pv)
    meta = node.get("metadata") or {}
    return terms is None or terms_match(terms, meta.get("name", ""), meta.get("labels") or {})
