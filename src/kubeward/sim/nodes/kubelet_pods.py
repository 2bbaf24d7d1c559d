"""The simulated kubelets' pod work, for every node at once.

For each pod bound to a node it plays what a kubelet does (Kubernetes 1.31): sandbox and pod IP
(from the node's podCIDR), image pulls (timed from the image size at ``PULL_BYTES_PER_SECOND``,
cached per node, failing with ErrImagePull / ImagePullBackOff when the image or its registry is
unavailable), container start, startup and readiness (with ``Unhealthy`` events while a
readiness probe fails), crashes with CrashLoopBackOff, OOM kills at the memory limit, batch
completion, node-pressure eviction and graceful termination. Every step is a timer on the
simulated clock (no task per pod); status goes through the API's status subresource and events
through the legacy recorder, as component ``kubelet`` on the pod's node.

Status writes are coalesced: every transition marks the pod dirty and one flush per event-loop
turn writes each dirty pod once, so a pod whose image is cached and that starts at once goes
from nothing to Running in one write, as the kubelet's status manager batches its syncs. When
another component changes a pod's Ready condition (the node lifecycle controller, after late
heartbeats), the status manager writes its own view back at its next sync.

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
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.quantity import BINARY_SI, format_quantity, parse_quantity
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
from kubeward.sim.nodes import containerlogs
from kubeward.sim.nodes.admission import (
    AdmitNode,
    Admitted,
    Rejection,
    admit,
    admitted,
    placed_by_scheduler,
)
from kubeward.sim.nodes.factory import START_ANNOTATION
from kubeward.sim.nodes.podnet import NodeIPs, OverflowIPs
from kubeward.sim.nodes.podstatus import ContainerRun, PodRun, full_reference, qos_class
from kubeward.sim.nodes.state import ClusterState
from kubeward.sim.store.objects import StoredObject, StoreEvent

log = logging.getLogger("kubeward.sim.kubelet")

PODS = REGISTRY.get("", "v1", "pods")
# Simulated registry bandwidth: a 50Mi image takes 1 s, a 1Gi image about 20 s.
PULL_BYTES_PER_SECOND = 50 * 1024 * 1024
PULL_FAILURE_SECONDS = 1.0  # how long a failing pull takes to fail
# kubelet's container restart and image pull back-off (flowcontrol.Backoff): 10 s doubling to
# 5 min; a container that ran 10 minutes (2x the maximum) starts over.
BACKOFF_INITIAL, BACKOFF_MAX = 10.0, 300.0
BACKOFF_RESET_AFTER = 600.0
SYNC_SECONDS = 1.0  # the pod worker's resync after a container exits
INIT_SECONDS = 1.0  # how long a simulated (non-sidecar) init container runs
STOP_SECONDS = 1.0  # simulated containers exit this long after SIGTERM (capped by the grace)
FROZEN_RETRY = 5.0
STATUS_SYNC_SECONDS = 10.0  # the status manager's batch sync period (syncBatch)
EVICTION_INTERVAL = 10.0  # kubelet's eviction monitoring period (housekeeping)
# Hard eviction thresholds (kubelet defaults) and what the simulated node has left.
MEMORY_THRESHOLD = 100 * 1024 * 1024
NODEFS_THRESHOLD_FRACTION = 0.10
NODE_EPHEMERAL_STORAGE = 100 * 1024**3  # the factory's node capacity
CONTAINER_DISK_BYTES = 64 * 1024  # writable layer + logs of a simulated container
CRITICAL_PRIORITY = 2_000_000_000  # system-cluster-critical and above are never evicted
TERMINATED_UNKNOWN = "The container could not be located when the pod was terminated"


@dataclass
class KubeletStats:
    admitted: int = 0
    rejected: int = 0  # pods that did not fit next to the node's active pods (admission.py)
    started: int = 0  # pods that reached Running
    evicted: int = 0
    status_writes: int = 0


@dataclass
class _Node:
    ip: str
    start_seconds: float
    ips: NodeIPs
    pods: set[str] = field(default_factory=set)  # keys of the runs on this node
    admit: AdmitNode | None = None  # what admission reads of the node
    # (allocatable, labels, taints) that ``admit`` was parsed from: the decoded node itself is
    # not kept, as 15,000 of them would weigh on the garbage collector
    admit_source: tuple[Any, ...] = ()


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
        # what admitted pods count for, worked out when a pod bypassing the scheduler needs it
        self._admitted: dict[str, Admitted] = {}
        self._nodes: dict[str, _Node] = {}
        self._overflow_ips = OverflowIPs()
        self._rng = random.Random(seed)
        self._pending: list[str] = []
        self._wakeup = asyncio.Event()
        self._dirty: dict[str, PodRun] = {}
        self._flush_scheduled = False
        self._writing = ""  # the pod whose status the kubelet is writing right now
        self._reconciling: set[str] = set()  # pods with a status-manager resync due
        api.store.add_listener(self._on_event, [("", "nodes"), ("", "pods")])

    # -- informer -------------------------------------------------------------------------------

    def _on_event(self, event: StoreEvent) -> None:
        obj = event.obj
        if event.storage_key == ("", "nodes"):
            if event.type == "DELETED":
                self._nodes.pop(obj.name, None)
            else:
                self._node_seen(obj.decode())
            return
        if event.storage_key != ("", "pods"):
            return
        key = obj.key
        run = self.runs.get(key)
        if event.type == "DELETED":
            if run is not None:
                self._forget(run)
            return
        if run is None:
            node = obj.fields.get("spec.nodeName", "")
            terminal = obj.fields.get("status.phase") in ("Succeeded", "Failed")
            if node and node in self._nodes and (not terminal or obj.deleting):
                # Admitted on the loop, not inside someone else's write.
                self.runs[key] = PodRun(key, obj.namespace, obj.name, obj.uid, node, "", [], "")
                self._nodes[node].pods.add(key)
                self._pending.append(key)
                self._wakeup.set()
            return
        if obj.deleting and not run.terminating:
            run.terminating = True
            self._later(run, 0.0, self._terminate)
        elif run.containers and key != self._writing and obj.rv != run.written_rv:
            self._check_drift(run, obj)

    def _check_drift(self, run: PodRun, obj: StoredObject) -> None:
        """Someone else wrote the pod. The kubelet's status manager puts its own view back
        when the stored status drifted from it (``needsReconcile``), at its next sync. The
        kubelet-owned field others write is the Ready condition: the node lifecycle
        controller's Ready=False when the node's heartbeats were late."""
        if run.key in self._reconciling:
            return
        ready = next(
            (
                c.get("status")
                for c in (obj.decode().get("status") or {}).get("conditions") or ()
                if c.get("type") == "Ready"
            ),
            None,
        )
        if ready is not None and ready != ("True" if run.ready() else "False"):
            self._reconciling.add(run.key)
            self.clock.call_later(STATUS_SYNC_SECONDS, self._reconcile, run)

    def _reconcile(self, run: PodRun) -> None:
        self._reconciling.discard(run.key)
        if self.runs.get(run.key) is not run or run.terminating:
            return
        if self.state.machine(run.node).kubelet_stopped:
            return  # a kubelet that comes back resyncs all its pods (resync_node)
        self._write(run)

    def _node_seen(self, node: dict[str, Any]) -> None:
        name = node["metadata"]["name"]
        addresses = (node.get("status") or {}).get("addresses") or ()
        ip = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), "")
        annotations = node["metadata"].get("annotations") or {}
        try:
            start = float(annotations.get(START_ANNOTATION, 0) or 0)
        except ValueError:
            start = 0.0
        known = self._nodes.get(name)
        if known is None:
            cidr = (node.get("spec") or {}).get("podCIDR", "")
            known = self._nodes[name] = _Node(ip, start, NodeIPs(cidr))
        known.ip, known.start_seconds = ip, start
        source = (
            (node.get("status") or {}).get("allocatable"),
            node["metadata"].get("labels"),
            (node.get("spec") or {}).get("taints"),
        )
        if known.admit is None or source != known.admit_source:
            known.admit, known.admit_source = AdmitNode.of(node), source

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
        while self._pending or self._dirty:
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
        node = self._nodes.get(run.node)
        if self.runs.get(run.key) is run:  # not a newer pod of the same name
            del self.runs[run.key]
            self._behaviours.pop(run.key, None)
            self._admitted.pop(run.key, None)
            self._dirty.pop(run.key, None)
            self._reconciling.discard(run.key)
            if node is not None:
                node.pods.discard(run.key)
        if run.pod_ip and run.pod_ip != run.host_ip:
            if node is None or not node.ips.release(run.pod_ip):
                self._overflow_ips.release(run.pod_ip)
            run.pod_ip = ""

    def _behaviour(self, run: PodRun) -> PodBehaviour:
        return self._behaviours.get(run.key) or PodBehaviour()

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
        run.priority = int(spec.get("priority") or 0)
        run.init_containers = [
            _container_run(c, "initContainers") for c in spec.get("initContainers") or ()
        ]
        run.containers = [_container_run(c) for c in spec.get("containers") or ()]
        if run.init_containers:
            # With init containers everything waits as PodInitializing (kubelet's default).
            for c in run.all_containers():
                c.reason = "PodInitializing"
            run.initialized = False
        node = self._nodes.get(run.node)
        run.host_ip = node.ip if node is not None else ""
        run.start_time = self.clock.timestamp()
        if obj.deleting:
            run.terminating = True
            self._later(run, 0.0, self._terminate)
            return
        if node is not None:
            rejection = self._fits(run, pod, node)
            if rejection is not None:
                self._reject(run, pod, rejection)
                return
        self.stats.admitted += 1
        if spec.get("hostNetwork") is True:
            run.pod_ip = run.host_ip
        else:
            ip = node.ips.allocate() if node is not None else None
            run.pod_ip = ip or self._overflow_ips.allocate()
        run.sandbox_ready = True
        self._write(run)
        start_delay = node.start_seconds if node is not None else 0.0
        if start_delay > 0:
            self._later(run, start_delay, self._pull_next)
        else:
            self._pull_next(run)  # same instant: one status write for admission and start

    def _fits(self, run: PodRun, pod: dict[str, Any], node: _Node) -> Rejection | None:
        """The kubelet's admission check against the pods it runs on the node."""
        if placed_by_scheduler(pod):
            return None
        assert node.admit is not None  # parsed when the node was seen
        active = []
        for key in node.pods:
            other = self.runs.get(key)
            # admitted (it has a sandbox) and not finished: terminating pods still count
            if key == run.key or other is None or not other.sandbox_ready:
                continue
            if other.phase not in ("Succeeded", "Failed"):
                active.append(self._counted(key))
        return admit(pod.get("spec") or {}, node.admit, active)

    def _counted(self, key: str) -> Admitted:
        """What an admitted pod counts for, worked out when a pod's admission first needs it."""
        assert PODS is not None
        counted = self._admitted.get(key)
        if counted is None:
            obj = self.api.store.get(PODS.storage_key, key)
            counted = admitted((obj.decode().get("spec") or {}) if obj is not None else {})
            self._admitted[key] = counted
        return counted

    def _reject(self, run: PodRun, pod: dict[str, Any], rejection: Rejection) -> None:
        """kubelet's rejectPod: a Warning event, and the pod Failed without running."""
        assert PODS is not None
        self.stats.rejected += 1
        self.recorder.event(
            self._ref(run), WARNING, rejection.reason, rejection.message, host=run.node
        )
        pod["status"] = {
            "phase": "Failed",
            "reason": rejection.reason,
            "message": f"Pod was rejected: {rejection.message}",
            "qosClass": run.qos,
            "startTime": run.start_time,
        }
        self._forget(run)
        self.api.update(PODS, run.namespace, run.name, pod, subresource="status")

    def _pull_next(self, run: PodRun) -> None:
        """Pull the images not yet on the node, one after the other, then start: the next
        init container while the pod is initializing, else all containers."""
        machine = self.state.machine(run.node)
        behaviour = self._behaviour(run)
        init = next((c for c in run.init_containers if not c.container_id), None)
        for c in [init] if init is not None else run.containers:
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
            self._event(run, c, NORMAL, "Pulling", f'Pulling image "{c.image}"')
            if not behaviour.image_pullable or not self.state.registry_reachable(c.image):
                self._later(run, PULL_FAILURE_SECONDS, partial(self._pull_failed, c=c))
                return
            size = int(parse_quantity(behaviour.image_size))
            seconds = size / PULL_BYTES_PER_SECOND
            self._later(run, seconds, partial(self._pulled, c=c, seconds=seconds, size=size))
            return
        if init is not None:
            self._start_init(run, init)
        else:
            run.initialized = True
            self._start_all(run)

    def _start_init(self, run: PodRun, c: ContainerRun) -> None:
        """Init containers run one after the other, ``INIT_SECONDS`` each; a sidecar
        (restartPolicy Always) starts and keeps running while the next one begins."""
        c.container_id = f"containerd://{self._rng.getrandbits(256):064x}"
        c.state, c.reason, c.message = "running", "", ""
        c.started_at = self.clock.timestamp()
        c.started_elapsed = self.clock.elapsed()
        self._event(run, c, NORMAL, "Created", f"Created container {c.name}")
        self._event(run, c, NORMAL, "Started", f"Started container {c.name}")
        self._write(run)
        if c.sidecar:
            c.started = c.ready = True
            self._pull_next(run)
        else:
            self._later(run, INIT_SECONDS, partial(self._init_done, c=c))

    def _init_done(self, run: PodRun, c: ContainerRun) -> None:
        if c.state != "running":
            return
        c.state, c.reason, c.exit_code, c.message = "terminated", "Completed", 0, ""
        c.finished_at = self.clock.timestamp()
        c.ready, c.started = True, False  # a completed init container counts as ready
        self._write(run)
        self._pull_next(run)

    def _pulled(self, run: PodRun, c: ContainerRun, seconds: float, size: int) -> None:
        if not self.state.registry_reachable(c.image):  # the registry went away mid-pull
            self._pull_failed(run, c)
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
        c.reason, c.message = "pulled", ""
        self._pull_next(run)

    def _pull_failed(self, run: PodRun, c: ContainerRun) -> None:
        """containerd's error as kubelet reports it: a Failed event with the CRI error, then
        ``Error: ErrImagePull``; the container waits with reason ErrImagePull."""
        ref = full_reference(c.image)
        if not self._behaviour(run).image_pullable:
            error = (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": '
                f'failed to resolve reference "{ref}": {ref}: not found'
            )
        else:
            host, _, rest = ref.partition("/")
            repo, _, tag = rest.rpartition(":") if "@" not in rest else rest.partition("@")
            error = (
                f'rpc error: code = Unknown desc = failed to pull and unpack image "{ref}": '
                f'failed to resolve reference "{ref}": failed to do request: Head '
                f'"https://{host}/v2/{repo}/manifests/{tag}": dial tcp: lookup {host}: '
                f"i/o timeout"
            )
        self._event(run, c, WARNING, "Failed", f'Failed to pull image "{c.image}": {error}')
        self._event(run, c, WARNING, "Failed", "Error: ErrImagePull")
        c.state, c.reason, c.message = "waiting", "ErrImagePull", error
        self._write(run)
        run.pull_backoff = min(max(run.pull_backoff * 2, BACKOFF_INITIAL), BACKOFF_MAX)
        self._later(run, SYNC_SECONDS, partial(self._pull_backoff, c=c))

    def _pull_backoff(self, run: PodRun, c: ContainerRun) -> None:
        c.reason = "ImagePullBackOff"
        c.message = f'Back-off pulling image "{c.image}"'
        self._event(run, c, NORMAL, "BackOff", f'Back-off pulling image "{c.image}"')
        self._event(run, c, WARNING, "Failed", "Error: ImagePullBackOff")
        self._write(run)
        self._later(run, max(run.pull_backoff - SYNC_SECONDS, 0.0), self._pull_next)

    def _start_all(self, run: PodRun) -> None:
        for c in run.containers:
            if c.state != "running":
                self._start(run, c)
        run.phase = "Running"
        self.stats.started += 1
        self._write(run)

    def _start(self, run: PodRun, c: ContainerRun) -> None:
        behaviour = self._behaviour(run)
        c.container_id = f"containerd://{self._rng.getrandbits(256):064x}"
        c.state, c.reason, c.message = "running", "", ""
        c.started_at = self.clock.timestamp()
        c.started_elapsed = self.clock.elapsed()
        c.started = behaviour.startup_seconds <= 0
        ready_after = _ready_after(behaviour, c)
        c.ready = c.started and ready_after <= 0
        self._event(run, c, NORMAL, "Created", f"Created container {c.name}")
        self._event(run, c, NORMAL, "Started", f"Started container {c.name}")
        generation = c.container_id
        if not c.started and behaviour.startup_seconds < ready_after:
            self._later(run, behaviour.startup_seconds, partial(self._started, c=c, gen=generation))
        if not c.ready:
            self._later(run, ready_after, partial(self._ready, c=c, gen=generation))
            if c.readiness_probe is not None:
                first = float(c.readiness_probe.get("initialDelaySeconds") or 0)
                if first < ready_after:
                    self._later(run, first, partial(self._probe_failed, c=c, gen=generation))
        self._schedule_exit(run, c, behaviour, generation)
        self._write(run)

    def _started(self, run: PodRun, c: ContainerRun, gen: str) -> None:
        if c.container_id == gen and c.state == "running":
            c.started = True
            self._write(run)

    def _ready(self, run: PodRun, c: ContainerRun, gen: str) -> None:
        if c.container_id == gen and c.state == "running":
            c.started = c.ready = True
            self._write(run)

    def _probe_failed(self, run: PodRun, c: ContainerRun, gen: str) -> None:
        """A readiness probe that runs before the app answers: ``Unhealthy`` every period."""
        if c.container_id != gen or c.state != "running" or c.ready or c.readiness_probe is None:
            return
        probe = c.readiness_probe
        detail = _probe_failure(probe, run.pod_ip, c.ports)
        self._event(run, c, WARNING, "Unhealthy", f"Readiness probe failed: {detail}")
        period = float(probe.get("periodSeconds") or 10)
        ran = self.clock.elapsed() - c.started_elapsed
        if ran + period < _ready_after(self._behaviour(run), c):
            self._later(run, period, partial(self._probe_failed, c=c, gen=gen))

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
        self._later(run, delay, partial(self._exited, c=c, gen=generation, code=code, why=reason))

    def _exited(self, run: PodRun, c: ContainerRun, gen: str, code: int, why: str) -> None:
        if c.container_id != gen or c.state != "running" or run.terminating:
            return
        ran = self.clock.elapsed() - c.started_elapsed
        c.state, c.reason, c.exit_code, c.message = "terminated", why, code, ""
        c.finished_at = self.clock.timestamp()
        c.ready = c.started = False
        if code:
            c.message = self._fallback_message(run, c)
        restart = run.restart_policy == "Always" or (run.restart_policy == "OnFailure" and code)
        if not restart:
            if all(x.state == "terminated" for x in run.containers):
                ok = all(x.exit_code == 0 for x in run.containers)
                run.phase = "Succeeded" if ok else "Failed"
                run.sandbox_ready = False
                for x in run.init_containers:  # sidecars are stopped once the pod is done
                    if x.state == "running":
                        x.state, x.reason, x.exit_code = "terminated", "Completed", 0
                        x.finished_at, x.ready, x.started = c.finished_at, False, False
            self._write(run)
            return
        self._write(run)
        # The kubelet's back-off: the first restart is immediate, then 10 s doubling to 5 min;
        # a container that ran 10 minutes starts over.
        if ran >= BACKOFF_RESET_AFTER:
            c.backoff = 0.0
        if c.backoff <= 0:
            c.backoff = BACKOFF_INITIAL
            self._later(run, SYNC_SECONDS, partial(self._restart, c=c, gen=gen))
            return
        backoff = c.backoff
        c.backoff = min(c.backoff * 2, BACKOFF_MAX)
        self._later(run, SYNC_SECONDS, partial(self._crashloop, c=c, gen=gen, backoff=backoff))

    def _fallback_message(self, run: PodRun, c: ContainerRun) -> str:
        """A failed container's message under FallbackToLogsOnError: its log's tail. The pod
        is read only for failures, so the policy costs nothing per running container."""
        assert PODS is not None
        stored = self.api.store.get(PODS.storage_key, run.key)
        if stored is None:
            return ""
        ended = containerlogs.terminated_run(c.terminated())
        return containerlogs.termination_message(
            stored.decode(), c.name, self._behaviour(run), ended
        )

    def _crashloop(self, run: PodRun, c: ContainerRun, gen: str, backoff: float) -> None:
        if c.container_id != gen or run.terminating:
            return
        c.last_terminated = c.terminated()
        pod_ref = f"{run.name}_{run.namespace}({run.uid})"
        c.state, c.reason = "waiting", "CrashLoopBackOff"
        c.message = (
            f"back-off {_go_duration(backoff)} restarting failed container={c.name} pod={pod_ref}"
        )
        self._event(
            run,
            c,
            WARNING,
            "BackOff",
            f"Back-off restarting failed container {c.name} in pod {pod_ref}",
        )
        self._write(run)
        delay = max(backoff - SYNC_SECONDS, 0.0)
        self._later(run, delay, partial(self._restart, c=c, gen=gen))

    def _restart(self, run: PodRun, c: ContainerRun, gen: str) -> None:
        if c.container_id != gen or run.terminating:
            return
        if c.state == "terminated":
            c.last_terminated = c.terminated()
        c.restart_count += 1
        self._check_image(run, c)
        self._start(run, c)

    def _check_image(self, run: PodRun, c: ContainerRun) -> None:
        """The image check of every container start after the first: Always re-resolves the
        tag (a quick manifest request for an image the node has), otherwise the cache."""
        if c.pull_policy == "Always":
            size = int(parse_quantity(self._behaviour(run).image_size))
            took = _go_duration(0.5)
            self._event(run, c, NORMAL, "Pulling", f'Pulling image "{c.image}"')
            self._event(
                run,
                c,
                NORMAL,
                "Pulled",
                f'Successfully pulled image "{c.image}" in {took} ({took} including '
                f"waiting). Image size: {size} bytes.",
            )
        else:
            self._event(
                run, c, NORMAL, "Pulled", f'Container image "{c.image}" already present on machine'
            )

    def resync_node(self, node: str) -> None:
        """A kubelet that restarts reports every pod it runs afresh (its status manager syncs
        all pods), which undoes the node controller's Ready=False marks."""
        info = self._nodes.get(node)
        for key in list(info.pods if info is not None else ()):
            run = self.runs.get(key)
            if run is not None and run.containers and not run.terminating:
                self._guard(run, self._write)

    # -- node-pressure eviction -----------------------------------------------------------------

    def evict_under_pressure(self) -> None:
        """One eviction per node under memory or disk pressure per monitoring period."""
        for node, machine in list(self.state.machines.items()):
            if machine.kubelet_stopped:
                continue
            signal = next(
                (
                    s
                    for s in ("MemoryPressure", "DiskPressure")
                    if (p := machine.problems.get(s)) is not None and p.status == "True"
                ),
                None,
            )
            info = self._nodes.get(node)
            if signal is None or info is None:
                continue
            candidates = [
                run
                for key in info.pods
                if (run := self.runs.get(key)) is not None
                and run.containers
                and run.phase in ("Pending", "Running")
                and not run.terminating
                and run.priority < CRITICAL_PRIORITY
            ]
            if candidates:
                victim = min(candidates, key=partial(self._eviction_rank, signal=signal))
                self._evict(victim, signal)

    def _usage(self, run: PodRun, c: ContainerRun, signal: str) -> float:
        if signal == "DiskPressure":
            return CONTAINER_DISK_BYTES
        if c.state != "running":
            return 0.0
        uptime = self.clock.elapsed() - c.started_elapsed
        return memory_bytes(self._behaviour(run).usage.memory, uptime)

    def _eviction_rank(self, run: PodRun, signal: str) -> tuple[bool, int, float, str]:
        """The kubelet's ranking (rankMemoryPressure / rankDiskPressureFunc): pods using more
        than they request first, then lower priority, then the most usage above requests."""
        over = 0.0
        exceeds = False
        for c in run.containers:
            request = c.memory_request if signal == "MemoryPressure" else 0.0
            usage = self._usage(run, c, signal)
            exceeds = exceeds or usage > request
            over += usage - request
        return (not exceeds, run.priority, -over, run.key)

    def _evict(self, run: PodRun, signal: str) -> None:
        if signal == "MemoryPressure":
            resource, threshold = "memory", MEMORY_THRESHOLD
        else:
            threshold = int(NODE_EPHEMERAL_STORAGE * NODEFS_THRESHOLD_FRACTION)
            resource = "ephemeral-storage"
        available = int(threshold * 0.9) // 1024 * 1024
        message = (
            f"The node was low on resource: {resource}. Threshold quantity: "
            f"{_binary(threshold)}, available: {_binary(available)}. "
        )
        for c in run.containers:
            usage = self._usage(run, c, signal)
            request = c.memory_request if signal == "MemoryPressure" else 0.0
            if usage > request:
                message += (
                    f"Container {c.name} was using {_binary(usage)}, request is "
                    f"{_binary(request)}, has larger consumption of {resource}. "
                )
        self.recorder.event(self._ref(run), WARNING, "Evicted", message, host=run.node)
        for t in run.timers:
            t.cancel()
        run.timers.clear()
        for c in run.all_containers():
            if c.state == "terminated" and c.reason == "Completed" and c.field != "containers":
                continue
            if c.state == "running":
                self._event(run, c, NORMAL, "Killing", f"Stopping container {c.name}")
            c.state, c.reason, c.exit_code = "terminated", "ContainerStatusUnknown", 137
            c.message = TERMINATED_UNKNOWN
            c.finished_at = self.clock.timestamp()
            c.ready = c.started = False
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
        self.stats.evicted += 1
        self._write(run)

    async def eviction_loop(self) -> None:
        while True:
            await self.clock.sleep(EVICTION_INTERVAL)
            try:
                self.evict_under_pressure()
            except Exception:
                log.exception("event=eviction_failed")

    # -- graceful termination -------------------------------------------------------------------

    def _terminate(self, run: PodRun) -> None:
        """deletionTimestamp set: stop the containers (SIGTERM, ``Killing``), then report the
        terminal status and delete the pod with grace 0, as the kubelet's status manager does."""
        assert PODS is not None
        obj = self.api.store.get(PODS.storage_key, run.key)
        if obj is None:
            self._forget(run)
            return
        grace = float(obj.decode()["metadata"].get("deletionGracePeriodSeconds") or 0)
        for c in run.all_containers():
            if c.state == "running":
                self._event(run, c, NORMAL, "Killing", f"Stopping container {c.name}")
        for t in run.timers:
            t.cancel()
        run.timers.clear()
        self._later(run, min(grace, STOP_SECONDS), partial(self._finalize, grace=grace))

    def _finalize(self, run: PodRun, grace: float) -> None:
        assert PODS is not None
        obj = self.api.store.get(PODS.storage_key, run.key)
        if obj is not None and run.containers and run.phase not in ("Succeeded", "Failed"):
            now = self.clock.timestamp()
            for c in run.all_containers():
                if c.state == "running":
                    # Exited on SIGTERM within the grace period, or SIGKILLed without one.
                    c.state, c.exit_code = "terminated", 0 if grace > 0 else 137
                    c.reason, c.message = ("Completed" if grace > 0 else "Error"), ""
                elif c.state == "waiting" and c.field == "containers":
                    c.state, c.exit_code = "terminated", 137
                    c.reason, c.message = "ContainerStatusUnknown", TERMINATED_UNKNOWN
                else:
                    continue
                c.finished_at = now
                c.ready = c.started = False
            ok = all(c.exit_code == 0 for c in run.containers)
            run.phase = "Succeeded" if ok else "Failed"
            run.sandbox_ready = False
            with contextlib.suppress(st.StatusError):
                self._write_now(run)
        obj = self.api.store.get(PODS.storage_key, run.key)
        if obj is not None:
            with contextlib.suppress(st.StatusError):  # gone or changed meanwhile
                self.api.delete(
                    PODS,
                    obj.namespace,
                    obj.name,
                    DeleteOptions(grace_period=0, precondition_uid=run.uid),
                )
        self._forget(run)

    # -- writing --------------------------------------------------------------------------------

    def _write(self, run: PodRun) -> None:
        """Mark the pod's status for the next flush (at most one write per pod per loop turn)."""
        self._dirty[run.key] = run
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._dirty = self._dirty, {}
        for run in batch.values():
            if self.runs.get(run.key) is not run:
                continue
            try:
                self._write_now(run)
            except st.StatusError as exc:
                if exc.code == 404:
                    self._forget(run)
                else:
                    log.info("kubelet status write failed pod=%s reason=%s", run.key, exc.reason)
            except Exception:
                log.exception("event=kubelet_status_failed pod=%s", run.key)

    def _write_now(self, run: PodRun) -> None:
        assert PODS is not None
        obj = self.api.store.get(PODS.storage_key, run.key)
        if obj is None or obj.uid != run.uid:
            self._forget(run)
            return
        pod = obj.decode()
        if obj.deleting and not run.terminating:
            run.terminating = True
            self._later(run, 0.0, self._terminate)
        pod["status"] = run.status(pod.get("status") or {}, self.clock.timestamp())
        self.stats.status_writes += 1
        self._writing = run.key
        try:
            written = self.api.update(PODS, run.namespace, run.name, pod, subresource="status")
        finally:
            self._writing = ""
        run.written_rv = written.rv

    def _event(self, run: PodRun, c: ContainerRun, type_: str, reason: str, message: str) -> None:
        self.recorder.event(
            self._ref(run, f"spec.{c.field}{{{c.name}}}"), type_, reason, message, host=run.node
        )

    @staticmethod
    def _ref(run: PodRun, field_path: str = "") -> ObjectRef:
        return ObjectRef("Pod", run.namespace, run.name, run.uid, "v1", "", field_path)


def _container_run(spec: dict[str, Any], field: str = "containers") -> ContainerRun:
    resources = spec.get("resources") or {}
    limit = (resources.get("limits") or {}).get("memory")
    request = (resources.get("requests") or {}).get("memory", limit)
    return ContainerRun(
        name=spec["name"],
        image=spec.get("image", ""),
        pull_policy=spec.get("imagePullPolicy", "IfNotPresent"),
        memory_limit=float(parse_quantity(str(limit))) if limit else None,
        memory_request=float(parse_quantity(str(request))) if request else 0.0,
        readiness_probe=spec.get("readinessProbe"),
        ports=list(spec.get("ports") or ()),
        field=field,
        sidecar=field == "initContainers" and spec.get("restartPolicy") == "Always",
    )


def _ready_after(behaviour: PodBehaviour, c: ContainerRun) -> float:
    """Seconds after a start until the container is ready: startup plus the behaviour's
    readiness delay, and never before the readiness probe's first run."""
    after = behaviour.startup_seconds + behaviour.readiness_delay_seconds
    if c.readiness_probe is not None:
        after = max(after, float(c.readiness_probe.get("initialDelaySeconds") or 0))
    return after


def _probe_failure(probe: dict[str, Any], pod_ip: str, ports: list[dict[str, Any]]) -> str:
    """What prober.go reports for a probe against an app that does not answer yet."""

    def port_of(value: Any) -> Any:
        if isinstance(value, str):
            return next((p["containerPort"] for p in ports if p.get("name") == value), value)
        return value

    if (http := probe.get("httpGet")) is not None:
        host = http.get("host") or pod_ip
        port = port_of(http.get("port"))
        scheme = str(http.get("scheme") or "HTTP").lower()
        path = http.get("path") or "/"
        return (
            f'Get "{scheme}://{host}:{port}{path}": dial tcp {host}:{port}: '
            f"connect: connection refused"
        )
    if (tcp := probe.get("tcpSocket")) is not None:
        host = tcp.get("host") or pod_ip
        return f"dial tcp {host}:{port_of(tcp.get('port'))}: connect: connection refused"
    if (grpc := probe.get("grpc")) is not None:
        return f'timeout: failed to connect service "{pod_ip}:{grpc.get("port")}" within 1s'
    return ""  # exec: the command's (empty) output


def _binary(value: float) -> str:
    """A byte count as resource.Quantity prints it in BinarySI ("100Mi", "92160Ki")."""
    return format_quantity(int(value), BINARY_SI)


def _go_duration(seconds: float) -> str:
    """Go's time.Duration formatting for the values kubelet messages use ("2.1s", "1m20s")."""
    if seconds < 1:
        return f"{seconds * 1000:.3f}".rstrip("0").rstrip(".") + "ms"
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes >= 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes}m{rest}s"
    return f"{minutes}m{rest}s"
