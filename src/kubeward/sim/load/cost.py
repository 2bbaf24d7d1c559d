"""What one API request costs kube-apiserver and etcd: CPU seconds, etcd seconds, memory, seats.

The shape of the costs follows what kube-apiserver does (docs/simulator-model.md has the sources
and the constants' rationale):

- LIST without ``resourceVersion`` (or with an exact one) is a quorum read from etcd of the
  whole key range, decoded in full; label and field selectors filter afterwards in memory, so
  they do not make the read cheaper. ``limit`` pages the read, bounding memory per request.
- LIST with ``resourceVersion=0`` (or a not-older-than version) is served from the watch cache:
  no etcd read, no decoding; the cache ignores ``limit`` and returns everything that matches.
- GET reads one key; writes are an etcd transaction plus decode/encode of one object.
- A watch costs little to open; every event it is sent costs encoding and a send.

Seats come from kube-apiserver's work estimator (list_work_estimator.go): one seat per 100
objects the request will process, between 1 and 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kubeward.kube.apiserver import MUTATING_VERBS, served_from_watch_cache

KIB = 1024.0
MIB = 1024.0 * KIB
GIB = 1024.0 * MIB

MUTATING = MUTATING_VERBS


@dataclass(frozen=True)
class Capacity:
    """The modelled API server's machine and limits."""

    cores: float = 8.0
    memory_limit: float = 16 * GIB
    max_requests_inflight: int = 400
    max_mutating_requests_inflight: int = 200
    queue_wait_limit: float = 15.0  # APF queue wait: a quarter of the 60 s request timeout
    restart_seconds: float = 60.0  # unavailable after an OOM kill (kubelet restart + start-up)
    etcd_parallelism: float = 4.0  # concurrent etcd range reads at full speed

    @property
    def server_concurrency(self) -> int:
        return self.max_requests_inflight + self.max_mutating_requests_inflight


@dataclass(frozen=True)
class Constants:
    """Per-unit costs. Go's protobuf decode and JSON encode run at tens of MB/s per core for
    Kubernetes objects; an etcd quorum read is a network round trip plus the bytes."""

    request_overhead: float = 0.0005  # CPU s: authn/authz, routing, admission, audit
    etcd_round_trip: float = 0.002  # s: quorum read or write transaction
    etcd_bytes_per_second: float = 200 * MIB  # one range read's transfer rate
    decode_per_kib: float = 20e-6  # CPU s to decode one KiB of protobuf from etcd
    encode_per_kib: float = 25e-6  # CPU s to encode one KiB of JSON for the client
    filter_per_object: float = 1e-6  # CPU s to evaluate selectors on one object
    cache_copy_per_object: float = 0.3e-6  # CPU s to copy one pointer out of the watch cache
    watch_event_per_kib: float = 15e-6  # CPU s to encode and send one KiB of watch event
    etcd_list_memory_factor: float = 5.0  # heap bytes per stored byte: etcd reply + objects + reply
    cache_list_memory_factor: float = 2.0  # heap bytes per returned byte: object copies + reply
    watch_cache_factor: float = 3.0  # heap bytes per stored byte held by the watch cache
    watcher_memory: float = 64 * KIB  # per open watch: its channel buffer and goroutines
    base_memory: float = 400 * MIB  # the binary, caches other than the watch cache
    gc_overhead: float = 1.0  # GOGC=100: the heap may grow to 2x live before a collection
    objects_per_seat: int = 100
    max_seats: int = 10


@dataclass(frozen=True)
class Collection:
    """What a request's key range holds: ``objects`` stored, ``bytes`` of them, and how many
    of them its selectors let through."""

    objects: int
    bytes: float
    returned: int
    # Selected by a field the watch cache indexes (metadata.name, a pod's spec.nodeName): the
    # cache looks up the matches instead of scanning (etcd reads still scan the range).
    indexed: bool = False

    @property
    def avg_bytes(self) -> float:
        return self.bytes / self.objects if self.objects else 0.0


@dataclass(frozen=True)
class Cost:
    cpu: float  # API-server CPU seconds
    etcd: float  # etcd seconds (at full speed)
    memory: float  # heap bytes held while the request runs
    seats: int
    objects: int  # objects returned to the client


def from_cache(verb: str, resource_version: str | None) -> bool:
    """LIST/WATCH served by the watch cache: any resourceVersion except none ("" = quorum)."""
    return served_from_watch_cache(verb, resource_version)


def request_cost(
    verb: str,
    resource_version: str | None,
    limit: int,
    has_selector: bool,
    collection: Collection,
    k: Constants,
) -> Cost:
    if verb == "list":
        return _list_cost(resource_version, limit, has_selector, collection, k)
    if verb == "watch":
        return Cost(k.request_overhead, 0.0, k.watcher_memory, 1, 0)
    avg = collection.avg_bytes or 2 * KIB
    if verb in MUTATING:
        cpu = k.request_overhead + (avg / KIB) * (k.decode_per_kib + k.encode_per_kib) * 2
        return Cost(cpu, 2 * k.etcd_round_trip + avg / k.etcd_bytes_per_second, 4 * avg, 1, 1)
    # get (and other single-object reads): a quorum read of one key
    cpu = k.request_overhead + (avg / KIB) * (k.decode_per_kib + k.encode_per_kib)
    return Cost(cpu, k.etcd_round_trip + avg / k.etcd_bytes_per_second, 3 * avg, 1, 1)


def _list_cost(
    resource_version: str | None,
    limit: int,
    has_selector: bool,
    c: Collection,
    k: Constants,
) -> Cost:
    avg = c.avg_bytes
    if from_cache("list", resource_version):
        returned = c.returned  # the watch cache ignores limit
        scanned = returned if c.indexed else c.objects
        cpu = (
            k.request_overhead
            + scanned * (k.cache_copy_per_object + (k.filter_per_object if has_selector else 0))
            + returned * avg / KIB * k.encode_per_kib
        )
        memory = returned * avg * k.cache_list_memory_factor
        estimated = scanned
        return Cost(cpu, 0.0, memory, _seats(estimated, k), returned)
    read = min(limit, c.objects) if limit > 0 else c.objects
    returned = min(c.returned, read)
    read_bytes = read * avg
    cpu = (
        k.request_overhead
        + read_bytes / KIB * k.decode_per_kib
        + (read * k.filter_per_object if has_selector else 0.0)
        + returned * avg / KIB * k.encode_per_kib
    )
    etcd = k.etcd_round_trip + read_bytes / k.etcd_bytes_per_second
    memory = read_bytes * k.etcd_list_memory_factor
    page = min(limit, c.objects) if limit > 0 else c.objects
    estimated = c.objects + page if has_selector else 2 * page
    return Cost(cpu, etcd, memory, _seats(estimated, k), returned)


def selectivity(field_selector: str, name: str, nodes: int) -> float:
    """The fraction of a range a request's selectors keep (0 = one object). Label selectors
    are not modelled (assumed to keep everything: an upper bound on encoding cost)."""
    if name or "metadata.name=" in field_selector:
        return 0.0
    if "spec.nodeName=" in field_selector:
        return 1.0 / max(nodes, 1)
    return 1.0


def _seats(estimated_objects: int, k: Constants) -> int:
    return min(k.max_seats, max(1, math.ceil(estimated_objects / k.objects_per_seat)))


def watch_event_cost(event_bytes: float, deliveries: float, k: Constants) -> float:
    """CPU seconds to send one event of ``event_bytes`` to ``deliveries`` watchers (the event
    is serialised once per encoding and copied to each watcher)."""
    if deliveries <= 0:
        return 0.0
    return event_bytes / KIB * k.watch_event_per_kib * (1 + 0.1 * deliveries)


def watch_cache_memory(stored_bytes: float, watchers: int, k: Constants) -> float:
    return k.base_memory + stored_bytes * k.watch_cache_factor + watchers * k.watcher_memory
