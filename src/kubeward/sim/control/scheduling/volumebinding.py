"""kube-scheduler's VolumeBinding plugin, for claims.

PreFilter: a pod whose claim is missing, being deleted, or not bound while its class binds at
once (``Immediate``, or no class) is not scheduled; claims of a ``WaitForFirstConsumer`` class
are bound or provisioned after the pod is placed. Filter: a node outside the ``nodeAffinity``
of a volume the pod's bound claims use is rejected (a zonal disk, a local volume)."""

from __future__ import annotations

from typing import Any

from kubeward.kube.nodeaffinity import volume_node_terms
from kubeward.sim.control.volumes import CLAIMS, CLASSES, VOLUMES, claim_names
from kubeward.sim.store.store import Store

MSG_UNBOUND = "pod has unbound immediate PersistentVolumeClaims"
MSG_NODE_CONFLICT = "node(s) had volume node affinity conflict"


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
