"""InterPodAffinity's symmetric half: bound pods' required anti-affinity terms keep away the
pods they select. A pod whose term says "not in the same zone as app=web" keeps every later
app=web pod out of its zone, though those pods say nothing about it.

As kube-scheduler: a term applies to an incoming pod in one of its namespaces (its own by
default, all with ``namespaceSelector: {}``) whose labels its selector matches; it rules out
every node with the same value of its ``topologyKey`` as the holder's node (none if the
holder's node lacks the key). Terminating holders still count, as they stay in the
scheduler's node info until they are gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from kubeward.kube.selectors import LabelSelector
from kubeward.sim.control.scheduling.interpod import required_terms, term_namespaces
from kubeward.sim.control.scheduling.nodetable import NodeTable
from kubeward.sim.control.scheduling.spread import constraint_selector

MSG_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"


@dataclass(frozen=True)
class _Term:
    row: int  # the holder's node
    selector: LabelSelector
    namespaces: frozenset[str] | None  # None: every namespace
    topology_key: str


class ExistingAntiAffinity:
    def __init__(self) -> None:
        self._terms: dict[str, list[_Term]] = {}  # holder pod key -> its terms

    def __bool__(self) -> bool:
        return bool(self._terms)

    def add(self, key: str, namespace: str, row: int, pod: dict[str, Any]) -> None:
        """Note a bound pod's required anti-affinity terms, if it has any."""
        spec = pod.get("spec") or {}
        terms = required_terms(spec, "podAntiAffinity")
        if not terms:
            return
        labels = (pod.get("metadata") or {}).get("labels") or {}
        parsed = []
        for term in terms:
            selector = constraint_selector(term, labels)
            if selector is None:
                continue  # a nil selector matches no pods
            namespaces = term_namespaces(term, namespace)
            parsed.append(_Term(row, selector[0], namespaces, term.get("topologyKey", "")))
        if parsed:
            self._terms[key] = parsed

    def remove(self, key: str) -> None:
        self._terms.pop(key, None)

    def mask(
        self,
        table: NodeTable,
        namespace: str,
        labels: dict[str, str],
        removable: Callable[[str], bool] | None = None,
    ) -> np.ndarray | None:
        """Per node row: no bound pod's term keeps a pod of ``labels`` in ``namespace`` out
        (None when no bound pod has such terms). With ``removable`` (the holders preemption
        may evict), as if every removable holder were evicted from the row being judged: its
        term then still rules out the rest of its domain, not its own node."""
        if not self._terms:
            return None
        n = len(table)
        ok = np.ones(n, dtype=bool)
        for key, term, column, value in self._matching(table, namespace, labels):
            blocked = column[:n] == value
            if removable is not None and removable(key):
                blocked[term.row] = False
            ok &= ~blocked
        return ok

    def holders_on(
        self, table: NodeTable, row: int, namespace: str, labels: dict[str, str]
    ) -> set[str]:
        """The pods on ``row`` whose terms keep a pod of ``labels`` in ``namespace`` out of it:
        preemption there must evict them all."""
        return {
            key for key, term, _, _ in self._matching(table, namespace, labels) if term.row == row
        }

    def _matching(
        self, table: NodeTable, namespace: str, labels: dict[str, str]
    ) -> Iterator[tuple[str, _Term, np.ndarray, int]]:
        """(holder, term, the term's topology column, the holder's domain) for every term that
        selects such a pod and whose holder's node has the topology key."""
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
