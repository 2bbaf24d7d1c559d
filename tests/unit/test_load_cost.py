"""The request cost model: more work costs more, and the cheap paths are cheaper."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubeward.sim.load.cost import (
    Collection,
    Constants,
    Cost,
    request_cost,
    selectivity,
    watch_cache_memory,
)

K = Constants()
POD = 10 * 1024  # bytes


def pods(n: int, returned: int | None = None, indexed: bool = False) -> Collection:
    return Collection(n, n * POD, n if returned is None else returned, indexed)


def list_cost(n: int, rv: str | None = None, limit: int = 0, selector: bool = False) -> Cost:
    return request_cost("list", rv, limit, selector, pods(n), K)


@given(st.integers(1, 200_000), st.integers(1, 200_000))
def test_more_objects_cost_more_for_every_kind_of_list(a: int, b: int) -> None:
    small, big = sorted((a, b))
    for rv in (None, "0"):
        lo, hi = list_cost(small, rv), list_cost(big, rv)
        assert hi.cpu >= lo.cpu and hi.memory >= lo.memory and hi.seats >= lo.seats
        assert hi.etcd >= lo.etcd
        if big > small:
            assert hi.cpu > lo.cpu and hi.memory > lo.memory


@given(st.integers(1, 200_000))
def test_list_without_resource_version_costs_more_than_from_the_watch_cache(n: int) -> None:
    quorum, cached = list_cost(n, None), list_cost(n, "0")
    assert quorum.cpu > cached.cpu
    assert quorum.etcd > 0 and cached.etcd == 0  # only the quorum read reaches etcd
    assert quorum.memory > cached.memory


def test_selectors_filter_after_the_read_and_do_not_make_it_cheaper() -> None:
    everything = request_cost("list", None, 0, False, pods(50_000), K)
    one_label = request_cost("list", None, 0, True, pods(50_000, returned=10), K)
    assert one_label.etcd == everything.etcd  # the whole range is read from etcd
    assert one_label.memory == everything.memory  # and decoded
    assert one_label.objects == 10


def test_the_watch_cache_uses_its_index_for_name_and_node_selectors() -> None:
    scan = request_cost("list", "0", 0, True, pods(50_000, returned=10), K)
    lookup = request_cost("list", "0", 0, True, pods(50_000, returned=10, indexed=True), K)
    assert lookup.cpu < scan.cpu / 10
    assert selectivity("spec.nodeName=node-1", "", 500) == 1 / 500
    assert selectivity("", "one-pod", 500) == 0.0
    assert selectivity("status.phase=Running", "", 500) == 1.0


def test_paging_bounds_memory_per_request_but_the_watch_cache_ignores_limit() -> None:
    whole = list_cost(100_000)
    page = list_cost(100_000, limit=500)
    assert page.memory * 100 < whole.memory
    assert page.objects == 500
    assert list_cost(100_000, "0", limit=500).objects == 100_000  # RV=0 returns everything


def test_seats_follow_the_work_estimator_between_1_and_10() -> None:
    assert list_cost(10).seats == 1
    assert list_cost(300).seats == 6  # 2 x 300 objects / 100 per seat
    assert list_cost(1_000_000).seats == 10
    assert request_cost("create", None, 0, False, pods(1), K).seats == 1


def test_writes_cost_etcd_round_trips_and_watches_cost_little_to_open() -> None:
    write = request_cost("update", None, 0, False, pods(100), K)
    read = request_cost("get", None, 0, False, pods(100), K)
    watch = request_cost("watch", "0", 0, False, pods(100_000), K)
    assert write.etcd >= 2 * K.etcd_round_trip > read.etcd >= K.etcd_round_trip
    assert watch.cpu < list_cost(100_000, "0").cpu
    assert watch.etcd == 0


def test_the_watch_cache_holds_every_object_in_memory() -> None:
    assert watch_cache_memory(2e9, 0, K) > watch_cache_memory(1e9, 0, K) + 1e9
    assert watch_cache_memory(0, 1000, K) > watch_cache_memory(0, 0, K)
