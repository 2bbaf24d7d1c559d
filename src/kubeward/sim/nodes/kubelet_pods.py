"""The simulated kubelets' pod work, for every node at once.

For each pod bound to a node it plays what a kubelet does (Kubernetes 1.31): sandbox, image
pulls (timed from the image size, cached per node, failing when the image or its registry is
unavailable), container start, startup and readiness, crashes with CrashLoopBackOff, OOM kills
at the memory limit, batch completion, node-pressure eviction and graceful termination. Every
step is a timer on the simulated clock; status and events go through the API.

A node whose kubelet is stopped (``ClusterState``) freezes: its pods' steps wait until the
kubelet is back, and terminating pods stay Terminating, as on a real cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.quantity import parse_quantity
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.behaviour import (
    BehaviourError,
    PodBehaviour,
    behaviour_of,
    memory_bytes,
    seconds_until_memory,
)
from kubeward.sim.control.events import NORMAL, WARNING, EventRecorder, ObjectRef
from kubeward.sim.nodes.factory import START_ANNOTATION
from kubeward.sim.nodes.podstatus import ContainerRun, PodRun, qos_class
from kubeward.sim.nodes.state import ClusterState
from kubeward.sim.store.objects import StoreEvent

log = logging.getLogger("kubeward.sim.kubelet")

PODS = REGISTRY.get("", "v1", "pods")
PULL_BYTES_PER_SECOND = 50 * 1024 * 1024  # a typical registry pull; documented
BACKOFF_INITIAL, BACKOFF_MAX = 10.0, 300.0
BACKOFF_RESET_AFTER = 600.0  # a container that ran 10 minutes starts over at 10 s
STOP_SECONDS = 1.0  # simulated containers exit this long after SIGTERM
FROZEN_RETRY = 5.0
EVICTION_INTERVAL = 10.0  # kubelet's housekeeping / eviction monitoring period


@dataclass
class KubeletStats:
    admitted: int = 0
    started: int = 0  # pods that reached Running
    evicted: int = 0


class KubeletPods:
    name = "kubelet-pods"

    def __init__(self, api: ObjectAPI, state: ClusterState, seed: int | None = None) -> None:
        self.api = api
        self.clock = api.clock
        self.state = state
        self.recorder = EventRecorder(api, "kubelet")
        self.stats = KubeletStats()
        self.runs: dict[str, PodRun] = {}
        self._behaviours: dict[str, PodBehaviour] = {}
        self._nodes: dict[str, dict[str, Any]] = {}  # name -> {"ip":..., "start": seconds}
        self._rng = random.Random(seed)
        self._next_ip = 0
        self._free_ips: list[str] = []
        self._pending: list[str] = []
        self._wakeup = asyncio.Event()
        api.store.add_listener(self._on_event)

    # -- informer -------------------------------------------------------------------------------

    def _on_event(self, event: StoreEvent) -> None:
        obj = event.obj
        if event.storage_key == ("", "nodes"):
            if event.type == "DELETED":
                self._nodes.pop(obj.name, None)
            else:
                self._nodes[obj.name] = _node_info(obj.decode())
            return
        if event.storage_key != ("", "pods"):
            return
        key = obj.key
        run = self.runs.get(key)
        if event.type == "DELETED":
            if run is not None:
                self._forget(run)
            return
        node = obj.fields.get("spec.nodeName", "")
        if run is None:
            if (
                node
                and node in self._nodes
                and obj.fields.get("status.phase")
                not in (
                    "Succeeded",
                    "Failed",
                )
            ):
                # Admitted on the loop, not inside someone else's write.
                self.runs[key] = PodRun(key, obj.namespace, obj.name, obj.uid, node, "", [], "")
                self._pending.append(key)
                self._wakeup.set()
            return
        if obj.deleting and not run.terminating:
            run.terminating = True
            self._later(run, 0.0, self._terminate)

    async def run(self) -> None:
        await asyncio.gather(self._admit_loop(), self.eviction_loop())

    async def _admit_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            for i, key in enumerate(batch):
                run = self.runs.get(key)
                if run is not None and not run.containers:
                    self._guard(run, self._admit)
                if i % 200 == 199:
                    await asyncio.sleep(0)

    async def settle(self) -> None:
        while self._pending:
            await asyncio.sleep(0.01)

    # -- scheduling steps -----------------------------------------------------------------------

    def _later(self, run: PodRun, sim_seconds: float, step: Callable[[PodRun], None]) -> None:
        handle = self.clock.call_later(sim_seconds, self._guard, run, step)
        run.timers.append(handle)
        if len(run.timers) > 16:
            run.timers = [t for t in run.timers if not t.cancelled()][-16:]

    def _guard(self, run: PodRun, step: Callable[[PodRun], None]) -> None:
        """Run a step unless the pod is gone or its kubelet is down (then retry later)."""
        if self.runs.get(run.key) is not run:
            return
        if self.state.machine(run.node).kubelet_stopped:
            self._later(run, FROZEN_RETRY, step)
            return
        try:
            step(run)
        except st.StatusError as exc:
            if exc.code == 404:
                self._forget(run)
            else:
                log.info("kubelet step failed pod=%s reason=%s", run.key, exc.reason)
        except Exception:
            log.exception("event=kubelet_step_failed pod=%s", run.key)

    def _forget(self, run: PodRun) -> None:
        for t in run.timers:
            t.cancel()
        self.runs.pop(run.key, None)
        self._behaviours.pop(run.key, None)
        if run.pod_ip:
            self._free_ips.append(run.pod_ip)

    # -- admission and start --------------------------------------------------------------------

    def _admit(self, run: PodRun) -> None:
        assert PODS is not None
        obj = self.api.store.get(PODS.storage_key, run.key)
        if obj is None:
            self._forget(run)
            return
        pod = obj.decode()
        spec = pod.get("spec") or {}
        try:
            behaviour = behaviour_of(pod)
        except BehaviourError as exc:
            self.recorder.event(
                self._ref(run), WARNING, "FailedCreatePodSandBox", str(exc), host=run.node
            )
            behaviour = PodBehaviour()
        self._behaviours[run.key] = behaviour
        run.restart_policy = spec.get("restartPolicy", "Always")
        run.qos = qos_class(spec)
        run.containers = [
            ContainerRun(
                name=c["name"],
                image=c.get("image", ""),
                pull_policy=c.get("imagePullPolicy", "IfNotPresent"),
                memory_limit=_memory_limit(c),
            )
            for c in spec.get("containers") or ()
        ]
        run.host_ip = self._nodes.get(run.node, {}).get("ip", "")
        run.start_time = self.clock.timestamp()
        if obj.deleting:
            run.terminating = True
            self._later(run, 0.0, self._terminate)
            return
        self.stats.admitted += 1
        run.pod_ip = "" if spec.get("hostNetwork") is not True else run.host_ip
        if not run.pod_ip:
            run.pod_ip = self._allocate_ip()
        run.sandbox_ready = True
        start_delay = float(self._nodes.get(run.node, {}).get("start", 0.0))
        self._write(run)
        self._later(run, start_delay, self._pull_next)

    def _pull_next(self, run: PodRun) -> None:
        """Pull the images not yet on the node, one after the other, then start."""
        machine = self.state.machine(run.node)
        behaviour = self._behaviours.get(run.key, PodBehaviour())
        for c in run.containers:
            if c.container_id or c.reason == "pulled":
                continue
            if c.image in machine.images and c.pull_policy != "Always":
                self._event(
                    run,
                    c,
                    NORMAL,
                    "Pulled",
                    f'Container image "{c.image}" already present on machine',
                )
                c.reason = "pulled"
                continue
            if not behaviour.image_pullable or not self.state.registry_reachable(c.image):
                self._pull_failed(run, c, behaviour)
                return
            self._event(run, c, NORMAL, "Pulling", f'Pulling image "{c.image}"')
            size = int(parse_quantity(behaviour.image_size))
            seconds = size / PULL_BYTES_PER_SECOND
            self._later(run, seconds, partial(self._pulled, c=c, seconds=seconds, size=size))
            return
        self._start_all(run)

    def _pulled(self, run: PodRun, c: ContainerRun, seconds: float, size: int) -> None:
        if not self.state.registry_reachable(c.image):
            self._pull_failed(run, c, self._behaviours.get(run.key, PodBehaviour()))
            return
        took = _go_duration(seconds)
        self._event(
            run,
            c,
            NORMAL,
            "Pulled",
            f'Successfully pulled image "{c.image}" in {took} ({took} including '
            f"waiting). Image size: {size} bytes.",
        )
        self.state.machine(run.node).images.add(c.image)
        c.reason = "pulled"
        self._pull_next(run)

    def _pull_failed(self, run: PodRun, c: ContainerRun, behaviour: PodBehaviour) -> None:
        if not behaviour.image_pullable:
            detail = (
                f'failed to pull and unpack image "{c.image}": failed to resolve reference '
                f'"{c.image}": {c.image}: not found'
            )
        else:
            host = c.image.split("/")[0] if "/" in c.image else "registry-1.docker.io"
            detail = (
                f'failed to pull and unpack image "{c.image}": failed to resolve reference '
                f'"{c.image}": failed to do request: Head "https://{host}/v2/": dial tcp: '
                f"i/o timeout"
            )
        self._event(run, c, NORMAL, "Pulling", f'Pulling image "{c.image}"')
        self._event(
            run,
            c,
            WARNING,
            "Failed",
            f'Failed to pull image "{c.image}": rpc error: code = Unknown desc = {detail}',
        )
        self._event(run, c, WARNING, "Failed", "Error: ErrImagePull")
        c.state, c.reason, c.message = "waiting", "ErrImagePull", detail
        self._write(run)
        run.pull_backoff = min(max(run.pull_backoff * 2, BACKOFF_INITIAL), BACKOFF_MAX)
        self._later(run, 1.0, partial(self._pull_backoff, c=c))

    def _pull_backoff(self, run: PodRun, c: ContainerRun) -> None:
        c.reason = "ImagePullBackOff"
        c.message = f'Back-off pulling image "{c.image}"'
        self._event(run, c, NORMAL, "BackOff", f'Back-off pulling image "{c.image}"')
        self._event(run, c, WARNING, "Failed", "Error: ImagePullBackOff")
        self._write(run)
        self._later(run, max(run.pull_backoff - 1.0, 0.0), self._pull_next)

    def _start_all(self, run: PodRun) -> None:
        for c in run.containers:
            if c.state != "running":
                self._start(run, c, write=False)
        run.phase = "Running"
        self.stats.started += 1
        self._write(run)

    def _start(self, run: PodRun, c: ContainerRun, write: bool = True) -> None:
        behaviour = self._behaviours.get(run.key, PodBehaviour())
        if c.container_id and c.state == "terminated":
            c.last_terminated = c._terminated()
        c.container_id = f"containerd://{self._rng.getrandbits(256):064x}"
        c.state, c.reason, c.message = "running", "", ""
        c.started_at = self.clock.timestamp()
        c.started_elapsed = self.clock.elapsed()
        c.started = behaviour.startup_seconds <= 0
        c.ready = c.started and behaviour.readiness_delay_seconds <= 0
        self._event(run, c, NORMAL, "Created", f"Created container {c.name}")
        self._event(run, c, NORMAL, "Started", f"Started container {c.name}")
        generation = c.container_id
        if not c.ready:
            self._later(run, behaviour.startup_seconds, lambda r: self._started(r, c, generation))
        self._schedule_exit(run, c, behaviour, generation)
        if write:
            self._write(run)

    def _started(self, run: PodRun, c: ContainerRun, generation: str) -> None:
        if c.container_id != generation or c.state != "running":
            return
        behaviour = self._behaviours.get(run.key, PodBehaviour())
        c.started = True
        if behaviour.readiness_delay_seconds <= 0:
            c.ready = True
        else:
            self._later(
                run, behaviour.readiness_delay_seconds, lambda r: self._ready(r, c, generation)
            )
        self._write(run)

    def _ready(self, run: PodRun, c: ContainerRun, generation: str) -> None:
        if c.container_id != generation or c.state != "running":
            return
        c.ready = True
        self._write(run)

    # -- exits ----------------------------------------------------------------------------------

    def _schedule_exit(
        self, run: PodRun, c: ContainerRun, behaviour: PodBehaviour, generation: str
    ) -> None:
        """Pick the first of: batch completion, scripted crash, random crash, OOM kill."""
        candidates: list[tuple[float, int, str]] = []
        if behaviour.run_seconds is not None:
            candidates.append((behaviour.run_seconds, 0, "Completed"))
        if behaviour.crash_after_seconds is not None:
            candidates.append((behaviour.crash_after_seconds, 1, "Error"))
        if behaviour.crash_probability > 0:
            rate = -math.log(1 - min(behaviour.crash_probability, 0.999999)) / 60.0
            candidates.append((self._rng.expovariate(rate), 1, "Error"))
        if c.memory_limit is not None:
            oom = seconds_until_memory(behaviour.usage.memory, c.memory_limit)
            if oom is not None:
                candidates.append((oom, 137, "OOMKilled"))
        if not candidates:
            return
        delay, code, reason = min(candidates)
        self._later(run, delay, lambda r: self._exited(r, c, generation, code, reason))

    def _exited(
        self, run: PodRun, c: ContainerRun, generation: str, code: int, reason: str
    ) -> None:
        if c.container_id != generation or c.state != "running" or run.terminating:
            return
        ran = self.clock.elapsed() - c.started_elapsed
        c.state, c.reason, c.exit_code = "terminated", reason, code
        c.finished_at = self.clock.timestamp()
        c.ready = c.started = False
        restart = run.restart_policy == "Always" or (run.restart_policy == "OnFailure" and code)
        if not restart:
            if all(x.state == "terminated" for x in run.containers):
                run.phase = (
                    "Succeeded" if all(x.exit_code == 0 for x in run.containers) else "Failed"
                )
                run.sandbox_ready = False
            self._write(run)
            return
        # The first restart is immediate; then 10 s doubling to 5 min (reset after 10 min up).
        if ran >= BACKOFF_RESET_AFTER or c.restart_count == 0:
            backoff = 0.0
        else:
            backoff = min(BACKOFF_INITIAL * 2 ** (c.restart_count - 1), BACKOFF_MAX)
        if backoff <= 0:
            self._write(run)
            self._later(run, 1.0, lambda r: self._restart(r, c, generation))
            return
        self._write(run)
        self._later(run, 1.0, lambda r: self._crashloop(r, c, generation, backoff))

    def _crashloop(self, run: PodRun, c: ContainerRun, generation: str, backoff: float) -> None:
        if c.container_id != generation or run.terminating:
            return
        c.last_terminated = c._terminated()
        pod_ref = f"{run.name}_{run.namespace}({run.uid})"
        seconds = _go_duration(backoff)
        c.state, c.reason = "waiting", "CrashLoopBackOff"
        c.message = f"back-off {seconds} restarting failed container={c.name} pod={pod_ref}"
        self._event(
            run,
            c,
            WARNING,
            "BackOff",
            f"Back-off restarting failed container {c.name} in pod {pod_ref}",
        )
        self._write(run)
        self._later(run, max(backoff - 1.0, 0.0), lambda r: self._restart(r, c, generation))

    def _restart(self, run: PodRun, c: ContainerRun, generation: str) -> None:
        if c.container_id != generation or run.terminating:
            return
        if c.state == "terminated":
            c.last_terminated = c._terminated()
        c.restart_count += 1
        self._start(run, c)

    def resync_node(self, node: str) -> None:
        """A kubelet that restarts reports every pod it runs afresh (its status manager syncs
        all pods), which undoes the node controller's Ready=False marks."""
        for run in list(self.runs.values()):
            if run.node == node and run.containers and not run.terminating:
                self._guard(run, self._write)

    # -- eviction and termination ---------------------------------------------------------------

    def evict_under_pressure(self) -> None:
        """One eviction per node under memory or disk pressure per monitoring period, in the
        kubelet's order: BestEffort, then Burstable pods using more than they requested."""
        for node, machine in list(self.state.machines.items()):
            signal = next(
                (
                    s
                    for s in ("MemoryPressure", "DiskPressure")
                    if (p := machine.problems.get(s)) is not None and p.status == "True"
                ),
                None,
            )
            if signal is None or machine.kubelet_stopped:
                continue
            candidates = [
                r
                for r in self.runs.values()
                if r.node == node
                and r.phase in ("Pending", "Running")
                and not r.terminating
                and r.qos != "Guaranteed"
            ]
            if not candidates:
                continue
            candidates.sort(key=lambda r: (r.qos != "BestEffort", r.key))
            self._evict(
                candidates[0], "memory" if signal == "MemoryPressure" else "ephemeral-storage"
            )

    def _evict(self, run: PodRun, resource: str) -> None:
        behaviour = self._behaviours.get(run.key, PodBehaviour())
        usage = memory_bytes(behaviour.usage.memory, 0.0)
        c = run.containers[0] if run.containers else None
        threshold = "100Mi" if resource == "memory" else "10%"
        message = (
            f"The node was low on resource: {resource}. Threshold quantity: {threshold}, "
            f"available: 0. "
        )
        if c is not None:
            message += (
                f"Container {c.name} was using {int(usage / 1024)}Ki, request is 0, "
                f"has larger consumption of {resource}. "
            )
        for x in run.containers:
            if x.state == "running":
                self._event(run, x, NORMAL, "Killing", f"Stopping container {x.name}")
            x.state, x.reason, x.exit_code = "terminated", "ContainerStatusUnknown", 137
            x.finished_at = self.clock.timestamp()
            x.ready = x.started = False
        run.phase, run.reason, run.message = "Failed", "Evicted", message
        run.sandbox_ready = False
        run.extra_conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": self.clock.timestamp(),
                "reason": "TerminationByKubelet",
                "message": message,
            }
        )
        self.recorder.event(self._ref(run), WARNING, "Evicted", message, host=run.node)
        self.stats.evicted += 1
        self._write(run)
        for t in run.timers:
            t.cancel()

    async def eviction_loop(self) -> None:
        while True:
            await self.clock.sleep(EVICTION_INTERVAL)
            try:
                self.evict_under_pressure()
            except Exception:
                log.exception("event=eviction_failed")

    def _terminate(self, run: PodRun) -> None:
        assert PODS is not None
        obj = self.api.store.get(PODS.storage_key, run.key)
        if obj is None:
            self._forget(run)
            return
        grace = float(obj.decode()["metadata"].get("deletionGracePeriodSeconds") or 0)
        for c in run.containers:
            if c.state == "running":
                self._event(run, c, NORMAL, "Killing", f"Stopping container {c.name}")
        for t in run.timers:
            t.cancel()
        run.timers.clear()
        self._later(run, min(grace, STOP_SECONDS), self._finalize)

    def _finalize(self, run: PodRun) -> None:
        assert PODS is not None
        obj = self.api.store.get(PODS.storage_key, run.key)
        if obj is not None:
            with contextlib.suppress(st.StatusError):  # gone or changed meanwhile
                self.api.delete(PODS, obj.namespace, obj.name, DeleteOptions(grace_period=0))
        self._forget(run)

    # -- writing --------------------------------------------------------------------------------

    def _write(self, run: PodRun) -> None:
        assert PODS is not None
        obj = self.api.store.get(PODS.storage_key, run.key)
        if obj is None:
            self._forget(run)
            return
        pod = obj.decode()
        if pod["metadata"].get("deletionTimestamp") and not run.terminating:
            run.terminating = True
            self._later(run, 0.0, self._terminate)
        pod["status"] = run.status(pod.get("status") or {}, self.clock.timestamp())
        self.api.update(PODS, run.namespace, run.name, pod, subresource="status")

    def _event(self, run: PodRun, c: ContainerRun, type_: str, reason: str, message: str) -> None:
        self.recorder.event(
            self._ref(run, f"spec.containers{{{c.name}}}"), type_, reason, message, host=run.node
        )

    @staticmethod
    def _ref(run: PodRun, field_path: str = "") -> ObjectRef:
        return ObjectRef("Pod", run.namespace, run.name, run.uid, "v1", "", field_path)

    def _allocate_ip(self) -> str:
        if self._free_ips:
            return self._free_ips.pop()
        while True:
            self._next_ip += 1
            n = self._next_ip
            if n % 256 not in (0, 255):
                return f"10.{128 + (n >> 16) % 64}.{(n >> 8) & 255}.{n & 255}"


def _node_info(node: dict[str, Any]) -> dict[str, Any]:
    addresses = (node.get("status") or {}).get("addresses") or ()
    ip = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "")
    annotations = node["metadata"].get("annotations") or {}
    try:
        start = float(annotations.get(START_ANNOTATION, 0) or 0)
    except ValueError:
        start = 0.0
    return {"ip": ip, "start": start}


def _memory_limit(container: dict[str, Any]) -> float | None:
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return float(parse_quantity(str(limit))) if limit else None


def _go_duration(seconds: float) -> str:
    """Go's time.Duration formatting for the values kubelet messages use ("2.1s", "1m20s")."""
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes >= 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes}m{rest}s"
    return f"{minutes}m{rest}s"
