"""The StatefulSet controller: stable names, ordered start and stop, per-pod volumes.

As kube-controller-manager 1.31: pods ``<set>-S`` ... ``<set>-S+N-1`` (``S`` is
``spec.ordinals.start``, 0 by default) with hostname and subdomain; with ``OrderedReady`` (the
default) each pod is created only once those before it are Running and Ready, and pods outside
the range (scale-down, a changed start) are removed highest ordinal first, one at a time;
``Parallel`` does all at once. RollingUpdate replaces pods from the highest ordinal down to
``partition`` (counted from the start ordinal), one at a time, each only when all pods are Ready.

``volumeClaimTemplates`` become PersistentVolumeClaims ``<claim>-<set>-<ordinal>``. What happens
to them follows ``persistentVolumeClaimRetentionPolicy`` (StatefulSetAutoDeletePVC), through
ownerReferences that the garbage collector acts on: ``whenDeleted: Delete`` makes the
StatefulSet an owner of every claim, ``whenScaled: Delete`` makes a condemned pod the owner of
its claims before the pod is deleted. ``Retain`` (the default) keeps them.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.control.deployment import template_hash
from kubeward.sim.control.events import NORMAL, WARNING, ObjectRef
from kubeward.sim.control.podcontrol import (
    PODS,
    PodOwnerController,
    PodsByOwner,
    is_available,
    owner_reference,
    pod_from_template,
    ready_since,
)

STATEFULSETS = REGISTRY.get("apps", "v1", "statefulsets")
PVCS = REGISTRY.get("", "v1", "persistentvolumeclaims")
HASH_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


class StatefulSetController(PodOwnerController):
    name = "statefulset-controller"
    owner_key = ("apps", "statefulsets")
    watches = (owner_key, ("", "pods"))

    def __init__(self, api: ObjectAPI, pods: PodsByOwner) -> None:
        super().__init__(api, pods, "statefulset-controller")

    def reconcile(self, key: Hashable) -> None:
        assert STATEFULSETS is not None
        obj = self.store.get(("apps", "statefulsets"), str(key))
        if obj is None or obj.deleting:
            return
        sts = obj.decode()
        spec = sts.get("spec") or {}
        name = sts["metadata"]["name"]
        replicas = int(spec.get("replicas", 1))
        start = int((spec.get("ordinals") or {}).get("start") or 0)
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        # Pods carry the ControllerRevision's name, "<set>-<hash>", not the bare hash.
        revision = f"{name}-{template_hash(spec.get('template') or {})}"
        min_ready = int(spec.get("minReadySeconds") or 0)
        ref = ObjectRef.of(sts, "StatefulSet")
        # By index: ordinal - start, so 0..replicas-1 are wanted and the rest are condemned.
        pods: dict[int, dict[str, Any]] = {}
        for p in self.pods.pods(obj.uid):
            ordinal = _ordinal(p.name, name)
            if ordinal is not None:
                pods[ordinal - start] = p.decode()
        # failed pods are replaced under the same name
        for i, pod in list(pods.items()):
            if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded") and not pod[
                "metadata"
            ].get("deletionTimestamp"):
                self._delete(sts, pod, ref)
                del pods[i]
        for i in range(replicas):
            existing = pods.get(i)
            if existing is None:
                self._create(sts, start + i, revision, ref)
                if ordered:
                    break
                continue
            if ordered and not _running_ready(existing):
                break
            if ordered and not self._available(existing, min_ready, str(key)):
                break  # OrderedReady waits minReadySeconds too (isRunningAndAvailable)
        else:
            self._scale_down(sts, pods, replicas, ordered, ref)
            self._roll(sts, pods, replicas, revision, ref)
        self._update_status(sts, pods, revision)

    def _available(self, pod: dict[str, Any], min_ready: int, key: str) -> bool:
        now = self.api.clock.now()
        if is_available(pod, min_ready, now):
            return True
        since = ready_since(pod)
        if since is not None:
            left = min_ready - (now - since).total_seconds()
            self.api.clock.call_later(left + 0.1, self.enqueue, key)
        return False

    def _create(self, sts: dict[str, Any], ordinal: int, revision: str, ref: ObjectRef) -> None:
        assert PODS is not None
        spec, name = sts["spec"], sts["metadata"]["name"]
        ns = sts["metadata"]["namespace"]
        pod_name = f"{name}-{ordinal}"
        for template in spec.get("volumeClaimTemplates") or ():
            self._claim(sts, template, pod_name, ordinal, ref)
        body = pod_from_template(
            spec.get("template") or {},
            owner_reference(sts, "StatefulSet", "apps/v1"),
            name=pod_name,
        )
        labels = body["metadata"]["labels"]
        labels.update(
            {HASH_LABEL: revision, POD_NAME_LABEL: pod_name, POD_INDEX_LABEL: str(ordinal)}
        )
        pod_spec = body["spec"]
        pod_spec["hostname"] = pod_name
        if spec.get("serviceName"):
            pod_spec["subdomain"] = spec["serviceName"]
        claims = [t["metadata"]["name"] for t in spec.get("volumeClaimTemplates") or ()]
        volumes = [v for v in pod_spec.get("volumes") or () if v.get("name") not in claims]
        volumes += [
            {"name": c, "persistentVolumeClaim": {"claimName": f"{c}-{pod_name}"}} for c in claims
        ]
        if volumes:
            pod_spec["volumes"] = volumes
        try:
            self.api.create(PODS, ns, body)
        except st.StatusError as exc:
            if exc.code == 409:
                return  # the old pod is still terminating
            self.recorder.event(
                ref,
                WARNING,
                "FailedCreate",
                f"create Pod {pod_name} in StatefulSet {name} failed error: {exc.message}",
            )
            return
        self.recorder.event(
            ref,
            NORMAL,
            "SuccessfulCreate",
            f"create Pod {pod_name} in StatefulSet {name} successful",
        )

    def _claim(
        self,
        sts: dict[str, Any],
        template: dict[str, Any],
        pod_name: str,
        ordinal: int,
        ref: ObjectRef,
    ) -> None:
        assert PVCS is not None
        ns = sts["metadata"]["namespace"]
        claim = f"{template['metadata']['name']}-{pod_name}"
        if self.store.get(PVCS.storage_key, f"{ns}/{claim}") is not None:
            return
        labels = dict(((sts["spec"].get("selector") or {}).get("matchLabels")) or {})
        body: dict[str, Any] = {
            "metadata": {"name": claim, "labels": labels},
            "spec": dict(template.get("spec") or {}),
        }
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenDeleted") == "Delete":
            body["metadata"]["ownerReferences"] = [_claim_owner(sts, "StatefulSet", "apps/v1")]
        try:
            self.api.create(PVCS, ns, body)
        except st.StatusError as exc:
            self.recorder.event(
                ref,
                WARNING,
                "FailedCreate",
                f"create Claim {claim} for Pod {pod_name} in StatefulSet "
                f"{sts['metadata']['name']} failed error: {exc.message}",
            )
            return
        self.recorder.event(
            ref,
            NORMAL,
            "SuccessfulCreate",
            f"create Claim {claim} Pod {pod_name} in StatefulSet {sts['metadata']['name']} success",
        )

    def _scale_down(
        self,
        sts: dict[str, Any],
        pods: dict[int, dict[str, Any]],
        replicas: int,
        ordered: bool,
        ref: ObjectRef,
    ) -> None:
        extra = sorted((i for i in pods if not 0 <= i < replicas), reverse=True)
        for i in extra:
            if pods[i]["metadata"].get("deletionTimestamp"):
                if ordered:
                    return  # wait for it to go
                continue
            if ordered and not all(_running_ready(pods[j]) for j in pods if j < i):
                return
            self._condemn_claims(sts, pods[i])
            self._delete(sts, pods[i], ref)
            if ordered:
                return

    def _condemn_claims(self, sts: dict[str, Any], pod: dict[str, Any]) -> None:
        """``whenScaled: Delete``: the pod owns its claims from now on, instead of the set, so the
        garbage collector deletes them after the pod."""
        assert PVCS is not None
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete":
            return
        ns, pod_name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        owner = _claim_owner(pod, "Pod", "v1")
        for template in sts["spec"].get("volumeClaimTemplates") or ():
            name = f"{template['metadata']['name']}-{pod_name}"
            stored = self.store.get(PVCS.storage_key, f"{ns}/{name}")
            if stored is None:
                continue
            claim = stored.decode()
            refs = claim["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner["uid"] for r in refs):
                continue
            # The set's reference goes (whenDeleted: Delete): the collector deletes only what
            # has no owner left.
            set_uid = sts["metadata"]["uid"]
            claim["metadata"]["ownerReferences"] = [
                *(r for r in refs if r.get("uid") != set_uid),
                owner,
            ]
            self.api.update(PVCS, ns, name, claim)

    def _roll(
        self,
        sts: dict[str, Any],
        pods: dict[int, dict[str, Any]],
        replicas: int,
        revision: str,
        ref: ObjectRef,
    ) -> None:
        strategy = sts["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
        if not all(_running_ready(p) for i, p in pods.items() if 0 <= i < replicas):
            return
        for i in range(replicas - 1, partition - 1, -1):
            pod = pods.get(i)
            if pod is not None and pod["metadata"]["labels"].get(HASH_LABEL) != revision:
                self._delete(sts, pod, ref)
                return

    def _delete(self, sts: dict[str, Any], pod: dict[str, Any], ref: ObjectRef) -> None:
        self.delete_pod(
            pod,
            ref,
            f"delete Pod {pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} "
            "successful",
        )

    def _update_status(
        self, sts: dict[str, Any], pods: dict[int, dict[str, Any]], revision: str
    ) -> None:
        assert STATEFULSETS is not None
        old = sts.get("status") or {}
        live = [p for p in pods.values() if not p["metadata"].get("deletionTimestamp")]
        now = self.api.clock.now()
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        updated = sum(1 for p in live if p["metadata"]["labels"].get(HASH_LABEL) == revision)
        replicas = int(sts["spec"].get("replicas", 1))
        current_revision = str(old.get("currentRevision") or revision)
        if updated == len(live) == replicas:
            current_revision = revision
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(live),
            "readyReplicas": sum(1 for p in live if ready_since(p) is not None),
            "currentReplicas": sum(
                1 for p in live if p["metadata"]["labels"].get(HASH_LABEL) == current_revision
            ),
            "updatedReplicas": updated,
            "availableReplicas": sum(1 for p in live if is_available(p, min_ready, now)),
            "currentRevision": current_revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        if status == old:
            return
        sts["status"] = status
        self.api.update(
            STATEFULSETS,
            sts["metadata"]["namespace"],
            sts["metadata"]["name"],
            sts,
            subresource="status",
        )


def _claim_owner(owner: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    """An ownerReference that is not a controller reference: claims outlive their pods, and
    the StatefulSet controller never adopts claims."""
    ref = owner_reference(owner, kind, api_version)
    del ref["controller"], ref["blockOwnerDeletion"]
    return ref


def _ordinal(pod_name: str, set_name: str) -> int | None:
    prefix = f"{set_name}-"
    if not pod_name.startswith(prefix) or not pod_name[len(prefix) :].isdigit():
        return None
    return int(pod_name[len(prefix) :])


def _running_ready(pod: dict[str, Any]) -> bool:
    return (
        (pod.get("status") or {}).get("phase") == "Running"
        and ready_since(pod) is not None
        and not pod["metadata"].get("deletionTimestamp")
    )
