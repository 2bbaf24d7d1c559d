"""PodTopologySpread: per-node counts of matching pods, kept incrementally, and the filter.

kube-scheduler counts, for every constraint, the pods in the incoming pod's namespace that match
the constraint's selector, per topology domain. Rescanning every bound pod for each decision is
O(pods) per pod; instead each distinct (namespace, selector) gets a per-node-row count array the
first time a pod uses it, and every bind/release/label change adjusts the arrays that match.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from kubeward.kube.selectors import (
    LabelSelector,
    SelectorError,
    SelectorIndex,
    filing_pairs,
    label_selector_from_dict,
)
from kubeward.sim.control.scheduling.nodetable import NodeTable

MSG_SPREAD = "node(s) didn't match pod topology spread constraints"
MSG_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"


@dataclass
class _Counter:
    counts: np.ndarray  # matching pods per node row (the selector is in SpreadCounts' index)


class SpreadCounts:
    """Matching-pod counts per node row for each (namespace, selector) in use."""

    def __init__(self) -> None:
        # namespace -> pod key -> (node row, labels); bound, non-terminal, not deleting pods
        self.pods: dict[str, dict[str, tuple[int, dict[str, str]]]] = {}
        self._counters: dict[str, dict[bytes, _Counter]] = {}
        # namespace -> the counters' selectors: a pod is tried only against those that can
        # match it (a namespace of 1,500 Deployments has 1,500 of them)
        self._selectors: dict[str, SelectorIndex[bytes]] = {}
        # namespace -> (label key, value) -> pod keys: a selector seen for the first time
        # counts only the pods with one of its equality pairs, not the whole namespace
        self._pods_by_pair: dict[str, dict[tuple[str, str], set[str]]] = {}

    def add(self, namespace: str, key: str, row: int, labels: dict[str, str]) -> None:
        self.pods.setdefault(namespace, {})[key] = (row, labels)
        by_pair = self._pods_by_pair.setdefault(namespace, {})
        for pair in labels.items():
            by_pair.setdefault(pair, set()).add(key)
        self._bump_matching(namespace, row, labels, 1.0)

    def remove(self, namespace: str, key: str) -> None:
        entry = self.pods.get(namespace, {}).pop(key, None)
        if entry is None:
            return
        row, labels = entry
        by_pair = self._pods_by_pair[namespace]
        for pair in labels.items():
            keys = by_pair.get(pair)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del by_pair[pair]
        self._bump_matching(namespace, row, labels, -1.0)

    def _bump_matching(
        self, namespace: str, row: int, labels: dict[str, str], delta: float
    ) -> None:
        index = self._selectors.get(namespace)
        if index is None:
            return
        counters = self._counters[namespace]
        for sel_key in index.matching(labels):
            _bump(counters[sel_key], row, delta)

    def counts(self, namespace: str, selector: LabelSelector, sel_key: bytes, n: int) -> np.ndarray:
        """Per-row counts (length ``n``) of pods in ``namespace`` matching ``selector``."""
        counters = self._counters.setdefault(namespace, {})
        c = counters.get(sel_key)
        if c is None:
            c = counters[sel_key] = _Counter(np.zeros(max(n, 1)))
            self._selectors.setdefault(namespace, SelectorIndex()).set(sel_key, selector)
            pods = self.pods.get(namespace, {})
            for key in self._candidates(namespace, selector):
                entry = pods.get(key)
                if entry is not None and selector.matches(entry[1]):
                    _bump(c, entry[0], 1.0)
        if len(c.counts) < n:
            c.counts = np.concatenate([c.counts, np.zeros(n - len(c.counts))])
        return c.counts[:n]

    def _candidates(self, namespace: str, selector: LabelSelector) -> Iterable[str]:
        pairs = filing_pairs(selector)
        if pairs is None:
            return list(self.pods.get(namespace, {}))
        by_pair = self._pods_by_pair.get(namespace, {})
        return set().union(*(by_pair.get(pair, ()) for pair in pairs))


def _bump(c: _Counter, row: int, delta: float) -> None:
    if row >= len(c.counts):
        c.counts = np.concatenate(
            [c.counts, np.zeros(max(row + 1, 2 * len(c.counts)) - len(c.counts))]
        )
    c.counts[row] += delta


def constraint_selector(
    constraint: dict[str, Any], pod_labels: dict[str, str]
) -> tuple[LabelSelector, bytes] | None:
    """The constraint's selector, with matchLabelKeys merged in from the pod's own labels (as
    the scheduler does in 1.31), and a key identifying it. None if the selector is invalid."""
    raw = dict(constraint.get("labelSelector") or {})
    extra = {k: pod_labels[k] for k in constraint.get("matchLabelKeys") or () if k in pod_labels}
    if extra:
        exprs = list(raw.get("matchExpressions") or ())
        exprs += [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(extra.items())]
        raw["matchExpressions"] = exprs
    if not constraint.get("labelSelector"):
        return None  # a nil selector matches no pods
    key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    if key in _SELECTORS:
        selector = _SELECTORS[key]
    else:
        try:
            selector = label_selector_from_dict(raw)
        except SelectorError:
            selector = None
        if len(_SELECTORS) >= 1024:
            del _SELECTORS[next(iter(_SELECTORS))]
        _SELECTORS[key] = selector
    return (selector, key) if selector is not None else None


# Parsed selectors by their JSON: pods of one template parse theirs once.
_SELECTORS: dict[bytes, LabelSelector | None] = {}


@dataclass
class SpreadVerdict:
    ok: np.ndarray  # per node row: placing the pod there keeps every constraint's skew
    missing_label: np.ndarray  # the node lacks a constraint's topology key (unresolvable)
    too_skewed: np.ndarray  # placing the pod there would exceed a maxSkew


def spread_filter(
    table: NodeTable,
    spread: SpreadCounts,
    constraints: list[dict[str, Any]],
    namespace: str,
    pod_labels: dict[str, str],
    affinity_ok: np.ndarray,
) -> SpreadVerdict:
    """DoNotSchedule constraints: placing the pod on a node must keep each constraint's skew
    (domain count + self - global minimum) within maxSkew. Domains are counted on nodes that
    carry every constraint's topology key and pass the pod's node affinity (nodeAffinityPolicy
    Honor) whatever their taints (nodeTaintsPolicy Ignore), the defaults."""
    n = len(table)
    has_all = table.present[:n].copy()
    for c in constraints:
        has_all &= table.label_ids(c.get("topologyKey", "")) != 0
    too_skewed = np.zeros(n, dtype=bool)
    for c in constraints:
        key = c.get("topologyKey", "")
        col = table.label_ids(key)
        eligible = (
            has_all & affinity_ok if c.get("nodeAffinityPolicy", "Honor") == "Honor" else has_all
        )
        sel = constraint_selector(c, pod_labels)
        if sel is None:
            row_counts = np.zeros(n)
            self_match = 0
        else:
            row_counts = spread.counts(namespace, sel[0], sel[1], n)
            self_match = 1 if sel[0].matches(pod_labels) else 0
        nvalues = len(table.label_values.get(key, {})) + 1
        cols = col[eligible]
        domain_counts = np.bincount(cols, weights=row_counts[eligible], minlength=nvalues)
        present = np.bincount(cols, minlength=nvalues) > 0
        present[0] = False
        domains = int(present.sum())
        if domains == 0 or domains < int(c.get("minDomains") or 1):
            min_count = 0.0
        else:
            min_count = float(domain_counts[present].min())
        too_skewed |= domain_counts[col] + self_match - min_count > int(c.get("maxSkew", 1))
    too_skewed &= has_all
    return SpreadVerdict(has_all & ~too_skewed, ~has_all, too_skewed)


HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def default_constraints(selector: dict[str, Any]) -> list[dict[str, Any]]:
    """The scheduler's system-default spreading for pods without constraints of their own,
    selected by their controller's selector."""
    return [
        {
            "topologyKey": HOSTNAME,
            "maxSkew": 3,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": selector,
        },
        {
            "topologyKey": ZONE,
            "maxSkew": 5,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": selector,
        },
    ]


def spread_score(
    table: NodeTable,
    spread: SpreadCounts,
    constraints: list[dict[str, Any]],
    namespace: str,
    pod_labels: dict[str, str],
    affinity_ok: np.ndarray | None,
    rows: np.ndarray,
    require_all: bool,
) -> np.ndarray:
    """PodTopologySpread scoring (ScheduleAnyway constraints, or the system defaults) for the
    scored ``rows``: fewer matching pods in the node's domain is better, each constraint
    weighted by log(domains + 2), then reverse-normalised to 0-100. With ``require_all`` (the
    pod's own constraints) nodes lacking a topology key are ignored and score 0.
    ``affinity_ok`` None means the pod has no required node affinity (every node passes)."""
    n = len(table)
    # The common case (a controller's pods, the system defaults, no node selector, no removed
    # nodes) counts over every row without building masks: this runs once per pod.
    everything = not require_all and affinity_ok is None and len(table.index) == n
    has_all = table.present[:n].copy()
    if require_all:
        for c in constraints:
            has_all &= table.label_ids(c.get("topologyKey", "")) != 0
    counted = has_all[rows]
    scored = rows[counted]
    raw = np.zeros(len(rows))
    for c in constraints:
        key = c.get("topologyKey", "")
        col = table.label_ids(key)
        sel = constraint_selector(c, pod_labels)
        row_counts = spread.counts(namespace, sel[0], sel[1], n) if sel is not None else np.zeros(n)
        if key == HOSTNAME:
            size = len(scored)
            cnt = row_counts[rows]
        else:
            nvalues = len(table.label_values.get(key, {})) + 1
            if everything:
                domain_counts = np.bincount(col, weights=row_counts, minlength=nvalues)
            else:
                include = has_all
                if affinity_ok is not None and c.get("nodeAffinityPolicy", "Honor") == "Honor":
                    include = has_all & affinity_ok
                domain_counts = np.bincount(
                    col[include], weights=row_counts[include], minlength=nvalues
                )
            seen = np.bincount(col[scored], minlength=nvalues)
            size = int(np.count_nonzero(seen[1:]))
            cnt = domain_counts[col[rows]]
        weight = float(np.log(size + 2))
        raw += np.where(col[rows] != 0, cnt * weight + (int(c.get("maxSkew", 1)) - 1), 0.0)
    raw = np.round(raw)
    if not counted.any():
        return np.zeros(len(rows))
    low, high = raw[counted].min(), raw[counted].max()
    out = np.full(len(rows), 100.0) if high == 0 else 100.0 * (high + low - raw) // high
    out[~counted] = 0.0
    return out
