"""The node lifecycle controller and taint-based eviction (kube-controller-manager 1.31).

- A node whose Lease was not renewed within ``grace_seconds`` (node-monitor-grace-period, 40 s)
  gets its kubelet conditions set to Unknown ("Kubelet stopped posting node status."), its pods
  marked not Ready, and a NodeNotReady event.
- Taints follow conditions (TaintNodesByCondition): not-ready / unreachable (NoSchedule and
  NoExecute), memory-, disk- and pid-pressure, unschedulable.
- NoExecute taints evict pods that do not tolerate them, at once or after their
  tolerationSeconds (300 s by default). New NoExecute taints are rate limited per zone: 0.1
  nodes/s normally, 0.01/s in a partially disrupted zone (0 when the zone has 50 nodes or
  fewer), and none at all when every zone is fully disrupted (the controller then assumes its
  own connectivity is the problem).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.clock import format_time, parse_time
from kubeward.sim.control.events import NORMAL, EventRecorder, ObjectRef
from kubeward.sim.control.scheduling.filters import tolerates
from kubeward.sim.store.objects import StoreEvent

log = logging.getLogger("kubeward.sim.nodelifecycle")

NODES = REGISTRY.get("", "v1", "nodes")
PODS = REGISTRY.get("", "v1", "pods")
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
CONDITION_TAINTS = {
    "MemoryPressure": "node.kubernetes.io/memory-pressure",
    "DiskPressure": "node.kubernetes.io/disk-pressure",
    "PIDPressure": "node.kubernetes.io/pid-pressure",
    "NetworkUnavailable": "node.kubernetes.io/network-unavailable",
}
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MANAGED = {NOT_READY, UNREACHABLE, UNSCHEDULABLE, *CONDITION_TAINTS.values()}
KUBELET_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
ZONE_LABEL = "topology.kubernetes.io/zone"
LARGE_CLUSTER = 50
UNHEALTHY_THRESHOLD = 0.55


class NodeLifecycleController:
    name = "node-lifecycle-controller"

    def __init__(
        self,
        api: ObjectAPI,
        grace_seconds: float = 40.0,
        monitor_period: float = 5.0,
        eviction_qps: float = 0.1,
        secondary_eviction_qps: float = 0.01,
    ) -> None:
        self.api = api
        self.clock = api.clock
        self.grace_seconds = grace_seconds
        self.monitor_period = monitor_period
        self.eviction_qps = eviction_qps
        self.secondary_eviction_qps = secondary_eviction_qps
        self.recorder = EventRecorder(api, "node-controller")
        self.taint_recorder = EventRecorder(api, "taint-eviction-controller")
        self._renewed: dict[str, datetime] = {}
        self._pods_on: dict[str, set[str]] = defaultdict(set)
        self._zone_tokens: dict[str, float] = {}
        self._registered: set[str] = set()
        self._evicting: set[str] = set()
        self._zone_sizes: dict[str, int] = {}
        api.store.add_listener(self._on_event)

    def _on_event(self, event: StoreEvent) -> None:
        obj = event.obj
        if event.storage_key == ("coordination.k8s.io", "leases"):
            if obj.namespace == "kube-node-lease" and event.type != "DELETED":
                renew = (obj.decode().get("spec") or {}).get("renewTime")
                if renew:
                    self._renewed[obj.name] = parse_time(renew)
        elif event.storage_key == ("", "pods"):
            if event.prev is not None:
                prev_node = event.prev.fields.get("spec.nodeName")
                if prev_node:
                    self._pods_on[prev_node].discard(obj.key)
            node = obj.fields.get("spec.nodeName")
            if node and event.type != "DELETED":
                self._pods_on[node].add(obj.key)

    async def run(self) -> None:
        while True:
            try:
                self.monitor()
            except Exception:
                log.exception("event=node_monitor_failed")
            await self.clock.sleep(self.monitor_period)

    # -- monitoring -----------------------------------------------------------------------------

    def monitor(self) -> None:
        now = self.clock.now()
        nodes = [n.decode() for n in self.api.store.resource(("", "nodes")).objects.values()]
        for node in nodes:
            name = node["metadata"]["name"]
            if name not in self._registered:
                self._registered.add(name)
                self.recorder.event(
                    _ref(node),
                    NORMAL,
                    "RegisteredNode",
                    f"Node {name} event: Registered Node {name} in Controller",
                )
            self._check_heartbeat(node, now)
        zones = self._zone_states(nodes)
        for node in nodes:
            self._sync_taints(node, zones)
            self._evict_pods(node, now)

    def _check_heartbeat(self, node: dict[str, Any], now: datetime) -> None:
        assert NODES is not None
        name = node["metadata"]["name"]
        renewed = self._renewed.get(name)
        created = parse_time(node["metadata"]["creationTimestamp"])
        last = renewed or created
        if now - last <= timedelta(seconds=self.grace_seconds):
            return
        conditions = (node.get("status") or {}).get("conditions") or []
        ready = next((c for c in conditions if c.get("type") == "Ready"), None)
        if ready is not None and ready.get("status") == "Unknown":
            return
        stamp = self.clock.timestamp()
        for c in conditions:
            if c.get("type") in KUBELET_CONDITIONS:
                c.update(
                    status="Unknown",
                    reason="NodeStatusUnknown",
                    message="Kubelet stopped posting node status.",
                    lastTransitionTime=stamp,
                )
        self.api.update(NODES, "", name, node, subresource="status")
        self.recorder.event(
            _ref(node), NORMAL, "NodeNotReady", f"Node {name} status is now: NodeNotReady"
        )
        self._mark_pods_not_ready(name)

    def _mark_pods_not_ready(self, node_name: str) -> None:
        assert PODS is not None
        for key in list(self._pods_on.get(node_name, ())):
            obj = self.api.store.get(PODS.storage_key, key)
            if obj is None or obj.fields.get("status.phase") in ("Succeeded", "Failed"):
                continue
            pod = obj.decode()
            changed = False
            for c in (pod.get("status") or {}).get("conditions") or ():
                if c.get("type") in ("Ready", "ContainersReady") and c.get("status") != "False":
                    c.update(status="False", lastTransitionTime=self.clock.timestamp())
                    changed = True
            if not changed:
                continue
            try:
                self.api.update(PODS, obj.namespace, obj.name, pod, subresource="status")
            except st.StatusError:
                continue
            self.recorder.event(
                ObjectRef.of(pod, "Pod"), "Warning", "NodeNotReady", "Node is not ready"
            )

    def _zone_states(self, nodes: list[dict[str, Any]]) -> dict[str, str]:
        total: dict[str, int] = defaultdict(int)
        unready: dict[str, int] = defaultdict(int)
        for node in nodes:
            zone = (node["metadata"].get("labels") or {}).get(ZONE_LABEL, "")
            total[zone] += 1
            if _ready_status(node) != "True":
                unready[zone] += 1
        states = {}
        self._zone_sizes = dict(total)
        for zone, count in total.items():
            bad = unready[zone]
            if bad == count and count > 0:
                states[zone] = "FullDisruption"
            elif bad > 2 and bad / count >= UNHEALTHY_THRESHOLD:
                states[zone] = "PartialDisruption"
            else:
                states[zone] = "Normal"
        return states

    # -- taints ---------------------------------------------------------------------------------

    def _sync_taints(self, node: dict[str, Any], zones: dict[str, str]) -> None:
        assert NODES is not None
        spec = node.setdefault("spec", {})
        current = list(spec.get("taints") or ())
        wanted: list[tuple[str, str]] = []
        ready = _ready_status(node)
        if ready == "False":
            wanted += [(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]
        elif ready == "Unknown":
            wanted += [(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]
        for c in (node.get("status") or {}).get("conditions") or ():
            key = CONDITION_TAINTS.get(c.get("type", ""))
            if key and c.get("status") == "True":
                wanted.append((key, "NoSchedule"))
        if spec.get("unschedulable"):
            wanted.append((UNSCHEDULABLE, "NoSchedule"))
        have = {(t["key"], t["effect"]) for t in current if t.get("key") in MANAGED}
        if have == set(wanted):
            return
        zone = (node["metadata"].get("labels") or {}).get(ZONE_LABEL, "")
        stamp = self.clock.timestamp()
        kept = [
            t for t in current if t.get("key") not in MANAGED or (t["key"], t["effect"]) in wanted
        ]
        for key, effect in wanted:
            if (key, effect) in have:
                continue
            if effect == "NoExecute" and not self._may_taint(zone, zones):
                continue
            taint: dict[str, Any] = {"key": key, "effect": effect}
            if effect == "NoExecute":
                taint["timeAdded"] = stamp
            kept.append(taint)
        if kept == current:
            return
        spec["taints"] = kept
        try:
            self.api.update(NODES, "", node["metadata"]["name"], node)
        except st.StatusError as exc:
            log.info("taint update node=%s: %s", node["metadata"]["name"], exc.reason)

    def _may_taint(self, zone: str, zones: dict[str, str]) -> bool:
        """The zone's eviction rate limiter (token bucket refilled every monitor period)."""
        if zones and all(s == "FullDisruption" for s in zones.values()):
            return False
        state = zones.get(zone, "Normal")
        qps = self.eviction_qps
        if state == "PartialDisruption":
            # Small zones stop evicting altogether (large-cluster-size-threshold).
            if self._zone_sizes.get(zone, 0) <= LARGE_CLUSTER:
                return False
            qps = self.secondary_eviction_qps
        tokens = self._zone_tokens.get(zone, 1.0)
        if tokens < 1.0:
            self._zone_tokens[zone] = tokens + qps * self.monitor_period
            return False
        self._zone_tokens[zone] = tokens - 1.0 + qps * self.monitor_period
        return True

    # -- taint-based eviction -------------------------------------------------------------------

    def _evict_pods(self, node: dict[str, Any], now: datetime) -> None:
        assert PODS is not None
        taints = [
            t
            for t in (node.get("spec") or {}).get("taints") or ()
            if t.get("effect") == "NoExecute"
        ]
        if not taints:
            return
        for key in list(self._pods_on.get(node["metadata"]["name"], ())):
            if key in self._evicting:
                continue
            obj = self.api.store.get(PODS.storage_key, key)
            if obj is None or obj.deleting:
                continue
            pod = obj.decode()
            tolerations = (pod.get("spec") or {}).get("tolerations") or []
            deadline = now
            evict = False
            for t in taints:
                taint = (t["key"], t.get("value", "") or "", "NoExecute")
                matching = [x for x in tolerations if tolerates([x], taint)]
                if not matching:
                    evict = True
                    deadline = now
                    break
                seconds = [x["tolerationSeconds"] for x in matching if "tolerationSeconds" in x]
                if seconds:
                    added = parse_time(t.get("timeAdded") or format_time(now))
                    at = added + timedelta(seconds=max(min(seconds), 0))
                    if not evict or at < deadline:
                        deadline = at
                    evict = True
            if evict and deadline <= now:
                self._evict(obj.namespace, obj.name, pod)

    def _evict(self, namespace: str, name: str, pod: dict[str, Any]) -> None:
        assert PODS is not None
        self._evicting.add(f"{namespace}/{name}")
        status = pod.setdefault("status", {})
        conditions = [
            c for c in status.get("conditions") or () if c.get("type") != "DisruptionTarget"
        ]
        conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": self.clock.timestamp(),
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
            }
        )
        status["conditions"] = conditions
        try:
            self.api.update(PODS, namespace, name, pod, subresource="status")
            self.taint_recorder.event(
                ObjectRef.of(pod, "Pod"),
                NORMAL,
                "TaintManagerEviction",
                f"Marking for deletion Pod {namespace}/{name}",
            )
            self.api.delete(PODS, namespace, name, DeleteOptions())
        except st.StatusError as exc:
            log.info("taint eviction pod=%s/%s: %s", namespace, name, exc.reason)
        finally:
            self._evicting.discard(f"{namespace}/{name}")


def _ready_status(node: dict[str, Any]) -> str:
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return str(c.get("status"))
    return "Unknown"


def _ref(node: dict[str, Any]) -> ObjectRef:
    return ObjectRef("Node", "", node["metadata"]["name"], node["metadata"]["uid"], "v1")
