"""Best-practice findings over an :class:`~kubeward.guard.analysis.Analysis`, each with the
concrete fix. Thresholds are module constants (documented in docs/guard.md, "Findings")."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kubeward.guard.analysis import NODE_USER_PREFIX, Analysis, Row
from kubeward.guard.identities import refusal

MIN_REPEATS = 3  # a pattern must repeat in the window (one `kubectl get` is not a habit)
SIGNIFICANT_SHARE = 0.01  # of the window's estimated API-server cost
SIGNIFICANT_OBJECTS_PER_SECOND = 100.0  # ... or this many objects read per second
CRITICAL_SHARE = 0.2
FLEET_MIN_INSTANCES = 10  # distinct nodes/addresses/user names to call a client per-node
FLEET_NODE_FRACTION = 0.25  # ... and at least this fraction of the nodes, when known
FLEET_SHARE = 0.05  # a fleet's cluster-wide reads worth a relay
WEBHOOK_LATENCY_SHARE = 0.2  # of a resource's request latency spent in admission webhooks
WEBHOOK_MIN_SECONDS = 1.0
THROTTLED_MIN = 10  # 429s
THROTTLED_FRACTION = 0.05  # of the identity's requests

KINDS = (
    "list-without-resource-version",
    "unpaged-large-list",
    "periodic-list",
    "per-node-daemonset",
    "webhook-latency",
    "throttled",
)
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
_DIGITS = re.compile(r"\d+")


@dataclass
class Finding:
    kind: str  # one of KINDS
    severity: str  # critical, warning, info
    user: str  # "" for findings about a resource (webhooks)
    user_agent: str
    resource: str
    summary: str  # what was seen, with the numbers
    fix: str  # what to change
    share: float = 0.0  # estimated cost share involved
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "user": self.user,
            "userAgent": self.user_agent,
            "resource": self.resource,
            "summary": self.summary,
            "fix": self.fix,
            "costShare": round(self.share, 5),
            "evidence": self.evidence,
        }


FIX_LIST_RV = (
    "Use an informer (client-go SharedInformerFactory, kubeward.client.Informer): LIST with "
    "resourceVersion=0 once, then WATCH; or at least add resourceVersion=0 (with "
    "resourceVersionMatch=NotOlderThan) to the LIST so the API server answers from its watch "
    "cache instead of a quorum read that decodes every object from etcd."
)
FIX_UNPAGED = (
    "Page the LIST: limit=500 and follow metadata.continue (client-go's pager, kubectl "
    "--chunk-size=500), so each request holds one page in API-server memory instead of the "
    "whole collection; better, use an informer (LIST resourceVersion=0 + WATCH)."
)
FIX_PERIODIC = (
    "Replace the polling loop with an informer: one LIST (resourceVersion=0) then a WATCH that "
    "streams changes into a local cache the code reads; resync from the cache, not the API "
    "server."
)
FIX_FLEET = (
    "Do not let every node read the whole cluster: run one relay (a single Deployment, or the "
    "kubeward collector, which keeps one LIST+WATCH per resource for the whole platform) and "
    "have the per-node agents read from it; if an agent needs only its own node's objects, "
    "select them with fieldSelector=spec.nodeName=$(NODE_NAME) from the downward API (served "
    "from the watch cache's node index) through an informer."
)
FIX_WEBHOOK = (
    "Narrow the admission webhooks on this resource (rules, namespaceSelector, objectSelector, "
    "matchConditions) to the objects they must see, lower their timeoutSeconds, run more "
    "replicas close to the API server, and check "
    "apiserver_admission_webhook_admission_duration_seconds for the slow one."
)
FIX_THROTTLED = (
    "API Priority and Fairness is rejecting this client (429): make it honour Retry-After with "
    "exponential backoff instead of retrying at once, and reduce its load (see the other "
    "findings); if its traffic is legitimate, give it its own FlowSchema and priority level "
    "(kubeward guard protect)."
)


def find(analysis: Analysis) -> list[Finding]:
    """All findings of ``analysis``, most severe and most costly first."""
    findings: list[Finding] = []
    nodes = analysis.storage_objects.get("nodes", 0.0)
    seconds = analysis.seconds
    by_identity: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in analysis.rows:
        by_identity[row.identity].append(row)
    for (user, agent), rows in by_identity.items():
        watched = {r.resource for r in rows if r.verb == "watch" and r.watches > 0}
        for row in rows:
            if row.verb != "list":
                continue
            significant = (
                row.share >= SIGNIFICANT_SHARE
                or row.objects_per_second >= SIGNIFICANT_OBJECTS_PER_SECOND
            )
            if not significant:
                continue
            per_instance = max(row.instances, 1)
            if row.lists_without_rv >= MIN_REPEATS:
                findings.append(
                    Finding(
                        "list-without-resource-version",
                        _severity(row.share),
                        user,
                        agent,
                        row.resource,
                        f"{row.lists_without_rv:,.0f} {row.scope}-scope LISTs of "
                        f"{row.resource} without resourceVersion in {_span(seconds)} "
                        f"({row.lists_without_rv / seconds:.2f}/s, collection "
                        f"{_count(row.collection)} objects): each is a quorum read through "
                        f"etcd; {row.share:.0%} of the estimated API-server cost.",
                        FIX_LIST_RV,
                        row.share,
                        {"lists": row.lists_without_rv, "collection": row.collection},
                    )
                )
            if row.unpaged_large_lists >= MIN_REPEATS:
                findings.append(
                    Finding(
                        "unpaged-large-list",
                        _severity(row.share),
                        user,
                        agent,
                        row.resource,
                        f"{row.unpaged_large_lists:,.0f} LISTs of {row.resource} without "
                        f"limit over {_count(row.collection)} objects: each holds the whole "
                        "collection in API-server memory at once.",
                        FIX_UNPAGED,
                        row.share,
                        {"lists": row.unpaged_large_lists, "collection": row.collection},
                    )
                )
            lists = row.requests - row.throttled
            if row.resource not in watched and lists >= MIN_REPEATS * per_instance:
                period = seconds * per_instance / lists if lists else 0.0
                findings.append(
                    Finding(
                        "periodic-list",
                        "warning",
                        user,
                        agent,
                        row.resource,
                        f"{lists:,.0f} LISTs of {row.resource} and no WATCH in "
                        f"{_span(seconds)}: each of {per_instance:,} instance(s) polls about "
                        f"every {period:,.0f} s.",
                        FIX_PERIODIC,
                        row.share,
                        {"lists": lists, "instances": row.instances, "periodSeconds": period},
                    )
                )
        findings.extend(_fleet(user, agent, rows, nodes, watched))
        throttled = sum(r.throttled for r in rows)
        requests = sum(r.requests for r in rows)
        if throttled >= THROTTLED_MIN and throttled >= THROTTLED_FRACTION * requests:
            share = sum(r.share for r in rows)
            findings.append(
                Finding(
                    "throttled",
                    "warning",
                    user,
                    agent,
                    "",
                    f"{throttled:,.0f} of {requests:,.0f} requests rejected with 429 "
                    f"({throttled / requests:.0%}).",
                    FIX_THROTTLED,
                    share,
                    {"throttled": throttled, "requests": requests},
                )
            )
    findings.extend(_name_pattern_fleets(analysis.rows, nodes))
    findings.extend(_webhooks(analysis))
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], -f.share, f.kind, f.user))
    return findings


def _fleet(
    user: str, agent: str, rows: list[Row], nodes: float, watched: set[str]
) -> list[Finding]:
    """A per-node client (many instances of one identity) reading cluster-wide."""
    if user.startswith(NODE_USER_PREFIX) or refusal(user) is not None:
        # kubelets are node-scoped by design; kube-proxy, CNI agents and other system
        # components watch cluster-wide from every node as Kubernetes intends (their start-up
        # LISTs made this fire in short windows), and none of them can go through a relay.
        return []
    instances = max((r.instances for r in rows), default=0)
    if not _is_fleet(instances, nodes):
        return []
    wide = [
        r
        for r in rows
        if r.verb in ("list", "watch") and r.scope == "cluster" and r.node_scoped < r.requests / 2
    ]
    share = sum(r.share for r in wide)
    bad_lists = [
        r
        for r in wide
        if r.verb == "list"
        and (r.lists_without_rv >= MIN_REPEATS or r.resource not in watched)
        and r.requests >= MIN_REPEATS * instances
    ]
    if share < FLEET_SHARE and not bad_lists:
        return []
    resources = sorted({r.resource for r in wide})
    return [
        Finding(
            "per-node-daemonset",
            "critical" if share >= CRITICAL_SHARE or bad_lists else "warning",
            user,
            agent,
            ",".join(resources),
            f"{instances:,} instances (one per node{'' if not nodes else f' of {nodes:,.0f}'}) "
            f"each read {', '.join(resources)} cluster-wide: {share:.0%} of the estimated "
            "API-server cost, multiplied by the node count.",
            FIX_FLEET,
            share,
            {"instances": instances, "nodes": nodes, "resources": resources},
        )
    ]


def _is_fleet(instances: int, nodes: float) -> bool:
    if instances < FLEET_MIN_INSTANCES:
        return False
    return not nodes or instances >= FLEET_NODE_FRACTION * nodes


def _name_pattern_fleets(rows: list[Row], nodes: float) -> list[Finding]:
    """Many identities whose user names differ only by numbers (a per-node name)."""
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    shares: dict[tuple[str, str], float] = defaultdict(float)
    for r in rows:
        if r.user.startswith(NODE_USER_PREFIX) or not _DIGITS.search(r.user):
            continue
        if r.verb in ("list", "watch") and r.scope == "cluster" and r.node_scoped < r.requests / 2:
            group = (_DIGITS.sub("#", r.user), r.user_agent)
            groups[group].add(r.user)
            shares[group] += r.share
    out = []
    for (pattern, agent), users in groups.items():
        if _is_fleet(len(users), nodes) and shares[pattern, agent] >= FLEET_SHARE:
            share = shares[pattern, agent]
            out.append(
                Finding(
                    "per-node-daemonset",
                    "critical" if share >= CRITICAL_SHARE else "warning",
                    pattern,
                    agent,
                    "",
                    f"{len(users):,} identities named like {pattern} read cluster-wide: "
                    f"{share:.0%} of the estimated API-server cost.",
                    FIX_FLEET,
                    share,
                    {"identities": len(users), "nodes": nodes},
                )
            )
    return out


def _webhooks(analysis: Analysis) -> list[Finding]:
    latency: dict[tuple[str, str], float] = defaultdict(float)
    webhook: dict[tuple[str, str], float] = defaultdict(float)
    shares: dict[tuple[str, str], float] = defaultdict(float)
    for r in analysis.rows:
        key = (r.verb, r.resource)
        latency[key] += r.mean_latency * r.requests
        webhook[key] += r.webhook_latency
        shares[key] += r.share
    out = []
    for key, seconds in webhook.items():
        total = latency[key]
        if (
            seconds >= WEBHOOK_MIN_SECONDS
            and total > 0
            and seconds / total >= WEBHOOK_LATENCY_SHARE
        ):
            verb, resource = key
            out.append(
                Finding(
                    "webhook-latency",
                    "warning",
                    "",
                    "",
                    resource,
                    f"admission webhooks took {seconds:,.1f} s of the {total:,.1f} s spent on "
                    f"{verb} {resource} ({seconds / total:.0%}).",
                    FIX_WEBHOOK,
                    shares[key],
                    {"verb": verb, "webhookSeconds": seconds, "latencySeconds": total},
                )
            )
    return out


def _severity(share: float) -> str:
    return "critical" if share >= CRITICAL_SHARE else "warning"


def _count(n: float | None) -> str:
    return "an unknown number of" if n is None else f"{n:,.0f}"


def _span(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds:,.0f} s"
