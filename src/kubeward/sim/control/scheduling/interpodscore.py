"""InterPodAffinity (score): preferred pod affinity draws a pod towards the topology domains
of the pods its terms select, preferred anti-affinity pushes it away.

As kube-scheduler's plugin, a node's raw score is the sum, over every term that applies, of
the term's weight for each matching pod in the node's domain (negative for anti-affinity):

- the incoming pod's preferred terms, counted over the pods they select;
- bound pods' terms that select the incoming pod (the symmetric half): their preferred
  affinity (+weight) and anti-affinity (-weight), and their *required* affinity with
  ``hardPodAffinityWeight`` (1), each in the holder's domain.

Raw scores are normalised over the scored nodes to 0-100 (``(s - min) * 100 / (max - min)``,
all 0 when equal) and weighted 2 in the default profile. Nodes without a term's topology key
get nothing from it. Namespaces as the filter's (``term_namespaces``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kubeward.sim.control.scheduling.heldterms import HeldTerms, held_term
from kubeward.sim.control.scheduling.interpod import required_terms, term_domain_counts
from kubeward.sim.control.scheduling.nodetable import NodeTable
from kubeward.sim.control.scheduling.spread import SpreadCounts

HARD_POD_AFFINITY_WEIGHT = 1  # kube-scheduler's default for InterPodAffinityArgs
MAX_SCORE = 100.0


def preferred_terms(spec: dict[str, Any], kind: str) -> list[tuple[int, dict[str, Any]]]:
    """(weight, podAffinityTerm) of ``kind`` (podAffinity or podAntiAffinity)."""
    block = (spec.get("affinity") or {}).get(kind) or {}
    out = []
    for weighted in block.get("preferredDuringSchedulingIgnoredDuringExecution") or ():
        term = weighted.get("podAffinityTerm") or {}
        weight = int(weighted.get("weight") or 0)
        if weight:
            out.append((weight, term))
    return out


class ScoringTerms(HeldTerms):
    """Bound pods' terms that score incoming pods: preferred affinity and anti-affinity, and
    required affinity (``HARD_POD_AFFINITY_WEIGHT``)."""

    def add(self, key: str, namespace: str, row: int, pod: dict[str, Any]) -> None:
        spec = pod.get("spec") or {}
        if not (spec.get("affinity") or {}):
            return
        weighted = [
            *preferred_terms(spec, "podAffinity"),
            *((-w, t) for w, t in preferred_terms(spec, "podAntiAffinity")),
            *((HARD_POD_AFFINITY_WEIGHT, t) for t in required_terms(spec, "podAffinity")),
        ]
        labels = (pod.get("metadata") or {}).get("labels") or {}
        self._put(key, [held_term(t, row, namespace, labels, weight) for weight, t in weighted])

    def raw(
        self, table: NodeTable, rows: np.ndarray, namespace: str, labels: dict[str, str]
    ) -> np.ndarray:
        """Per scored row: the weights of the bound pods' terms that select the pod."""
        out = np.zeros(len(rows))
        for _, term, column, value in self._matching(table, namespace, labels):
            out += term.weight * (column[rows] == value)
        return out


def interpod_score(
    table: NodeTable,
    spread: SpreadCounts,
    affinity: list[tuple[int, dict[str, Any]]],
    anti_affinity: list[tuple[int, dict[str, Any]]],
    held: ScoringTerms,
    namespace: str,
    labels: dict[str, str],
    rows: np.ndarray,
) -> np.ndarray:
    """The normalised InterPodAffinity score (0-100) of the scored ``rows``."""
    raw = held.raw(table, rows, namespace, labels)
    for sign, terms in ((1, affinity), (-1, anti_affinity)):
        for weight, term in terms:
            col, domain, _ = term_domain_counts(table, spread, term, namespace, labels)
            raw += sign * weight * domain[col[rows]]
    low, high = raw.min(), raw.max()
    if high == low:
        return np.zeros(len(rows))
    return np.floor(MAX_SCORE * (raw - low) / (high - low))
