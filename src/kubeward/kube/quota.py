"""ResourceQuota semantics: what an object is charged, which quotas apply to it, and what quota
admission answers, as kube-apiserver's ResourceQuota plugin and kube-controller-manager's
resourcequota controller compute them (k8s.io/apiserver/pkg/quota/v1 and
pkg/quota/v1/evaluator/core).

The simulator's quota admission and its quota controller both use this module, so a charge at
admission and a recount by the controller always agree.

Behaviour worth knowing (all as in Kubernetes):

* ``pods`` and the compute resources count pods that have not finished (phase Succeeded or
  Failed stop counting); ``count/pods`` counts every stored pod.
* A quota limits only what its ``status.hard`` names: until the controller has copied
  ``spec.hard`` there, admission lets everything through.
* A quota tracking cpu or memory (``cpu``, ``requests.cpu``, ``limits.memory``, ...) refuses a pod
  any of whose containers does not set that request or limit.
* Sums keep the format of their first non-zero part (``Quantity.Add``): ``100m`` + ``100m`` is
  ``200m``, ``1Gi`` + ``512Mi`` is ``1536Mi``; a resource nothing uses is ``0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kubeward.kube.defaults import pod_qos_class
from kubeward.kube.quantity import DECIMAL_SI, Quantity, QuantityError
from kubeward.kube.selectors import DOES_NOT_EXIST, EXISTS, IN, NOT_IN, Requirement

ResourceList = dict[str, Quantity]

_ZERO = Quantity(Decimal(0), DECIMAL_SI)
_ONE = Quantity(Decimal(1), DECIMAL_SI)

POD_COMPUTE = ("cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory")
# Quota on these makes every container state the matching request or limit (a Kubernetes
# "mistake" it keeps for compatibility; pods.go validationSet).
_MUST_SPECIFY = frozenset(POD_COMPUTE)
_POD_RESOURCES = frozenset(
    {
        "count/pods",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
    }
)
_POD_PREFIXES = ("hugepages-", "requests.hugepages-")
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"

# Names without a "/" that quota accepts (helper.IsStandardQuotaResourceName).
STANDARD_QUOTA_RESOURCES = frozenset(
    {
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.storage",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "persistentvolumeclaims",
        "configmaps",
        "services.nodeports",
        "services.loadbalancers",
    }
)
# Counted objects whose quota name is also their bare plural (generic evaluators).
_LEGACY_COUNTS = frozenset(
    {"configmaps", "secrets", "replicationcontrollers", "resourcequotas", "services"}
)
_INTEGER_RESOURCES = frozenset(
    {
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    }
)

TERMINATING, NOT_TERMINATING = "Terminating", "NotTerminating"
BEST_EFFORT, NOT_BEST_EFFORT = "BestEffort", "NotBestEffort"
PRIORITY_CLASS, CROSS_NAMESPACE_AFFINITY = "PriorityClass", "CrossNamespacePodAffinity"
SCOPES = (
    TERMINATING,
    NOT_TERMINATING,
    BEST_EFFORT,
    NOT_BEST_EFFORT,
    PRIORITY_CLASS,
    CROSS_NAMESPACE_AFFINITY,
)
# Scopes a scopeSelector may only test with Exists / DoesNotExist (no values).
EXISTENCE_ONLY_SCOPES = (
    TERMINATING,
    NOT_TERMINATING,
    BEST_EFFORT,
    NOT_BEST_EFFORT,
    CROSS_NAMESPACE_AFFINITY,
)


class QuotaRefused(Exception):
    """Quota admission's refusal; the message is what follows ``... is forbidden: ``."""


# --- resource lists -------------------------------------------------------------------------


def parse_list(raw: Any) -> ResourceList:
    """A stored ``map[ResourceName]Quantity``; entries that do not parse are left out (the API
    server's validation refuses them before they are stored)."""
    out: ResourceList = {}
    if isinstance(raw, Mapping):
        for name, value in raw.items():
            try:
                out[str(name)] = Quantity.parse(value)
            except (QuantityError, ValueError, TypeError):
                continue
    return out


def _sum(a: Quantity, b: Quantity) -> Quantity:
    """``Quantity.Add``: a zero receiver takes the other side's format."""
    return Quantity(a.amount + b.amount, b.format if a.amount == 0 else a.format)


def add(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> ResourceList:
    out = dict(a)
    for name, value in b.items():
        out[name] = _sum(out[name], value) if name in out else value
    return out


def mask(items: Mapping[str, Quantity], names: Iterable[str]) -> ResourceList:
    keep = set(names)
    return {name: value for name, value in items.items() if name in keep}


def exceeded(usage: Mapping[str, Quantity], hard: Mapping[str, Quantity]) -> list[str]:
    """``quota.LessThanOrEqual``'s failures: names in both whose usage is above the hard limit."""
    return sorted(n for n, v in usage.items() if n in hard and v.amount > hard[n].amount)


def pretty(items: Mapping[str, Quantity]) -> str:
    """``prettyPrint``: ``name=quantity`` sorted by name, comma-separated."""
    return ",".join(f"{name}={items[name]}" for name in sorted(items))


def as_strings(items: Mapping[str, Quantity]) -> dict[str, str]:
    """How a ResourceList is written to a status (canonical quantity strings)."""
    return {name: str(value) for name, value in sorted(items.items())}


def is_integer_resource(name: str) -> bool:
    return name in _INTEGER_RESOURCES or name.startswith("count/") or _is_extended(name)


def scope_valid_for_resource(scope: str, name: str) -> bool:
    """``helper.IsResourceQuotaScopeValidForResource`` (for standard quota names)."""
    if scope == BEST_EFFORT:
        return name == "pods"
    if scope in SCOPES:
        return name == "pods" or name in POD_COMPUTE
    return True


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _is_extended(name: str) -> bool:
    return not _is_native(name) and not name.startswith("requests.")


# --- what an object is charged --------------------------------------------------------------


def count_name(group: str, plural: str) -> str:
    """``count/<resource>[.<group>]``, the object-count quota name of a resource."""
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def matching_resources(group: str, plural: str, names: Iterable[str]) -> list[str]:
    """The quota resource names among ``names`` that objects of this resource are charged."""
    names = list(names)
    if (group, plural) == ("", "pods"):
        return [
            n
            for n in names
            if n in _POD_RESOURCES
            or n.startswith(_POD_PREFIXES)
            or (n.startswith("requests.") and not _is_native(n))
        ]
    own = {count_name(group, plural)}
    if not group and plural in _LEGACY_COUNTS:
        own.add(plural)
    if (group, plural) == ("", "services"):
        own |= {"services.loadbalancers", "services.nodeports"}
    if (group, plural) == ("", "persistentvolumeclaims"):
        own |= {"persistentvolumeclaims", "requests.storage"}
        return [
            n
            for n in names
            if n in own
            or (
                STORAGE_CLASS_SUFFIX in n
                and n.endswith(("/requests.storage", "/persistentvolumeclaims"))
            )
        ]
    return [n for n in names if n in own]


def usage(group: str, plural: str, obj: Mapping[str, Any]) -> ResourceList:
    """What one stored object is charged (the evaluators' ``Usage``)."""
    if (group, plural) == ("", "pods"):
        return pod_usage(obj)
    result: ResourceList = {count_name(group, plural): _ONE}
    if not group and plural in _LEGACY_COUNTS:
        result[plural] = _ONE
    if (group, plural) == ("", "services"):
        result.update(_service_usage(obj))
    elif (group, plural) == ("", "persistentvolumeclaims"):
        result.update(_claim_usage(obj))
    return result


def pod_is_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_usage(pod: Mapping[str, Any]) -> ResourceList:
    """``PodUsageFunc``: ``count/pods`` always, compute resources while the pod has not finished
    (a pod past its deletion grace period is not uncharged early here: it is charged until it
    is gone)."""
    result: ResourceList = {"count/pods": _ONE}
    if pod_is_terminal(pod):
        return result
    spec = pod.get("spec") or {}
    return add(result, _compute_usage(pod_requests(spec), pod_limits(spec)))


def _compute_usage(requests: ResourceList, limits: ResourceList) -> ResourceList:
    """``podComputeUsageHelper``."""
    result: ResourceList = {"pods": _ONE}
    for res in ("cpu", "memory", "ephemeral-storage"):
        if res in requests:
            result[res] = result[f"requests.{res}"] = requests[res]
        if res in limits:
            result[f"limits.{res}"] = limits[res]
    for res, value in requests.items():
        if res.startswith("hugepages-"):
            result[res] = result[f"requests.{res}"] = value
        elif _is_extended(res):
            result[f"requests.{res}"] = value
    return result


def container_resources(container: Mapping[str, Any], key: str) -> ResourceList:
    """A container's ``requests`` or ``limits``."""
    return parse_list((container.get("resources") or {}).get(key))


def _max_into(dst: ResourceList, src: Mapping[str, Quantity]) -> None:
    for name, value in src.items():
        if name not in dst or value.amount > dst[name].amount:
            dst[name] = value


def pod_requests(spec: Mapping[str, Any]) -> ResourceList:
    """``resourcehelper.PodRequests``: the containers' sum, at least what any init container
    needs next to the sidecars started before it, plus the pod overhead."""
    return _pod_totals(spec, "requests", overhead_for_all=True)


def pod_limits(spec: Mapping[str, Any]) -> ResourceList:
    """``resourcehelper.PodLimits``; overhead is added only to resources that have a limit."""
    return _pod_totals(spec, "limits", overhead_for_all=False)


def _pod_totals(spec: Mapping[str, Any], key: str, *, overhead_for_all: bool) -> ResourceList:
    total: ResourceList = {}
    for container in spec.get("containers") or ():
        total = add(total, container_resources(container, key))
    sidecars: ResourceList = {}
    init_peak: ResourceList = {}
    for container in spec.get("initContainers") or ():
        own = container_resources(container, key)
        if container.get("restartPolicy") == "Always":
            total = add(total, own)
            sidecars = add(sidecars, own)
            _max_into(init_peak, sidecars)
        else:
            _max_into(init_peak, add(own, sidecars))
    _max_into(total, init_peak)
    for name, value in parse_list(spec.get("overhead")).items():
        if overhead_for_all or name in total:
            total = add(total, {name: value})
    return total


def _service_usage(svc: Mapping[str, Any]) -> ResourceList:
    spec = svc.get("spec") or {}
    ports = list(spec.get("ports") or ())
    kind = spec.get("type") or "ClusterIP"
    if kind == "NodePort":
        return {"services.nodeports": Quantity(Decimal(len(ports)))}
    if kind == "LoadBalancer":
        # Node ports are charged as intended, before they are allocated: every port, unless
        # allocation is switched off, then only those given one explicitly.
        counted = len(ports)
        if spec.get("allocateLoadBalancerNodePorts") is False:
            counted = sum(1 for p in ports if isinstance(p, dict) and p.get("nodePort"))
        return {
            "services.loadbalancers": _ONE,
            "services.nodeports": Quantity(Decimal(counted)),
        }
    return {}


def claim_storage(pvc: Mapping[str, Any]) -> Quantity | None:
    """A claim's storage request, None when unset or unparsable."""
    spec = pvc.get("spec") or {}
    return parse_list((spec.get("resources") or {}).get("requests")).get("storage")


def _claim_usage(pvc: Mapping[str, Any]) -> ResourceList:
    spec = pvc.get("spec") or {}
    result: ResourceList = {"persistentvolumeclaims": _ONE}
    storage = claim_storage(pvc)
    if storage is not None:
        result["requests.storage"] = storage
    cls = spec.get("storageClassName")
    if cls:
        prefix = f"{cls}{STORAGE_CLASS_SUFFIX}"
        result[f"{prefix}persistentvolumeclaims"] = _ONE
        if storage is not None:
            result[f"{prefix}requests.storage"] = storage
    return result


# --- which quotas apply ---------------------------------------------------------------------


def quota_scopes(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``spec.scopes`` and ``spec.scopeSelector`` as scoped selector requirements."""
    out: list[dict[str, Any]] = [
        {"scopeName": s, "operator": "Exists"} for s in spec.get("scopes") or ()
    ]
    out += list((spec.get("scopeSelector") or {}).get("matchExpressions") or ())
    return out


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What the quota scopes test about a pod."""

    terminating: bool  # activeDeadlineSeconds set
    best_effort: bool  # QoS class BestEffort
    priority_class: str
    cross_namespace_affinity: bool

    @classmethod
    def of(cls, pod: Mapping[str, Any]) -> PodFacts:
        spec = pod.get("spec") or {}
        deadline = spec.get("activeDeadlineSeconds")
        return cls(
            terminating=isinstance(deadline, int) and deadline >= 0,
            best_effort=pod_qos_class(pod) == "BestEffort",
            priority_class=str(spec.get("priorityClassName") or ""),
            cross_namespace_affinity=_cross_namespace_affinity(spec),
        )


@dataclass(frozen=True, slots=True)
class Charge:
    """What one stored object is charged, with what its quotas' scopes need to know of it."""

    group: str
    plural: str
    usage: ResourceList
    pod: PodFacts | None  # None for every other kind

    @classmethod
    def of(cls, group: str, plural: str, obj: Mapping[str, Any]) -> Charge:
        facts = PodFacts.of(obj) if (group, plural) == ("", "pods") else None
        return cls(group, plural, usage(group, plural, obj), facts)


def covers(scopes: list[dict[str, Any]], charge: Charge) -> bool:
    """Whether a quota with ``scopes`` covers the charged object: scopes describe pods only, so
    a scoped quota covers no other kind."""
    if not scopes:
        return True
    if charge.pod is None:
        return False
    return all(_pod_matches_scope(req, charge.pod) for req in scopes)


def _pod_matches_scope(req: Mapping[str, Any], pod: PodFacts) -> bool:
    name = req.get("scopeName")
    if name in (TERMINATING, NOT_TERMINATING):
        return pod.terminating == (name == TERMINATING)
    if name in (BEST_EFFORT, NOT_BEST_EFFORT):
        return pod.best_effort == (name == BEST_EFFORT)
    if name == PRIORITY_CLASS:
        cls = pod.priority_class
        if req.get("operator") == "Exists":
            return bool(cls)
        op = SCOPE_OPERATORS.get(str(req.get("operator")))
        values = tuple(str(v) for v in req.get("values") or ())
        return op is not None and Requirement(PRIORITY_CLASS, op, values).matches(
            {PRIORITY_CLASS: cls} if cls else {}
        )
    if name == CROSS_NAMESPACE_AFFINITY:
        return pod.cross_namespace_affinity
    return False


# ScopeSelectorOperator -> the label-selector operator it is evaluated as.
SCOPE_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def _cross_namespace_affinity(spec: Mapping[str, Any]) -> bool:
    affinity = spec.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        terms = list(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or ())
        terms += [
            w.get("podAffinityTerm") or {}
            for w in rules.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
        ]
        if any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms):
            return True
    return False


# --- admission ------------------------------------------------------------------------------


def _missing_requests(required: Iterable[str], spec: Mapping[str, Any]) -> str | None:
    """``podEvaluator.Constraints``: the cpu/memory quota names some container leaves unset."""
    wanted = set(required) & _MUST_SPECIFY
    if not wanted:
        return None
    missing: dict[str, set[str]] = {}
    containers = list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())
    for container in containers:
        has = _compute_usage(
            container_resources(container, "requests"), container_resources(container, "limits")
        )
        for name in wanted - has.keys():
            missing.setdefault(name, set()).add(str(container.get("name", "")))
    if not missing:
        return None
    parts = [f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing)]
    return "must specify " + "; ".join(parts)


def _grown(new: Mapping[str, Quantity], old: Mapping[str, Quantity]) -> ResourceList:
    """``SubtractWithNonNegativeResult`` then ``RemoveZeros``: what an update adds."""
    out: ResourceList = {}
    for name, value in new.items():
        amount = value.amount - (old[name].amount if name in old else 0)
        if amount > 0:
            out[name] = Quantity(amount, value.format)
    return out


def admit(
    quotas: Iterable[Mapping[str, Any]],
    group: str,
    plural: str,
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None = None,
) -> list[tuple[str, ResourceList]]:
    """Quota admission of a create, or of an update from ``old`` (charged what it adds, e.g. a
    claim that grows): the new ``status.used`` of each quota that tracks ``obj``, by quota
    name; ``QuotaRefused`` if ``obj`` would take any of them over its hard limits."""
    charged: list[tuple[str, ResourceList]] = []
    charge: Charge | None = None
    delta: ResourceList = {}
    for rq in sorted(quotas, key=lambda q: str((q.get("metadata") or {}).get("name", ""))):
        name = str(rq["metadata"].get("name", ""))
        status = rq.get("status") or {}
        hard = parse_list(status.get("hard"))
        tracked = matching_resources(group, plural, hard)
        if not tracked:
            continue
        if charge is None:
            charge = Charge.of(group, plural, obj)
            delta = charge.usage
            if old is not None:
                delta = _grown(charge.usage, usage(group, plural, old))
        if not delta:
            return []  # an update that adds nothing
        if not covers(quota_scopes(rq.get("spec") or {}), charge):
            continue
        if (group, plural) == ("", "pods") and old is None:
            problem = _missing_requests(tracked, obj.get("spec") or {})
            if problem:
                raise QuotaRefused(f"failed quota: {name}: {problem}")
        used = parse_list(status.get("used"))
        unknown = sorted(n for n in tracked if n not in used)
        if unknown:
            raise QuotaRefused(f"status unknown for quota: {name}, resources: {','.join(unknown)}")
        requested = mask(delta, hard)
        new_used = add(used, requested)
        over = exceeded(mask(new_used, requested), hard)
        if over:
            raise QuotaRefused(
                f"exceeded quota: {name}, requested: {pretty(mask(requested, over))}, "
                f"used: {pretty(mask(used, over))}, limited: {pretty(mask(hard, over))}"
            )
        charged.append((name, new_used))
    return charged


def recount(
    spec: Mapping[str, Any], kinds: Iterable[tuple[str, str]], charges: Iterable[Charge]
) -> ResourceList:
    """The controller's ``status.used``: zero for each ``spec.hard`` name that some resource of
    ``kinds`` (group, plural) is charged, plus each charge the quota's scopes cover. A name no
    resource is charged stays out of it."""
    hard = parse_list(spec.get("hard"))
    scopes = quota_scopes(spec)
    used: ResourceList = {}
    for group, plural in kinds:
        for name in matching_resources(group, plural, hard):
            used[name] = _ZERO
    for charge in charges:
        names = matching_resources(charge.group, charge.plural, hard)
        if names and covers(scopes, charge):
            used = add(used, mask(charge.usage, names))
    return used
