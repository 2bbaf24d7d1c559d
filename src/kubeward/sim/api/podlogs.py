"""``GET .../pods/<name>/log``: what kube-apiserver and the kubelet do for ``kubectl logs``.

kube-apiserver checks the options (``ValidatePodLogOptions``) and the container
(``LogLocation``), then proxies to the kubelet of the pod's node, which picks the run to read
and applies tail, since, timestamps and limitBytes. The simulated kubelet's side is
``kubeward.sim.nodes.containerlogs``; a kubelet that is down (a NotReady fault) cannot be
reached, as the API server's proxy would find.

``follow=true`` streams new lines as simulated time passes, and ends when the container run it
follows ends, the pod goes, its kubelet stops, or the server shuts down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.responses import Response, StreamingResponse

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.clock import parse_time
from kubeward.sim.nodes import containerlogs as cl
from kubeward.sim.nodes.state import ClusterState

PODS = REGISTRY.get("", "v1", "pods")
_TEXT = "text/plain"
# Go's strconv.ParseBool, which decodes the query's booleans.
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
_FOLLOW_POLL = 1.0  # real seconds between looks at the pod while following (ends, restarts)


@dataclass
class LogOptions:
    """``PodLogOptions``, decoded from the query."""

    container: str = ""
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    since_seconds: int | None = None
    since_time: datetime | None = None
    tail_lines: int | None = None
    limit_bytes: int | None = None


def parse_options(query: dict[str, str], pod_name: str) -> LogOptions:
    """Decode and validate the options: a value that does not parse is a 400 naming the
    parameter; one out of range is a 422 ``PodLogOptions`` Invalid, as kube-apiserver says."""
    opts = LogOptions(
        container=query.get("container", ""),
        follow=_bool(query, "follow"),
        previous=_bool(query, "previous"),
        timestamps=_bool(query, "timestamps"),
        since_seconds=_int(query, "sinceSeconds"),
        tail_lines=_int(query, "tailLines"),
        limit_bytes=_int(query, "limitBytes"),
    )
    if query.get("sinceTime"):
        try:
            opts.since_time = parse_time(query["sinceTime"])
        except ValueError:
            raise st.bad_request(
                f'sinceTime: invalid value "{query["sinceTime"]}": must be an RFC 3339 time, '
                "e.g. 2026-01-02T15:04:05Z"
            ) from None
    errors: list[st.FieldError] = []
    if opts.tail_lines is not None and opts.tail_lines < 0:
        errors.append(
            st.invalid("tailLines", opts.tail_lines, "must be greater than or equal to 0")
        )
    if opts.limit_bytes is not None and opts.limit_bytes < 1:
        errors.append(st.invalid("limitBytes", opts.limit_bytes, "must be greater than 0"))
    if opts.since_seconds is not None and opts.since_time is not None:
        errors.append(
            st.forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified")
        )
    elif opts.since_seconds is not None and opts.since_seconds < 1:
        errors.append(st.invalid("sinceSeconds", opts.since_seconds, "must be greater than 0"))
    if errors:
        raise st.invalid_object("PodLogOptions", "", pod_name, errors)
    return opts


def _bool(query: dict[str, str], name: str) -> bool:
    raw = query.get(name)
    if raw is None or raw == "":
        return False
    if raw not in _BOOLS:
        raise st.bad_request(f'{name}: invalid value "{raw}": must be true or false')
    return _BOOLS[raw]


def _int(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise st.bad_request(f'{name}: invalid value "{raw}": must be an integer') from None


def resolve_container(pod: dict[str, Any], requested: str) -> str:
    """The container to read, as kube-apiserver's LogLocation picks it."""
    name = pod["metadata"]["name"]
    containers, inits, ephemeral = cl.container_names(pod)
    if requested:
        if requested not in (*containers, *inits, *ephemeral):
            raise st.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise st.bad_request(f"a container name must be specified for pod {name}")
    choices = " ".join(containers)
    message = f"a container name must be specified for pod {name}, choose one of: [{choices}]"
    if inits:
        message += f" or one of the init containers: [{' '.join(inits)}]"
    if ephemeral:
        message += f" or one of the ephemeral containers: [{' '.join(ephemeral)}]"
    raise st.bad_request(message)


class PodLogs:
    """Serves pod logs from the store, the clock and the machines' state."""

    def __init__(self, api: ObjectAPI, machines: ClusterState | None = None) -> None:
        self.api = api
        self.machines = machines
        self._followers: set[asyncio.Event] = set()

    def close(self) -> None:
        """End every open ``follow`` stream (server shutdown)."""
        for closed in list(self._followers):
            closed.set()

    def respond(self, namespace: str, name: str, query: dict[str, str]) -> Response:
        assert PODS is not None
        pod = self.api.get(PODS, namespace, name).decode()
        opts = parse_options(query, name)
        container = resolve_container(pod, opts.container)
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return Response(b"", media_type=_TEXT)  # not scheduled: an empty stream, no error
        self._reach_kubelet(node, namespace, name, container)
        now = self.api.clock.now().timestamp()
        try:
            log = cl.container_log(pod, container, opts.previous, now)
        except cl.LogUnavailable as exc:
            raise st.bad_request(str(exc)) from None
        lines = _select(log, opts, now)
        body = _render(lines, opts.timestamps)
        if opts.limit_bytes is not None:
            body = body[: opts.limit_bytes]
        if not opts.follow or log.run.finished is not None:
            return Response(body, media_type=_TEXT)
        left = None if opts.limit_bytes is None else opts.limit_bytes - len(body)
        stream = self._follow(pod, container, log, body, opts.timestamps, left)
        return StreamingResponse(stream, media_type=_TEXT)

    def _reach_kubelet(self, node: str, namespace: str, pod: str, container: str) -> None:
        """The API server's proxy to the node's kubelet: the node must exist and its kubelet
        answer (port 10250 on its InternalIP)."""
        stored = self.api.store.get(("", "nodes"), node)
        if stored is None:
            raise st.not_found("nodes", "", node)
        if self.machines is None or not self.machines.machine(node).kubelet_stopped:
            return
        addresses = (stored.decode().get("status") or {}).get("addresses") or ()
        ip = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), node)
        url = f"https://{ip}:10250/containerLogs/{namespace}/{pod}/{container}"
        # Not a metav1.Status error in kube-apiserver either: code 500 with no reason.
        raise st.StatusError(500, "", f'Get "{url}": dial tcp {ip}:10250: i/o timeout')

    async def _follow(
        self,
        pod: dict[str, Any],
        container: str,
        log: cl.ContainerLog,
        first: bytes,
        timestamps: bool,
        left: int | None,
    ) -> AsyncIterator[bytes]:
        """Stream ``first``, then each new line of the run ``log`` reads, until it ends."""
        closed = asyncio.Event()
        self._followers.add(closed)
        meta = pod["metadata"]
        run, sent, clock = log.run, log.total, self.api.clock
        try:
            if first:
                yield first
            while left is None or left > 0:
                due = run.started + cl.HEARTBEAT_SECONDS * (1 + sent - cl.HEAD_LINES)
                wait = min(max(due - clock.now().timestamp(), 0.0) / clock.speed, _FOLLOW_POLL)
                try:
                    await asyncio.wait_for(closed.wait(), wait)
                    return
                except TimeoutError:
                    pass
                current = self.api.store.get(("", "pods"), f"{meta['namespace']}/{meta['name']}")
                if current is None or current.uid != meta["uid"]:
                    return
                node = pod["spec"]["nodeName"]
                if self.machines is not None and self.machines.machine(node).kubelet_stopped:
                    return
                found = cl.run_by_id(current.decode(), container, run.container_id)
                if found is None:
                    return
                log = cl.ContainerLog(log.spec, log.behaviour, found, clock.now().timestamp())
                chunk = _render(
                    (log.line(n) for n in range(max(sent, log.first), log.total)), timestamps
                )
                sent = log.total
                if left is not None:
                    chunk, left = chunk[:left], left - len(chunk)
                if chunk:
                    yield chunk
                if found.finished is not None:
                    return
        finally:
            self._followers.discard(closed)


def _select(log: cl.ContainerLog, opts: LogOptions, now: float) -> list[cl.LogLine]:
    """The kubelet's order: the last ``tailLines`` of the file, then those since the time."""
    start = 0 if opts.tail_lines is None else max(len(log) - opts.tail_lines, 0)
    since = None
    if opts.since_seconds is not None:
        since = now - opts.since_seconds
    elif opts.since_time is not None:
        since = opts.since_time.timestamp()
    if since is not None:
        start = max(start, log.index_at(since))
    return [log[i] for i in range(start, len(log))]


def _render(lines: Iterable[cl.LogLine], timestamps: bool) -> bytes:
    if timestamps:
        text = "".join(f"{cl.format_timestamp(x.at)} {x.text}\n" for x in lines)
    else:
        text = "".join(f"{x.text}\n" for x in lines)
    return text.encode()
