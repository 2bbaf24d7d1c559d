"""kube-apiserver request semantics shared by the simulator (which models them) and the guard
(which reads them back from audit logs): which requests are served from the watch cache, which
verbs mutate, and the audit annotations both sides agree on."""

from __future__ import annotations

MUTATING_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})

# Audit annotations. kube-apiserver adds ``apiserver.latency.k8s.io/*`` to slow requests
# (total, etcd, apf-queue-wait, admission webhooks: ``mutating-webhook``,
# ``validating-webhook``, ...). The simulator marks sampled lines with the sample rate so an
# analyser can scale counts back up (1 / rate).
LATENCY_ANNOTATION_PREFIX = "apiserver.latency.k8s.io/"
AUDIT_SAMPLE_RATE_ANNOTATION = "sim.kubeward.io/audit-sample-rate"

# user.extra key of a pod-bound service account token naming the node (Kubernetes 1.30+).
NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name"


def served_from_watch_cache(verb: str, resource_version: str | None) -> bool:
    """A LIST or WATCH the API server answers from its watch cache instead of etcd.

    WATCH always is. A LIST is when it carries a ``resourceVersion`` (``0``, or a version
    with ``resourceVersionMatch=NotOlderThan``); without one (or with ``""``) it is a
    consistent read: a quorum range read from etcd (before the ConsistentListFromCache feature
    of Kubernetes 1.31, and whenever etcd cannot confirm the cache is fresh)."""
    return verb == "watch" or (resource_version is not None and resource_version != "")
