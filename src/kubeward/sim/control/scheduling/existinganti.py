"""InterPodAffinity's symmetric half: bound pods' required anti-affinity terms keep away the
pods they select. A pod whose term says "not in the same zone as app=web" keeps every later
app=web pod out of its zone, though those pods say nothing about it.

As kube-scheduler: a term rules out every node of its holder's topology domain for the pods
it selects (``heldterms.py``). Terminating holders still count, as they stay in the
scheduler's node info until they are gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kubeward.sim.control.scheduling.heldterms import HeldTerms, held_term
from kubeward.sim.control.scheduling.interpod import required_terms
from kubeward.sim.control.scheduling.nodetable import NodeTable

MSG_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"


class ExistingAntiAffinity(HeldTerms):
    def add(self, key: str, namespace: str, row: int, pod: dict[str, Any]) -> None:
        """Note a bound pod's required anti-affinity terms, if it has any."""
        terms = required_terms(pod.get("spec") or {}, "podAntiAffinity")
        if not terms:
            return
        labels = (pod.get("metadata") or {}).get("labels") or {}
        self._put(key, [held_term(term, row, namespace, labels) for term in terms])

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
        if not self:
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
