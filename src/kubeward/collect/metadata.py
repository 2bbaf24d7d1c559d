"""Object metadata as kube-state-metrics exposes it: ``kube_<kind>_created``,
``..._deletion_timestamp``, and the allowlist-driven ``..._labels`` / ``..._annotations``.

Every kind gets the same child table (``metadata``, one row per object), built here for all
kinds alike. Labels and annotations become Prometheus labels only when an allowlist names them,
as KSM's ``--metric-labels-allowlist`` / ``--metric-annotations-allowlist`` do (same syntax:
``pods=[app,app.kubernetes.io/*],deployments=[*]``). They are rendered to label text once, on
the master, so the state holds one short string per object, not the object's label map.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kubeward.collect.columnar import columns
from kubeward.collect.values import esc, sanitize, unix_seconds

# Label texts are dictionary-encoded: the pods of one ReplicaSet usually share theirs.
METADATA_TABLE = columns("metadata", "created:int deleted:int labels:dict annotations:dict")

WILDCARD = "*"
_CAPITAL_AFTER = re.compile(r"([a-z0-9])([A-Z])")
# resource=[entries] groups, comma separated; entries are Kubernetes label/annotation keys.
_GROUP = re.compile(r"\s*([^=,\[\]\s]+)\s*=\s*\[([^\[\]]*)\]\s*")
_SYNTAX = "RESOURCE=[KEY,...],... e.g. pods=[app,app.kubernetes.io/name],deployments=[*]"


class AllowlistError(ValueError):
    """A malformed allowlist; the message shows the expected syntax."""


@dataclass(frozen=True)
class Allowlist:
    """For each kind (``pods``), the label or annotation keys to expose. An entry ``*`` alone
    allows every key; an entry containing ``*`` is a pattern (``app.kubernetes.io/*``)."""

    prefix: str  # "label" or "annotation"
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def render(self, kind: str, values: object) -> str | None:
        """The ``,label_app="web",...`` text of one object's map; None when the kind has no
        allowlist (KSM then emits no series at all, not an empty one)."""
        allowed = self.keys.get(kind)
        if not allowed:
            return None
        if not isinstance(values, dict) or not values:
            return ""
        if allowed[0] == WILDCARD:
            chosen = values
        else:
            chosen = {k: v for k, v in values.items() if _allowed(k, allowed)}
        return prometheus_labels(self.prefix, chosen)


def _allowed(key: str, entries: tuple[str, ...]) -> bool:
    for entry in entries:
        if entry == key:
            return True
        # A lone "*" only counts first (KSM ignores it elsewhere); "app.kubernetes.io/*" is a
        # pattern wherever it stands.
        if WILDCARD in entry and entry != WILDCARD and _pattern(entry).fullmatch(key):
            return True
    return False


@lru_cache(maxsize=256)
def _pattern(entry: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in entry.split(WILDCARD)))


def label_name(prefix: str, key: str) -> str:
    """KSM's ``labelName``: ``app.kubernetes.io/name`` -> ``label_app_kubernetes_io_name``,
    ``myKey`` -> ``label_my_key``."""
    return prefix + "_" + _CAPITAL_AFTER.sub(r"\1_\2", sanitize(key)).lower()


def prometheus_labels(prefix: str, values: Mapping[str, object]) -> str:
    """Sorted by Kubernetes key; keys that collide once sanitised get ``_conflictN`` suffixes
    on all of them, numbered in key order, as KSM's ``mapToPrometheusLabels`` does."""
    keys = sorted(values)
    names: list[str] = []
    first_of: dict[str, int] = {}
    seen: dict[str, int] = {}
    for key in keys:
        name = label_name(prefix, key)
        count = seen.get(name, 0) + 1
        seen[name] = count
        if count == 1:
            first_of[name] = len(names)
        else:
            if count == 2:
                names[first_of[name]] = f"{name}_conflict1"
            name = f"{name}_conflict{count}"
        names.append(name)
    return "".join(f',{name}="{esc(values[key])}"' for name, key in zip(names, keys, strict=True))


def parse_allowlist(value: str | None, prefix: str, kinds: tuple[str, ...]) -> Allowlist:
    """``pods=[app,tier],nodes=[*]`` for the given ``kinds``; ``*=[...]`` applies to every kind
    and takes precedence over the other groups, as in KSM. Raises :class:`AllowlistError`."""
    if value is None or not value.strip():
        return Allowlist(prefix)
    groups: dict[str, tuple[str, ...]] = {}
    pos = 0
    while pos < len(value):
        found = _GROUP.match(value, pos)
        if found is None:
            raise AllowlistError(f"cannot parse {value[pos:]!r}; expected {_SYNTAX}")
        kind = found[1]
        if kind != WILDCARD and kind not in kinds:
            raise AllowlistError(f"unknown resource {kind!r}; use one of {', '.join(kinds)} or *")
        entries = tuple(e.strip() for e in found[2].split(",") if e.strip())
        groups[kind] = entries
        pos = found.end()
        if pos < len(value):
            if value[pos] != ",":
                raise AllowlistError(f"expected ',' at {value[pos:]!r}; {_SYNTAX}")
            pos += 1
            if pos == len(value):
                raise AllowlistError(f"trailing ','; expected {_SYNTAX}")
    if WILDCARD in groups:
        groups = dict.fromkeys(kinds, groups[WILDCARD])
    return Allowlist(prefix, groups)


@dataclass(frozen=True)
class MetadataRows:
    """Builds the ``metadata`` row of an object of any kind."""

    labels: Allowlist = field(default_factory=lambda: Allowlist("label"))
    annotations: Allowlist = field(default_factory=lambda: Allowlist("annotation"))

    def rows(self, kind: str, obj: dict[str, Any]) -> list[tuple[Any, ...]]:
        meta = obj.get("metadata") or {}
        return [
            (
                unix_seconds(meta.get("creationTimestamp")),
                unix_seconds(meta.get("deletionTimestamp")),
                self.labels.render(kind, meta.get("labels")),
                self.annotations.render(kind, meta.get("annotations")),
            )
        ]


NO_ALLOWLISTS = MetadataRows()
