"""The guard's API Priority and Fairness objects for one culprit identity (pure: no I/O).

For a culprit the guard builds a PriorityLevelConfiguration and a FlowSchema
(flowcontrol.apiserver.k8s.io/v1):

- the **priority level** is ``Limited`` with few ``nominalConcurrencyShares`` (its seats are
  ``ceil(serverConcurrency x shares / sum of all levels' shares)``), ``lendablePercent: 0`` and
  ``borrowingLimitPercent: 0`` (it neither lends nor borrows: the culprit cannot take seats
  from other levels), and ``Queue`` with short queues, so the culprit's excess requests wait,
  then get 429 + ``Retry-After`` while everyone else keeps their levels;
- the **FlowSchema** matches only the culprit (one ``User`` or ``ServiceAccount`` subject),
  every verb, resource and non-resource URL, ``distinguisherMethod: ByUser``, at
  ``matchingPrecedence`` :data:`GUARD_PRECEDENCE` (1000): after every schema of kube-apiserver's
  bootstrap configuration that serves system identities (``exempt`` 1 ... ``kube-system-
  service-accounts`` 900), before those an ordinary user or service account falls under
  (``service-accounts`` 9000, ``global-default`` 9900, ``catch-all`` 10000).

Both carry ``app.kubernetes.io/managed-by: kubeward-guard``: the guard only ever updates or
deletes objects with that label. Names are ``kubeward-guard-<identity slug>-<hash>``: derived
deterministically from the username, a DNS-1123 label (at most 63 characters), distinct for
distinct identities.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kubeward.guard.identities import (
    authenticated_groups,
    parse_service_account_user,
    service_account_user,
)
from kubeward.kube.flowcontrol import FLOWCONTROL, FlowSchema, Identity, subject_matches
from kubeward.kube.validation import dns1123_label, dns1123_subdomain

API_VERSION = f"{FLOWCONTROL}/v1"
FIELD_MANAGER = "kubeward-guard"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
IDENTITY_ANNOTATION = "guard.kubeward.io/identity"
GUARD_PRECEDENCE = 1000
NAME_PREFIX = "kubeward-guard-"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={FIELD_MANAGER}"

_MAX_NAME = 63
_HASH_CHARS = 8
_MAX_ENTROPY_BITS = 60  # kube-apiserver's limit for shuffle sharding's deal


class GuardInputError(ValueError):
    """Bad input for the guard: the message names the field and the fix."""


@dataclass(frozen=True)
class Culprit:
    """The identity to throttle, as the API server authenticates it."""

    user: str

    @classmethod
    def service_account(cls, namespace: str, name: str) -> Culprit:
        return cls(service_account_user(namespace, name))

    @classmethod
    def parse_service_account(cls, value: str) -> Culprit:
        """``NAMESPACE/NAME`` (as ``--service-account`` takes it), checked for DNS names."""
        namespace, sep, name = value.strip().partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise GuardInputError(
                f'--service-account "{value}": expected NAMESPACE/NAME, e.g. monitoring/agent '
                "(for a username such as system:serviceaccount:monitoring:agent use --user)."
            )
        problems = [f"namespace: {m}" for m in dns1123_label(namespace)]
        problems += [f"name: {m}" for m in dns1123_subdomain(name)]
        if problems:
            raise GuardInputError(
                f'--service-account "{value}": not a valid service account ('
                + "; ".join(problems)
                + ")."
            )
        return cls.service_account(namespace, name)

    @property
    def service_account_ref(self) -> tuple[str, str] | None:
        """``(namespace, name)`` when the culprit is a service account."""
        return parse_service_account_user(self.user)

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups the authenticators attach (service-account groups, authenticated)."""
        return authenticated_groups(self.user)

    def subject(self) -> dict[str, Any]:
        sa = self.service_account_ref
        if sa is not None:
            return {"kind": "ServiceAccount", "serviceAccount": {"namespace": sa[0], "name": sa[1]}}
        return {"kind": "User", "user": {"name": self.user}}

    def describe(self) -> str:
        sa = self.service_account_ref
        return f"service account {sa[0]}/{sa[1]}" if sa else f'user "{self.user}"'


@dataclass(frozen=True)
class Limits:
    """The throttle: the priority level's share and queues (kube-apiserver's field names in
    the comments)."""

    shares: int = 1  # limited.nominalConcurrencyShares
    queues: int = 4  # limited.limitResponse.queuing.queues
    hand_size: int = 2  # ...queuing.handSize
    queue_length: int = 10  # ...queuing.queueLengthLimit

    def problems(self) -> list[str]:
        """What kube-apiserver's validation would reject (plus the guard's own lower bound on
        shares), worded with the command-line flags."""
        out = []
        if self.shares < 1:
            out.append(f"--shares {self.shares}: must be at least 1 (0 would give no seats)")
        if self.queues < 1:
            out.append(f"--queues {self.queues}: must be positive")
        elif self.queues > 10_000_000:
            out.append(f"--queues {self.queues}: must not be greater than 10000000")
        if self.queue_length < 1:
            out.append(f"--queue-length {self.queue_length}: must be positive")
        if self.hand_size < 1:
            out.append(f"--hand-size {self.hand_size}: must be positive")
        elif self.queues >= 1 and self.hand_size > self.queues:
            out.append(
                f"--hand-size {self.hand_size}: must not be greater than --queues ({self.queues})"
            )
        elif self.queues >= 1 and math.ceil(math.log2(self.queues) * self.hand_size) > (
            _MAX_ENTROPY_BITS
        ):
            out.append(
                f"--hand-size {self.hand_size} with --queues {self.queues}: shuffle sharding "
                f"needs at most {_MAX_ENTROPY_BITS} bits (handSize x log2(queues)); lower one"
            )
        return out

    def check(self) -> None:
        problems = self.problems()
        if problems:
            raise GuardInputError("invalid throttle: " + "; ".join(problems) + ".")


@dataclass(frozen=True)
class GuardObjects:
    """The pair for one culprit; apply the level first (the schema refers to it)."""

    culprit: Culprit
    priority_level: dict[str, Any]
    flow_schema: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.flow_schema["metadata"]["name"])

    def objects(self) -> list[dict[str, Any]]:
        return [self.priority_level, self.flow_schema]

    def to_yaml(self) -> str:
        return to_yaml(self.objects())


def guard_name(user: str) -> str:
    """``kubeward-guard-<slug>-<hash8>``: deterministic, a DNS-1123 label, unique per username
    (the hash covers the exact username; the slug is only for people)."""
    digest = hashlib.sha256(user.encode()).hexdigest()[:_HASH_CHARS]
    sa = parse_service_account_user(user)
    readable = f"sa-{sa[0]}-{sa[1]}" if sa else f"user-{user}"
    slug = re.sub(r"[^a-z0-9]+", "-", readable.lower()).strip("-")
    room = _MAX_NAME - len(NAME_PREFIX) - 1 - _HASH_CHARS
    slug = slug[:room].rstrip("-")
    return f"{NAME_PREFIX}{slug}-{digest}" if slug else f"{NAME_PREFIX}{digest}"


def _metadata(name: str, culprit: Culprit) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {MANAGED_BY_LABEL: FIELD_MANAGER},
        "annotations": {IDENTITY_ANNOTATION: culprit.user},
    }


def build(
    culprit: Culprit | str,
    limits: Limits | None = None,
    *,
    precedence: int = GUARD_PRECEDENCE,
) -> GuardObjects:
    """The PriorityLevelConfiguration and FlowSchema that throttle ``culprit`` (a
    :class:`Culprit` or a username). Does not check :func:`identities.refusal`: callers do,
    before applying. Raises :class:`GuardInputError` for invalid limits or precedence."""
    who = culprit if isinstance(culprit, Culprit) else Culprit(culprit)
    if not who.user.strip() or who.user == "*":
        raise GuardInputError('--user: a username is required ("*" matches everyone)')
    lim = limits or Limits()
    lim.check()
    if not 1 < precedence <= 10000:
        raise GuardInputError(
            f"matchingPrecedence {precedence}: must be in 2..10000 (1 is reserved for exempt)"
        )
    name = guard_name(who.user)
    level = {
        "apiVersion": API_VERSION,
        "kind": "PriorityLevelConfiguration",
        "metadata": _metadata(name, who),
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": lim.shares,
                "lendablePercent": 0,
                "borrowingLimitPercent": 0,
                "limitResponse": {
                    "type": "Queue",
                    "queuing": {
                        "queues": lim.queues,
                        "handSize": lim.hand_size,
                        "queueLengthLimit": lim.queue_length,
                    },
                },
            },
        },
    }
    schema = {
        "apiVersion": API_VERSION,
        "kind": "FlowSchema",
        "metadata": _metadata(name, who),
        "spec": {
            "priorityLevelConfiguration": {"name": name},
            "matchingPrecedence": precedence,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [who.subject()],
                    "resourceRules": [
                        {
                            "verbs": ["*"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "namespaces": ["*"],
                            "clusterScope": True,
                        }
                    ],
                    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                }
            ],
        },
    }
    return GuardObjects(who, level, schema)


def to_yaml(objects: Iterable[dict[str, Any]]) -> str:
    """Multi-document YAML, keys in the order built (apiVersion, kind, metadata, spec)."""
    return "---\n".join(
        yaml.safe_dump(o, sort_keys=False, default_flow_style=False) for o in objects
    )


def is_managed(obj: dict[str, Any] | None) -> bool:
    """Whether an object on the server carries the guard's managed-by label."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == FIELD_MANAGER


def shadowing(
    schemas: Sequence[dict[str, Any]],
    culprit: Culprit,
    precedence: int = GUARD_PRECEDENCE,
) -> list[str]:
    """Names of FlowSchemas on the server, not the guard's, that come before the guard's
    (lower ``matchingPrecedence``, or equal and an earlier name) and have a rule naming the
    culprit among its subjects with resource rules: some of its API requests would still be
    classified there. (kube-apiserver's ``probes``, which only matches health URLs, is not
    counted.)"""
    who = Identity(culprit.user, culprit.groups)
    name = guard_name(culprit.user)
    out = []
    for obj in schemas:
        if is_managed(obj):
            continue
        fs = FlowSchema.of(obj)
        if (fs.precedence, fs.name) >= (precedence, name):
            continue
        if any(
            rule.get("resourceRules") and any(subject_matches(s, who) for s in rule["subjects"])
            for rule in fs.rules
            if rule.get("subjects")
        ):
            out.append(fs.name)
    return out
