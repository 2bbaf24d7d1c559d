"""Simulated resource usage of running containers, as cAdvisor and metrics-server see it.

Each running container's CPU and memory come from its pod's behaviour profile
(``kubeward.sim.behaviour``) at the current simulated time. A ``shared`` CPU profile is a
workload's traffic, divided among its Ready pods (grouped by the top controller: a Deployment
across its ReplicaSets), so an HPA that adds pods lowers each pod's usage. CPU is capped at the
container's CPU limit (CFS throttling). Noise is drawn per container per 15-second window so
repeated scrapes inside one window agree, as metrics-server's 15 s resolution does.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kubeward.kube.quantity import parse_quantity
from kubeward.sim.behaviour import (
    BehaviourError,
    PodBehaviour,
    behaviour_of,
    cpu_cores,
    memory_bytes,
)
from kubeward.sim.clock import SimClock, parse_time
from kubeward.sim.store.objects import StoreEvent
from kubeward.sim.store.store import Store

WINDOW_SECONDS = 15.0
# kubelet, container runtime and system daemons on every node
NODE_OVERHEAD_CPU = 0.1
NODE_OVERHEAD_MEMORY = 600 * 1024 * 1024


@dataclass
class ContainerUsage:
    name: str
    image: str
    cpu: float  # cores
    memory: float  # bytes


@dataclass
class _Container:
    name: str
    image: str
    cpu_limit: float | None
    started: float  # clock.elapsed() when it started
    cpu_seconds: float = 0.0  # integrated so far
    integrated_to: float = 0.0


@dataclass
class _Running:
    namespace: str
    name: str
    node: str
    labels: dict[str, str]
    group: str
    ready: bool
    behaviour: PodBehaviour
    containers: list[_Container] = field(default_factory=list)


class UsageModel:
    def __init__(self, store: Store, clock: SimClock) -> None:
        self.store = store
        self.clock = clock
        self.pods: dict[str, _Running] = {}
        self._ready_in_group: dict[str, int] = defaultdict(int)
        store.add_listener(self._on_event, [("", "pods")])

    # -- informer -------------------------------------------------------------------------------

    def _on_event(self, event: StoreEvent) -> None:
        key = event.obj.key
        old = self.pods.pop(key, None)
        if old is not None and old.ready:
            self._ready_in_group[old.group] -= 1
        if event.type == "DELETED" or event.obj.fields.get("status.phase") != "Running":
            return
        pod = event.obj.decode()
        running = self._running(pod, event.obj.owner_uids, old)
        if running is None:
            return
        self.pods[key] = running
        if running.ready:
            self._ready_in_group[running.group] += 1

    def _running(
        self, pod: dict[str, Any], owners: tuple[str, ...], old: _Running | None
    ) -> _Running | None:
        try:
            behaviour = behaviour_of(pod)
        except BehaviourError:
            behaviour = PodBehaviour()
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        limits = {
            c["name"]: ((c.get("resources") or {}).get("limits") or {}).get("cpu")
            for c in spec.get("containers") or ()
        }
        now_elapsed, now = self.clock.elapsed(), self.clock.now()
        previous = {c.name: c for c in old.containers} if old is not None else {}
        containers = []
        for cs in status.get("containerStatuses") or ():
            started_at = ((cs.get("state") or {}).get("running") or {}).get("startedAt")
            if not started_at:
                continue
            started = now_elapsed - (now - parse_time(started_at)).total_seconds()
            prev = previous.get(cs["name"])
            limit = limits.get(cs["name"])
            c = _Container(
                cs["name"],
                cs.get("image", ""),
                float(parse_quantity(str(limit))) if limit else None,
                started,
            )
            if prev is not None:
                c.cpu_seconds, c.integrated_to = prev.cpu_seconds, prev.integrated_to
            else:
                c.integrated_to = now_elapsed
            containers.append(c)
        if not containers:
            return None
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or ()
        )
        return _Running(
            pod["metadata"]["namespace"],
            pod["metadata"]["name"],
            spec.get("nodeName", ""),
            dict(pod["metadata"].get("labels") or {}),
            self._group(pod["metadata"]["namespace"], owners),
            ready,
            behaviour,
            containers,
        )

    def _group(self, namespace: str, owners: tuple[str, ...]) -> str:
        if not owners:
            return ""
        rs = self.store.get_by_uid(("apps", "replicasets"), owners[0])
        if rs is not None and rs.owner_uids:
            return rs.owner_uids[0]  # the Deployment: traffic is shared across its ReplicaSets
        return owners[0]

    # -- queries --------------------------------------------------------------------------------

    def pod_usage(self, key: str) -> list[ContainerUsage]:
        run = self.pods.get(key)
        if run is None:
            return []
        t = self.clock.elapsed()
        out = []
        for c in run.containers:
            rng = random.Random(f"{key}/{c.name}/{int(t // WINDOW_SECONDS)}")
            cpu = cpu_cores(
                run.behaviour.usage.cpu, t, max(self._ready_in_group.get(run.group, 1), 1), rng
            )
            if c.cpu_limit is not None:
                cpu = min(cpu, c.cpu_limit)
            memory = memory_bytes(run.behaviour.usage.memory, t - c.started, rng)
            out.append(ContainerUsage(c.name, c.image, cpu, memory))
        return out

    def cpu_seconds(self, key: str) -> dict[str, float]:
        """Cumulative CPU seconds per container, monotonic (container_cpu_usage_seconds_total)."""
        run = self.pods.get(key)
        if run is None:
            return {}
        t = self.clock.elapsed()
        usage = {u.name: u.cpu for u in self.pod_usage(key)}
        out = {}
        for c in run.containers:
            c.cpu_seconds += usage.get(c.name, 0.0) * max(t - c.integrated_to, 0.0)
            c.integrated_to = t
            out[c.name] = c.cpu_seconds
        return out

    def node_usage(self) -> dict[str, tuple[float, float]]:
        """node -> (cpu cores, memory bytes), including system overhead."""
        totals: dict[str, list[float]] = defaultdict(
            lambda: [NODE_OVERHEAD_CPU, float(NODE_OVERHEAD_MEMORY)]
        )
        for node in self.store.resource(("", "nodes")).objects:
            totals[node]  # every node has overhead even with no pods
        for key, run in self.pods.items():
            for u in self.pod_usage(key):
                t = totals[run.node]
                t[0] += u.cpu
                t[1] += u.memory
        return {n: (v[0], v[1]) for n, v in totals.items()}
