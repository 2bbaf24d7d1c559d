"""LimitRange semantics: kube-apiserver's LimitRanger admission plugin, which fills in a pod's
missing requests and limits from the namespace's LimitRanges and refuses pods and claims outside
their bounds (plugin/pkg/admission/limitranger).

Behaviour worth knowing (all as in Kubernetes):

* A ``Container`` item's ``default`` falls back to its ``max``, and its ``defaultRequest`` to
  ``default``, then ``min`` (``kubeward.kube.defaults`` defaults the stored LimitRange so).
* Defaults are applied to containers and init containers after the pod's own defaulting (a
  limit without a request has already become the request), and are recorded in the
  ``kubernetes.io/limit-ranger`` annotation.
* Bounds compare milli-values: ``min`` and ``max`` apply to requests and limits, ``Pod`` items
  to the pod's totals, ``maxLimitRequestRatio`` to limit / request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubeward.kube.quantity import Quantity, canonical, to_int, to_milli
from kubeward.kube.quota import (
    ResourceList,
    container_resources,
    parse_list,
    pod_limits,
    pod_requests,
)

CONTAINER, POD, CLAIM = "Container", "Pod", "PersistentVolumeClaim"
LIMIT_TYPES = (POD, CONTAINER, CLAIM)
ANNOTATION = "kubernetes.io/limit-ranger"
# resource.MaxMilliValue: beyond it, comparisons fall back to whole values.
_MAX_MILLI = (2**63 - 1) // 1000


def _items(ranges: Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [
        item
        for lr in ranges
        for item in (lr.get("spec") or {}).get("limits") or ()
        if isinstance(item, Mapping) and item.get("type") == kind
    ]


def default_pod(ranges: Iterable[Mapping[str, Any]], pod: dict[str, Any]) -> None:
    """PodMutateLimitFunc, each LimitRange in turn: set what a container leaves out from the
    Container items' ``default`` (limits) and ``defaultRequest`` (requests)."""
    spec = pod.get("spec") or {}
    for lr in ranges:
        limits: dict[str, Any] = {}
        requests: dict[str, Any] = {}
        for item in _items([lr], CONTAINER):
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
        if not limits and not requests:
            continue
        notes: list[str] = []
        for what, key in (("container", "containers"), ("init container", "initContainers")):
            for container in spec.get(key) or ():
                notes += _merge(container, requests, limits, what)
        if notes:
            annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
            annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


def _merge(
    container: dict[str, Any], requests: dict[str, Any], limits: dict[str, Any], what: str
) -> list[str]:
    resources = container.setdefault("resources", {})
    have_limits = resources.setdefault("limits", {})
    have_requests = resources.setdefault("requests", {})
    set_limits = sorted(k for k in limits if k not in have_limits)
    set_requests = sorted(k for k in requests if k not in have_requests)
    for key in set_limits:
        have_limits[key] = limits[key]
    for key in set_requests:
        have_requests[key] = requests[key]
    name = container.get("name", "")
    notes = []
    if set_requests:
        notes.append(f"{', '.join(set_requests)} request for {what} {name}")
    if set_limits:
        notes.append(f"{', '.join(set_limits)} limit for {what} {name}")
    if not have_limits:
        del resources["limits"]
    if not have_requests:
        del resources["requests"]
    return notes


def _values(*quantities: Quantity | None) -> list[int]:
    """requestLimitEnforcedValues: milli-values when none would overflow, else whole ones."""
    exact = all(to_int(q) <= _MAX_MILLI for q in quantities if q is not None)
    scale = to_milli if exact else to_int
    return [scale(q) if q is not None else 0 for q in quantities]


def _min(kind: str, name: str, bound: Quantity, req: ResourceList, lim: ResourceList) -> str:
    r, li = req.get(name), lim.get(name)
    observed_req, observed_lim, enforced = _values(r, li, bound)
    shown = canonical(bound)
    if r is None:
        return f"minimum {name} usage per {kind} is {shown}.  No request is specified"
    if observed_req < enforced:
        return f"minimum {name} usage per {kind} is {shown}, but request is {canonical(r)}"
    if li is not None and observed_lim < enforced:
        return f"minimum {name} usage per {kind} is {shown}, but limit is {canonical(li)}"
    return ""


def _max(kind: str, name: str, bound: Quantity, req: ResourceList, lim: ResourceList) -> str:
    r, li = req.get(name), lim.get(name)
    observed_req, observed_lim, enforced = _values(r, li, bound)
    shown = canonical(bound)
    if li is None:
        return f"maximum {name} usage per {kind} is {shown}.  No limit is specified"
    if observed_lim > enforced:
        return f"maximum {name} usage per {kind} is {shown}, but limit is {canonical(li)}"
    if r is not None and observed_req > enforced:
        return f"maximum {name} usage per {kind} is {shown}, but request is {canonical(r)}"
    return ""


def _ratio(kind: str, name: str, bound: Quantity, req: ResourceList, lim: ResourceList) -> str:
    r, li = req.get(name), lim.get(name)
    observed_req, observed_lim, _ = _values(r, li, bound)
    shown = canonical(bound)
    prefix = f"{name} max limit to request ratio per {kind} is {shown}"
    if r is None or observed_req == 0:
        return f"{prefix}, but no request is specified or request is 0"
    if li is None or observed_lim == 0:
        return f"{prefix}, but no limit is specified or limit is 0"
    observed = observed_lim / observed_req
    allowed = float(to_int(bound))
    scaled = observed
    if to_int(bound) <= _MAX_MILLI:
        scaled, allowed = observed * 1000, float(to_milli(bound))
    if scaled > allowed:
        return f"{prefix}, but provided ratio is {observed:f}"
    return ""


def _check(item: Mapping[str, Any], kind: str, req: ResourceList, lim: ResourceList) -> list[str]:
    found = []
    for key, check in (("min", _min), ("max", _max), ("maxLimitRequestRatio", _ratio)):
        for name, bound in sorted(parse_list(item.get(key)).items()):
            message = check(kind, name, bound, req, lim)
            if message:
                found.append(message)
    return found


def check_pod(ranges: Iterable[Mapping[str, Any]], pod: Mapping[str, Any]) -> list[str]:
    """PodValidateLimitFunc over every LimitRange: what is out of bounds, per container (and
    init container) for Container items, for the pod's totals for Pod items."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())
    problems: list[str] = []
    for lr in ranges:
        for item in _items([lr], CONTAINER):
            for c in containers:
                requests = container_resources(c, "requests")
                problems += _check(item, CONTAINER, requests, container_resources(c, "limits"))
        for item in _items([lr], POD):
            problems += _check(item, POD, pod_requests(spec), pod_limits(spec))
    return problems


def check_claim(ranges: Iterable[Mapping[str, Any]], pvc: Mapping[str, Any]) -> list[str]:
    """PersistentVolumeClaimValidateLimitFunc: ``min`` and ``max`` against the claim's
    requests (its limits are not user input here)."""
    requests = parse_list(((pvc.get("spec") or {}).get("resources") or {}).get("requests"))
    problems: list[str] = []
    for item in _items(ranges, CLAIM):
        for name, bound in sorted(parse_list(item.get("min")).items()):
            message = _min(CLAIM, name, bound, requests, {})
            if message:
                problems.append(message)
        for name, bound in sorted(parse_list(item.get("max")).items()):
            r = requests.get(name)
            observed, _, enforced = _values(r, None, bound)
            shown = canonical(bound)
            if r is None:
                problems.append(
                    f"maximum {name} usage per {CLAIM} is {shown}.  No request is specified"
                )
            elif observed > enforced:
                problems.append(
                    f"maximum {name} usage per {CLAIM} is {shown}, but request is {canonical(r)}"
                )
    return problems


def aggregate(problems: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): repeated messages once; one message as is,
    several in brackets."""
    distinct = list(dict.fromkeys(problems))
    return distinct[0] if len(distinct) == 1 else "[" + ", ".join(distinct) + "]"
