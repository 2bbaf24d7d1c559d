"""Consistent hashing and placement: stable, balanced, minimal movement, pods follow nodes."""

from __future__ import annotations

from collections import Counter

import pytest

from kubeward.collect.kinds import STATE_KIND_BY_NAME
from kubeward.collect.sharding import Placement, Ring

PODS, NODES, DEPLOYMENTS = (STATE_KIND_BY_NAME[k] for k in ("pods", "nodes", "deployments"))


def test_placement_is_the_same_in_every_ring_instance() -> None:
    a, b = Ring(8), Ring(8)
    keys = [f"node-{i}" for i in range(500)]
    assert [a.shard(k) for k in keys] == [b.shard(k) for k in keys]


def test_keys_spread_over_all_shards() -> None:
    ring = Ring(8)
    counts = Counter(ring.shard(f"node-{i}") for i in range(16_000))
    assert set(counts) == set(range(8))
    assert max(counts.values()) < 1.35 * 2_000  # within 35 % of an even share


def test_adding_a_shard_moves_only_its_share_of_keys() -> None:
    keys = [f"ns/pod-{i}" for i in range(8_000)]
    before, after = Ring(7), Ring(8)
    moved = [k for k in keys if before.shard(k) != after.shard(k)]
    assert all(after.shard(k) == 7 for k in moved)  # keys only move to the new shard
    assert len(moved) < 0.2 * len(keys)  # about 1/8


def test_a_pod_lives_with_its_node_and_moves_once_when_bound() -> None:
    placement = Placement(Ring(8))
    node = "node-17"
    node_shard, _ = placement.place(NODES, node, {"metadata": {"name": node}})
    pending = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {}}
    first, moved = placement.place(PODS, "ns/p", pending)
    assert moved is None
    bound = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": node}}
    shard, moved = placement.place(PODS, "ns/p", bound)
    assert shard == node_shard
    assert moved == (first if first != node_shard else None)
    # Further updates stay put; the delete goes where the pod is.
    assert placement.place(PODS, "ns/p", bound) == (node_shard, None)
    assert placement.remove(PODS, "ns/p", {"metadata": {"name": "p", "namespace": "ns"}}) == (
        node_shard
    )


def test_other_kinds_hash_their_key_and_one_shard_remembers_nothing() -> None:
    placement = Placement(Ring(4))
    obj = {"metadata": {"name": "web", "namespace": "shop"}}
    assert placement.place(DEPLOYMENTS, "shop/web", obj) == (Ring(4).shard("shop/web"), None)
    single = Placement(Ring(1))
    assert single.place(PODS, "ns/p", {"spec": {"nodeName": "n"}}) == (0, None)
    assert single._moving == {}


def test_a_ring_needs_a_shard() -> None:
    with pytest.raises(ValueError):
        Ring(0)
