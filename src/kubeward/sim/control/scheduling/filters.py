"""kube-scheduler's filter plugins over a NodeTable, and its failure messages.

Plugins run in the default profile's order (NodeUnschedulable, TaintToleration, NodeAffinity,
NodePorts, NodeResourcesFit, VolumeBinding, PodTopologySpread, InterPodAffinity); a node is
charged to the first plugin that rejects it, as the scheduler stops filtering a node at its
first failure. Reasons the scheduler calls
UnschedulableAndUnresolvable (preemption cannot help) are marked so, which decides the
``preemption:`` half of the FailedScheduling message.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kubeward.sim.control.scheduling.hostports import HostPort, host_ports
from kubeward.sim.control.scheduling.interpod import MSG_AFFINITY_RULES, required_terms
from kubeward.sim.control.scheduling.interpodscore import preferred_terms
from kubeward.sim.control.scheduling.nodetable import (
    CPU,
    MEMORY,
    PODS,
    NodeTable,
    Taint,
    resource_amount,
)
from kubeward.sim.control.scheduling.spread import MSG_SPREAD_LABEL

UNSCHEDULABLE_TAINT = ("node.kubernetes.io/unschedulable", "", "NoSchedule")
MSG_UNSCHEDULABLE = "node(s) were unschedulable"
MSG_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
MSG_NO_VICTIMS = "No preemption victims found for incoming pod"
MSG_NOT_HELPFUL = "Preemption is not helpful for scheduling"


@dataclass
class PodNeeds:
    """What scheduling one pod needs to know, shared by pods with the same spec parts."""

    request: dict[str, float]
    node_selector: dict[str, str]
    affinity_terms: list[dict[str, Any]] | None
    tolerations: list[dict[str, Any]]
    spread: list[dict[str, Any]] = field(default_factory=list)
    preferred: list[dict[str, Any]] = field(default_factory=list)
    soft_spread: list[dict[str, Any]] = field(default_factory=list)  # ScheduleAnyway
    own_spread: bool = False  # any constraints of its own (else the system defaults apply)
    pod_affinity: list[dict[str, Any]] = field(default_factory=list)  # required terms
    pod_anti_affinity: list[dict[str, Any]] = field(default_factory=list)
    host_ports: tuple[HostPort, ...] = ()
    # (weight, podAffinityTerm) of preferred inter-pod terms, for scoring
    preferred_pod_affinity: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    preferred_pod_anti_affinity: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def of(cls, spec: dict[str, Any]) -> PodNeeds:
        affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        node_affinity = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
        constraints = list(spec.get("topologySpreadConstraints") or ())
        spread = [
            c for c in constraints if c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"
        ]
        return cls(
            request=pod_request(spec),
            node_selector=dict(spec.get("nodeSelector") or {}),
            affinity_terms=node_affinity.get("nodeSelectorTerms"),
            tolerations=list(spec.get("tolerations") or ()),
            spread=spread,
            soft_spread=[c for c in constraints if c not in spread],
            own_spread=bool(constraints),
            pod_affinity=required_terms(spec, "podAffinity"),
            pod_anti_affinity=required_terms(spec, "podAntiAffinity"),
            preferred=list(affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ()),
            host_ports=host_ports(spec),
            preferred_pod_affinity=preferred_terms(spec, "podAffinity"),
            preferred_pod_anti_affinity=preferred_terms(spec, "podAntiAffinity"),
        )


def pod_request(spec: dict[str, Any]) -> dict[str, float]:
    """Effective requests: max(sum of containers, each init container) + overhead, plus one
    pod slot, as the scheduler computes them."""
    total: dict[str, float] = {}
    for c in spec.get("containers") or ():
        for res, value in ((c.get("resources") or {}).get("requests") or {}).items():
            total[res] = total.get(res, 0.0) + resource_amount(res, value)
    for c in spec.get("initContainers") or ():
        for res, value in ((c.get("resources") or {}).get("requests") or {}).items():
            total[res] = max(total.get(res, 0.0), resource_amount(res, value))
    for res, value in (spec.get("overhead") or {}).items():
        total[res] = total.get(res, 0.0) + resource_amount(res, value)
    total["pods"] = 1.0
    return {k: v for k, v in total.items() if v and k not in ("ephemeral-storage",)}


def tolerates(tolerations: list[dict[str, Any]], taint: Taint) -> bool:
    key, value, effect = taint
    for t in tolerations:
        if t.get("effect") and t.get("effect") != effect:
            continue
        op = t.get("operator") or "Equal"
        if not t.get("key"):
            if op == "Exists":
                return True
            continue
        if t.get("key") != key:
            continue
        if op == "Exists" or (t.get("value") or "") == value:
            return True
    return False


def first_untolerated(tolerations: list[dict[str, Any]], taints: tuple[Taint, ...]) -> Taint | None:
    for taint in taints:
        if taint[2] in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return taint
    return None


@dataclass
class StaticVerdict:
    """Per node: passes the request-independent filters; the failures, aggregated by reason
    (each node charged to the first failing plugin)."""

    mask: np.ndarray  # bool per node row
    counts: Counter[str] = field(default_factory=Counter)


def static_filters(table: NodeTable, needs: PodNeeds) -> StaticVerdict:
    n = len(table)
    counts: Counter[str] = Counter()
    mask = table.present[:n].copy()
    # NodeUnschedulable
    if not tolerates(needs.tolerations, UNSCHEDULABLE_TAINT):
        failed = mask & table.unschedulable[:n]
        if failed.any():
            counts[MSG_UNSCHEDULABLE] += int(failed.sum())
        mask &= ~failed
    # TaintToleration: evaluated once per distinct taint set
    set_ok = np.ones(len(table.taint_sets), dtype=bool)
    set_reason: dict[int, str] = {}
    for sid, taints in enumerate(table.taint_sets):
        bad = first_untolerated(needs.tolerations, taints)
        if bad is not None:
            set_ok[sid] = False
            set_reason[sid] = f"node(s) had untolerated taint {{{bad[0]}: {bad[1]}}}"
    taint_ok = set_ok[table.taint_set[:n]]
    failed = mask & ~taint_ok
    if failed.any():
        per_set = np.bincount(table.taint_set[:n][failed], minlength=len(table.taint_sets))
        for set_id in np.flatnonzero(per_set):
            counts[set_reason[int(set_id)]] += int(per_set[set_id])
    mask &= taint_ok
    # NodeAffinity (nodeSelector and required node affinity)
    failed = mask & ~node_affinity_mask(table, needs)
    if failed.any():
        counts[MSG_AFFINITY] += int(failed.sum())
    mask &= ~failed
    return StaticVerdict(mask, counts)


def node_affinity_mask(table: NodeTable, needs: PodNeeds) -> np.ndarray:
    n = len(table)
    ok = np.ones(n, dtype=bool)
    for key, value in needs.node_selector.items():
        ok &= table.label_ids(key) == table.value_id(key, value)
    if needs.affinity_terms is not None:
        ok &= terms_mask(table, needs.affinity_terms)
    return ok


def terms_mask(table: NodeTable, terms: list[dict[str, Any]]) -> np.ndarray:
    """The nodes a NodeSelector (any of its terms) selects."""
    any_term = np.zeros(len(table), dtype=bool)
    for term in terms:
        any_term |= _term_mask(table, term)
    return any_term


def _term_mask(table: NodeTable, term: dict[str, Any]) -> np.ndarray:
    n = len(table)
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return np.zeros(n, dtype=bool)  # an empty term matches nothing
    ok = np.ones(n, dtype=bool)
    for e in exprs:
        ok &= _expression_mask(table, e)
    for f in fields:
        names = set(f.get("values") or ())
        rows = np.zeros(n, dtype=bool)
        if f.get("key") == "metadata.name":
            for name in names:
                row = table.index.get(name)
                if row is not None:
                    rows[row] = True
        if f.get("operator") == "NotIn":
            rows = ~rows
        ok &= rows
    return ok


def _expression_mask(table: NodeTable, e: dict[str, Any]) -> np.ndarray:
    key, op, values = e.get("key", ""), e.get("operator"), list(e.get("values") or ())
    col = table.label_ids(key)
    if op == "Exists":
        return col != 0
    if op == "DoesNotExist":
        return col == 0
    if op in ("In", "NotIn"):
        ids = [table.value_id(key, v) for v in values]
        hit = np.isin(col, ids)
        return hit if op == "In" else ~hit
    if op in ("Gt", "Lt"):
        try:
            bound = int(values[0])
        except (IndexError, ValueError):
            return np.zeros(len(col), dtype=bool)
        numeric = np.full(len(table.label_values.get(key, {})) + 1, np.nan)
        for value, vid in table.label_values.get(key, {}).items():
            with contextlib.suppress(ValueError):
                numeric[vid] = int(value)
        vals = numeric[col]
        with np.errstate(invalid="ignore"):
            return (vals > bound) if op == "Gt" else (vals < bound)
    return np.zeros(len(col), dtype=bool)


def insufficient(
    table: NodeTable, candidates: np.ndarray, request: np.ndarray, delta: np.ndarray | None = None
) -> tuple[Counter[str], np.ndarray]:
    """NodeResourcesFit over the ``candidates`` mask: each failing resource counted per node
    (the plugin reports all of them), and the mask of nodes failing any. ``delta`` (rows x
    resources) is added to what the nodes' pods request (nominated pods, removed victims)."""
    n = len(table)
    reasons: Counter[str] = Counter()
    failed = np.zeros(n, dtype=bool)
    for col in np.flatnonzero(request > 0):
        free = table.allocatable[:n, col] - table.requested[:n, col]
        if delta is not None and col < delta.shape[1]:
            free = free - delta[:n, col]
        short = candidates & (free < request[col])
        count = int(short.sum())
        if count:
            name = table.resources[col]
            reasons["Too many pods" if col == PODS else f"Insufficient {name}"] += count
            failed |= short
    return reasons, failed


def fit_mask(table: NodeTable, request: np.ndarray, delta: np.ndarray | None = None) -> np.ndarray:
    """Nodes with room for ``request``: one vector comparison per requested resource (no 2-D
    temporaries; at 15,000 nodes this is the scheduler's inner loop). ``delta`` as in
    ``insufficient``."""
    n = len(table)
    ok = np.ones(n, dtype=bool)
    for col in np.flatnonzero(request > 0):
        free = table.allocatable[:n, col] - table.requested[:n, col]
        if delta is not None and col < delta.shape[1]:
            free = free - delta[:n, col]
        ok &= free >= request[col]
    return ok


# Default profile score weights (kube-scheduler 1.31 default plugins).
W_FIT, W_BALANCED, W_TAINT, W_AFFINITY = 1, 1, 3, 2
MAX_SCORE = 100.0


def score(
    table: NodeTable, rows: np.ndarray, request: np.ndarray, strategy: str, needs: PodNeeds
) -> np.ndarray:
    """Weighted sum of the default score plugins for the feasible ``rows``: NodeResourcesFit
    (LeastAllocated or MostAllocated), NodeResourcesBalancedAllocation, TaintToleration
    (PreferNoSchedule) and NodeAffinity (preferred terms). Integer maths as the plugins do, so
    equal nodes tie and the tie is broken at random."""
    fit = np.zeros(len(rows))
    fractions = []
    for col in (CPU, MEMORY):
        alloc = table.allocatable[rows, col]
        used = table.requested[rows, col] + request[col]
        with np.errstate(divide="ignore", invalid="ignore"):
            if strategy == "MostAllocated":
                part = np.where(alloc > 0, np.minimum(used, alloc) * MAX_SCORE // alloc, 0.0)
            else:
                part = np.where(
                    (alloc > 0) & (used <= alloc), (alloc - used) * MAX_SCORE // alloc, 0.0
                )
            fractions.append(np.where(alloc > 0, np.minimum(used / alloc, 1.0), 0.0))
        fit += part
    fit //= 2
    # A resource the node has none of is left out: with one resource left, the spread is 0.
    both = (table.allocatable[rows, CPU] > 0) & (table.allocatable[rows, MEMORY] > 0)
    std = np.where(both, np.abs(fractions[0] - fractions[1]) / 2, 0.0)
    balanced = np.floor((1.0 - std) * MAX_SCORE)
    total = W_FIT * fit + W_BALANCED * balanced
    total += W_TAINT * _taint_score(table, rows, needs)
    if needs.preferred:
        total += W_AFFINITY * _preferred_affinity_score(table, rows, needs)
    return total


def _taint_score(table: NodeTable, rows: np.ndarray, needs: PodNeeds) -> np.ndarray:
    """TaintToleration: fewer intolerable PreferNoSchedule taints is better (reverse-normalised
    to 0-100 over the scored nodes)."""
    prefer = [t for t in needs.tolerations if t.get("effect") in (None, "", "PreferNoSchedule")]
    per_set = np.array(
        [
            sum(1 for t in taints if t[2] == "PreferNoSchedule" and not tolerates(prefer, t))
            for taints in table.taint_sets
        ],
        dtype=float,
    )
    counts = per_set[table.taint_set[rows]]
    top = counts.max() if len(counts) else 0.0
    if top == 0:
        return np.full(len(rows), MAX_SCORE)
    return MAX_SCORE - counts * MAX_SCORE // top


def _preferred_affinity_score(table: NodeTable, rows: np.ndarray, needs: PodNeeds) -> np.ndarray:
    """NodeAffinity: sum of the weights of matching preferred terms, normalised to 0-100."""
    n = len(table)
    sums = np.zeros(n)
    for term in needs.preferred:
        pref = term.get("preference") or {}
        sums += int(term.get("weight", 0)) * _term_mask(table, pref)
    out = sums[rows]
    top = out.max() if len(out) else 0.0
    return out * MAX_SCORE // top if top > 0 else out


def fit_error_message(total: int, reasons: Counter[str]) -> str:
    """FitError.Error() without the PostFilter part (the scheduler appends DefaultPreemption's
    ``preemption: ...`` when preemption did not nominate a node)."""
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    return f"0/{total} nodes are available: {', '.join(parts)}."


def prefilter_message(total: int, reason: str) -> str:
    """FailedScheduling when a PreFilter plugin rejected the pod (no node was filtered), with
    DefaultPreemption's answer: preemption cannot help an UnschedulableAndUnresolvable pod."""
    return (
        f"0/{total} nodes are available: {reason}. preemption: 0/{total} nodes are available: "
        f"{total} {MSG_NOT_HELPFUL}."
    )


UNRESOLVABLE = {MSG_UNSCHEDULABLE, MSG_AFFINITY, MSG_SPREAD_LABEL, MSG_AFFINITY_RULES}


def is_unresolvable(reason: str) -> bool:
    return reason in UNRESOLVABLE or reason.startswith("node(s) had untolerated taint")
