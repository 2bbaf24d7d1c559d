"""``--audit-log``: audit.k8s.io/v1 Event JSON lines, level Metadata.

Stage ``ResponseComplete`` always; with ``request_received`` (``--audit-request-received``, an
audit policy without ``omitStages: [RequestReceived]``) also ``RequestReceived`` when a request
arrives, under the same auditID. That first line is the only trace of a request the server
never finishes: one in flight when the process is OOM-killed gets no ``ResponseComplete``.

HTTP requests are always logged. Synthetic requests can be sampled (``sample`` in (0, 1]);
sampled lines carry the annotation ``sim.kubeward.io/audit-sample-rate`` so an analyser can
scale counts back up. Lines are buffered: flushed by writes once a second has passed, and by
the server's once-a-second flush when no request comes (``kubeward.sim.serve``).
"""

from __future__ import annotations

import random
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from kubeward.kube.apiserver import AUDIT_SAMPLE_RATE_ANNOTATION
from kubeward.kube.uid import uid4

SAMPLE_ANNOTATION = AUDIT_SAMPLE_RATE_ANNOTATION
_MESSAGES = {
    429: ("TooManyRequests", "Too many requests, please try again later."),
    503: ("ServiceUnavailable", "The API server is restarting (simulated out-of-memory kill)."),
}


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String(): "0s", "850ns", "12.5µs", "3.2ms", "1.5s", "2m3s"."""
    if seconds <= 0:
        return "0s"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f}ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.6g}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.6g}ms"
    minutes, secs = divmod(seconds, 60)
    if minutes < 1:
        return f"{secs:.6g}s"
    hours, minutes = divmod(int(minutes), 60)
    head = f"{hours}h{minutes}m" if hours else f"{minutes}m"
    return f"{head}{secs:.6g}s"


def object_ref(
    resource: str, namespace: str, name: str, group: str, version: str, subresource: str
) -> dict[str, str]:
    """An audit event's ``objectRef``: the fields that are set."""
    fields = (
        ("resource", resource),
        ("namespace", namespace),
        ("name", name),
        ("apiGroup", group),
        ("apiVersion", version),
        ("subresource", subresource),
    )
    return {k: v for k, v in fields if v}


def micro(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditLog:
    def __init__(
        self, path: Path, sample: float = 1.0, seed: int = 0, *, request_received: bool = False
    ) -> None:
        if not 0 < sample <= 1:
            raise ValueError("audit sample rate must be in (0, 1], e.g. 0.1 keeps one in ten")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.sample = sample
        self.request_received = request_received
        self._rng = random.Random(seed)
        self._file: IO[bytes] = path.open("ab")
        self._buffer: list[bytes] = []
        self._last_flush = time.monotonic()
        self.lines = 0

    def keep_synthetic(self) -> bool:
        return self.sample >= 1 or self._rng.random() < self.sample

    def new_id(self) -> str:
        return uid4(self._rng.getrandbits(128))

    def write_received(
        self,
        *,
        audit_id: str,
        user: str,
        groups: tuple[str, ...],
        user_agent: str,
        verb: str,
        uri: str,
        object_ref: dict[str, str] | None,
        received: datetime,
        sampled: bool = False,
        source_ip: str = "127.0.0.1",
        extra: dict[str, list[str]] | None = None,
    ) -> None:
        """The ``RequestReceived`` line of a request (no response yet, no annotations but
        the sample rate)."""
        event = self._event(
            audit_id, "RequestReceived", user, groups, user_agent, verb, uri, source_ip, extra
        )
        event["requestReceivedTimestamp"] = event["stageTimestamp"] = micro(received)
        event["annotations"] = {}
        self._finish_event(event, object_ref, sampled)

    def write(
        self,
        *,
        user: str,
        groups: tuple[str, ...],
        user_agent: str,
        verb: str,
        uri: str,
        object_ref: dict[str, str] | None,
        code: int,
        received: datetime,
        completed: datetime,
        annotations: dict[str, str],
        sampled: bool = False,
        source_ip: str = "127.0.0.1",
        extra: dict[str, list[str]] | None = None,
        audit_id: str = "",
    ) -> None:
        """The ``ResponseComplete`` line; ``audit_id`` is the one its ``RequestReceived``
        line used, if that was written."""
        status: dict[str, Any] = {"metadata": {}, "code": code}
        if code >= 400 and code in _MESSAGES:
            reason, message = _MESSAGES[code]
            status |= {"status": "Failure", "message": message, "reason": reason}
        event = self._event(
            audit_id or self.new_id(),
            "ResponseComplete",
            user,
            groups,
            user_agent,
            verb,
            uri,
            source_ip,
            extra,
        )
        event["responseStatus"] = status
        event["requestReceivedTimestamp"] = micro(received)
        event["stageTimestamp"] = micro(completed)
        event["annotations"] = {
            "authorization.k8s.io/decision": "allow",
            "authorization.k8s.io/reason": "",
            **annotations,
        }
        self._finish_event(event, object_ref, sampled)

    @staticmethod
    def _event(
        audit_id: str,
        stage: str,
        user: str,
        groups: tuple[str, ...],
        user_agent: str,
        verb: str,
        uri: str,
        source_ip: str,
        extra: dict[str, list[str]] | None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": audit_id,
            "stage": stage,
            "requestURI": uri,
            "verb": verb,
            "user": {"username": user, "groups": list(groups)},
            "sourceIPs": [source_ip],
            "userAgent": user_agent,
        }
        if extra:
            event["user"]["extra"] = extra
        return event

    def _finish_event(
        self, event: dict[str, Any], object_ref: dict[str, str] | None, sampled: bool
    ) -> None:
        if object_ref:
            event["objectRef"] = object_ref
        if sampled and self.sample < 1:
            event["annotations"][SAMPLE_ANNOTATION] = str(self.sample)
        self._buffer.append(orjson.dumps(event) + b"\n")
        self.lines += 1
        if len(self._buffer) >= 1000 or time.monotonic() - self._last_flush > 1.0:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            self._buffer.clear()
        self._file.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        self._file.close()
