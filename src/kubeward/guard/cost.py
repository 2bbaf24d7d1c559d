"""The guard's estimate of what requests cost kube-apiserver, from what an audit log shows.

A heuristic, on purpose small and documented (docs/guard.md, "Cost estimate"). It follows the
same shape as the simulator's model (src/kubeward/sim/load/cost.py, same per-unit constants)
without importing it (the platform never imports the simulator): both copy kube-apiserver's
behaviour.

- LIST without ``resourceVersion``: a quorum range read of the **whole collection** from etcd
  (round trip + bytes), every object decoded, the returned ones encoded. ``limit`` bounds the
  read to a page. Label/field selectors filter after the read: the read stays full.
- LIST with ``resourceVersion`` (``0`` or NotOlderThan): the watch cache; no etcd, no decode,
  a pointer copy per object scanned (only the matches for the fields the cache indexes:
  ``metadata.name``, a pod's ``spec.nodeName``), then encoding of what is returned. The cache
  ignores ``limit``.
- GET: one key read and one object decoded and encoded. Writes: an etcd transaction (two
  round trips) and two decode/encode passes of one object.
- WATCH: cheap to open; every event delivered costs encoding. Events are estimated from the
  writes to the resource seen in the same audit window, delivered to every watch of it opened in
  the window (a node-scoped watch gets one node's share).

The unit is **work seconds**: API-server CPU seconds plus etcd busy seconds (its work per request
and the bytes it reads), not the latency a request waits through. Only shares of it are shown;
absolute values depend on object sizes the audit log cannot tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

KIB = 1024.0
MIB = 1024.0 * KIB

# Average serialized object size per resource when no better figure is given: production
# objects carry managedFields, long specs and status (pods 5-20 KB are common).
DEFAULT_OBJECT_BYTES: dict[str, float] = {
    "pods": 8 * KIB,
    "nodes": 12 * KIB,
    "events": 1 * KIB,
    "events.events.k8s.io": 1 * KIB,
    "leases.coordination.k8s.io": 0.5 * KIB,
    "configmaps": 4 * KIB,
    "secrets": 4 * KIB,
    "endpoints": 2 * KIB,
    "endpointslices.discovery.k8s.io": 2 * KIB,
    "services": 1.5 * KIB,
    "namespaces": 0.5 * KIB,
    "deployments.apps": 4 * KIB,
    "replicasets.apps": 3 * KIB,
    "daemonsets.apps": 4 * KIB,
    "statefulsets.apps": 4 * KIB,
    "jobs.batch": 3 * KIB,
}
FALLBACK_OBJECT_BYTES = 2 * KIB


@dataclass(frozen=True)
class CostModel:
    """Per-unit costs (the simulator's constants; see docs/simulator-model.md)."""

    request_overhead: float = 0.0005  # CPU s: authn/authz, admission, audit
    # etcd's own work per read or write transaction. The round trip a client sees (about
    # 2 ms, the simulator's etcd_round_trip) is mostly network and fsync wait, during which
    # neither the API server nor etcd is busy, so it is not counted as work.
    etcd_per_request: float = 0.0002
    etcd_bytes_per_second: float = 200 * MIB
    decode_per_kib: float = 20e-6  # CPU s to decode one KiB read from etcd
    encode_per_kib: float = 25e-6  # CPU s to encode one KiB for the client
    filter_per_object: float = 1e-6  # CPU s to evaluate selectors on one object
    cache_copy_per_object: float = 0.3e-6  # CPU s to copy one object out of the watch cache
    watch_event_per_kib: float = 15e-6  # CPU s to encode and send one KiB of watch event
    object_bytes: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_OBJECT_BYTES))

    def size(self, resource: str) -> float:
        return self.object_bytes.get(resource, FALLBACK_OBJECT_BYTES)

    def quorum_list(self, read: float, returned: float, size: float, filtered: bool) -> float:
        """A LIST served by etcd reading ``read`` objects and returning ``returned``."""
        return (
            self.request_overhead
            + self.etcd_per_request
            + read * size / self.etcd_bytes_per_second
            + read * size / KIB * self.decode_per_kib
            + (read * self.filter_per_object if filtered else 0.0)
            + returned * size / KIB * self.encode_per_kib
        )

    def cache_list(self, scanned: float, returned: float, size: float, filtered: bool) -> float:
        """A LIST served by the watch cache scanning ``scanned`` objects."""
        return (
            self.request_overhead
            + scanned * (self.cache_copy_per_object + (self.filter_per_object if filtered else 0))
            + returned * size / KIB * self.encode_per_kib
        )

    def get(self, size: float) -> float:
        return (
            self.request_overhead
            + self.etcd_per_request
            + size / self.etcd_bytes_per_second
            + size / KIB * (self.decode_per_kib + self.encode_per_kib)
        )

    def write(self, size: float) -> float:
        return (
            self.request_overhead
            + 2 * self.etcd_per_request
            + size / self.etcd_bytes_per_second
            + 2 * size / KIB * (self.decode_per_kib + self.encode_per_kib)
        )

    def watch_events(self, events: float, size: float) -> float:
        """Encoding and sending ``events`` watch events of objects of ``size`` bytes."""
        return events * size / KIB * self.watch_event_per_kib
