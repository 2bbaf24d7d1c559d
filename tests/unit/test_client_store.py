"""The informer's store (deltas from watch events and relists), the watch-line decoder and
resource paths; property-tested where the input space is large."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeward.client import Delta, ObjectStore, Resource, object_key
from kubeward.client.watchstream import LineDecoder


def obj(name: str, rv: int, uid: str | None = None, ns: str | None = "ns") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": str(rv), "uid": uid or f"uid-{name}"}
    if ns:
        meta["namespace"] = ns
    return {"metadata": meta}


def names(deltas: list[Delta]) -> list[tuple[str, str]]:
    return [(d.type, d.object["metadata"]["name"]) for d in deltas]


def test_watch_events_update_the_store_and_drop_duplicates() -> None:
    s = ObjectStore()
    assert s.apply("ADDED", obj("a", 1)) == Delta("ADDED", obj("a", 1))
    assert s.apply("ADDED", obj("a", 1)) is None  # same version again: no delta
    assert s.apply("MODIFIED", obj("a", 2)) is not None
    assert s.get("ns/a") == obj("a", 2) and "ns/a" in s
    assert s.apply("DELETED", obj("a", 3)) is not None
    assert s.apply("DELETED", obj("a", 3)) is None and len(s) == 0


def test_relist_gives_exactly_the_missed_changes() -> None:
    s = ObjectStore()
    s.replace([obj("keep", 1), obj("change", 2), obj("drop", 3), obj("swap", 4, "old")])
    deltas = s.replace([obj("keep", 1), obj("change", 5), obj("swap", 6, "new"), obj("new", 7)])
    assert names(deltas) == [
        ("MODIFIED", "change"),
        ("DELETED", "swap"),
        ("ADDED", "swap"),
        ("ADDED", "new"),
        ("DELETED", "drop"),
    ]
    assert deltas[1].object["metadata"]["uid"] == "old"  # the last state seen
    assert deltas[4].object == obj("drop", 3)
    assert set(s.versions) == {"ns/keep", "ns/change", "ns/swap", "ns/new"}


def test_without_objects_deletions_are_tombstones() -> None:
    s = ObjectStore(keep_objects=False)
    s.replace([obj("a", 1), obj("node-1", 2, ns=None)])
    assert s.objects == {} and s.get("ns/a") is None
    deltas = s.replace([])
    tombs = sorted((d.object["metadata"] for d in deltas), key=lambda m: m["name"])
    assert tombs == [
        {"name": "a", "namespace": "ns", "resourceVersion": "1", "uid": "uid-a"},
        {"name": "node-1", "resourceVersion": "2", "uid": "uid-node-1"},
    ]


state = st.dictionaries(
    st.sampled_from([f"o{i}" for i in range(8)]),
    st.tuples(st.integers(1, 4), st.sampled_from(["u1", "u2"])),
    max_size=8,
)


@given(before=state, after=state)
def test_relist_deltas_replayed_on_the_old_state_give_the_new_one(
    before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]
) -> None:
    s = ObjectStore()
    s.replace([obj(n, rv, uid) for n, (rv, uid) in before.items()])
    deltas = s.replace([obj(n, rv, uid) for n, (rv, uid) in after.items()])
    # A consumer that only saw ``before`` and then these deltas ends up with ``after``.
    replica = {f"ns/{n}": (str(rv), uid) for n, (rv, uid) in before.items()}
    for d in deltas:
        meta = d.object["metadata"]
        key = object_key(d.object)
        if d.type == "DELETED":
            assert replica.pop(key)[1] == meta["uid"]
        else:
            assert (d.type == "ADDED") == (key not in replica)
            replica[key] = (meta["resourceVersion"], meta["uid"])
    assert replica == {f"ns/{n}": (str(rv), uid) for n, (rv, uid) in after.items()}
    unchanged = {n for n in before if before[n] == after.get(n)}
    assert not unchanged & {d.object["metadata"]["name"] for d in deltas}


def _events(n: int) -> list[dict[str, Any]]:
    return [
        {"type": "ADDED", "object": obj(f"o{i}", i) | {"data": {"x": "é\n" * i}}} for i in range(n)
    ]


@given(n=st.integers(0, 6), cuts=st.lists(st.integers(0, 2000), max_size=12))
def test_line_decoder_is_independent_of_how_reads_cut_the_stream(n: int, cuts: list[int]) -> None:
    events = _events(n)
    stream = b"".join(orjson.dumps(e) + b"\n" for e in events)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    d = LineDecoder()
    got = [e for chunk in chunks for e in d.feed(chunk)] + d.close()
    assert got == events


def test_line_decoder_last_line_without_newline_and_blank_lines() -> None:
    d = LineDecoder()
    assert d.feed(b'\n{"type":"BOOKMARK"}\n\n{"type":') == [{"type": "BOOKMARK"}]
    assert d.feed(b'"ADDED"}') == []
    assert d.close() == [{"type": "ADDED"}]
    assert d.close() == []


def test_line_decoder_raises_on_a_garbled_line() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        LineDecoder().feed(b"{not json}\n")


def test_resource_paths() -> None:
    pods = Resource.lookup("v1", "pods")
    deploys = Resource.lookup("apps/v1", "deployments")
    nodes = Resource.lookup("v1", "nodes")
    assert pods.collection_path() == "/api/v1/pods"
    assert pods.collection_path("kube-system") == "/api/v1/namespaces/kube-system/pods"
    assert deploys.collection_path("a") == "/apis/apps/v1/namespaces/a/deployments"
    assert (deploys.display, deploys.api_version) == ("deployments.apps", "apps/v1")
    assert nodes.collection_path() == "/api/v1/nodes" and not nodes.namespaced
    with pytest.raises(ValueError, match="cluster-scoped"):
        nodes.collection_path("x")
    with pytest.raises(KeyError, match="not in kubeward's registry"):
        Resource.lookup("example.com/v1", "widgets")
    crd = Resource("example.com", "v1", "widgets")
    assert crd.collection_path("x") == "/apis/example.com/v1/namespaces/x/widgets"


def test_object_keys_are_client_go_keys() -> None:
    assert object_key(obj("a", 1)) == "ns/a"
    assert object_key(obj("n1", 1, ns=None)) == "n1"


def test_what_the_store_keeps_is_not_the_decoded_documents_strings() -> None:
    # The kept strings must be copies: originals would pin the whole decoded LIST's memory.
    items = orjson.loads(orjson.dumps([obj("a", 12345), obj("n1", 7, ns=None)]))
    s = ObjectStore(keep_objects=False)
    s.replace(items)
    for item in items:
        meta = item["metadata"]
        key = object_key(item)
        rv, uid = s.versions[key]
        assert (rv, uid) == (meta["resourceVersion"], meta["uid"])
        assert rv is not meta["resourceVersion"] and uid is not meta["uid"]
        assert all(k is not meta["name"] for k in s.versions)


@given(before=state, after=state, parts=st.lists(st.integers(0, 8), max_size=4))
def test_a_relist_in_parts_gives_the_deltas_of_a_whole_one(
    before: dict[str, tuple[int, str]],
    after: dict[str, tuple[int, str]],
    parts: list[int],
) -> None:
    whole, parted = ObjectStore(keep_objects=False), ObjectStore(keep_objects=False)
    for s in (whole, parted):
        s.replace([obj(n, rv, uid) for n, (rv, uid) in before.items()])
    items = [obj(n, rv, uid) for n, (rv, uid) in after.items()]
    expected = whole.replace(items)
    seen: set[str] = set()
    got, last = [], 0
    for cut in [*sorted(min(p, len(items)) for p in parts), len(items)]:
        got += parted.replace_items(items[last:cut], seen)
        last = max(last, cut)
    got += parted.finish_replace(seen)
    assert got == expected
    assert parted.versions == whole.versions
