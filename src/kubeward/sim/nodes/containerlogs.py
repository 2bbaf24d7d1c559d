"""What a simulated container writes to its log, as the kubelet's log files would hold it.

Nothing is stored. A container's log is a pure function of its pod (the behaviour annotation and
the container's spec) and of one run of the container as the pod's status records it
(containerID, startedAt, finishedAt, exit code, reason). Logs cost nothing at 150,000 pods until
somebody reads one, and reading one twice gives the same lines.

One run writes, in order:

- at its start, a ``starting`` line and a ``listening`` line (its first port) or ``started``;
- every ``HEARTBEAT_SECONDS`` while it runs, a heartbeat with its uptime and memory working set
  (the usage profile without noise, so a leak shows), at level ``warn`` from 90 % of its limit;
- when it ends, what its end calls for: the behaviour's ``crashLog`` (or a generic fatal line)
  for a crash, a completion or SIGTERM line for exit 0, nothing for a SIGKILL (an OOM kill, a
  kill at the end of the grace period): a killed process writes nothing more.

Which run a request reads, and the kubelet's errors when there is none, follow the kubelet's
``validateContainerLogStatus`` (``pkg/kubelet/kubelet_pods.go``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubeward.kube.quantity import QuantityError, parse_quantity
from kubeward.sim.behaviour import DEFAULT, BehaviourError, PodBehaviour, behaviour_of, memory_bytes
from kubeward.sim.clock import parse_time

HEARTBEAT_SECONDS = 60
# The kubelet rotates a container's log at containerLogMaxSize (10 MiB by default) and serves
# only the current file; heartbeats are about 80 bytes, so the newest lines that fit are kept.
MAX_LINES = 10 * 1024 * 1024 // 80
_MEMORY_WARN = 0.9
_SIGKILL = 137
HEAD_LINES = 2  # "starting" and "listening"/"started"


class LogUnavailable(Exception):
    """The kubelet has no log to serve for this request; the message is the kubelet's."""


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """What a container's log lines mention of its spec."""

    name: str
    image: str
    port: int | None
    memory_limit: float | None  # bytes
    batch: bool  # runs to completion (an init container, a Job's work)
    fallback_to_logs: bool = False  # terminationMessagePolicy: FallbackToLogsOnError


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a container, from its status: a running state or a terminated one."""

    container_id: str
    started: float  # epoch seconds
    finished: float | None = None  # None while it runs
    exit_code: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class LogLine:
    at: float  # epoch seconds
    text: str


class ContainerLog:
    """The lines of one run up to ``until`` (epoch seconds), as an indexable sequence: line
    ``i`` is computed when asked for, so a tail of a month-old container costs its tail only.
    ``first`` is the number of the first line still in the file (rotation dropped the rest)."""

    def __init__(
        self, spec: ContainerSpec, behaviour: PodBehaviour, run: Run, until: float
    ) -> None:
        self.spec, self.behaviour, self.run = spec, behaviour, run
        end = until if run.finished is None else min(run.finished, until)
        self._beats = max(int((end - run.started) // HEARTBEAT_SECONDS), 0)
        ended = run.finished is not None and run.finished <= until
        self._last = self._last_line() if ended else None
        total = HEAD_LINES + self._beats + (self._last is not None)
        self.first = max(total - MAX_LINES, 0)
        self.total = total

    def __len__(self) -> int:
        return self.total - self.first

    def __getitem__(self, index: int) -> LogLine:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.line(self.first + index)

    def __iter__(self) -> Iterator[LogLine]:
        return (self.line(n) for n in range(self.first, self.total))

    def line(self, number: int) -> LogLine:
        """Line ``number`` counted from the run's first line (absolute, across rotations)."""
        run, spec = self.run, self.spec
        if number == 0:
            return LogLine(
                run.started, f'level=info msg="starting" container={spec.name} image={spec.image}'
            )
        if number == 1:
            text = (
                f'level=info msg="listening" port={spec.port}'
                if spec.port
                else 'level=info msg="started"'
            )
            return LogLine(run.started, text)
        beat = number - HEAD_LINES + 1
        if beat <= self._beats:
            return self._heartbeat(beat)
        assert self._last is not None and number == self.total - 1
        return self._last

    def index_at(self, when: float) -> int:
        """The index of the first line written at or after ``when``."""
        return bisect.bisect_left(self, when, key=lambda line: line.at)

    def _heartbeat(self, beat: int) -> LogLine:
        uptime = beat * HEARTBEAT_SECONDS
        used = memory_bytes(self.behaviour.usage.memory, uptime)
        fields = f"uptime={uptime}s memory={_mebibytes(used)}"
        limit = self.spec.memory_limit
        if limit and used >= _MEMORY_WARN * limit:
            text = f'level=warn msg="memory near limit" {fields} limit={_mebibytes(limit)}'
        else:
            text = f'level=info msg="heartbeat" {fields}'
        return LogLine(self.run.started + uptime, text)

    def _last_line(self) -> LogLine | None:
        run = self.run
        assert run.finished is not None
        if run.exit_code == _SIGKILL or run.reason in ("OOMKilled", "ContainerStatusUnknown"):
            return None
        if run.exit_code == 0:
            if self.spec.batch or self.behaviour.run_seconds is not None:
                return LogLine(run.finished, 'level=info msg="work complete"')
            return LogLine(run.finished, 'level=info msg="received SIGTERM, shutting down"')
        text = self.behaviour.crash_log or (
            f'level=error msg="fatal error, exiting" code={run.exit_code}'
        )
        return LogLine(run.finished, text)


def _mebibytes(value: float) -> str:
    return f"{value / 2**20:.0f}Mi"


def termination_message(
    pod: dict[str, Any], container: str, behaviour: PodBehaviour, run: Run
) -> str:
    """What the kubelet puts in the ``message`` of a run that failed (``run.finished`` set,
    non-zero exit) without a termination-log file: with terminationMessagePolicy
    FallbackToLogsOnError, the last 80 lines of its log, at most their last 2048 bytes
    (MaxContainerTerminationMessageLogLines and ...LogLength); otherwise nothing."""
    spec = container_spec(pod, container)
    if spec is None or not spec.fallback_to_logs or not run.exit_code or run.finished is None:
        return ""
    log = ContainerLog(spec, behaviour, run, run.finished)
    tail = "".join(f"{log[i].text}\n" for i in range(max(len(log) - 80, 0), len(log)))
    return tail.encode()[-2048:].decode(errors="ignore")


def format_timestamp(epoch: float) -> str:
    """The CRI log's timestamp: RFC 3339 with nanoseconds, fixed width (RFC3339NanoFixed)."""
    whole = int(epoch)
    nanos = round((epoch - whole) * 1e9)
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos:09d}Z"


# -- which run a request reads ----------------------------------------------------------------


def container_log(pod: dict[str, Any], container: str, previous: bool, now: float) -> ContainerLog:
    """The log a request for ``container`` (and ``previous``) reads at ``now``; raises
    LogUnavailable with the kubelet's message when there is none."""
    pod_name = pod["metadata"]["name"]
    spec = container_spec(pod, container)
    status = _container_status(pod, container)
    if spec is None or status is None:
        raise LogUnavailable(f'container "{container}" in pod "{pod_name}" is not available')
    run = pick_run(status, pod_name, previous)
    try:
        behaviour = behaviour_of(pod)
    except BehaviourError:
        behaviour = DEFAULT  # such a pod never ran; a run in its status came from elsewhere
    return ContainerLog(spec, behaviour, run, now)


def pick_run(status: dict[str, Any], pod_name: str, previous: bool) -> Run:
    """The run whose log the kubelet serves, from one container status."""
    name = status.get("name", "")
    where = f'container "{name}" in pod "{pod_name}"'
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated")
    running, terminated = state.get("running"), state.get("terminated")
    waiting = state.get("waiting")
    if previous:
        if not last or not last.get("containerID"):
            raise LogUnavailable(f"previous terminated {where} not found")
        return terminated_run(last)
    if running is not None:
        return Run(status.get("containerID", ""), _epoch(running.get("startedAt")))
    if terminated is not None:
        if terminated.get("containerID"):
            return terminated_run(terminated)
        if last and last.get("containerID"):
            return terminated_run(last)
        raise LogUnavailable(f"{where} is terminated")
    if last is not None:
        if not last.get("containerID"):
            raise LogUnavailable(f"{where} is terminated")
        return terminated_run(last)
    if waiting is not None:
        reason = waiting.get("reason", "")
        if reason == "ErrImagePull":
            raise LogUnavailable(f"{where} is waiting to start: image can't be pulled")
        if reason == "ImagePullBackOff":
            raise LogUnavailable(f"{where} is waiting to start: trying and failing to pull image")
        raise LogUnavailable(f"{where} is waiting to start: {reason}")
    raise LogUnavailable(f"{where} is waiting to start - no logs yet")


def run_by_id(pod: dict[str, Any], container: str, container_id: str) -> Run | None:
    """The run ``container_id`` of ``container``, current or last, while its status has it."""
    status = _container_status(pod, container)
    if status is None:
        return None
    state = status.get("state") or {}
    if status.get("containerID") == container_id:
        if state.get("running") is not None:
            return Run(container_id, _epoch(state["running"].get("startedAt")))
        if state.get("terminated") is not None:
            return terminated_run(state["terminated"])
    last = (status.get("lastState") or {}).get("terminated")
    if last and last.get("containerID") == container_id:
        return terminated_run(last)
    return None


def terminated_run(terminated: dict[str, Any]) -> Run:
    """The run a ``terminated`` container state (or last state) records."""
    finished = _epoch(terminated.get("finishedAt"))
    started = _epoch(terminated.get("startedAt")) if terminated.get("startedAt") else finished
    return Run(
        terminated.get("containerID", ""),
        started,
        finished,
        int(terminated.get("exitCode") or 0),
        terminated.get("reason", ""),
    )


def _epoch(value: str | None) -> float:
    return parse_time(value).timestamp() if value else 0.0


def container_names(pod: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Names of the pod's containers, init containers and ephemeral containers."""
    spec = pod.get("spec") or {}
    return tuple(  # type: ignore[return-value]
        [c.get("name", "") for c in spec.get(field) or ()]
        for field in ("containers", "initContainers", "ephemeralContainers")
    )


def container_spec(pod: dict[str, Any], name: str) -> ContainerSpec | None:
    spec = pod.get("spec") or {}
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(field) or ():
            if c.get("name") != name:
                continue
            ports = c.get("ports") or ()
            limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
            return ContainerSpec(
                name,
                c.get("image", ""),
                int(ports[0].get("containerPort") or 0) or None if ports else None,
                _bytes(limit),
                batch=field == "initContainers" and c.get("restartPolicy") != "Always",
                fallback_to_logs=c.get("terminationMessagePolicy") == "FallbackToLogsOnError",
            )
    return None


def _bytes(quantity: Any) -> float | None:
    if quantity is None:
        return None
    try:
        return float(parse_quantity(quantity))
    except QuantityError:
        return None


def _container_status(pod: dict[str, Any], name: str) -> dict[str, Any] | None:
    status = pod.get("status") or {}
    for field in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for s in status.get(field) or ():
            if s.get("name") == name:
                return s  # type: ignore[no-any-return]
    return None
