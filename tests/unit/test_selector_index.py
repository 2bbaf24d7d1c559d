"""SelectorIndex: the selectors that match a label set are exactly those a scan would find."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kubeward.kube.selectors import LabelSelector, SelectorIndex, parse_label_selector

KEYS = ("app", "tier", "zone")
VALUES = ("a", "b", "c")

labels_strategy = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)


@st.composite
def selectors(draw: st.DrawFn) -> LabelSelector:
    if draw(st.integers(0, 9)) == 0:
        return LabelSelector.nothing()
    terms = []
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=3)):
        values = draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True))
        op = draw(st.sampled_from(("=", "==", "!=", "in", "notin", "exists", "!")))
        if op in ("=", "==", "!="):
            terms.append(f"{key}{op}{values[0]}")
        elif op in ("in", "notin"):
            terms.append(f"{key} {op} ({','.join(values)})")
        elif op == "exists":
            terms.append(key)
        else:
            terms.append(f"!{key}")
    return parse_label_selector(",".join(terms))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(selectors(), max_size=12),
    st.lists(labels_strategy, min_size=1, max_size=5),
    st.sets(st.integers(0, 11)),
)
def test_matching_equals_trying_every_selector(
    sels: list[LabelSelector], label_sets: list[dict[str, str]], removed: set[int]
) -> None:
    index: SelectorIndex[int] = SelectorIndex()
    for i, sel in enumerate(sels):
        index.set(i, sel)
    for i in removed:
        index.remove(i)
    live = {i: s for i, s in enumerate(sels) if i not in removed}
    assert len(index) == len(live)
    for labels in label_sets:
        want = sorted(i for i, s in live.items() if s.matches(labels))
        assert sorted(index.matching(labels)) == want


def test_replacing_a_selector_refiles_it() -> None:
    index: SelectorIndex[str] = SelectorIndex()
    index.set("web", parse_label_selector("app=web"))
    index.set("web", parse_label_selector("app=api"))
    assert index.matching({"app": "web"}) == []
    assert index.matching({"app": "api"}) == ["web"]
    assert index.get("web") == parse_label_selector("app=api")
