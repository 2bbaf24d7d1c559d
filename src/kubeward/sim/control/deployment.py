"""The Deployment controller: ReplicaSets per template, rolling updates, rollout status.

Follows kube-controller-manager's deployment controller: the new ReplicaSet is named
``<deployment>-<pod-template-hash>``; RollingUpdate scales it up while the total stays within
``replicas + maxSurge`` and scales old ones down while availability stays at or above
``replicas - maxUnavailable``; Recreate kills everything first. Conditions, revision
annotations and ScalingReplicaSet events match Kubernetes 1.31.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable
from datetime import timedelta
from typing import Any

import orjson

from kubeward.kube import status as st
from kubeward.kube.intstr import scaled_value
from kubeward.kube.registry import REGISTRY
from kubeward.kube.uid import SUFFIX_ALPHABET
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.clock import parse_time
from kubeward.sim.control.adoption import Orphans, OwnerSelectors, adopt, release
from kubeward.sim.control.base import Controller
from kubeward.sim.control.events import NORMAL, EventRecorder, ObjectRef
from kubeward.sim.control.podcontrol import TERMINAL, PodsByOwner, owner_reference
from kubeward.sim.store.objects import StoreEvent

DEPLOYMENTS = REGISTRY.get("apps", "v1", "deployments")
REPLICASETS = REGISTRY.get("apps", "v1", "replicasets")
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"


def template_hash(template: dict[str, Any], collision_count: int = 0) -> str:
    """A stable hash of the pod template (FNV-1a 32 over its canonical JSON plus the collision
    count), encoded like Kubernetes' pod-template-hash."""
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += str(collision_count).encode()
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    out = []
    for ch in str(h):
        out.append(SUFFIX_ALPHABET[int(ch) % len(SUFFIX_ALPHABET)])  # rand.SafeEncodeString
    # SafeEncodeString maps each character of the decimal string; keep Kubernetes' length.
    return "".join(out)[:10]


def resolve_fenceposts(spec: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as counts: surge rounds up, unavailable down; both zero
    becomes unavailable 1 (Kubernetes' ResolveFenceposts)."""
    replicas = int(spec.get("replicas", 1))
    ru = ((spec.get("strategy") or {}).get("rollingUpdate")) or {}
    surge = scaled_value(ru.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = scaled_value(ru.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


class DeploymentController(Controller):
    name = "deployment-controller"
    watches = (("apps", "deployments"), ("apps", "replicasets"), ("", "pods"))

    def __init__(self, api: ObjectAPI, pods: PodsByOwner) -> None:
        super().__init__(api.store)
        self.api = api
        self.pods = pods
        self.recorder = EventRecorder(api, "deployment-controller")
        self._by_uid: dict[str, str] = {}
        self._rs_by_owner: dict[str, set[str]] = {}
        self._owners_of_rs: dict[str, tuple[str, ...]] = {}  # ReplicaSet uid -> owner uids
        self._selectors = OwnerSelectors()
        self._orphans = Orphans(("apps", "replicasets"))

    # -- informer -------------------------------------------------------------------------------

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        obj = event.obj
        if event.storage_key == ("apps", "deployments"):
            if event.type == "DELETED":
                self._by_uid.pop(obj.uid, None)
                self._selectors.remove(obj.namespace, obj.name)
                return []
            self._by_uid[obj.uid] = obj.key
            selector = (obj.decode().get("spec") or {}).get("selector")
            self._selectors.set(obj.namespace, obj.name, selector)
            return [obj.key]
        if event.storage_key == ("apps", "replicasets"):
            if event.prev is not None:
                for uid in event.prev.owner_uids:
                    self._rs_by_owner.get(uid, set()).discard(obj.key)
            if event.type != "DELETED":
                self._owners_of_rs[obj.uid] = obj.owner_uids
                for uid in obj.owner_uids:
                    self._rs_by_owner.setdefault(uid, set()).add(obj.key)
            else:
                self._owners_of_rs.pop(obj.uid, None)
            keys: list[Hashable] = [self._by_uid[u] for u in obj.owner_uids if u in self._by_uid]
            if event.prev is not None:
                keys += [self._by_uid[u] for u in event.prev.owner_uids if u in self._by_uid]
            if self._orphans.observe(event):
                keys += self._selectors.owners_for(obj.namespace, obj.labels)
            return keys
        if event.storage_key == ("", "pods") and _pod_gone(event):
            # Recreate waits for the last old pod to be gone (the deployment's pod handler).
            return [
                self._by_uid[d]
                for rs in obj.owner_uids
                for d in self._owners_of_rs.get(rs, ())
                if d in self._by_uid
            ]
        return []

    # -- reconcile ------------------------------------------------------------------------------

    def reconcile(self, key: Hashable) -> None:
        assert DEPLOYMENTS is not None
        obj = self.store.get(("apps", "deployments"), str(key))
        if obj is None or obj.deleting:
            return
        d = obj.decode()
        spec = d.get("spec") or {}
        self._claim(d)
        rses = self._replicasets(obj.uid)
        new_rs = self._find_new(d, rses)
        old_rses = [
            r for r in rses if new_rs is None or r["metadata"]["uid"] != new_rs["metadata"]["uid"]
        ]
        if spec.get("paused"):
            self._sync_paused(d, new_rs, old_rses)
            return
        if new_rs is None:
            new_rs = self._create_new(d, rses)
            if new_rs is None:
                return
        else:
            self._stamp_revision(d, new_rs, old_rses)
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            self._recreate(d, new_rs, old_rses)
        else:
            self._rolling(d, new_rs, old_rses)
        self._cleanup(d, old_rses)
        self._update_status(d, new_rs, old_rses)

    def _claim(self, d: dict[str, Any]) -> None:
        """Adopt orphan ReplicaSets the selector matches, release owned ones it no longer
        matches (ReplicaSetControllerRefManager.ClaimReplicaSets)."""
        assert REPLICASETS is not None
        meta = d["metadata"]
        selector = self._selectors.get(meta["namespace"], meta["name"])
        if selector is None:
            return
        for key in list(self._rs_by_owner.get(meta["uid"], ())):
            rs = self.store.get(("apps", "replicasets"), key)
            if rs is not None and not rs.deleting and not selector.matches(rs.labels):
                release(self.api, REPLICASETS, rs, meta["uid"])
        owner = owner_reference(d, "Deployment", "apps/v1")
        for key in self._orphans.keys(meta["namespace"]):
            rs = self.store.get(("apps", "replicasets"), key)
            if rs is not None and selector.matches(rs.labels):
                adopt(self.api, REPLICASETS, rs, owner)

    def _replicasets(self, uid: str) -> list[dict[str, Any]]:
        out = []
        for key in self._rs_by_owner.get(uid, ()):
            rs = self.store.get(("apps", "replicasets"), key)
            if rs is not None and not rs.deleting:
                out.append(rs.decode())
        out.sort(key=lambda r: (r["metadata"].get("creationTimestamp", ""), r["metadata"]["name"]))
        return out

    @staticmethod
    def _find_new(d: dict[str, Any], rses: list[dict[str, Any]]) -> dict[str, Any] | None:
        want = _without_hash(d["spec"]["template"])
        for rs in rses:
            if _without_hash(rs["spec"]["template"]) == want:
                return rs
        return None

    def _create_new(self, d: dict[str, Any], rses: list[dict[str, Any]]) -> dict[str, Any] | None:
        assert REPLICASETS is not None and DEPLOYMENTS is not None
        spec = d["spec"]
        status = d.get("status") or {}
        collisions = int(status.get("collisionCount") or 0)
        template = copy.deepcopy(spec["template"])
        h = template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        revision = self._max_revision(rses) + 1
        replicas = int(spec.get("replicas", 1))
        surge, _ = resolve_fenceposts(spec)
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        start = 0 if rses and any(_replicas(r) for r in rses) else replicas
        if strategy == "RollingUpdate" and rses:
            start = max(0, min(replicas, replicas + surge - sum(_replicas(r) for r in rses)))
        name = f"{d['metadata']['name']}-{h}"
        body = {
            "metadata": {
                "name": name,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    DESIRED: str(replicas),
                    MAX_REPLICAS: str(replicas + (surge if strategy == "RollingUpdate" else 0)),
                    REVISION: str(revision),
                },
                "ownerReferences": [owner_reference(d, "Deployment", "apps/v1")],
            },
            "spec": {
                "replicas": start,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        ns = d["metadata"]["namespace"]
        try:
            created = self.api.create(REPLICASETS, ns, body).decode()
        except st.StatusError as exc:
            if exc.code != 409:
                raise
            # A ReplicaSet with this name but another template: bump collisionCount, retry.
            d.setdefault("status", {})["collisionCount"] = collisions + 1
            self.api.update(DEPLOYMENTS, ns, d["metadata"]["name"], d, subresource="status")
            return None
        if start:
            self.recorder.event(
                ObjectRef.of(d, "Deployment"),
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled up replica set {name} to {start}",
            )
        self._set_revision(d, str(revision))  # reloads d: set the condition after it
        self._set_progressing(
            d, "True", "NewReplicaSetCreated", f'Created new replica set "{name}"'
        )
        return created

    def _stamp_revision(
        self, d: dict[str, Any], new_rs: dict[str, Any], old: list[dict[str, Any]]
    ) -> None:
        """A rollback makes an old ReplicaSet new again: it gets the next revision number."""
        assert REPLICASETS is not None
        annotations = new_rs["metadata"].setdefault("annotations", {})
        current = int(annotations.get(REVISION, "0") or 0)
        highest_old = self._max_revision(old)
        if current > highest_old and annotations.get(DESIRED) == str(d["spec"].get("replicas", 1)):
            self._set_revision(d, str(current))
            return
        if current <= highest_old:
            history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
            annotations[REVISION_HISTORY] = ",".join([*history, str(current)])
            annotations[REVISION] = str(highest_old + 1)
        annotations[DESIRED] = str(d["spec"].get("replicas", 1))
        surge, _ = resolve_fenceposts(d["spec"])
        annotations[MAX_REPLICAS] = str(int(d["spec"].get("replicas", 1)) + surge)
        self._write_rs(new_rs)
        self._set_revision(d, annotations[REVISION])

    @staticmethod
    def _max_revision(rses: list[dict[str, Any]]) -> int:
        best = 0
        for rs in rses:
            try:
                best = max(best, int((rs["metadata"].get("annotations") or {}).get(REVISION, 0)))
            except ValueError:
                continue
        return best

    def _set_revision(self, d: dict[str, Any], revision: str) -> None:
        assert DEPLOYMENTS is not None
        annotations = d["metadata"].setdefault("annotations", {})
        if annotations.get(REVISION) == revision:
            return
        annotations[REVISION] = revision
        current = self.api.update(DEPLOYMENTS, d["metadata"]["namespace"], d["metadata"]["name"], d)
        d.clear()
        d.update(current.decode())

    # -- strategies -----------------------------------------------------------------------------

    def _rolling(
        self, d: dict[str, Any], new_rs: dict[str, Any], old: list[dict[str, Any]]
    ) -> None:
        spec = d["spec"]
        replicas = int(spec.get("replicas", 1))
        surge, unavailable = resolve_fenceposts(spec)
        all_rs = [new_rs, *old]
        # Scale up the new ReplicaSet within replicas + maxSurge.
        if _replicas(new_rs) > replicas:
            self._scale(d, new_rs, replicas)
        elif _replicas(new_rs) < replicas:
            total = sum(_replicas(r) for r in all_rs)
            room = replicas + surge - total
            if room > 0:
                self._scale(d, new_rs, _replicas(new_rs) + min(room, replicas - _replicas(new_rs)))
        # Scale down old ReplicaSets while availability stays >= replicas - maxUnavailable.
        old_count = sum(_replicas(r) for r in old)
        if not old_count:
            return
        all_count = sum(_replicas(r) for r in all_rs)
        min_available = replicas - unavailable
        new_unavailable = _replicas(new_rs) - _available(new_rs)
        max_down = all_count - min_available - new_unavailable
        if max_down <= 0:
            return
        # First the old replicas that are not available anyway (cleanupUnhealthyReplicas).
        for rs in old:
            if max_down <= 0:
                break
            unhealthy = _replicas(rs) - _available(rs)
            if unhealthy <= 0:
                continue
            down = min(unhealthy, max_down)
            self._scale(d, rs, _replicas(rs) - down)
            max_down -= down
        available = sum(_available(r) for r in all_rs)
        room = available - min_available
        for rs in old:
            if room <= 0:
                break
            down = min(_replicas(rs), room)
            if down:
                self._scale(d, rs, _replicas(rs) - down)
                room -= down

    def _recreate(
        self, d: dict[str, Any], new_rs: dict[str, Any], old: list[dict[str, Any]]
    ) -> None:
        for rs in old:
            if _replicas(rs):
                self._scale(d, rs, 0)
        # Terminating pods still run: only terminal or removed pods count as stopped
        # (oldPodsRunning).
        still_running = any((r.get("status") or {}).get("replicas") for r in old) or any(
            p.fields.get("status.phase", "") not in TERMINAL
            for rs in old
            for p in self.pods.pods(rs["metadata"]["uid"])
        )
        if not still_running and _replicas(new_rs) != int(d["spec"].get("replicas", 1)):
            self._scale(d, new_rs, int(d["spec"].get("replicas", 1)))

    def _sync_paused(
        self, d: dict[str, Any], new_rs: dict[str, Any] | None, old: list[dict[str, Any]]
    ) -> None:
        """A paused Deployment only follows scaling, of its one active (or latest) ReplicaSet
        (FindActiveOrLatest); it creates no new ReplicaSet for a changed template."""
        target = _active_or_latest(new_rs, old)
        replicas = int(d["spec"].get("replicas", 1))
        if target is not None and _replicas(target) != replicas:
            self._scale(d, target, replicas)
        self._update_status(d, new_rs, old)

    def _scale(self, d: dict[str, Any], rs: dict[str, Any], to: int) -> None:
        before = _replicas(rs)
        if before == to:
            return
        rs["spec"]["replicas"] = to
        annotations = rs["metadata"].setdefault("annotations", {})
        annotations[DESIRED] = str(d["spec"].get("replicas", 1))
        surge, _ = resolve_fenceposts(d["spec"])
        annotations[MAX_REPLICAS] = str(int(d["spec"].get("replicas", 1)) + surge)
        self._write_rs(rs)
        self._scaled_event(d, rs["metadata"]["name"], to, before)

    def _write_rs(self, rs: dict[str, Any]) -> None:
        assert REPLICASETS is not None
        current = self.api.update(
            REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"], rs
        )
        rs.clear()
        rs.update(current.decode())

    def _scaled_event(self, d: dict[str, Any], rs_name: str, to: int, before: int) -> None:
        direction = "up" if to > before else "down"
        self.recorder.event(
            ObjectRef.of(d, "Deployment"),
            NORMAL,
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {rs_name} to {to} from {before}",
        )

    def _cleanup(self, d: dict[str, Any], old: list[dict[str, Any]]) -> None:
        assert REPLICASETS is not None
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        idle = [r for r in old if not _replicas(r) and not (r.get("status") or {}).get("replicas")]
        # Oldest revision goes first (ReplicaSetsByRevision): a rolled-back-to one is young.
        idle.sort(key=lambda r: (_revision(r), r["metadata"].get("creationTimestamp", "")))
        excess = len(idle) - limit
        for rs in idle[: max(excess, 0)]:
            try:
                self.api.delete(
                    REPLICASETS,
                    rs["metadata"]["namespace"],
                    rs["metadata"]["name"],
                    DeleteOptions(),
                )
            except st.StatusError as exc:
                if exc.code != 404:
                    raise

    # -- status ---------------------------------------------------------------------------------

    def _update_status(
        self, d: dict[str, Any], new_rs: dict[str, Any] | None, old: list[dict[str, Any]]
    ) -> None:
        assert DEPLOYMENTS is not None
        spec = d["spec"]
        replicas = int(spec.get("replicas", 1))
        _, unavailable = resolve_fenceposts(spec)
        all_rs = [r for r in [new_rs, *old] if r is not None]
        old_status = d.get("status") or {}
        total_spec = sum(_replicas(r) for r in all_rs)
        available = sum(int((r.get("status") or {}).get("availableReplicas", 0)) for r in all_rs)
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sum(int((r.get("status") or {}).get("replicas", 0)) for r in all_rs),
            "updatedReplicas": int(((new_rs or {}).get("status") or {}).get("replicas", 0)),
            "readyReplicas": sum(
                int((r.get("status") or {}).get("readyReplicas", 0)) for r in all_rs
            ),
            "availableReplicas": available,
            "unavailableReplicas": max(total_spec - available, 0),
        }
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        conditions = {c["type"]: c for c in old_status.get("conditions") or ()}
        now = self.api.clock.timestamp()
        if available >= replicas - unavailable:
            _condition(
                conditions,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
            )
        else:
            _condition(
                conditions,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            )
        self._progress(d, new_rs, status, old_status, conditions, now)
        status["conditions"] = [
            conditions[t] for t in ("Available", "Progressing", "ReplicaFailure") if t in conditions
        ]
        status = {k: v for k, v in status.items() if v or k in ("observedGeneration", "conditions")}
        if status == old_status:
            return
        d["status"] = status
        self.api.update(
            DEPLOYMENTS, d["metadata"]["namespace"], d["metadata"]["name"], d, subresource="status"
        )

    def _progress(
        self,
        d: dict[str, Any],
        new_rs: dict[str, Any] | None,
        status: dict[str, Any],
        old_status: dict[str, Any],
        conditions: dict[str, dict[str, Any]],
        now: str,
    ) -> None:
        spec = d["spec"]
        replicas = int(spec.get("replicas", 1))
        if spec.get("paused"):
            _condition(
                conditions,
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
                now,
            )
            return
        current = conditions.get("Progressing")
        if current is not None and current.get("reason") == "DeploymentPaused":
            _condition(
                conditions,
                "Progressing",
                "Unknown",
                "DeploymentResumed",
                "Deployment is resumed",
                now,
            )
            return
        if new_rs is None:
            return
        rs_name = new_rs["metadata"]["name"]
        complete = (
            status.get("updatedReplicas", 0) == replicas
            and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) >= replicas
        )
        if complete:
            _condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                now,
            )
            return
        progressed = any(
            status.get(k, 0) > old_status.get(k, 0)
            for k in ("updatedReplicas", "readyReplicas", "availableReplicas")
        ) or status.get("replicas", 0) < old_status.get("replicas", 0)
        if current is None or progressed or current.get("reason") == "NewReplicaSetAvailable":
            reason = "ReplicaSetUpdated" if current is not None else "FoundNewReplicaSet"
            message = (
                f'ReplicaSet "{rs_name}" is progressing.'
                if reason == "ReplicaSetUpdated"
                else f'Found new replica set "{rs_name}"'
            )
            if (
                current is not None
                and current.get("reason") == "NewReplicaSetCreated"
                and not progressed
            ):
                return
            _condition(conditions, "Progressing", "True", reason, message, now, touch=True)
            current = conditions["Progressing"]
        deadline = spec.get("progressDeadlineSeconds", 600)
        if current.get("reason") == "ProgressDeadlineExceeded":
            return
        last = parse_time(current.get("lastUpdateTime") or now)
        if self.api.clock.now() - last > timedelta(seconds=int(deadline)):
            _condition(
                conditions,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
                now,
            )
        else:
            remaining = (
                last + timedelta(seconds=int(deadline)) - self.api.clock.now()
            ).total_seconds()
            self.api.clock.call_later(remaining + 1, self.enqueue, _key(d))

    def _set_progressing(self, d: dict[str, Any], status: str, reason: str, message: str) -> None:
        conditions = {c["type"]: c for c in (d.get("status") or {}).get("conditions") or ()}
        _condition(conditions, "Progressing", status, reason, message, self.api.clock.timestamp())
        d.setdefault("status", {})["conditions"] = list(conditions.values())


def _condition(
    conditions: dict[str, dict[str, Any]],
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: str,
    touch: bool = False,
) -> None:
    current = conditions.get(type_)
    if (
        current is not None
        and (current["status"], current.get("reason"), current.get("message"))
        == (
            status,
            reason,
            message,
        )
        and not touch
    ):
        return
    transition = (
        now if current is None or current["status"] != status else current["lastTransitionTime"]
    )
    conditions[type_] = {
        "type": type_,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def _active_or_latest(
    new_rs: dict[str, Any] | None, old: list[dict[str, Any]]
) -> dict[str, Any] | None:
    everything = [r for r in [new_rs, *old] if r is not None]
    active = [r for r in everything if _replicas(r)]
    if len(active) == 1:
        return active[0]
    if active:
        return None  # several active: proportional scaling, not simulated while paused
    if new_rs is not None:
        return new_rs
    return max(old, key=_revision, default=None)


def _pod_gone(event: StoreEvent) -> bool:
    if event.type == "DELETED":
        return True
    phase = event.obj.fields.get("status.phase", "")
    return phase in TERMINAL and (
        event.prev is None or event.prev.fields.get("status.phase", "") != phase
    )


def _revision(rs: dict[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _replicas(rs: dict[str, Any]) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def _available(rs: dict[str, Any]) -> int:
    """Available pods, never more than the ReplicaSet is scaled to: right after a scale-down
    its status still counts pods that are about to be deleted, and counting them would let a
    second scale-down in the same moment break maxUnavailable."""
    return min(
        int((rs.get("status") or {}).get("availableReplicas", 0)),
        int((rs.get("spec") or {}).get("replicas", 0)),
    )


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
