"""DefaultPreemption (kube-scheduler's PostFilter plugin) over the NodeTable.

For a pod no node can take, and whose preemptionPolicy is not Never:

1. nodes a filter rejected as UnschedulableAndUnresolvable are left out ("Preemption is not
   helpful for scheduling");
2. on every other node all pods of lower priority are removed at once and the filters are run
   again, vectorised over all nodes: NodeResourcesFit (requests of lower-priority pods come
   from per-priority request columns kept as pods bind), PodTopologySpread (DoNotSchedule) and
   required InterPodAffinity with that node's matching lower-priority pods taken out of its
   domain. Nodes with no lower-priority pod report "No preemption victims found for incoming
   pod"; nodes where the pod still does not fit report the filter's reasons;
3. on up to max(100, 10 %) of the nodes that pass, from a random offset, victims are chosen as
   SelectVictimsOnNode does: pods that would violate a PodDisruptionBudget are reprieved first,
   then the others, most important first (higher priority, then earlier start), each kept if
   the pod still fits without it;
4. the candidate is picked as pickOneNodeForPreemption: fewest PDB violations, lowest
   highest-victim priority, smallest sum of priorities, fewest victims, latest start of the
   highest-priority victims, then the first.

Not modelled: extenders, victims' affinity to the preemptor's own pods after removal beyond the
counted terms, and the asynchronous API calls (victims are written at once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from kubeward.kube.selectors import LabelSelector, SelectorError, label_selector_from_dict
from kubeward.sim.control.scheduling.filters import MSG_NO_VICTIMS, PodNeeds
from kubeward.sim.control.scheduling.interpod import (
    MSG_AFFINITY_RULES,
    MSG_ANTI_AFFINITY_RULES,
    _namespaces,
)
from kubeward.sim.control.scheduling.nodetable import PODS, NodeTable
from kubeward.sim.control.scheduling.spread import (
    MSG_SPREAD,
    SpreadCounts,
    constraint_selector,
)

MIN_CANDIDATES_ABSOLUTE, MIN_CANDIDATES_PERCENT = 100, 10
_I32 = 2**31


@dataclass
class Victim:
    key: str
    namespace: str
    name: str
    uid: str
    priority: int
    start: float  # status.startTime (else creationTimestamp) as epoch seconds
    request: np.ndarray
    labels: dict[str, str]


@dataclass
class Candidate:
    row: int
    victims: list[Victim]
    pdb_violations: int

    def order(self) -> tuple[int, int, int, int, float]:
        """Smaller is better: pickOneNodeForPreemption's criteria in order."""
        highest = max(v.priority for v in self.victims)
        earliest = min(v.start for v in self.victims if v.priority == highest)
        return (
            self.pdb_violations,
            highest,
            sum(v.priority + _I32 for v in self.victims),
            len(self.victims),
            -earliest,
        )


@dataclass
class Budget:
    """A PodDisruptionBudget as the preemption sees it."""

    namespace: str
    selector: LabelSelector
    allowed: int
    disrupted: frozenset[str] = frozenset()

    @classmethod
    def of(cls, pdb: dict[str, Any]) -> Budget | None:
        spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
        raw = spec.get("selector")
        if not raw:  # a nil or empty selector matches nothing here (as kube-scheduler)
            return None
        try:
            selector = label_selector_from_dict(raw)
        except SelectorError:
            return None
        return cls(
            pdb["metadata"].get("namespace", ""),
            selector,
            int(status.get("disruptionsAllowed") or 0),
            frozenset(status.get("disruptedPods") or {}),
        )


def split_by_pdb(victims: list[Victim], budgets: list[Budget]) -> tuple[list[Victim], list[Victim]]:
    """filterPodsWithPDBViolation: (violating, non-violating), order kept; budgets' allowed
    disruptions are used up in order on a copy."""
    allowed = [b.allowed for b in budgets]
    violating: list[Victim] = []
    fine: list[Victim] = []
    for v in victims:
        bad = False
        for i, b in enumerate(budgets):
            if b.namespace != v.namespace or v.name in b.disrupted:
                continue
            if not b.selector.matches(v.labels):
                continue
            allowed[i] -= 1
            if allowed[i] < 0:
                bad = True
        (violating if bad else fine).append(v)
    return violating, fine


def select_victims(
    row: int, potential: list[Victim], fits: Callable[[list[Victim]], bool], budgets: list[Budget]
) -> Candidate | None:
    """SelectVictimsOnNode once the pod is known to fit with all ``potential`` removed:
    reprieve as many as possible, PDB-violating ones first."""
    ordered = sorted(potential, key=lambda v: (-v.priority, v.start))
    violating, fine = split_by_pdb(ordered, budgets)
    removed = list(ordered)
    victims: list[Victim] = []
    violations = 0
    for group, is_violating in ((violating, True), (fine, False)):
        for v in group:
            removed.remove(v)
            if not fits(removed):
                removed.append(v)
                victims.append(v)
                violations += is_violating
    if not victims:
        return None
    return Candidate(row, victims, violations)


def number_of_candidates(nodes: int) -> int:
    """calculateNumCandidates: 10 % of the nodes, at least 100 (all of them if fewer)."""
    n = nodes * MIN_CANDIDATES_PERCENT // 100
    return min(max(n, MIN_CANDIDATES_ABSOLUTE), nodes)


def epoch(timestamp: str | None) -> float:
    if not timestamp:
        return 0.0
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


# --- constraints with pods removed -------------------------------------------------------------


@dataclass
class _Term:
    """One spread constraint or inter-pod term, as counts per topology domain."""

    kind: str  # "spread", "affinity", "anti"
    col: np.ndarray  # topology value id per row
    domain_counts: np.ndarray
    namespaces: tuple[str, ...]
    selector: LabelSelector | None
    max_skew: int = 1
    self_match: int = 0
    present: np.ndarray | None = None  # spread: domains counted
    first_pod_ok: bool = False  # affinity: no matching pod anywhere and the pod matches itself

    def matches(self, v: Victim) -> bool:
        return (
            self.selector is not None
            and v.namespace in self.namespaces
            and self.selector.matches(v.labels)
        )


@dataclass
class Constraints:
    """The incoming pod's DoNotSchedule spread constraints and required inter-pod terms, ready
    to be re-evaluated with pods removed from one node (only that node's domain changes)."""

    terms: list[_Term] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        table: NodeTable,
        spread: SpreadCounts,
        needs: PodNeeds,
        namespace: str,
        labels: dict[str, str],
        affinity_ok: np.ndarray | None,
    ) -> Constraints:
        n = len(table)
        out = cls()
        if needs.spread:
            has_all = table.present[:n].copy()
            for c in needs.spread:
                has_all &= table.label_ids(c.get("topologyKey", "")) != 0
            for c in needs.spread:
                key = c.get("topologyKey", "")
                col = table.label_ids(key)
                eligible = has_all
                if affinity_ok is not None and c.get("nodeAffinityPolicy", "Honor") == "Honor":
                    eligible = has_all & affinity_ok
                sel = constraint_selector(c, labels)
                counts = spread.counts(namespace, sel[0], sel[1], n) if sel else np.zeros(n)
                nvalues = len(table.label_values.get(key, {})) + 1
                dc = np.bincount(col[eligible], weights=counts[eligible], minlength=nvalues)
                present = np.bincount(col[eligible], minlength=nvalues) > 0
                present[0] = False
                if int(present.sum()) < int(c.get("minDomains") or 1):
                    present = np.zeros_like(present)  # global minimum taken as 0
                out.terms.append(
                    _Term(
                        "spread",
                        col,
                        dc,
                        (namespace,),
                        sel[0] if sel else None,
                        int(c.get("maxSkew", 1)),
                        1 if sel and sel[0].matches(labels) else 0,
                        present,
                    )
                )
        for kind, terms in (("affinity", needs.pod_affinity), ("anti", needs.pod_anti_affinity)):
            for term in terms:
                key = term.get("topologyKey", "")
                col = table.label_ids(key)
                nvalues = len(table.label_values.get(key, {})) + 1
                sel = constraint_selector(term, labels)
                namespaces = tuple(_namespaces(term, namespace, spread))
                counts = np.zeros(n)
                if sel is not None:
                    for ns in namespaces:
                        counts += spread.counts(ns, sel[0], sel[1], n)
                present = table.present[:n]
                dc = np.bincount(col[present], weights=counts[present], minlength=nvalues)
                dc[0] = 0
                first = (
                    kind == "affinity"
                    and not dc.any()
                    and sel is not None
                    and namespace in namespaces
                    and sel[0].matches(labels)
                )
                out.terms.append(
                    _Term(kind, col, dc, namespaces, sel[0] if sel else None, first_pod_ok=first)
                )
        if any(t.kind == "affinity" for t in out.terms):
            # All affinity terms must allow the first-pod exception together.
            first = all(t.first_pod_ok for t in out.terms if t.kind == "affinity")
            for t in out.terms:
                t.first_pod_ok = first
        return out

    def removable_counts(
        self, term: _Term, spread: SpreadCounts, priority_of: dict[str, int], below: int, n: int
    ) -> np.ndarray:
        """Per row: bound pods with priority < ``below`` that the term counts."""
        rows: list[int] = []
        if term.selector is None:
            return np.zeros(n)
        for ns in term.namespaces:
            for key, (row, labels) in spread.pods.get(ns, {}).items():
                if priority_of.get(key, 0) < below and term.selector.matches(labels):
                    rows.append(row)
        return np.bincount(np.asarray(rows, dtype=np.int64), minlength=n)[:n].astype(float)

    def all_removed(
        self, spread: SpreadCounts, priority_of: dict[str, int], below: int, n: int
    ) -> list[tuple[str, np.ndarray]]:
        """Per term, (failure reason, rows passing) with every lower-priority pod of each row
        removed from that row's domain."""
        out = []
        for t in self.terms:
            removable = self.removable_counts(t, spread, priority_of, below, n)
            out.append((_REASONS[t.kind], self._ok(t, np.arange(n), removable)))
        return out

    def fits_row(self, row: int, removed: list[Victim]) -> bool:
        for t in self.terms:
            gone = sum(1 for v in removed if t.matches(v))
            if not bool(self._ok(t, np.array([row]), np.array([float(gone)]))[0]):
                return False
        return True

    @staticmethod
    def _ok(t: _Term, rows: np.ndarray, removable: np.ndarray) -> np.ndarray:
        col = t.col[rows]
        adjusted = t.domain_counts[col] - removable
        if t.kind == "anti":
            return (col == 0) | (adjusted <= 0)
        if t.kind == "affinity":
            return (col != 0) & ((adjusted > 0) | t.first_pod_ok)
        # spread: the global minimum over the counted domains, with this row's domain lowered
        assert t.present is not None
        if not t.present.any():
            low: Any = 0.0  # fewer domains than minDomains: the global minimum is 0
        else:
            values = np.where(t.present, t.domain_counts, np.inf)
            order = np.argsort(values, kind="stable")
            m1 = values[order[0]]
            m2 = values[order[1]] if len(order) > 1 else np.inf
            others = np.where(col == order[0], m2, m1)  # the minimum over the other domains
            low = np.minimum(others, adjusted)
        return adjusted + t.self_match - low <= t.max_skew


_REASONS = {"spread": MSG_SPREAD, "affinity": MSG_AFFINITY_RULES, "anti": MSG_ANTI_AFFINITY_RULES}


def statuses_message(total: int, statuses: Counter[str]) -> str:
    parts = sorted(f"{count} {reason}" for reason, count in statuses.items())
    return f"preemption: 0/{total} nodes are available: {', '.join(parts)}."


__all__ = [
    "MSG_NO_VICTIMS",
    "PODS",
    "Budget",
    "Candidate",
    "Constraints",
    "Victim",
    "epoch",
    "number_of_candidates",
    "select_victims",
    "split_by_pdb",
    "statuses_message",
]
