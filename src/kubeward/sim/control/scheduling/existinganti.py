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

from dataclasses import dataclass
from typing import Any

import numpy as np

from kubeward.kube.selectors import LabelSelector
from kubeward.sim.control.scheduling.interpod import required_terms
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
            namespaces = (
                None
                if term.get("namespaceSelector") == {}
                else frozenset(term.get("namespaces") or ()) or frozenset((namespace,))
            )
            parsed.append(_Term(row, selector[0], namespaces, term.get("topologyKey", "")))
        if parsed:
            self._terms[key] = parsed

    def remove(self, key: str) -> None:
        self._terms.pop(key, None)

    def mask(self, table: NodeTable, namespace: str, labels: dict[str, str]) -> np.ndarray | None:
        """Per node row: no bound pod's term keeps a pod of ``labels`` in ``namespace`` out
        (None when no bound pod has such terms)."""
        if not self._terms:
            return None
        n = len(table)
        ok = np.ones(n, dtype=bool)
        for terms in self._terms.values():
            for term in terms:
                if term.namespaces is not None and namespace not in term.namespaces:
                    continue
                if term.row >= n or not table.present[term.row]:
                    continue
                if not term.selector.matches(labels):
                    continue
                column = table.label_ids(term.topology_key)
                value = column[term.row]
                if value:
                    ok &= column[:n] != value
        return ok
