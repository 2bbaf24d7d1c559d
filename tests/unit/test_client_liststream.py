"""The streaming LIST decoder: whatever the chunking and key order, the same items and metadata
as decoding the whole body at once; cut or malformed bodies are errors, never partial lists."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeward.client.liststream import HEAD_LIMIT, ListBodyError, ListDecoder

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
items_st = st.lists(st.dictionaries(st.text(max_size=6), values, max_size=4), max_size=6)
# Strings that look like structure, to catch a scanner fooled by them.
tricky = st.sampled_from(['"]}', "items", '{"items":[', "\\", "é", "\u2028", "\U0001f600", ",]"])


def decode(body: bytes, cuts: list[int]) -> tuple[ListDecoder, list[dict[str, Any]]]:
    decoder, out, last = ListDecoder(), [], 0
    for cut in [*sorted({c % (len(body) + 1) for c in cuts}), len(body)]:
        out += decoder.feed(body[last:cut])
        last = cut
    out += decoder.close()
    return decoder, out


@settings(max_examples=200, deadline=None)
@given(
    items=items_st,
    rv=st.text(max_size=10) | tricky,
    token=st.none() | tricky,
    order=st.permutations(["kind", "apiVersion", "metadata", "items"]),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
    indent=st.booleans(),
)
def test_any_chunking_and_key_order_decodes_like_orjson(
    items: list[dict[str, Any]],
    rv: str,
    token: str | None,
    order: list[str],
    cuts: list[int],
    indent: bool,
) -> None:
    meta: dict[str, Any] = {"resourceVersion": rv}
    if token is not None:
        meta["continue"] = token
    parts = {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items}
    doc = {key: parts[key] for key in order}
    body = orjson.dumps(doc, option=orjson.OPT_INDENT_2 if indent else 0)
    decoder, out = decode(body, cuts)
    assert decoder.metadata == meta
    before_items = order[: order.index("items")]
    expected = orjson.loads(body)["items"]
    for item in expected:
        # Items get the list's kind/apiVersion when the list says them before its items.
        if "kind" in before_items:
            item.setdefault("kind", "Pod")
        if "apiVersion" in before_items:
            item.setdefault("apiVersion", "v1")
    assert out == expected


def test_items_come_out_as_they_complete() -> None:
    body = orjson.dumps(
        {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": "7"},
            "items": [{"metadata": {"name": f"p{i}"}} for i in range(3)],
        }
    )
    decoder = ListDecoder()
    first_end = body.index(b"}}") + 2
    assert decoder.feed(body[:first_end]) == [
        {"metadata": {"name": "p0"}, "kind": "Pod", "apiVersion": "v1"}
    ]
    rest = decoder.feed(body[first_end:]) + decoder.close()
    assert [i["metadata"]["name"] for i in rest] == ["p1", "p2"]
    assert decoder.metadata == {"resourceVersion": "7"} and decoder.kind == "PodList"


def test_item_kind_is_not_overwritten() -> None:
    body = b'{"kind":"List","apiVersion":"v1","items":[{"kind":"Foo","apiVersion":"x/v1"}]}'
    _, out = decode(body, [])
    assert out == [{"kind": "Foo", "apiVersion": "x/v1"}]


def test_a_list_without_items_is_empty() -> None:
    decoder, out = decode(b'{"kind":"PodList","metadata":{"resourceVersion":"3"}}', [5])
    assert out == [] and decoder.metadata == {"resourceVersion": "3"}
    decoder, out = decode(b'{"items":null,"metadata":{"resourceVersion":"4"}}', [3])
    assert out == [] and decoder.metadata == {"resourceVersion": "4"}


def test_a_huge_envelope_before_items_still_decodes_the_items() -> None:
    filler = "x" * (HEAD_LIMIT + 10)
    body = orjson.dumps(
        {
            "kind": "PodList",
            "annotation": filler,
            "items": [{"a": 1}],
            "metadata": {"resourceVersion": "9"},
        }
    )
    decoder, out = decode(body, list(range(0, len(body), 65536)))
    assert out == [{"a": 1, "kind": "Pod"}] and decoder.metadata == {"resourceVersion": "9"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"[]",
        b'"PodList"',
        b"null",
        b'{"items":[{"a":1}',  # cut mid-list
        b'{"items":[{"a":1}],"metadata":{"resourceVersion":"1"}',  # cut before the end
        b'{"items":[1]}',  # an item that is not an object
        b'{"items":[]}}',  # trailing garbage
        b'{"items":[{"a":tru}]}',
        b'{"items":[{"a":"\xff"}]}',  # not UTF-8
        b"<html>503</html>",
    ],
)
@pytest.mark.parametrize("step", [1, 4, 1 << 16])
def test_malformed_or_cut_bodies_are_errors(body: bytes, step: int) -> None:
    with pytest.raises(ListBodyError):
        decode(body, list(range(0, len(body), step)))
