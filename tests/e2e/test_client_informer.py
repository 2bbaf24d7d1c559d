"""kubeward.client.Informer against ``kubeward sim`` over HTTP: list, watch, bookmarks,
reconnects, relist after 410 and paged lists, with every request counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubeward.client import ApiClient, Backoff, Batch, Informer, Resource, load_config
from simproc import SimProcess, start_sim, until

pytestmark = pytest.mark.e2e

CONFIGMAPS = Resource.lookup("v1", "configmaps")
WATCH_CACHE = 30  # events the simulator keeps per resource: older versions get 410 Gone


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    proc = start_sim(
        tmp_path_factory.mktemp("sim"),
        "--scenario",
        "tiny",
        "--no-tls",
        "--watch-cache-size",
        str(WATCH_CACHE),
        "--bookmark-interval",
        "0.3",
    )
    yield proc
    proc.stop()


@pytest.fixture
async def api(sim: SimProcess) -> AsyncIterator[ApiClient]:
    async with ApiClient(load_config(sim.kubeconfig)) as client:
        yield client


@pytest.fixture
async def kube(sim: SimProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A second, independent HTTP client playing the rest of the cluster (writes)."""
    async with httpx.AsyncClient(
        base_url=sim.server, headers={"Authorization": f"Bearer {sim.token}"}, timeout=30
    ) as client:
        yield client


class Recorder:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def __call__(self, batch: Batch) -> None:
        self.batches.append(batch)

    def deltas(self, source: str | None = None) -> list[tuple[str, str]]:
        return [
            (d.type, d.object["metadata"]["name"])
            for b in self.batches
            if source is None or b.source == source
            for d in b.deltas
        ]


async def namespace(kube: httpx.AsyncClient, name: str) -> None:
    r = await kube.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert r.status_code == 201, r.text


async def create(kube: httpx.AsyncClient, ns: str, name: str, **data: str) -> dict[str, Any]:
    r = await kube.post(
        f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": name}, "data": data}
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def update(kube: httpx.AsyncClient, ns: str, name: str, **data: str) -> None:
    r = await kube.patch(
        f"/api/v1/namespaces/{ns}/configmaps/{name}",
        json={"data": data},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text


async def delete(kube: httpx.AsyncClient, ns: str, name: str) -> None:
    r = await kube.delete(f"/api/v1/namespaces/{ns}/configmaps/{name}")
    assert r.status_code == 200, r.text


async def server_state(kube: httpx.AsyncClient, ns: str) -> dict[str, str]:
    r = await kube.get(f"/api/v1/namespaces/{ns}/configmaps")
    return {
        f"{ns}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in r.json()["items"]
    }


async def churn(kube: httpx.AsyncClient, ns: str, n: int = WATCH_CACHE + 10) -> None:
    """Enough configmap writes elsewhere to push older versions out of the watch cache."""
    for i in range(n):
        await create(kube, ns, f"churn-{i}")


async def request_counts(kube: httpx.AsyncClient) -> dict[str, float]:
    """The simulator's own apiserver_request_total for namespaced configmap LIST/WATCH."""
    text = (await kube.get("/metrics")).text
    counts = {"LIST": 0.0, "WATCH": 0.0}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = s.labels
            if (
                s.name == "apiserver_request_total"
                and labels.get("resource") == "configmaps"
                and labels.get("scope") == "namespace"
                and labels.get("verb") in counts
            ):
                counts[labels["verb"]] += s.value
    return counts


async def test_initial_list_then_watch_deltas(api: ApiClient, kube: httpx.AsyncClient) -> None:
    ns = "inf-basic"
    await namespace(kube, ns)
    await create(kube, ns, "a", v="1")
    await create(kube, ns, "b", v="1")
    rec = Recorder()
    inf = Informer(api, CONFIGMAPS, namespace=ns, on_batch=rec, watch_timeout=60)
    inf.start()
    try:
        await inf.wait_synced(10)
        assert rec.batches[0].source == "list"
        assert sorted(rec.deltas("list")) == [("ADDED", "a"), ("ADDED", "b")]
        listed = inf.store.get(f"{ns}/a")
        assert listed is not None
        # List items get the TypeMeta watch events carry.
        assert (listed["kind"], listed["apiVersion"]) == ("ConfigMap", "v1")

        await create(kube, ns, "c", v="1")
        await update(kube, ns, "a", v="2")
        await delete(kube, ns, "b")
        await until(lambda: len(rec.deltas("watch")) == 3)
        assert rec.deltas("watch") == [("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b")]
        a = inf.store.get(f"{ns}/a")
        assert a is not None and a["data"] == {"v": "2"}
        expected = await server_state(kube, ns)
        assert inf.store.versions.keys() == expected.keys()
        assert {k: v[0] for k, v in inf.store.versions.items()} == expected
        assert inf.stats.requests == {"LIST": 1, "WATCH": 1}
        assert inf.stats.events == 3 and inf.stats.deltas == 5
    finally:
        await inf.stop()


async def test_steady_state_is_one_list_and_one_watch(
    api: ApiClient, kube: httpx.AsyncClient
) -> None:
    ns = "inf-steady"
    await namespace(kube, ns)
    before = await request_counts(kube)
    inf = Informer(api, CONFIGMAPS, namespace=ns, watch_timeout=120)
    inf.start()
    try:
        await inf.wait_synced(10)
        for i in range(20):
            await create(kube, ns, f"cm-{i}")
        await until(lambda: len(inf.store) == 20)
        await until(lambda: inf.stats.bookmarks >= 2)
        after = await request_counts(kube)
    finally:
        await inf.stop()
    # Counted on our side and on the API server's side.
    assert inf.stats.requests == {"LIST": 1, "WATCH": 1}
    assert api.requests == {("list", "configmaps"): 1, ("watch", "configmaps"): 1}
    assert (after["LIST"] - before["LIST"], after["WATCH"] - before["WATCH"]) == (1, 1)
    assert (inf.stats.lists, inf.stats.relists, inf.stats.restarts) == (1, 0, 0)


async def test_bookmarks_move_the_version_without_deltas(
    api: ApiClient, kube: httpx.AsyncClient
) -> None:
    ns, elsewhere = "inf-bookmark", "inf-bookmark-other"
    await namespace(kube, ns)
    await namespace(kube, elsewhere)
    rec = Recorder()
    inf = Informer(api, CONFIGMAPS, namespace=ns, on_batch=rec, watch_timeout=60)
    inf.start()
    try:
        await inf.wait_synced(10)
        listed_rv = int(inf.resource_version or 0)
        # Writes the namespaced watch filters out: only bookmarks tell us time moved on.
        newest = await create(kube, elsewhere, "noise")
        newest_rv = int(newest["metadata"]["resourceVersion"])
        await until(lambda: int(inf.resource_version or 0) >= newest_rv)
        assert inf.stats.bookmarks >= 1 and inf.stats.events == 0
        assert int(inf.resource_version or 0) > listed_rv
        assert [b.source for b in rec.batches] == ["list"] and inf.stats.deltas == 0
    finally:
        await inf.stop()


async def test_watch_timeout_reconnects_without_relist_or_duplicates(
    api: ApiClient, kube: httpx.AsyncClient
) -> None:
    ns = "inf-reconnect"
    await namespace(kube, ns)
    rec = Recorder()
    inf = Informer(api, CONFIGMAPS, namespace=ns, on_batch=rec, watch_timeout=1)
    inf.start()
    try:
        await inf.wait_synced(10)
        # Writes spread over several watch lifetimes, some landing between two watches.
        for i in range(8):
            await create(kube, ns, f"cm-{i}")
            await asyncio.sleep(0.35)
        await until(lambda: inf.stats.watches >= 4)
        await until(lambda: len(inf.store) == 8)
    finally:
        await inf.stop()
    added = rec.deltas("watch")
    assert sorted(added) == sorted(("ADDED", f"cm-{i}") for i in range(8))  # once each
    assert inf.stats.requests["LIST"] == 1 and inf.stats.relists == 0
    assert inf.stats.restarts == inf.stats.watches - 1 >= 3
    assert inf.stats.requests["WATCH"] == inf.stats.watches


async def test_relist_after_410_yields_exactly_the_missed_changes(
    api: ApiClient, kube: httpx.AsyncClient
) -> None:
    ns, noise = "inf-gone", "inf-gone-noise"
    await namespace(kube, ns)
    await namespace(kube, noise)
    for name in ("keep", "change", "drop", "swap"):
        await create(kube, ns, name, v="1")
    rec = Recorder()
    inf = Informer(api, CONFIGMAPS, namespace=ns, on_batch=rec, watch_timeout=60)
    inf.start()
    await inf.wait_synced(10)
    await inf.stop()  # disconnected from here on
    saved_rv = inf.resource_version
    assert saved_rv is not None
    saved = list(inf.store.objects.values())
    old_swap_uid = inf.store.versions[f"{ns}/swap"][1]

    await update(kube, ns, "change", v="2")
    await delete(kube, ns, "drop")
    await delete(kube, ns, "swap")
    await create(kube, ns, "swap", v="new")  # same name, new uid
    await create(kube, ns, "new", v="1")
    await churn(kube, noise)  # our version is now older than the watch cache

    rec.batches.clear()
    inf.start()
    try:
        await until(lambda: inf.stats.relists == 1)
        relist = [b for b in rec.batches if b.source == "relist"]
        assert len(relist) == 1
        deltas = [(d.type, d.object["metadata"]["name"]) for d in relist[0].deltas]
        assert sorted(deltas) == sorted(
            [
                ("MODIFIED", "change"),
                ("DELETED", "drop"),
                ("DELETED", "swap"),
                ("ADDED", "swap"),
                ("ADDED", "new"),
            ]
        )  # and nothing for "keep"
        swap_deleted = next(
            d
            for d in relist[0].deltas
            if d.type == "DELETED" and d.object["metadata"]["name"] == "swap"
        )
        assert swap_deleted.object["metadata"]["uid"] == old_swap_uid
        assert inf.stats.gone == 1 and inf.stats.lists == 2
        expected = await server_state(kube, ns)
        assert {k: v[0] for k, v in inf.store.versions.items()} == expected
        await until(lambda: inf.connected)
        assert inf.stats.requests == {"LIST": 2, "WATCH": 3}  # watch, 410'd watch, watch
    finally:
        await inf.stop()

    # The same from saved state in a fresh process (a collector restart), objects not kept:
    # deletions come as tombstones carrying the identity.
    rec2 = Recorder()
    resumed = Informer(api, CONFIGMAPS, namespace=ns, on_batch=rec2, keep_objects=False)
    resumed.resume(saved_rv, saved)
    resumed.start()
    try:
        await until(lambda: resumed.stats.relists == 1)
        deltas2 = [(d.type, d.object["metadata"]["name"]) for d in rec2.batches[0].deltas]
        assert sorted(deltas2) == sorted(deltas)
        tomb = next(d.object for d in rec2.batches[0].deltas if d.type == "DELETED")
        assert tomb["metadata"]["namespace"] == ns and tomb["metadata"]["uid"]
        assert resumed.store.objects == {}
        assert {k: v[0] for k, v in resumed.store.versions.items()} == expected
    finally:
        await resumed.stop()


async def test_resume_within_the_window_needs_no_list(
    api: ApiClient, kube: httpx.AsyncClient
) -> None:
    ns = "inf-resume"
    await namespace(kube, ns)
    await create(kube, ns, "a")
    first = Informer(api, CONFIGMAPS, namespace=ns)
    first.start()
    await first.wait_synced(10)
    await first.stop()
    await create(kube, ns, "b")  # missed while stopped, still in the watch cache

    rec = Recorder()
    resumed = Informer(api, CONFIGMAPS, namespace=ns, on_batch=rec)
    assert first.resource_version is not None
    resumed.resume(first.resource_version, first.store.objects.values())
    resumed.start()
    try:
        await resumed.wait_synced(10)
        await until(lambda: len(resumed.store) == 2)
        assert rec.deltas() == [("ADDED", "b")]
        assert resumed.stats.requests == {"WATCH": 1} and resumed.stats.lists == 0
    finally:
        await resumed.stop()


async def test_paged_list_restarts_when_its_continue_token_expires(
    api: ApiClient, kube: httpx.AsyncClient
) -> None:
    ns, noise = "inf-pages", "inf-pages-noise"
    await namespace(kube, ns)
    await namespace(kube, noise)
    for i in range(7):
        await create(kube, ns, f"cm-{i}")
    churned: list[str] = []

    async def after_first_page(response: httpx2.Response) -> None:
        # Between page 1 and page 2, the cluster moves on past the page snapshot.
        params = response.request.url.params
        first_page = "limit" in params and "continue" not in params and "watch" not in params
        if first_page and not churned:
            churned.append("yes")
            await churn(kube, noise)

    api.http.event_hooks["response"].append(after_first_page)
    rec = Recorder()
    inf = Informer(
        api,
        CONFIGMAPS,
        namespace=ns,
        on_batch=rec,
        list_mode="paged",
        page_size=3,
        watch_timeout=60,
    )
    inf.start()
    try:
        await inf.wait_synced(15)
    finally:
        await inf.stop()
    assert churned == ["yes"]
    assert inf.stats.list_restarts == 1 and inf.stats.lists == 1
    # page 1, expired page 2, then pages 1-3 again
    assert inf.stats.requests["LIST"] == 5
    assert sorted(rec.deltas("list")) == sorted(("ADDED", f"cm-{i}") for i in range(7))
    assert len(inf.store) == 7


async def test_queue_consumer_gets_batches(api: ApiClient, kube: httpx.AsyncClient) -> None:
    ns = "inf-queue"
    await namespace(kube, ns)
    await create(kube, ns, "a")
    inf = Informer(api, CONFIGMAPS, namespace=ns, backoff=Backoff(initial=0.05))
    inf.start()
    try:
        first = await asyncio.wait_for(inf.queue.get(), 10)
        assert first.source == "list" and [d.type for d in first.deltas] == ["ADDED"]
        await delete(kube, ns, "a")
        nxt = await asyncio.wait_for(inf.queue.get(), 10)
        assert nxt.source == "watch" and nxt.deltas[0].type == "DELETED"
        assert nxt.resource_version == nxt.deltas[0].object["metadata"]["resourceVersion"]
        assert inf.stale_seconds() is not None and inf.stale_seconds() < 10  # type: ignore[operator]
    finally:
        await inf.stop()
