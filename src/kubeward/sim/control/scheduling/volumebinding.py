"""kube-scheduler's VolumeBinding PreFilter, for claims: a pod whose claim is missing, being
deleted, or not bound while its class binds at once (``Immediate``, or no class) is not
scheduled; claims of a ``WaitForFirstConsumer`` class are provisioned after the pod is placed."""

from __future__ import annotations

from typing import Any

from kubeward.sim.control.volumes import CLAIMS, CLASSES, claim_names
from kubeward.sim.store.store import Store

MSG_UNBOUND = "pod has unbound immediate PersistentVolumeClaims"


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
