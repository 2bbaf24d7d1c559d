"""The promise that makes the collector safe for the control plane: the number of LIST and
WATCH requests it sends does not depend on its number of workers. Counted in the simulator's
audit log (what the API server saw), for 1 and for 8 workers."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.test_collect_support import parse, start_collector
from kubeward.client import user_agent
from kubeward.collect.kinds import ALL_RESOURCES
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e

EXPECTED_KINDS = {(r.group, r.plural) for r in ALL_RESOURCES}


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimProcess, Path]]:
    tmp = tmp_path_factory.mktemp("audit")
    audit = tmp / "audit.log"
    proc = start_sim(
        tmp, "--scenario", "tiny", "--audit-log", str(audit), "--bookmark-interval", "0.5"
    )
    yield proc, audit
    proc.stop()


def collector_requests(audit: Path, offset: int) -> Counter[tuple[str, str, str]]:
    """(verb, group, resource) of the collector's list/watch requests after ``offset``."""
    counts: Counter[tuple[str, str, str]] = Counter()
    with open(audit, "rb") as f:
        f.seek(offset)
        for line in f:
            event = json.loads(line)
            if event.get("userAgent") != user_agent() or event["verb"] not in ("list", "watch"):
                continue
            ref = event.get("objectRef", {})
            counts[event["verb"], ref.get("apiGroup", ""), ref["resource"]] += 1
    return counts


@pytest.mark.parametrize("workers", [1, 8])
def test_one_list_and_one_watch_per_kind_whatever_the_workers(
    audited: tuple[SimProcess, Path], tmp_path: Path, workers: int
) -> None:
    sim, audit = audited
    offset = audit.stat().st_size
    store = str(tmp_path / "events.db")
    collector = start_collector(tmp_path, sim.kubeconfig, "--store", store, workers=workers)
    try:
        collector.wait_ready(60)
        time.sleep(2)  # steady state: several bookmarks on every watch
        own = parse(collector.scrape())
    finally:
        assert collector.stop() == 0, collector.log()

    # A watch is audited when it ends (ResponseComplete): its line reaches the file within the
    # simulator's one-second flush after the collector stopped.
    def every_watch_logged() -> Counter[tuple[str, str, str]] | None:
        found = collector_requests(audit, offset)
        return found if all(found["watch", g, r] for g, r in EXPECTED_KINDS) else None

    counts = eventually(every_watch_logged, timeout=15)
    assert {(g, r) for _, g, r in counts} == EXPECTED_KINDS
    for resource in ALL_RESOURCES:
        name = resource.display
        # A watch reopened after its timeout (or a relist) would be allowed, and accounted for
        # by the collector's own counters; in this steady state there is none.
        restarts = own["kubeward_collector_watch_restarts_total", frozenset({("resource", name)})]
        relists = own["kubeward_collector_relists_total", frozenset({("resource", name)})]
        assert (restarts, relists) == (0, 0)
        g, r = resource.group, resource.plural
        assert counts["list", g, r] == 1 + relists, (name, counts)
        assert counts["watch", g, r] == 1 + restarts + relists, (name, counts)
        # ... and the collector's own request counters agree with the API server's log.
        for verb in ("list", "watch"):
            key = (
                "kubeward_collector_requests_total",
                frozenset({("resource", name), ("verb", verb.upper())}),
            )
            assert own[key] == counts[verb, g, r]
    up = [v for (n, _), v in own.items() if n == "kubeward_collector_worker_up"]
    assert up == [1.0] * workers
