"""Read kube-apiserver audit logs (``audit.k8s.io/v1`` Event, one JSON object per line) as a
stream of small typed records, in bounded memory.

kube-apiserver may log up to four stages of one request (``RequestReceived``,
``ResponseStarted`` for long-running requests, ``ResponseComplete``, ``Panic``), under one
``auditID``. Each request is counted once:

- A log without ``RequestReceived`` (the usual policy omits it) gives one ``whole`` record per
  request from its ``ResponseComplete``/``Panic`` line, or for a watch from the first of
  ``ResponseStarted``/``ResponseComplete`` (a watch's ``ResponseComplete`` arrives when it
  ends, minutes later).
- A log with ``RequestReceived`` gives a ``request`` record when the request arrives (counted
  then, with its shape) and an ``outcome`` record (status code, latency) when it completes. A
  request the server never finishes (in flight when it was OOM-killed) is only in the log at
  that first stage: without it, the client whose requests kill the server is invisible.

Lines that are not JSON or not audit events are skipped and counted (:class:`ReadStats`), so a
truncated last line or a stray log message never stops an analysis.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from kubeward.kube.apiserver import (
    AUDIT_SAMPLE_RATE_ANNOTATION,
    LATENCY_ANNOTATION_PREFIX,
    NODE_NAME_EXTRA,
)

# Annotations naming the APF classification: kube-apiserver's own names (added by some
# distributions' audit policies and by the simulator) and the simulator's original ones.
FLOW_SCHEMA_ANNOTATIONS = ("apf.kubernetes.io/flow-schema", "sim.kubeward.io/flow-schema")
PRIORITY_LEVEL_ANNOTATIONS = (
    "apf.kubernetes.io/priority-level",
    "sim.kubeward.io/priority-level",
)
# Latency annotations that are not admission webhooks.
_NON_WEBHOOK_LATENCY = frozenset(
    {
        "total",
        "etcd",
        "apf-queue-wait",
        "response-write",
        "serialize-response-object",
        "transform-response-object",
    }
)
_GO_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_KEPT_STAGES = frozenset({"ResponseComplete", "Panic"})
_NO_LATENCY_STAGES = frozenset({"RequestReceived", "ResponseStarted"})  # not over yet
_MAX_OPEN_WATCHES = 1_000_000  # auditIDs remembered between a watch's start and its end
_MAX_RECEIVED = 1_000_000  # auditIDs remembered between a request's arrival and its completion
# AuditRecord.part
WHOLE = "whole"  # the request and its outcome, from one line
REQUEST = "request"  # a RequestReceived line: the request, no outcome yet
OUTCOME = "outcome"  # the completion of a request already counted from its RequestReceived
_MAX_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One API request as the audit log tells it."""

    time: float  # requestReceivedTimestamp, Unix seconds
    user: str
    groups: tuple[str, ...]
    user_agent: str
    verb: str  # audit verb: get, list, watch, create, update, patch, delete, deletecollection
    resource: str  # "pods", "deployments.apps", "leases.coordination.k8s.io"; a path if none
    subresource: str
    namespace: str
    name: str
    scope: str  # "cluster", "namespace" or "resource" (one named object), as in /metrics
    code: int  # responseStatus.code (0 when the server logged none)
    resource_version: str | None  # the LIST/WATCH query's resourceVersion; None when absent
    limit: int  # the LIST page size; 0 = unpaged
    continued: bool  # a later page of a paged LIST (a continue token)
    field_selector: str
    label_selector: str
    weight: float = 1.0  # requests this line stands for: 1 / the sample rate
    latency: float = 0.0  # seconds from received to this stage (0 for a watch's start)
    webhook_latency: float = 0.0  # seconds in admission webhooks (latency annotations)
    flow_schema: str = ""
    priority_level: str = ""
    source_ip: str = ""
    node: str = ""  # the node of a pod-bound service account token (user.extra)
    is_resource: bool = True
    part: str = WHOLE  # WHOLE, REQUEST or OUTCOME (see the module doc)

    @property
    def is_list(self) -> bool:
        return self.verb == "list"

    @property
    def quorum(self) -> bool:
        """A LIST read from etcd with quorum (no resourceVersion), not from the watch cache."""
        return self.verb == "list" and not self.resource_version

    @property
    def instance(self) -> str:
        """What tells this client's instances apart: the node of its token, else its address."""
        return self.node or self.source_ip


@dataclass
class ReadStats:
    """What the reader saw; ``malformed_examples`` holds the first few problems with their
    line numbers, for the warning."""

    lines: int = 0
    records: int = 0
    malformed: int = 0
    skipped_stages: int = 0  # a watch's end after its start; stages after a request's first
    bytes_read: int = 0
    bad_sample_rates: int = 0
    malformed_examples: list[str] = field(default_factory=list)

    def malformed_line(self, number: int, why: str) -> None:
        self.malformed += 1
        if len(self.malformed_examples) < _MAX_EXAMPLES:
            self.malformed_examples.append(f"line {number}: {why}")


class AuditFormatError(ValueError):
    """A line that is JSON but not a usable audit event (the message names the field)."""


def parse_go_duration(text: str) -> float:
    """Go's ``time.Duration`` text ("1.5s", "250ms", "2m3.5s", "850µs") in seconds."""
    text = text.strip()
    if not text:
        raise ValueError("empty duration")
    total, pos = 0.0, 0
    for m in _GO_DURATION_PART.finditer(text):
        if m.start() != pos:
            raise ValueError(f"{text!r} is not a Go duration")
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError(f"{text!r} is not a Go duration")
    return total


def parse_timestamp(text: str) -> float:
    """RFC 3339 with microseconds ("2024-12-11T15:16:17.123456Z") in Unix seconds."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Nanosecond precision (some log shippers) is more than fromisoformat takes: cut to micro.
    dot = text.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        if end - dot - 1 > 6:
            text = text[: dot + 7] + text[end:]
    return datetime.fromisoformat(text).timestamp()


class AuditParser:
    """Turns decoded audit events into :class:`AuditRecord` s; remembers the auditIDs of
    requests whose arrival and of watches whose start it has seen, so a later stage of the
    same request is not counted as another request."""

    def __init__(self, stats: ReadStats | None = None) -> None:
        self.stats = stats if stats is not None else ReadStats()
        self._open_watches: dict[str, None] = {}
        self._received: dict[str, None] = {}

    def parse_line(self, line: bytes, number: int = 0) -> AuditRecord | None:
        """The record of one line, or None (blank, skipped stage, or malformed: counted)."""
        self.stats.lines += 1
        self.stats.bytes_read += len(line)
        stripped = line.strip()
        if not stripped:
            return None
        try:
            event = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            self.stats.malformed_line(number, f"not JSON ({exc})")
            return None
        if not isinstance(event, dict):
            self.stats.malformed_line(number, "not a JSON object")
            return None
        try:
            record = self.parse_event(event)
        except AuditFormatError as exc:
            self.stats.malformed_line(number, str(exc))
            return None
        if record is not None:
            self.stats.records += 1
        return record

    def parse_event(self, event: dict[str, Any]) -> AuditRecord | None:
        """The record of one decoded event; None for a stage that does not count (raises
        :class:`AuditFormatError` for an event missing what the analysis needs)."""
        kind = event.get("kind")
        if kind is not None and kind != "Event":
            raise AuditFormatError(f'kind is "{kind}", not an audit Event')
        stage = event.get("stage", "ResponseComplete")
        verb = event.get("verb")
        if not isinstance(verb, str) or not verb:
            raise AuditFormatError('no "verb"')
        uri = event.get("requestURI")
        if not isinstance(uri, str):
            raise AuditFormatError('no "requestURI"')
        audit_id = event.get("auditID")
        part = self._part(stage, verb, audit_id if isinstance(audit_id, str) else None)
        if part is None:
            self.stats.skipped_stages += 1
            return None
        received = event.get("requestReceivedTimestamp") or event.get("stageTimestamp")
        if not isinstance(received, str):
            raise AuditFormatError('no "requestReceivedTimestamp"')
        try:
            when = parse_timestamp(received)
            stage_ts = event.get("stageTimestamp")
            done = parse_timestamp(stage_ts) if isinstance(stage_ts, str) else when
        except ValueError:
            raise AuditFormatError(
                f'"requestReceivedTimestamp"/"stageTimestamp" is not RFC 3339: {received!r}'
            ) from None
        user_info = event.get("user")
        if not isinstance(user_info, dict):
            raise AuditFormatError('no "user" object')
        # Impersonation: the load is the impersonated user's as far as APF is concerned.
        impersonated = event.get("impersonatedUser")
        who = impersonated if isinstance(impersonated, dict) else user_info
        user = str(who.get("username", ""))
        groups = tuple(str(g) for g in who.get("groups") or ())
        node = ""
        extra = who.get("extra")
        if isinstance(extra, dict):
            nodes = extra.get(NODE_NAME_EXTRA)
            if isinstance(nodes, list) and nodes:
                node = str(nodes[0])
        status = event.get("responseStatus")
        code = 0
        if isinstance(status, dict):
            raw_code = status.get("code", 0)
            code = raw_code if isinstance(raw_code, int) else 0
        annotations = event.get("annotations")
        if not isinstance(annotations, dict):
            annotations = {}
        weight = 1.0
        rate_text = annotations.get(AUDIT_SAMPLE_RATE_ANNOTATION)
        if rate_text is not None:
            try:
                rate = float(rate_text)
                if not 0 < rate <= 1:
                    raise ValueError
                weight = 1.0 / rate
            except (TypeError, ValueError):
                self.stats.bad_sample_rates += 1
        flow_schema = _first(annotations, FLOW_SCHEMA_ANNOTATIONS)
        priority_level = _first(annotations, PRIORITY_LEVEL_ANNOTATIONS)
        webhook = 0.0
        latency = max(0.0, done - when) if stage not in _NO_LATENCY_STAGES else 0.0
        for key, value in annotations.items():
            if not key.startswith(LATENCY_ANNOTATION_PREFIX) or not isinstance(value, str):
                continue
            part = key[len(LATENCY_ANNOTATION_PREFIX) :]
            try:
                seconds = parse_go_duration(value)
            except ValueError:
                continue
            if part == "total":
                latency = max(latency, seconds)
            elif part not in _NON_WEBHOOK_LATENCY and "webhook" in part:
                webhook += seconds
        path, _, query_text = uri.partition("?")
        query = dict(parse_qsl(query_text, keep_blank_values=True)) if query_text else {}
        if verb == "list" and query.get("watch") in ("true", "1"):
            verb = "watch"  # a list request with watch=true is a watch (older policies)
        ref = event.get("objectRef")
        if isinstance(ref, dict) and ref.get("resource"):
            plural = str(ref["resource"])
            group = str(ref.get("apiGroup") or "")
            resource = f"{plural}.{group}" if group else plural
            namespace = str(ref.get("namespace") or "")
            name = str(ref.get("name") or "")
            subresource = str(ref.get("subresource") or "")
            is_resource = True
        else:
            resource, namespace, name, subresource = urlsplit(path).path or "/", "", "", ""
            is_resource = False
        scope = "resource" if name else ("namespace" if namespace else "cluster")
        limit_text = query.get("limit", "")
        limit = int(limit_text) if limit_text.isdigit() else 0
        source_ips = event.get("sourceIPs")
        source_ip = str(source_ips[0]) if isinstance(source_ips, list) and source_ips else ""
        record = AuditRecord(
            time=when,
            user=user,
            groups=groups,
            user_agent=str(event.get("userAgent") or ""),
            verb=verb,
            resource=resource,
            subresource=subresource,
            namespace=namespace,
            name=name,
            scope=scope,
            code=code,
            resource_version=query.get("resourceVersion"),
            limit=limit,
            continued=bool(query.get("continue")),
            field_selector=query.get("fieldSelector", ""),
            label_selector=query.get("labelSelector", ""),
            weight=weight,
            latency=latency,
            webhook_latency=webhook,
            flow_schema=flow_schema,
            priority_level=priority_level,
            source_ip=source_ip,
            node=node,
            is_resource=is_resource,
            part=part,
        )
        if part == REQUEST:
            _remember(self._received, str(audit_id), _MAX_RECEIVED)
        return record

    def _part(self, stage: str, verb: str, audit_id: str | None) -> str | None:
        """What a line of this stage counts as (None: nothing, an earlier stage counted it)."""
        if stage == "RequestReceived":
            # remembered once the line is known to be a usable record (parse_event's end);
            # without an auditID it cannot be matched with its completion: count that instead
            return REQUEST if audit_id is not None else None
        if verb == "watch" and stage == "ResponseStarted":
            if audit_id is None:
                return WHOLE
            _remember(self._open_watches, audit_id, _MAX_OPEN_WATCHES)
            if audit_id in self._received:
                del self._received[audit_id]
                return None  # counted at arrival; its end is skipped as an open watch
            return WHOLE
        if stage not in _KEPT_STAGES or audit_id is None:
            return WHOLE if stage in _KEPT_STAGES else None
        if audit_id in self._open_watches:
            del self._open_watches[audit_id]
            return None
        if audit_id in self._received:
            del self._received[audit_id]
            return OUTCOME
        return WHOLE


def _remember(ids: dict[str, None], audit_id: str, limit: int) -> None:
    """Bounded memory: the oldest remembered ID goes first (its later stage, if it ever
    comes, is then counted as a request of its own)."""
    if len(ids) >= limit:
        ids.pop(next(iter(ids)))
    ids[audit_id] = None


def _first(annotations: dict[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = annotations.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def iter_lines(lines: Iterable[bytes], parser: AuditParser | None = None) -> Iterator[AuditRecord]:
    """Records from an iterable of lines (a file, a socket, a webhook's batches)."""
    parser = parser or AuditParser()
    for number, line in enumerate(lines, 1):
        record = parser.parse_line(line, number)
        if record is not None:
            yield record


def read_audit_log(
    path: str | Path,
    *,
    parser: AuditParser | None = None,
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 1 << 20,
) -> Iterator[AuditRecord]:
    """Stream the records of an audit log file line by line (memory does not grow with the
    file). ``on_progress(bytes_read)`` is called about every ``progress_every`` bytes and at
    the end. Raises FileNotFoundError / IsADirectoryError / PermissionError when it cannot be
    opened (before the first record)."""
    parser = parser or AuditParser()
    handle = Path(path).open("rb")  # noqa: SIM115 - closed in the generator's finally
    return _stream(handle, parser, on_progress, progress_every)


def _stream(
    handle: Any,
    parser: AuditParser,
    on_progress: Callable[[int], None] | None,
    progress_every: int,
) -> Iterator[AuditRecord]:
    try:
        next_report = progress_every
        for number, line in enumerate(handle, 1):
            record = parser.parse_line(line, number)
            if record is not None:
                yield record
            if on_progress is not None and parser.stats.bytes_read >= next_report:
                on_progress(parser.stats.bytes_read)
                next_report = parser.stats.bytes_read + progress_every
        if on_progress is not None:
            on_progress(parser.stats.bytes_read)
    finally:
        handle.close()
