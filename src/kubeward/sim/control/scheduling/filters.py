"""kube-scheduler's filter plugins over a NodeTable, and its failure messages.

Plugins run in the default profile's order (NodeUnschedulable, TaintToleration, NodeAffinity,
NodeResourcesFit, PodTopologySpread); a node is charged to the first plugin that rejects it,
as the scheduler stops filtering a node at its first failure. Reasons the scheduler calls
UnschedulableAndUnresolvable (preemption cannot help) are marked so, which decides the
``preemption:`` half of the FailedScheduling message.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kubeward.kube.selectors import LabelSelector, SelectorError, label_selector_from_dict
from kubeward.sim.control.scheduling.nodetable import (
    CPU,
    MEMORY,
    PODS,
    NodeTable,
    Taint,
    resource_amount,
)

UNSCHEDULABLE_TAINT = ("node.kubernetes.io/unschedulable", "", "NoSchedule")
MSG_UNSCHEDULABLE = "node(s) were unschedulable"
MSG_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
MSG_SPREAD = "node(s) didn't match pod topology spread constraints"
MSG_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
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

    @classmethod
    def of(cls, spec: dict[str, Any]) -> PodNeeds:
        node_affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        ) or {}
        spread = [
            c
            for c in spec.get("topologySpreadConstraints") or ()
            if c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"
        ]
        return cls(
            request=pod_request(spec),
            node_selector=dict(spec.get("nodeSelector") or {}),
            affinity_terms=node_affinity.get("nodeSelectorTerms"),
            tolerations=list(spec.get("tolerations") or ()),
            spread=spread,
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
    """Per node: passes the request-independent filters, or the reason it does not."""

    mask: np.ndarray  # bool per node row
    reasons: list[str | None]  # per node row, the first failing static plugin's message


def static_filters(table: NodeTable, needs: PodNeeds) -> StaticVerdict:
    n = len(table)
    reasons: list[str | None] = [None] * n
    mask = table.present[:n].copy()
    # NodeUnschedulable
    if not tolerates(needs.tolerations, UNSCHEDULABLE_TAINT):
        for row in np.flatnonzero(mask & table.unschedulable[:n]):
            reasons[row] = MSG_UNSCHEDULABLE
        mask &= ~table.unschedulable[:n]
    # TaintToleration: evaluated once per distinct taint set
    set_ok = np.ones(len(table.taint_sets), dtype=bool)
    set_reason: dict[int, str] = {}
    for sid, taints in enumerate(table.taint_sets):
        bad = first_untolerated(needs.tolerations, taints)
        if bad is not None:
            set_ok[sid] = False
            set_reason[sid] = f"node(s) had untolerated taint {{{bad[0]}: {bad[1]}}}"
    taint_ok = set_ok[table.taint_set[:n]]
    for row in np.flatnonzero(mask & ~taint_ok):
        reasons[row] = set_reason[int(table.taint_set[row])]
    mask &= taint_ok
    # NodeAffinity (nodeSelector and required node affinity)
    affinity_ok = node_affinity_mask(table, needs)
    for row in np.flatnonzero(mask & ~affinity_ok):
        reasons[row] = MSG_AFFINITY
    mask &= affinity_ok
    return StaticVerdict(mask, reasons)


def node_affinity_mask(table: NodeTable, needs: PodNeeds) -> np.ndarray:
    n = len(table)
    ok = np.ones(n, dtype=bool)
    for key, value in needs.node_selector.items():
        ok &= table.label_ids(key) == table.value_id(key, value)
    if needs.affinity_terms is not None:
        any_term = np.zeros(n, dtype=bool)
        for term in needs.affinity_terms:
            any_term |= _term_mask(table, term)
        ok &= any_term
    return ok


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


def insufficient(table: NodeTable, rows: np.ndarray, request: np.ndarray) -> list[list[str]]:
    """NodeResourcesFit reasons for each row in ``rows`` (all failing resources, as the plugin
    reports them)."""
    free = table.allocatable[rows, : len(request)] - table.requested[rows, : len(request)]
    out = []
    for i in range(len(rows)):
        reasons = []
        for col in np.flatnonzero(request > 0):
            if free[i, col] < request[col]:
                name = table.resources[col]
                reasons.append("Too many pods" if col == PODS else f"Insufficient {name}")
        out.append(reasons)
    return out


def fit_mask(table: NodeTable, request: np.ndarray) -> np.ndarray:
    """Nodes with room for ``request``: one vector comparison per requested resource (no 2-D
    temporaries; at 15,000 nodes this is the scheduler's inner loop)."""
    n = len(table)
    ok = np.ones(n, dtype=bool)
    for col in np.flatnonzero(request > 0):
        free = table.allocatable[:n, col] - table.requested[:n, col]
        ok &= free >= request[col]
    return ok


def score(table: NodeTable, feasible: np.ndarray, request: np.ndarray, strategy: str) -> np.ndarray:
    """NodeResourcesFit scoring over cpu and memory, 0-100, for every node; infeasible nodes
    score -1. Whole columns, not fancy-indexed rows: cheaper when most nodes are feasible."""
    n = len(table)
    total = np.zeros(n)
    for col in (CPU, MEMORY):
        alloc = table.allocatable[:n, col]
        used = table.requested[:n, col] + request[col]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip(np.where(alloc > 0, used / alloc, 1.0), 0.0, 1.0)
        total += frac if strategy == "MostAllocated" else 1.0 - frac
    total *= 50.0
    total[~feasible] = -1.0
    return total


def spread_selector(constraint: dict[str, Any]) -> LabelSelector | None:
    try:
        return label_selector_from_dict(constraint.get("labelSelector"))
    except SelectorError:
        return None


def fit_error_message(total: int, reasons: Counter[str], unresolvable: int) -> str:
    """FitError.Error() plus the DefaultPreemption PostFilter result."""
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    msg = f"0/{total} nodes are available: {', '.join(parts)}."
    resolvable = total - unresolvable
    pre = []
    if resolvable:
        pre.append(f"{resolvable} {MSG_NO_VICTIMS}")
    if unresolvable:
        pre.append(f"{unresolvable} {MSG_NOT_HELPFUL}")
    return f"{msg} preemption: 0/{total} nodes are available: {', '.join(sorted(pre))}."


UNRESOLVABLE = {MSG_UNSCHEDULABLE, MSG_AFFINITY, MSG_SPREAD_LABEL}


def is_unresolvable(reason: str) -> bool:
    return reason in UNRESOLVABLE or reason.startswith("node(s) had untolerated taint")
