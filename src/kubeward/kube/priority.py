"""Pod priority: PriorityClasses (scheduling.k8s.io/v1) and the Priority admission plugin.

One home for what kube-apiserver does with priorities, used by the simulator's API server
(admission on pod create, PriorityClass validation, the built-in classes it bootstraps) and by
anything in the platform that needs to read a pod's effective priority:

- the built-in ``system-cluster-critical`` (2000000000) and ``system-node-critical``
  (2000001000) classes; names starting with ``system-`` are reserved for them; user classes may
  not exceed 1000000000;
- ``value`` and ``preemptionPolicy`` are immutable; ``preemptionPolicy`` defaults to
  ``PreemptLowerPriority``; at most one class may be ``globalDefault``;
- on pod create, ``spec.priorityClassName`` resolves to ``spec.priority`` and
  ``spec.preemptionPolicy``; a pod without a class gets the global default class (the one with
  the lowest value if several claim it), else priority 0; an unknown class is refused with
  ``pods "x" is forbidden: no PriorityClass with name y was found``; a pod naming a priority or
  policy that differs from its class's is refused too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.status import FieldError

SYSTEM_PREFIX = "system-"
SYSTEM_CLUSTER_CRITICAL = "system-cluster-critical"
SYSTEM_NODE_CRITICAL = "system-node-critical"
HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_CRITICAL_PRIORITY = 2 * HIGHEST_USER_DEFINABLE_PRIORITY
DEFAULT_PRIORITY = 0  # no class and no global default
PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"
PREEMPT_NEVER = "Never"
PREEMPTION_POLICIES = (PREEMPT_NEVER, PREEMPT_LOWER_PRIORITY)

# scheduling/v1 SystemPriorityClasses(), as kube-apiserver creates them at start.
SYSTEM_PRIORITY_CLASSES: tuple[dict[str, Any], ...] = (
    {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": SYSTEM_NODE_CRITICAL},
        "value": SYSTEM_CRITICAL_PRIORITY + 1000,
        "description": "Used for system critical pods that must not be moved from their current "
        "node.",
    },
    {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": SYSTEM_CLUSTER_CRITICAL},
        "value": SYSTEM_CRITICAL_PRIORITY,
        "description": "Used for system critical pods that must run in the cluster, but can be "
        "moved to another node if necessary.",
    },
)
SYSTEM_PRIORITIES = {c["metadata"]["name"]: int(c["value"]) for c in SYSTEM_PRIORITY_CLASSES}


def pod_priority(spec: dict[str, Any]) -> int:
    """corev1helpers.PodPriority: spec.priority, 0 when unset."""
    value = spec.get("priority")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def preempts(spec: dict[str, Any]) -> bool:
    """The pod may preempt lower-priority pods (its preemptionPolicy is not Never)."""
    return spec.get("preemptionPolicy") != PREEMPT_NEVER


# --- PriorityClass -----------------------------------------------------------------------------


def default_priority_class(obj: dict[str, Any]) -> None:
    """SetDefaults_PriorityClass: preemptionPolicy PreemptLowerPriority."""
    if obj.get("preemptionPolicy") is None:
        obj["preemptionPolicy"] = PREEMPT_LOWER_PRIORITY


def _known_system_class(name: str, value: Any, global_default: bool) -> str:
    """scheduling.IsKnownSystemPriorityClass: "" when it is one, else why not."""
    if name not in SYSTEM_PRIORITIES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_PRIORITIES[name]:
        return f"value of {name} PriorityClass must be {SYSTEM_PRIORITIES[name]}"
    if global_default:
        return f"{name} PriorityClass cannot be global default"
    return ""


def validate_priority_class(obj: dict[str, Any]) -> list[FieldError]:
    """ValidatePriorityClass (metadata is checked by the generic object-meta rules)."""
    errors: list[FieldError] = []
    meta = obj.get("metadata")
    # A metadata that is not an object is reported by the object-meta rules; no name here.
    name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
    value = obj.get("value")
    if value is None:
        errors.append(st.required("value", ""))
    elif not isinstance(value, int) or isinstance(value, bool):
        errors.append(
            st.FieldError("FieldValueTypeInvalid", "value", "must be of type int32", value)
        )
        value = None
    elif not -(2**31) <= value < 2**31:
        errors.append(st.invalid("value", value, "must be a 32-bit integer"))
    global_default = obj.get("globalDefault")
    if global_default is not None and not isinstance(global_default, bool):
        errors.append(
            st.FieldError(
                "FieldValueTypeInvalid", "globalDefault", "must be of type boolean", global_default
            )
        )
    if name.startswith(SYSTEM_PREFIX):
        why = _known_system_class(name, value, bool(global_default))
        if why:
            errors.append(
                st.forbidden(
                    "metadata.name",
                    f"priority class names with '{SYSTEM_PREFIX}' prefix are reserved for "
                    f"system use only. error: {why}",
                )
            )
    elif isinstance(value, int) and value > HIGHEST_USER_DEFINABLE_PRIORITY:
        errors.append(
            st.forbidden(
                "value",
                f"maximum allowed value of a user defined priority is "
                f"{HIGHEST_USER_DEFINABLE_PRIORITY}",
            )
        )
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in PREEMPTION_POLICIES:
        errors.append(st.not_supported("preemptionPolicy", policy, list(PREEMPTION_POLICIES)))
    return errors


def validate_priority_class_update(old: dict[str, Any], new: dict[str, Any]) -> list[FieldError]:
    """ValidatePriorityClassUpdate: value and preemptionPolicy are immutable."""
    errors: list[FieldError] = []
    if new.get("value") != old.get("value"):
        errors.append(st.forbidden("value", "may not be changed in an update."))
    if new.get("preemptionPolicy") != old.get("preemptionPolicy"):
        errors.append(
            st.invalid("preemptionPolicy", new.get("preemptionPolicy"), "field is immutable")
        )
    return errors


# --- admission ---------------------------------------------------------------------------------


class PriorityForbidden(Exception):
    """The Priority admission plugin refuses the request (kube-apiserver answers 403)."""


def global_default(classes: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """getDefaultPriorityClass: among classes marked globalDefault, the one with the lowest
    value (more than one can exist after a race)."""
    best: dict[str, Any] | None = None
    for pc in classes:
        if pc.get("globalDefault") and (best is None or pc.get("value", 0) < best.get("value", 0)):
            best = pc
    return best


def check_priority_class_admission(
    pc: dict[str, Any], classes: Iterable[dict[str, Any]], creating: bool
) -> None:
    """validatePriorityClass: a second globalDefault class is refused."""
    if not pc.get("globalDefault"):
        return
    current = global_default(classes)
    if current is None:
        return
    name = (pc.get("metadata") or {}).get("name")
    if creating or current["metadata"]["name"] != name:
        raise PriorityForbidden(
            f"PriorityClass {current['metadata']['name']} is already marked as default. "
            "Only one default can exist"
        )


def admit_pod(
    spec: dict[str, Any],
    get_class: Callable[[str], dict[str, Any] | None],
    classes: Callable[[], Iterable[dict[str, Any]]],
) -> None:
    """The Priority admission plugin on pod create, in place on ``spec``.

    ``get_class(name)`` returns a PriorityClass or None; ``classes()`` lists them all (read only
    when the pod names no class). Raises PriorityForbidden with kube-apiserver's message."""
    name = spec.get("priorityClassName") or ""
    if not name:
        pc = global_default(classes())
        if pc is not None:
            spec["priorityClassName"] = pc["metadata"]["name"]
    else:
        pc = get_class(str(name))
        if pc is None:
            raise PriorityForbidden(f"no PriorityClass with name {name} was found")
    priority = int(pc.get("value", 0)) if pc is not None else DEFAULT_PRIORITY
    policy = (pc.get("preemptionPolicy") if pc is not None else None) or PREEMPT_LOWER_PRIORITY
    given = spec.get("priority")
    if given is not None and given != priority:
        raise PriorityForbidden(
            f"the integer value of priority ({given}) must not be provided in pod spec; "
            f"priority admission controller computed {priority} from the given PriorityClass name"
        )
    spec["priority"] = priority
    given_policy = spec.get("preemptionPolicy")
    if given_policy is not None and given_policy != policy:
        raise PriorityForbidden(
            f"the string value of PreemptionPolicy ({given_policy}) must not be provided in pod "
            f"spec; priority admission controller computed {policy} from the given "
            "PriorityClass name"
        )
    spec["preemptionPolicy"] = policy


def keep_priority_on_update(old_spec: dict[str, Any], new_spec: dict[str, Any]) -> None:
    """On update the plugin carries the stored priority and policy over when the new object
    omits them (validation then refuses any other change)."""
    for key in ("priority", "preemptionPolicy"):
        if new_spec.get(key) is None and old_spec.get(key) is not None:
            new_spec[key] = old_spec[key]


def forbidden_message(resource: str, name: str, reason: str) -> str:
    """apierrors.NewForbidden's message: ``pods "x" is forbidden: <reason>``."""
    return f'{resource} "{name}" is forbidden: {reason}'
