"""kube-scheduler's VolumeBinding plugin, for claims.

PreFilter: a pod whose claim is missing, being deleted, or not bound while its class binds at
once (``Immediate``, or no class) is not scheduled; claims of a ``WaitForFirstConsumer`` class
are bound or provisioned after the pod is placed. Filter: a node outside the ``nodeAffinity``
of a volume the pod's bound claims use is rejected (a zonal disk, a local volume), and so is a
node where an unbound WaitForFirstConsumer claim can neither bind an Available volume that
reaches it nor be provisioned (its class's ``allowedTopologies``, or no provisioner)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kubeward.kube.nodeaffinity import volume_node_terms
from kubeward.sim.control.scheduling.filters import terms_mask
from kubeward.sim.control.scheduling.nodetable import NodeTable
from kubeward.sim.control.volumes import (
    CLAIMS,
    CLASSES,
    VOLUMES,
    claim_names,
    fitting_volumes,
)
from kubeward.sim.store.store import Store

MSG_UNBOUND = "pod has unbound immediate PersistentVolumeClaims"
MSG_NODE_CONFLICT = "node(s) had volume node affinity conflict"
MSG_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
_WAITS = b'"volumeBindingMode":"WaitForFirstConsumer"'


@dataclass
class VolumeVerdict:
    """Per node: every bound volume reaches it; every unbound delayed claim can get a volume
    there. A node may fail both (kube-scheduler counts each reason)."""

    bound_ok: np.ndarray
    unbound_ok: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        return self.bound_ok & self.unbound_ok


def volume_filter(
    store: Store, table: NodeTable, pod: dict[str, Any], namespace: str
) -> VolumeVerdict | None:
    """VolumeBinding's Filter over every node; None when the pod's claims limit no node."""
    if not (pod.get("spec") or {}).get("volumes"):
        return None
    bound = bound_volume_terms(store, pod, namespace)
    unbound = unbound_claim_choices(store, pod, namespace)
    if not bound and not unbound:
        return None
    n = len(table)
    bound_ok = np.ones(n, dtype=bool)
    for terms in bound:
        bound_ok &= terms_mask(table, terms)
    unbound_ok = np.ones(n, dtype=bool)
    for choices in unbound:
        reachable = np.zeros(n, dtype=bool)
        for terms in choices:
            reachable |= terms_mask(table, terms)
        unbound_ok &= reachable
    return VolumeVerdict(bound_ok, unbound_ok)


def unbound_claim_choices(
    store: Store, pod: dict[str, Any], namespace: str
) -> list[list[list[Any]]]:
    """For each unbound claim of a WaitForFirstConsumer class that cannot get a volume on
    every node, the node selector terms of its ways to one: each Available volume that fits
    it, and provisioning where the class's ``allowedTopologies`` allow."""
    out = []
    for name in claim_names(pod):
        claim = store.get(CLAIMS, f"{namespace}/{name}")
        if claim is None or b'"volumeName"' in claim.raw:
            continue
        decoded = claim.decode()
        class_name = (decoded.get("spec") or {}).get("storageClassName") or ""
        sc = store.get(CLASSES, class_name) if class_name else None
        if sc is None or _WAITS not in sc.raw:
            continue  # PreFilter's business
        choices: list[list[Any]] = []
        everywhere = False
        for _, pv in fitting_volumes(store, decoded, class_name):
            terms = volume_node_terms(pv)
            everywhere = everywhere or terms is None
            choices.append(terms or [])
        sc_obj = sc.decode()
        if sc_obj.get("provisioner") != NO_PROVISIONER:
            topology = allowed_topology_terms(sc_obj)
            everywhere = everywhere or topology is None
            choices.append(topology or [])
        if not everywhere:
            out.append(choices)
    return out


def allowed_topology_terms(sc: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A StorageClass's ``allowedTopologies`` as node selector terms (None: anywhere)."""
    allowed = sc.get("allowedTopologies")
    if not allowed:
        return None
    return [
        {
            "matchExpressions": [
                {"key": e.get("key"), "operator": "In", "values": list(e.get("values") or [])}
                for e in term.get("matchLabelExpressions") or []
            ]
        }
        for term in allowed
        if isinstance(term, dict)
    ]


def bound_volume_terms(store: Store, pod: dict[str, Any], namespace: str) -> list[list[Any]]:
    """The nodeSelectorTerms of each volume bound to the pod's claims that has any: a node
    must match one term of every one of them."""
    if not (pod.get("spec") or {}).get("volumes"):
        return []
    out = []
    for name in claim_names(pod):
        claim = store.get(CLAIMS, f"{namespace}/{name}")
        if claim is None or b'"volumeName"' not in claim.raw:
            continue
        volume_name = (claim.decode().get("spec") or {}).get("volumeName") or ""
        volume = store.get(VOLUMES, volume_name)
        terms = volume_node_terms(volume.decode()) if volume is not None else None
        if terms is not None:
            out.append(terms)
    return out


def unbound_claims(store: Store, pod: dict[str, Any], namespace: str) -> str | None:
    """Why the pod cannot be scheduled yet because of its claims; None when it can."""
    if not (pod.get("spec") or {}).get("volumes"):
        return None
    unbound = False
    for name in claim_names(pod):
        claim = store.get(CLAIMS, f"{namespace}/{name}")
        if claim is None:
            return f'persistentvolumeclaim "{name}" not found'
        if claim.deleting:
            return f'persistentvolumeclaim "{name}" is being deleted'
        if b'"volumeName"' in claim.raw:
            continue
        class_name = (claim.decode().get("spec") or {}).get("storageClassName") or ""
        sc = store.get(CLASSES, class_name) if class_name else None
        if sc is None or b'"volumeBindingMode":"WaitForFirstConsumer"' not in sc.raw:
            unbound = True
    return MSG_UNBOUND if unbound else None
