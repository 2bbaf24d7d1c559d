"""Inter-pod terms held by bound pods, which act on the pods they select: required
anti-affinity keeps them out (``existinganti.py``), preferred terms and required affinity score
them (``interpodscore.py``).

A term applies to an incoming pod in one of its namespaces (the holder's own by default, all
with ``namespaceSelector: {}``) whose labels its selector matches, over the holder's topology
domain: every node with the same value of its ``topologyKey`` as the holder's node (none if
the holder's node lacks the key).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from kubeward.kube.selectors import LabelSelector
from kubeward.sim.control.scheduling.interpod import term_namespaces
from kubeward.sim.control.scheduling.nodetable import NodeTable
from kubeward.sim.control.scheduling.spread import constraint_selector


@dataclass(frozen=True)
class HeldTerm:
    row: int  # the holder's node
    selector: LabelSelector
    namespaces: frozenset[str] | None  # None: every namespace
    topology_key: str
    weight: int = 0  # for scoring; negative for anti-affinity


def held_term(
    term: dict[str, Any], row: int, namespace: str, labels: dict[str, str], weight: int = 0
) -> HeldTerm | None:
    """A holder's term as it will be matched (None: a nil selector, which matches no pods)."""
    selector = constraint_selector(term, labels)
    if selector is None:
        return None
    namespaces = term_namespaces(term, namespace)
    return HeldTerm(row, selector[0], namespaces, term.get("topologyKey", ""), weight)


class HeldTerms:
    """Terms by holder pod."""

    def __init__(self) -> None:
        self._terms: dict[str, list[HeldTerm]] = {}  # holder pod key -> its terms

    def __bool__(self) -> bool:
        return bool(self._terms)

    def _put(self, key: str, terms: list[HeldTerm | None]) -> None:
        kept = [t for t in terms if t is not None]
        if kept:
            self._terms[key] = kept

    def remove(self, key: str) -> None:
        self._terms.pop(key, None)

    def _matching(
        self, table: NodeTable, namespace: str, labels: dict[str, str]
    ) -> Iterator[tuple[str, HeldTerm, np.ndarray, int]]:
        """(holder, term, the term's topology column, the holder's domain) for every term that
        selects a pod of ``labels`` in ``namespace`` and whose holder's node has the key."""
        n = len(table)
        for key, terms in self._terms.items():
            for term in terms:
                if term.namespaces is not None and namespace not in term.namespaces:
                    continue
                if term.row >= n or not table.present[term.row]:
                    continue
                if not term.selector.matches(labels):
                    continue
                column = table.label_ids(term.topology_key)
                value = int(column[term.row])
                if value:
                    yield key, term, column, value
