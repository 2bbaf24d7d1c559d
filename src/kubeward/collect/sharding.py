"""Which worker owns an object: a consistent-hash ring, and the placement of each delta.

The ring places ``VNODES`` points per worker on a 64-bit circle (BLAKE2b, so placement is the
same in every process and every run); a key belongs to the first point clockwise. Adding a
worker moves only about 1/N of the keys. Pods are placed by their node (a node and its pods
share a shard); a pod not yet scheduled is placed by ``namespace/name`` and moves once, when it
is bound, which :class:`Placement` turns into a delete on the old shard.
"""

from __future__ import annotations

import bisect
import hashlib
from typing import Any

from kubeward.client.store import fresh
from kubeward.collect.kinds import StateKind

VNODES = 128


def _point(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class Ring:
    def __init__(self, shards: int, vnodes: int = VNODES) -> None:
        if shards < 1:
            raise ValueError("a ring needs at least one shard")
        self.shards = shards
        points = sorted((_point(f"shard-{s}/{v}"), s) for s in range(shards) for v in range(vnodes))
        self._points = [p for p, _ in points]
        self._owners = [s for _, s in points]

    def shard(self, key: str) -> int:
        if self.shards == 1:
            return 0
        i = bisect.bisect(self._points, _point(key)) % len(self._points)
        return self._owners[i]


class Placement:
    """The shard of every object the master has sent, for kinds whose shard can change."""

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self._node_shard: dict[str, int] = {}  # node name -> shard (a cache: few distinct)
        self._moving: dict[str, dict[str, int]] = {}  # kind -> key -> shard (pods only)

    def _by_node(self, node: str) -> int:
        shard = self._node_shard.get(node)
        if shard is None:
            # A copy of the name: the decoded object's own string would pin its LIST's memory.
            shard = self._node_shard[fresh(node)] = self.ring.shard(node)
        return shard

    def place(self, kind: StateKind, key: str, obj: dict[str, Any]) -> tuple[int, int | None]:
        """(shard for this version, shard to delete a previous version from, if it moved)."""
        if self.ring.shards == 1:
            return 0, None  # nothing can move: no need to remember placements
        if kind.shard_by != "node":
            return self.ring.shard(key), None
        if kind.name == "nodes":
            return self._by_node(key), None
        node = (obj.get("spec") or {}).get("nodeName")
        shard = self._by_node(node) if node else self.ring.shard(key)
        known = self._moving.setdefault(kind.name, {})
        old = known.get(key)
        known[key] = shard
        return shard, old if old is not None and old != shard else None

    def remove(self, kind: StateKind, key: str, obj: dict[str, Any]) -> int:
        """The shard holding ``key``, forgetting it."""
        if self.ring.shards == 1:
            return 0
        if kind.shard_by == "node" and kind.name != "nodes":
            old = self._moving.get(kind.name, {}).pop(key, None)
            if old is not None:
                return old
        shard, _ = self.place(kind, key, obj)
        self._moving.get(kind.name, {}).pop(key, None)
        return shard
