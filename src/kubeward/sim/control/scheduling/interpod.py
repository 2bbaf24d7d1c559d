"""InterPodAffinity (filter): the incoming pod's required pod affinity and anti-affinity terms.

Matching pods per topology domain come from the same incremental per-selector counts as
PodTopologySpread. Existing pods' anti-affinity against the incoming pod (the symmetric
check) is in ``existinganti.py``. Not modelled: namespaceSelector other than ``{}`` (all
namespaces), mismatchLabelKeys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kubeward.sim.control.scheduling.nodetable import NodeTable
from kubeward.sim.control.scheduling.spread import SpreadCounts, constraint_selector

MSG_AFFINITY_RULES = "node(s) didn't match pod affinity rules"
MSG_ANTI_AFFINITY_RULES = "node(s) didn't match pod anti-affinity rules"


@dataclass
class InterPodVerdict:
    ok: np.ndarray
    affinity_failed: np.ndarray  # UnschedulableAndUnresolvable
    anti_affinity_failed: np.ndarray  # Unschedulable


def required_terms(spec: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """``kind`` is podAffinity or podAntiAffinity."""
    block = (spec.get("affinity") or {}).get(kind) or {}
    return list(block.get("requiredDuringSchedulingIgnoredDuringExecution") or ())


def term_namespaces(term: dict[str, Any], namespace: str) -> frozenset[str] | None:
    """The namespaces a term of a pod in ``namespace`` looks at; None for every namespace (an
    empty namespaceSelector)."""
    if term.get("namespaceSelector") == {}:
        return None
    return frozenset(term.get("namespaces") or ()) or frozenset((namespace,))


def _namespaces(term: dict[str, Any], namespace: str, spread: SpreadCounts) -> list[str]:
    namespaces = term_namespaces(term, namespace)
    return list(spread.pods) if namespaces is None else sorted(namespaces)


def term_domain_counts(
    table: NodeTable,
    spread: SpreadCounts,
    term: dict[str, Any],
    namespace: str,
    pod_labels: dict[str, str],
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(topology value id per node row, matching pods per domain, does the pod match itself)."""
    n = len(table)
    key = term.get("topologyKey", "")
    col = table.label_ids(key)
    nvalues = len(table.label_values.get(key, {})) + 1
    sel = constraint_selector(term, pod_labels)
    if sel is None:
        return col, np.zeros(nvalues), False
    namespaces = _namespaces(term, namespace, spread)
    row_counts = np.zeros(n)
    for ns in namespaces:
        row_counts += spread.counts(ns, sel[0], sel[1], n)
    present = table.present[:n]
    domain_counts = np.bincount(col[present], weights=row_counts[present], minlength=nvalues)
    domain_counts[0] = 0  # nodes without the key form no domain
    return col, domain_counts, namespace in namespaces and sel[0].matches(pod_labels)


def interpod_filter(
    table: NodeTable,
    spread: SpreadCounts,
    affinity: list[dict[str, Any]],
    anti_affinity: list[dict[str, Any]],
    namespace: str,
    pod_labels: dict[str, str],
) -> InterPodVerdict:
    n = len(table)
    affinity_ok = np.ones(n, dtype=bool)
    if affinity:
        has_keys = np.ones(n, dtype=bool)
        pods_exist = np.ones(n, dtype=bool)
        any_match, self_match = False, True
        for term in affinity:
            col, counts, matches_self = term_domain_counts(
                table, spread, term, namespace, pod_labels
            )
            has_keys &= col != 0
            pods_exist &= counts[col] > 0
            any_match |= bool(counts.any())
            self_match &= matches_self
        # The first pod of a group with affinity to itself may go anywhere with the keys.
        affinity_ok = has_keys & (pods_exist | (not any_match and self_match))
    anti_ok = np.ones(n, dtype=bool)
    for term in anti_affinity:
        col, counts, _ = term_domain_counts(table, spread, term, namespace, pod_labels)
        anti_ok &= (col == 0) | (counts[col] == 0)
    return InterPodVerdict(affinity_ok & anti_ok, ~affinity_ok, affinity_ok & ~anti_ok)
