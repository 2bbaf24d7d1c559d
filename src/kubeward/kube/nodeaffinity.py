"""Node selector terms (``nodeSelectorTerms``) against one node: the semantics of
``v1.NodeSelector`` shared by the DaemonSet controller (which nodes a daemon pod fits), the
kubelets' admission (whether a pod fits their node) and the volume controller (which nodes a
volume's ``nodeAffinity`` reaches). The scheduler evaluates
the same terms over every node at once, vectorised, in ``sim.control.scheduling.filters``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ZONE_LABEL = "topology.kubernetes.io/zone"


def term_matches(term: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    """One NodeSelectorTerm: all its expressions and fields hold; an empty term matches no
    node."""
    for e in term.get("matchExpressions") or ():
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        value = labels.get(key) if key is not None else None
        if op == "In" and value not in values:
            return False
        if op == "NotIn" and value in values:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
        if op in ("Gt", "Lt"):
            try:
                have, bound = int(value or ""), int(values[0])
            except (ValueError, IndexError):
                return False
            if (op == "Gt" and not have > bound) or (op == "Lt" and not have < bound):
                return False
    for f in term.get("matchFields") or ():
        hit = f.get("key") == "metadata.name" and name in (f.get("values") or [])
        if (f.get("operator") == "In") != hit:
            return False
    return bool(term.get("matchExpressions") or term.get("matchFields"))


def terms_match(terms: Iterable[Mapping[str, Any]], name: str, labels: Mapping[str, str]) -> bool:
    """A NodeSelector: any of its terms."""
    return any(term_matches(t, name, labels) for t in terms)


def pod_fits_node(pod_spec: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    """A pod's nodeSelector and required node affinity (``GetRequiredNodeAffinity``)."""
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms")
    return not terms or terms_match(terms, name, labels)


def volume_node_terms(pv: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """A PersistentVolume's ``spec.nodeAffinity.required.nodeSelectorTerms`` (None: every
    node reaches it)."""
    affinity = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    terms = affinity.get("nodeSelectorTerms")
    return list(terms) if isinstance(terms, list) else None
