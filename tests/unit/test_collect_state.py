"""The columnar shard state: batched upserts/deletes, compaction, child tables, dictionaries.

The property test drives random delta sequences (with compactions at random points) and checks
the rendered series against a plain dict model of the same deltas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from kubeward.collect import state as state_module
from kubeward.collect.columnar import columns, seq_array
from kubeward.collect.kinds import STATE_KIND_BY_NAME
from kubeward.collect.ksm import exposition
from kubeward.collect.state import ShardState

PODS = STATE_KIND_BY_NAME["pods"]


def pod(name: str, restarts: int, containers: int = 1, node: str = "n1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
        "spec": {"nodeName": node, "containers": [{"name": f"c{i}"} for i in range(containers)]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": f"c{i}", "restartCount": restarts} for i in range(containers)
            ],
        },
    }


def series(state: ShardState) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = b"".join(bytes(piece) for piece in exposition(state.snapshot())).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def restarts(state: ShardState) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["pod"], dict(labels)["container"]): value
        for (name, labels), value in series(state).items()
        if name == "kube_pod_container_status_restarts_total"
    }


def test_upsert_replaces_the_object_and_its_child_rows() -> None:
    state = ShardState()
    state.apply("pods", [("ns/a", PODS.rows(pod("a", 1, containers=2)))])
    assert restarts(state) == {("a", "c0"): 1, ("a", "c1"): 1}
    state.apply("pods", [("ns/a", PODS.rows(pod("a", 5, containers=1)))])
    assert restarts(state) == {("a", "c0"): 5}  # c1's row went with the old version
    state.apply("pods", [("ns/a", None)])
    assert restarts(state) == {}
    assert state.objects()["pods"] == 0


def test_nothing_is_rebuilt_until_compaction_and_then_in_one_pass(monkeypatch: Any) -> None:
    monkeypatch.setattr(state_module, "COMPACT_AFTER", 3600.0)
    state = ShardState()
    kind = state.kinds["pods"]
    state.apply("pods", [(f"ns/p{i}", PODS.rows(pod(f"p{i}", i))) for i in range(10)])
    state.apply("pods", [("ns/p3", None), ("ns/p4", PODS.rows(pod("p4", 40)))])
    assert kind.tables[0].base.num_rows == 0 and len(kind.tables[0].pending) == 11
    assert not state.maybe_compact()  # small backlog, not overdue: still batched
    state.snapshot()
    main = kind.tables[0].base
    assert main.num_rows == 9 and kind.tables[0].pending == []
    seqs = seq_array(main)
    assert np.all(np.diff(seqs) > 0)  # seq stays sorted: children find parents by search
    assert restarts(state)[("p4", "c0")] == 40


def test_a_large_backlog_compacts_without_waiting_for_a_render(monkeypatch: Any) -> None:
    monkeypatch.setattr(state_module, "COMPACT_ROWS", 5)
    monkeypatch.setattr(state_module, "COMPACT_AFTER", 3600.0)
    state = ShardState()
    state.apply("pods", [(f"ns/p{i}", PODS.rows(pod(f"p{i}", 0))) for i in range(6)])
    assert state.maybe_compact()
    assert state.kinds["pods"].tables[0].base.num_rows == 6


def test_dictionaries_shed_values_no_row_uses() -> None:
    state = ShardState()
    for round_ in range(3):
        # 400 pods on 400 distinct nodes, then all replaced by pods on one node.
        state.apply(
            "pods",
            [(f"ns/p{i}", PODS.rows(pod(f"p{i}", 0, node=f"n{round_}-{i}"))) for i in range(400)],
        )
        state.snapshot()
        state.apply(
            "pods", [(f"ns/p{i}", PODS.rows(pod(f"p{i}", 0, node="one"))) for i in range(400)]
        )
        state.snapshot()
    node = state.kinds["pods"].tables[0].base.column("node").chunk(0)
    assert node.dictionary.to_pylist() == ["one"]


def test_table_specs_reject_unknown_column_kinds() -> None:
    try:
        columns("t", "a:dict b:decimal")
    except ValueError as exc:
        assert "b" in str(exc)
    else:
        raise AssertionError("an unknown column kind was accepted")


ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "delete", "compact"]),
        st.integers(0, 7),  # pod
        st.integers(0, 3),  # restarts
        st.integers(0, 3),  # containers
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_random_deltas_render_like_a_dict_model(sequence: list[tuple[str, int, int, int]]) -> None:
    state = ShardState()
    model: dict[str, tuple[int, int]] = {}
    for op, i, n_restarts, n_containers in sequence:
        name = f"p{i}"
        if op == "put":
            state.apply("pods", [(f"ns/{name}", PODS.rows(pod(name, n_restarts, n_containers)))])
            model[name] = (n_restarts, n_containers)
        elif op == "delete":
            state.apply("pods", [(f"ns/{name}", None)])
            model.pop(name, None)
        else:
            state.maybe_compact(force=True)
    expected = {
        (name, f"c{c}"): float(r) for name, (r, count) in model.items() for c in range(count)
    }
    assert restarts(state) == expected
    infos = {
        dict(labels)["pod"]
        for (family, labels), _ in series(state).items()
        if family == "kube_pod_info"
    }
    assert infos == set(model)
    assert state.objects()["pods"] == len(model)
