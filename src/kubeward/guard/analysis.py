"""Aggregate audit records per client and rank who loads the API server.

:class:`Aggregator` is incremental: ``add(record)`` for each request as it is read (from a file
or live), ``report(start, end, storage_objects)`` whenever a breakdown is wanted. It keeps
counters per **key** (identity = user and userAgent, verb, resource, scope) per **time
bucket**, and per identity the set of instances seen (nodes or source addresses), so its memory
grows with the number of distinct keys and buckets, never with the number of requests. With
``retention_seconds`` buckets older than that (relative to the newest record) are dropped as
newer records arrive: a sliding window for live detection.

Objects returned and costs are estimated at report time, from the collection sizes
(``apiserver_storage_objects``) and the request shapes counted (see :mod:`kubeward.guard.cost`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeward.guard.audit import OUTCOME, REQUEST, AuditRecord
from kubeward.guard.cost import CostModel
from kubeward.kube.apiserver import MUTATING_VERBS

# A LIST of more objects than this without `limit` is "large": client-go's and kubectl's
# default page size is 500.
LARGE_COLLECTION = 500
NODE_USER_PREFIX = "system:node:"

# Counter slots (weighted by the sample rate).
(
    _REQ,  # requests
    _TOO_MANY,  # 429
    _SERVER_ERR,  # 5xx
    _LIST_FIRST,  # LIST requests that start a list (not a continue page)
    _WATCH,  # WATCH requests opened
    _WATCH_NODE,  # ... of them scoped to one node (spec.nodeName=)
    _WRITE,  # create/update/patch/delete
    _GET,  # get (one object)
    _LATENCY,  # seconds, summed
    _WEBHOOK,  # admission webhook seconds, summed
    _FILTERED,  # LISTs with label or other field selectors (filtering cost per object)
    _QUORUM_FIRST,  # LISTs without resourceVersion that start a list
    _UNPAGED_QUORUM,  # ... of them without limit
    _UNFINISHED,  # received (RequestReceived) and not completed (yet, or ever)
) = range(14)
# LIST shapes: mode (quorum unpaged, quorum paged, watch cache) x selection (all, one node, one
# object) counts, then the paged ones' summed limits per selection.
_MODES = ("quorum", "paged", "cache")
_SELECTIONS = ("all", "node", "one")
_LIST_BASE = 14
_LIMIT_BASE = _LIST_BASE + len(_MODES) * len(_SELECTIONS)
_SLOTS = _LIMIT_BASE + len(_SELECTIONS)


def _list_slot(mode: int, selection: int) -> int:
    return _LIST_BASE + mode * len(_SELECTIONS) + selection


Identity = tuple[str, str]  # (user, userAgent)
Key = tuple[str, str, str, str, str]  # (user, userAgent, verb, resource, scope)


def identity_user(record: AuditRecord) -> tuple[str, str]:
    """(user as ranked, instance): kubelets ``system:node:<name>`` are one client,
    ``system:node:{node}``, with the node as instance; others keep their name, and their
    instance is the node of a pod-bound token or the source address."""
    if record.user.startswith(NODE_USER_PREFIX):
        return NODE_USER_PREFIX + "{node}", record.user[len(NODE_USER_PREFIX) :]
    return record.user, record.instance


@dataclass
class Row:
    """One identity x verb x resource x scope over the report's window."""

    user: str
    user_agent: str
    verb: str
    resource: str
    scope: str
    requests: float
    requests_per_second: float
    objects: float  # estimated objects returned
    objects_per_second: float
    cost: float  # estimated work seconds (API-server CPU + etcd)
    share: float  # of the window's estimated cost, 0..1
    throttled: float  # 429 responses
    server_errors: float  # 5xx responses
    lists_without_rv: float  # LISTs without resourceVersion (quorum reads)
    unpaged_large_lists: float  # ... and without limit over a collection > LARGE_COLLECTION
    relists: float  # LISTs by a client that also watches the resource (informer relists)
    relists_per_second: float
    watches: float  # WATCH requests opened
    instances: int  # distinct instances (nodes, source addresses) of the identity
    collection: float | None  # objects in the collection (cluster-wide), if known
    mean_latency: float  # seconds
    webhook_latency: float  # seconds spent in admission webhooks, summed
    node_scoped: float = 0.0  # LISTs/WATCHes selecting one node (fieldSelector spec.nodeName=)
    unfinished: float = 0.0  # logged at RequestReceived, never completed (so far)
    rank: int = 0

    @property
    def identity(self) -> Identity:
        return (self.user, self.user_agent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "user": self.user,
            "userAgent": self.user_agent,
            "verb": self.verb,
            "resource": self.resource,
            "scope": self.scope,
            "requests": round(self.requests, 3),
            "requestsPerSecond": round(self.requests_per_second, 4),
            "objectsReturned": round(self.objects, 1),
            "objectsPerSecond": round(self.objects_per_second, 2),
            "estimatedCostSeconds": round(self.cost, 4),
            "costShare": round(self.share, 5),
            "throttled429": round(self.throttled, 3),
            "serverErrors": round(self.server_errors, 3),
            "listsWithoutResourceVersion": round(self.lists_without_rv, 3),
            "unpagedLargeLists": round(self.unpaged_large_lists, 3),
            "relists": round(self.relists, 3),
            "relistsPerSecond": round(self.relists_per_second, 4),
            "watches": round(self.watches, 3),
            "instances": self.instances,
            "collectionObjects": self.collection,
            "meanLatencySeconds": round(self.mean_latency, 4),
            "webhookLatencySeconds": round(self.webhook_latency, 4),
            "nodeScoped": round(self.node_scoped, 3),
            "unfinished": round(self.unfinished, 3),
        }


@dataclass
class Culprit:
    """One client identity's total over the window, for the ranking."""

    rank: int
    user: str
    user_agent: str
    requests: float
    requests_per_second: float
    cost: float
    share: float
    throttled: float
    instances: int
    flow_schemas: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "user": self.user,
            "userAgent": self.user_agent,
            "requests": round(self.requests, 3),
            "requestsPerSecond": round(self.requests_per_second, 4),
            "estimatedCostSeconds": round(self.cost, 4),
            "costShare": round(self.share, 5),
            "throttled429": round(self.throttled, 3),
            "instances": self.instances,
            "flowSchemas": self.flow_schemas,
        }


@dataclass
class Analysis:
    start: float
    end: float
    rows: list[Row]  # ranked by estimated cost, heaviest first
    culprits: list[Culprit]  # identities ranked by estimated cost
    findings: list[Any] = field(default_factory=list)  # kubeward.guard.findings.Finding
    storage_objects: dict[str, float] = field(default_factory=dict)
    total_requests: float = 0.0
    total_cost: float = 0.0
    total_latency: float = 0.0
    total_webhook_latency: float = 0.0
    late_records: int = 0  # records older than the aggregator's retention when they came

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": {"start": self.start, "end": self.end, "seconds": round(self.seconds, 3)},
            "totals": {
                "requests": round(self.total_requests, 3),
                "requestsPerSecond": round(self.total_requests / self.seconds, 4),
                "estimatedCostSeconds": round(self.total_cost, 4),
                "latencySeconds": round(self.total_latency, 3),
                "webhookLatencySeconds": round(self.total_webhook_latency, 3),
            },
            "culprits": [c.to_dict() for c in self.culprits],
            "rows": [r.to_dict() for r in self.rows],
            "findings": [f.to_dict() for f in self.findings],
            "storageObjects": self.storage_objects,
        }


class Aggregator:
    """Incremental per-key, per-bucket counters of audit records (see the module doc)."""

    def __init__(
        self,
        bucket_seconds: float = 10.0,
        retention_seconds: float | None = None,
        max_instances: int = 100_000,
    ) -> None:
        if bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        self.bucket_seconds = bucket_seconds
        self.retention_seconds = retention_seconds
        self.max_instances = max_instances
        self._buckets: dict[int, dict[Key, list[float]]] = {}
        # identity -> instance -> last time seen; identity -> flow schema -> last time seen
        self._instances: dict[Identity, dict[str, float]] = {}
        self._schemas: dict[Identity, dict[str, float]] = {}
        self.newest: float | None = None
        self.oldest: float | None = None
        self.records = 0
        self.late = 0  # dropped: older than the retention window when they arrived
        self._pruned_through = -math.inf

    # -- feeding ------------------------------------------------------------------------------

    def add(self, record: AuditRecord) -> None:
        t = record.time
        if t < self._pruned_through:
            self.late += 1
            return
        if self.newest is None or t > self.newest:
            self.newest = t
            if self.retention_seconds is not None:
                self.prune(t - self.retention_seconds - self.bucket_seconds)
        if self.oldest is None or t < self.oldest:
            self.oldest = t
        self.records += 1
        user, instance = identity_user(record)
        ident = (user, record.user_agent)
        key = (user, record.user_agent, record.verb, record.resource, record.scope)
        bucket = self._buckets.get(int(t // self.bucket_seconds))
        if bucket is None:
            bucket = self._buckets[int(t // self.bucket_seconds)] = {}
        c = bucket.get(key)
        if c is None:
            c = bucket[key] = [0.0] * _SLOTS
        w = record.weight
        part = record.part
        # A request logged at RequestReceived is counted then (as if it will run: the cost of
        # one that never completes is real); its completion adds the outcome, and takes the
        # work back out if APF rejected it (429: it never ran).
        if part != OUTCOME:
            c[_REQ] += w
            if record.verb == "list":
                _count_list_request(c, record, w)
        if part == REQUEST:
            c[_UNFINISHED] += w
        else:
            if part == OUTCOME:
                c[_UNFINISHED] -= w
            if record.code == 429:
                c[_TOO_MANY] += w
            elif record.code >= 500:
                c[_SERVER_ERR] += w
            c[_LATENCY] += record.latency * w
            c[_WEBHOOK] += record.webhook_latency * w
        rejected = record.code == 429
        if part == REQUEST or (part != OUTCOME and not rejected):
            _count_work(c, record, w)
        elif part == OUTCOME and rejected:
            _count_work(c, record, -w)
        if instance:
            seen = self._instances.get(ident)
            if seen is None:
                seen = self._instances[ident] = {}
            if instance in seen or len(seen) < self.max_instances:
                seen[instance] = t
        if record.flow_schema:
            schemas = self._schemas.setdefault(ident, {})
            if record.flow_schema in schemas or len(schemas) < 32:
                schemas[record.flow_schema] = t

    def add_all(self, records: Iterable[AuditRecord]) -> None:
        for record in records:
            self.add(record)

    def prune(self, before: float) -> None:
        """Drop the buckets that end before ``before`` (and instances last seen before it)."""
        if before <= self._pruned_through:
            return
        self._pruned_through = before
        limit = math.floor(before / self.bucket_seconds)
        for index in [i for i in self._buckets if i < limit]:
            del self._buckets[index]
        if len(self._buckets) == 0 or self.records % 64 == 0:
            for table in (self._instances, self._schemas):
                for ident in list(table):
                    seen = table[ident]
                    for name in [n for n, last in seen.items() if last < before]:
                        del seen[name]
                    if not seen:
                        del table[ident]

    # -- size (what memory grows with) ---------------------------------------------------------

    def key_count(self) -> int:
        """Distinct (identity, verb, resource, scope) keys held, over all buckets."""
        keys: set[Key] = set()
        for bucket in self._buckets.values():
            keys.update(bucket)
        return len(keys)

    def bucket_count(self) -> int:
        return len(self._buckets)

    def counter_count(self) -> int:
        """Key x bucket counter vectors held: the aggregator's memory is proportional to it."""
        return sum(len(b) for b in self._buckets.values())

    def instance_count(self) -> int:
        return sum(len(s) for s in self._instances.values())

    # -- reporting ----------------------------------------------------------------------------

    def window(self, seconds: float) -> tuple[float, float]:
        """(start, end) of the last ``seconds`` of what was read, relative to the newest record
        (clipped to the oldest)."""
        if self.newest is None or self.oldest is None:
            return (0.0, 0.0)
        end = self.newest
        start = max(self.oldest, end - seconds)
        return (start, end)

    def report(
        self,
        start: float,
        end: float,
        storage_objects: Mapping[str, float] | None = None,
        *,
        cost_model: CostModel | None = None,
        findings: bool = True,
    ) -> Analysis:
        """Rows, culprits and findings for records received in [start, end] (bucket
        granularity), with collection sizes from ``apiserver_storage_objects``."""
        k = cost_model or CostModel()
        sizes = dict(storage_objects or {})
        first = math.floor(start / self.bucket_seconds)
        last = math.floor(end / self.bucket_seconds)
        totals: dict[Key, list[float]] = {}
        for index, bucket in self._buckets.items():
            if first <= index <= last:
                for key, c in bucket.items():
                    acc = totals.get(key)
                    if acc is None:
                        totals[key] = list(c)
                    else:
                        for i, v in enumerate(c):
                            if v:
                                acc[i] += v
        seconds = max(end - start, self.bucket_seconds if totals else 1e-9)
        nodes = sizes.get("nodes", 0.0)
        namespaces = sizes.get("namespaces", 0.0)
        # Watch events: writes per resource in the window, delivered to each watch of it.
        writes: dict[str, float] = {}
        watched: set[tuple[str, str, str]] = set()
        for (user, agent, verb, resource, _), c in totals.items():
            if c[_WRITE]:
                writes[resource] = writes.get(resource, 0.0) + c[_WRITE]
            if verb == "watch":
                watched.add((user, agent, resource))
        instances = self._active_instances(start)
        rows: list[Row] = []
        for key, c in totals.items():
            user, agent, verb, resource, scope = key
            collection = sizes.get(resource)
            in_scope = _scope_size(collection, scope, resource, namespaces)
            size = k.size(resource)
            objects, cost = _estimate(c, in_scope, nodes, size, k)
            if c[_WATCH]:
                share_of_events = c[_WATCH] - c[_WATCH_NODE] + c[_WATCH_NODE] / max(nodes, 1)
                if scope == "namespace" and namespaces:
                    share_of_events /= namespaces
                cost += k.watch_events(writes.get(resource, 0.0) * share_of_events, size)
            relists = c[_LIST_FIRST] if (user, agent, resource) in watched else 0.0
            unpaged_large = c[_UNPAGED_QUORUM] if in_scope > LARGE_COLLECTION else 0.0
            requests = c[_REQ]
            completed = requests - c[_UNFINISHED]
            rows.append(
                Row(
                    user=user,
                    user_agent=agent,
                    verb=verb,
                    resource=resource,
                    scope=scope,
                    requests=requests,
                    requests_per_second=requests / seconds,
                    objects=objects,
                    objects_per_second=objects / seconds,
                    cost=cost,
                    share=0.0,
                    throttled=c[_TOO_MANY],
                    server_errors=c[_SERVER_ERR],
                    lists_without_rv=c[_QUORUM_FIRST],
                    unpaged_large_lists=unpaged_large,
                    relists=relists,
                    relists_per_second=relists / seconds,
                    watches=c[_WATCH],
                    instances=instances.get((user, agent), 0),
                    collection=collection,
                    mean_latency=c[_LATENCY] / completed if completed > 0 else 0.0,
                    webhook_latency=c[_WEBHOOK],
                    node_scoped=c[_WATCH_NODE] + sum(c[_list_slot(m, 1)] for m in range(3)),
                    unfinished=c[_UNFINISHED],
                )
            )
        total_cost = sum(r.cost for r in rows)
        for r in rows:
            r.share = r.cost / total_cost if total_cost > 0 else 0.0
        rows.sort(key=lambda r: (-r.cost, -r.requests, r.user, r.verb, r.resource, r.scope))
        for i, r in enumerate(rows, 1):
            r.rank = i
        analysis = Analysis(
            start=start,
            end=start + seconds,
            rows=rows,
            culprits=self._culprits(rows, seconds, total_cost, instances, start),
            storage_objects=sizes,
            total_requests=sum(r.requests for r in rows),
            total_cost=total_cost,
            total_latency=sum(totals[_key(r)][_LATENCY] for r in rows),
            total_webhook_latency=sum(r.webhook_latency for r in rows),
            late_records=self.late,
        )
        if findings:
            from kubeward.guard.findings import find

            analysis.findings = find(analysis)
        return analysis

    def _active_instances(self, start: float) -> dict[Identity, int]:
        return {
            ident: sum(1 for last in seen.values() if last >= start)
            for ident, seen in self._instances.items()
        }

    def _culprits(
        self,
        rows: list[Row],
        seconds: float,
        total_cost: float,
        instances: dict[Identity, int],
        start: float,
    ) -> list[Culprit]:
        by_identity: dict[Identity, list[float]] = {}
        for r in rows:
            acc = by_identity.setdefault(r.identity, [0.0, 0.0, 0.0])
            acc[0] += r.requests
            acc[1] += r.cost
            acc[2] += r.throttled
        ranked = sorted(by_identity.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))
        culprits = []
        for i, ((user, agent), (requests, cost, throttled)) in enumerate(ranked, 1):
            schemas = self._schemas.get((user, agent), {})
            culprits.append(
                Culprit(
                    rank=i,
                    user=user,
                    user_agent=agent,
                    requests=requests,
                    requests_per_second=requests / seconds,
                    cost=cost,
                    share=cost / total_cost if total_cost > 0 else 0.0,
                    throttled=throttled,
                    instances=instances.get((user, agent), 0),
                    flow_schemas=sorted(n for n, last in schemas.items() if last >= start),
                )
            )
        return culprits


def _selection(field_selector: str) -> int:
    """0: the whole collection, 1: one node's objects, 2: one object by name."""
    if "metadata.name=" in field_selector:
        return 2
    if "spec.nodeName=" in field_selector:
        return 1
    return 0


def _count_list_request(c: list[float], record: AuditRecord, w: float) -> None:
    """What a LIST asked for, whether or not it ran."""
    fs = record.field_selector
    if record.label_selector or (fs and _selection(fs) == 0):
        c[_FILTERED] += w
    if not record.continued:
        c[_LIST_FIRST] += w
    if record.quorum:
        if not record.continued:
            c[_QUORUM_FIRST] += w
        if record.limit <= 0:
            c[_UNPAGED_QUORUM] += w


def _count_work(c: list[float], record: AuditRecord, w: float) -> None:
    """The work a request that ran does, by shape (``w`` < 0 takes it back)."""
    verb = record.verb
    if verb == "list":
        selection = _selection(record.field_selector)
        if not record.quorum:
            c[_list_slot(2, selection)] += w
        elif record.limit > 0:
            c[_list_slot(1, selection)] += w
            c[_LIMIT_BASE + selection] += record.limit * w
        else:
            c[_list_slot(0, selection)] += w
    elif verb == "watch":
        c[_WATCH] += w
        if "spec.nodeName=" in record.field_selector:
            c[_WATCH_NODE] += w
    elif verb in MUTATING_VERBS:
        c[_WRITE] += w
    elif verb == "get":
        c[_GET] += w


def _key(r: Row) -> Key:
    return (r.user, r.user_agent, r.verb, r.resource, r.scope)


def _scope_size(collection: float | None, scope: str, resource: str, namespaces: float) -> float:
    """Objects a LIST of this scope covers: the whole collection cluster-wide, an average
    namespace's share in one namespace (1 when the size is unknown)."""
    if collection is None:
        return 1.0
    if scope == "namespace" and resource != "namespaces":
        return collection / namespaces if namespaces > 1 else collection
    if scope == "resource":
        return 1.0
    return collection


def _estimate(
    c: list[float], objects: float, nodes: float, size: float, k: CostModel
) -> tuple[float, float]:
    """(objects returned, work seconds) of one key's counted requests."""
    returned_total = 0.0
    cost = 0.0
    filtered_share = c[_FILTERED] / c[_LIST_FIRST] if c[_LIST_FIRST] else 0.0
    filtered = filtered_share > 0.5
    for s in range(len(_SELECTIONS)):
        returned = (objects, objects / max(nodes, 1.0), min(1.0, objects))[s]
        n = c[_list_slot(0, s)]  # quorum, unpaged: the whole range is read
        if n:
            returned_total += n * returned
            cost += n * k.quorum_list(objects, returned, size, filtered or s > 0)
        n = c[_list_slot(1, s)]  # quorum, paged: one page is read
        if n:
            page = min(c[_LIMIT_BASE + s] / n, objects)
            got = min(returned, page)
            returned_total += n * got
            cost += n * k.quorum_list(page, got, size, filtered or s > 0)
        n = c[_list_slot(2, s)]  # watch cache: indexed selections scan only their matches
        if n:
            scanned = objects if s == 0 else returned
            returned_total += n * returned
            cost += n * k.cache_list(scanned, returned, size, filtered)
    returned_total += c[_GET] + c[_WRITE]
    cost += c[_GET] * k.get(size) + c[_WRITE] * k.write(size)
    # Everything else pays the fixed overhead: watches to open, rejected (429) requests,
    # non-resource requests and verbs not priced above.
    served_lists = sum(c[_LIST_BASE:_LIMIT_BASE])
    other = c[_REQ] - served_lists - c[_GET] - c[_WRITE]
    cost += max(other, 0.0) * k.request_overhead
    return returned_total, cost
