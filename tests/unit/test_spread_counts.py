"""SpreadCounts: per-row counts of matching pods equal a recount, whatever the order in which
pods come and go and selectors are first asked for."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeward.kube.selectors import parse_label_selector
from kubeward.sim.control.scheduling.spread import SpreadCounts

SELECTORS = ("app=a", "app in (a,b)", "tier=web,app=b", "app", "!tier", "app!=a", "tier notin (db)")
ROWS = 4

pod_labels = st.dictionaries(
    st.sampled_from(("app", "tier")), st.sampled_from(("a", "b", "web", "db")), max_size=2
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 7), st.integers(0, ROWS - 1), pod_labels),
        st.tuples(st.just("remove"), st.integers(0, 7)),
        st.tuples(st.just("ask"), st.sampled_from(SELECTORS)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_counts_equal_a_recount(script: list[tuple]) -> None:
    spread = SpreadCounts()
    live: dict[str, tuple[int, dict[str, str]]] = {}
    for step in script:
        if step[0] == "add":
            _, i, row, labels = step
            key = f"ns/p{i}"
            if key in live:
                spread.remove("ns", key)  # as the scheduler does: a pod is re-added after removal
            spread.add("ns", key, row, labels)
            live[key] = (row, labels)
        elif step[0] == "remove":
            key = f"ns/p{step[1]}"
            spread.remove("ns", key)
            live.pop(key, None)
        else:
            text = step[1]
            selector = parse_label_selector(text)
            want = np.zeros(ROWS)
            for row, labels in live.values():
                if selector.matches(labels):
                    want[row] += 1
            got = spread.counts("ns", selector, text.encode(), ROWS)
            assert got.tolist() == want.tolist(), text
