"""Informer fault handling against a loopback HTTP server answering like kube-apiserver.

The simulator has no RBAC, no way to be told to throttle one client, and sends 410 as a watch
ERROR event only; for those answers (403 with an RBAC message, 429 with Retry-After, HTTP 410
on a watch, a LIST that hangs, an ERROR event mid-stream) this module serves them itself, over
real HTTP, from a tiny Starlette app in the test's event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
import yaml
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

import kubeward
from kubeward.client import (
    ApiClient,
    Backoff,
    Batch,
    Forbidden,
    Informer,
    Resource,
    ResourceNotFound,
    load_config,
)
from simproc import until

pytestmark = pytest.mark.e2e

PODS = Resource("", "v1", "pods", True)
DEPLOYMENTS = Resource("apps", "v1", "deployments", True)


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float

    @property
    def verb(self) -> str:
        if self.path == "/version":
            return "version"
        return "WATCH" if self.params.get("watch") == "true" else "LIST"


Handler = Callable[[Seen], Awaitable[Response]]


@dataclass
class FakeApiServer:
    handler: Handler | None = None
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def requests(self, verb: str) -> list[Seen]:
        return [s for s in self.seen if s.verb == verb]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        seen = Seen(
            request.method,
            request.url.path,
            dict(request.query_params),
            dict(request.headers),
            time.monotonic(),
        )
        self.seen.append(seen)
        if seen.path == "/version":
            response: Response = json_response({"major": "1", "minor": "31"})
        else:
            assert self.handler is not None
            response = await self.handler(seen)
        await response(scope, receive, send)


def json_response(doc: Any, code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), code, headers, media_type="application/json")


def status(code: int, reason: str, message: str, **headers: str) -> Response:
    doc = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return json_response(doc, code, headers)


def cm(name: str, rv: int, uid: str | None = None) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": str(rv), "uid": uid or name}
    return {"metadata": meta}


def listing(items: list[dict[str, Any]], rv: int, cont: str | None = None) -> Response:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if cont:
        meta["continue"] = cont
    return json_response({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items})


def watch(*events: dict[str, Any], hold: float = 30) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for event in events:
            yield orjson.dumps(event) + b"\n"
        await asyncio.sleep(hold)

    return StreamingResponse(body(), media_type="application/json")


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[FakeApiServer]:
    app = FakeApiServer()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    app.url = f"http://127.0.0.1:{port}"
    yield app
    server.should_exit = True
    await task


def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "fake.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "collector", "user": {"token": "t0k3n"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "collector"}}],
                "current-context": "fake",
            }
        )
    )
    return path


@pytest.fixture
async def api(fake: FakeApiServer, tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with ApiClient(load_config(kubeconfig(tmp_path, fake.url))) as client:
        yield client


class Recorder:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def __call__(self, batch: Batch) -> None:
        self.batches.append(batch)


def quick_backoff() -> Backoff:
    return Backoff(initial=0.01, jitter=0)


async def test_forbidden_names_the_verb_resource_and_rbac_rule(
    fake: FakeApiServer, api: ApiClient
) -> None:
    async def handler(req: Seen) -> Response:
        group = "apps" if "/apis/apps/" in req.path else ""
        resource = req.path.rsplit("/", 1)[1]
        scope = (
            f'in the namespace "{req.path.split("/")[-2]}"'
            if "/namespaces/" in req.path
            else "at the cluster scope"
        )
        return status(
            403,
            "Forbidden",
            f'{resource} is forbidden: User "system:serviceaccount:kubeward:collector" cannot '
            f'list resource "{resource}" in API group "{group}" {scope}',
        )

    fake.handler = handler
    inf = Informer(api, DEPLOYMENTS, backoff=quick_backoff())
    inf.start()
    with pytest.raises(Forbidden) as err:
        await inf.wait_synced(10)
    await inf.stop()
    text = str(err.value)
    assert "does not allow kubeward to list deployments.apps at the cluster scope" in text
    assert 'cannot list resource "deployments" in API group "apps"' in text  # server's words
    assert "ClusterRole" in text
    assert 'apiGroups: ["apps"]' in text and 'resources: ["deployments"]' in text
    assert 'verbs: ["list", "watch"]' in text
    assert (err.value.verb, err.value.group, err.value.resource) == ("list", "apps", "deployments")
    assert inf.stats.requests == {"LIST": 1}  # not retried: RBAC will not fix itself

    inf = Informer(api, PODS, namespace="team-a", backoff=quick_backoff())
    inf.start()
    with pytest.raises(Forbidden) as err:
        await inf.wait_synced(10)
    await inf.stop()
    text = str(err.value)
    assert 'list pods in namespace "team-a"' in text and "Role (in that namespace)" in text
    assert 'apiGroups: [""]' in text and 'resources: ["pods"]' in text


@pytest.mark.parametrize(
    ("code", "reason"), [(429, "TooManyRequests"), (503, "ServiceUnavailable")]
)
async def test_retry_after_is_honoured(
    fake: FakeApiServer, api: ApiClient, code: int, reason: str
) -> None:
    async def handler(req: Seen) -> Response:
        if req.verb == "LIST" and len(fake.requests("LIST")) == 1:
            return status(code, reason, "please try again later", **{"Retry-After": "1"})
        if req.verb == "LIST":
            return listing([cm("a", 5)], 5)
        return watch()

    fake.handler = handler
    inf = Informer(api, PODS, namespace="ns", backoff=quick_backoff())
    inf.start()
    try:
        await inf.wait_synced(10)
    finally:
        await inf.stop()
    first, second = fake.requests("LIST")
    # The informer's own backoff would have waited 0.01 s; the server asked for 1 s.
    assert second.at - first.at >= 0.95
    assert inf.stats.throttled == (code == 429) and inf.stats.errors == 1
    assert inf.stats.requests["LIST"] == 2 and "ns/a" in inf.store


async def test_silent_watch_is_abandoned_and_reopened(fake: FakeApiServer, api: ApiClient) -> None:
    async def handler(req: Seen) -> Response:
        if req.verb == "LIST":
            return listing([], 10)
        # Status 200, then nothing at all: a half-open connection or a stuck proxy.
        return watch(hold=60)

    fake.handler = handler
    inf = Informer(
        api,
        PODS,
        namespace="ns",
        watch_timeout=1,
        watch_read_margin=0.5,
        backoff=quick_backoff(),
    )
    inf.start()
    try:
        await until(lambda: len(fake.requests("WATCH")) == 2, timeout=10)
    finally:
        await inf.stop()
    assert [w.params["resourceVersion"] for w in fake.requests("WATCH")] == ["10", "10"]
    assert "did not answer in time" in (inf.stats.last_error or "")
    assert inf.stats.errors == 1 and len(fake.requests("LIST")) == 1


async def test_http_410_on_watch_relists_from_the_last_version(
    fake: FakeApiServer, api: ApiClient
) -> None:
    async def handler(req: Seen) -> Response:
        lists, watches = len(fake.requests("LIST")), len(fake.requests("WATCH"))
        if req.verb == "LIST" and lists == 1:
            return listing([cm("a", 8), cm("b", 9)], 10)
        if req.verb == "LIST":
            return listing([cm("a", 8), cm("c", 15)], 20)
        if watches == 1:
            return status(410, "Expired", "too old resource version: 10 (15)")
        return watch(hold=30)

    fake.handler = handler
    rec = Recorder()
    inf = Informer(api, PODS, namespace="ns", on_batch=rec, backoff=quick_backoff())
    inf.start()
    try:
        await until(lambda: inf.stats.relists == 1 and inf.connected)
    finally:
        await inf.stop()
    lists, watches = fake.requests("LIST"), fake.requests("WATCH")
    assert lists[0].params["resourceVersion"] == "0" and lists[0].params["limit"] == "500"
    # The relist must not go back in time: not older than what we had seen.
    assert lists[1].params["resourceVersion"] == "10"
    assert lists[1].params["resourceVersionMatch"] == "NotOlderThan"
    assert watches[0].params["resourceVersion"] == "10"
    assert watches[1].params["resourceVersion"] == "20"
    assert watches[0].params["allowWatchBookmarks"] == "true"
    relist = next(b for b in rec.batches if b.source == "relist")
    assert sorted((d.type, d.object["metadata"]["name"]) for d in relist.deltas) == [
        ("ADDED", "c"),
        ("DELETED", "b"),
    ]
    # A 410 before any event, right after a fresh list, backs off once before relisting.
    assert inf.stats.gone == 1 and inf.stats.errors == 1


async def test_410_event_after_progress_relists_at_once(
    fake: FakeApiServer, api: ApiClient
) -> None:
    async def handler(req: Seen) -> Response:
        if req.verb == "LIST":
            return listing([cm("a", 8)], 10) if len(fake.requests("LIST")) == 1 else listing([], 30)
        if len(fake.requests("WATCH")) == 1:
            gone = {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "code": 410,
                    "reason": "Expired",
                    "message": "too old",
                },
            }
            return watch({"type": "ADDED", "object": cm("b", 12)}, gone, hold=0)
        return watch(hold=30)

    fake.handler = handler
    rec = Recorder()
    inf = Informer(api, PODS, namespace="ns", on_batch=rec, backoff=Backoff(initial=5))
    inf.start()
    try:
        await until(lambda: inf.stats.relists == 1 and inf.connected, timeout=4)
    finally:
        await inf.stop()
    assert inf.stats.errors == 0  # no 5 s backoff: the watch had made progress
    # The relist continues from the version reached by the watch, and reports both deletions.
    assert fake.requests("LIST")[1].params["resourceVersion"] == "12"
    assert [
        (b.source, [(d.type, d.object["metadata"]["name"]) for d in b.deltas]) for b in rec.batches
    ] == [
        ("list", [("ADDED", "a")]),
        ("watch", [("ADDED", "b")]),
        ("relist", [("DELETED", "a"), ("DELETED", "b")]),
    ]


async def test_watch_error_event_rewatches_from_the_last_version(
    fake: FakeApiServer, api: ApiClient
) -> None:
    async def handler(req: Seen) -> Response:
        if req.verb == "LIST":
            return listing([], 10)
        if len(fake.requests("WATCH")) == 1:
            added = {"type": "ADDED", "object": cm("x", 11)}
            error = {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "code": 500,
                    "reason": "InternalError",
                    "message": "etcd hiccup",
                },
            }
            return watch(added, error, hold=0)
        return watch(hold=30)

    fake.handler = handler
    rec = Recorder()
    inf = Informer(api, PODS, namespace="ns", on_batch=rec, backoff=quick_backoff())
    inf.start()
    try:
        await until(lambda: len(fake.requests("WATCH")) == 2 and inf.connected)
    finally:
        await inf.stop()
    assert fake.requests("WATCH")[1].params["resourceVersion"] == "11"
    assert len(fake.requests("LIST")) == 1 and inf.stats.relists == 0
    assert inf.stats.errors == 1 and "etcd hiccup" in (inf.stats.last_error or "")
    watched = [(d.type, d.object["metadata"]["name"]) for b in rec.batches for d in b.deltas]
    assert watched == [("ADDED", "x")]


@pytest.mark.parametrize("failure", ["hang", "504"])
async def test_cache_list_timeout_falls_back_to_a_paged_list(
    fake: FakeApiServer, api: ApiClient, failure: str
) -> None:
    async def handler(req: Seen) -> Response:
        if req.verb == "WATCH":
            return watch()
        if req.params.get("resourceVersion") == "0":
            if failure == "504":
                return status(504, "Timeout", "Timeout: Too large resource version")
            await asyncio.sleep(3)  # a cache LIST too big to answer in time
            return listing([], 1)
        if "continue" not in req.params:
            return listing([cm("a", 3), cm("b", 4)], 7, cont="page-2")
        assert req.params["continue"] == "page-2"
        return listing([cm("c", 5)], 7)

    fake.handler = handler
    inf = Informer(
        api, PODS, namespace="ns", page_size=2, request_timeout=0.5, backoff=quick_backoff()
    )
    inf.start()
    try:
        await inf.wait_synced(10)
    finally:
        await inf.stop()
    lists = fake.requests("LIST")
    assert [s.params.get("resourceVersion") for s in lists] == ["0", None, None]
    assert [s.params.get("limit") for s in lists] == ["2", "2", "2"]
    assert sorted(inf.store.versions) == ["ns/a", "ns/b", "ns/c"]
    assert inf.resource_version == "7" and inf.stats.lists == 1 and inf.stats.errors == 1


async def test_continue_expiring_again_and_again_ends_in_one_unpaged_list(
    fake: FakeApiServer, api: ApiClient
) -> None:
    async def handler(req: Seen) -> Response:
        if req.verb == "WATCH":
            return watch()
        if "continue" in req.params:
            return status(410, "Expired", "The provided continue parameter is too old")
        if "limit" in req.params:
            return listing([cm("a", 3)], 7, cont="next")
        return listing([cm("a", 3), cm("b", 4)], 9)

    fake.handler = handler
    inf = Informer(api, PODS, namespace="ns", list_mode="paged", backoff=quick_backoff())
    inf.start()
    try:
        await inf.wait_synced(10)
    finally:
        await inf.stop()
    shapes = [
        ("limit" in s.params, "continue" in s.params, "resourceVersion" in s.params)
        for s in fake.requests("LIST")
    ]
    page, cont, full = (True, False, False), (True, True, False), (False, False, False)
    assert shapes == [page, cont, page, cont, page, cont, full]
    assert inf.stats.list_restarts == 3 and inf.stats.gone == 3 and inf.stats.lists == 1
    assert sorted(inf.store.versions) == ["ns/a", "ns/b"] and inf.resource_version == "9"


async def test_watch_closing_at_once_backs_off(fake: FakeApiServer, api: ApiClient) -> None:
    async def handler(req: Seen) -> Response:
        return listing([], 10) if req.verb == "LIST" else watch(hold=0)

    fake.handler = handler
    inf = Informer(api, PODS, namespace="ns", backoff=Backoff(initial=0.2, jitter=0))
    inf.start()
    try:
        await until(lambda: len(fake.requests("WATCH")) >= 3)
    finally:
        await inf.stop()
    at = [s.at for s in fake.requests("WATCH")]
    assert at[1] - at[0] >= 0.18 and at[2] - at[1] >= 0.36
    assert len(fake.requests("LIST")) == 1 and "closed immediately" in (inf.stats.last_error or "")


async def test_unserved_resource_is_a_clear_not_found(fake: FakeApiServer, api: ApiClient) -> None:
    async def handler(req: Seen) -> Response:
        return status(404, "NotFound", "the server could not find the requested resource")

    fake.handler = handler
    inf = Informer(api, Resource("example.com", "v1", "widgets"), backoff=quick_backoff())
    inf.start()
    with pytest.raises(ResourceNotFound) as err:
        await inf.wait_synced(10)
    await inf.stop()
    assert "does not serve widgets.example.com in example.com/v1" in str(err.value)
    assert "kubectl api-resources" in str(err.value) and inf.stats.requests == {"LIST": 1}


async def test_backoff_grows_while_the_server_fails(fake: FakeApiServer, api: ApiClient) -> None:
    async def handler(req: Seen) -> Response:
        return status(500, "InternalError", "Internal error occurred: boom")

    fake.handler = handler
    inf = Informer(api, PODS, backoff=Backoff(initial=0.05, factor=2, jitter=0))
    inf.start()
    try:
        await until(lambda: len(fake.requests("LIST")) >= 5)
    finally:
        await inf.stop()
    at = [s.at for s in fake.requests("LIST")]
    gaps = [b - a for a, b in itertools.pairwise(at)][:4]
    for gap, expected in zip(gaps, (0.05, 0.1, 0.2, 0.4), strict=True):
        assert gap >= expected * 0.9
    assert not inf.synced.is_set()
    assert "500 InternalError" in (inf.stats.last_error or "")


async def test_user_agent_names_kubeward_and_its_version(
    fake: FakeApiServer, api: ApiClient, tmp_path: Path
) -> None:
    await api.version()
    async with ApiClient(
        load_config(kubeconfig(tmp_path, fake.url)), agent="kubeward-guard"
    ) as other:
        await other.version()
    agents = [s.headers["user-agent"] for s in fake.seen]
    assert agents == [
        f"kubeward-collector/{kubeward.__version__}",
        f"kubeward-guard/{kubeward.__version__}",
    ]
    assert fake.seen[0].headers["authorization"] == "Bearer t0k3n"
    assert fake.seen[0].headers["accept"] == "application/json"


async def test_a_failing_consumer_surfaces_in_wait_synced(
    fake: FakeApiServer, api: ApiClient
) -> None:
    async def handler(req: Seen) -> Response:
        return listing([cm("a", 1)], 2) if req.verb == "LIST" else watch()

    async def broken(batch: Batch) -> None:
        raise ValueError("consumer bug")

    fake.handler = handler
    inf = Informer(api, PODS, namespace="ns", on_batch=broken)
    inf.start()
    with pytest.raises(ValueError, match="consumer bug"):
        await inf.wait_synced(10)
    await inf.stop()
    assert not inf.synced.is_set()


def streamed_listing(
    items: list[dict[str, Any]], rv: int, cut_after: int | None = None
) -> Response:
    """A list sent an item per network write; ``cut_after`` items in, the connection breaks
    (the server raises mid-body, so the chunked response never ends properly)."""

    async def body() -> AsyncIterator[bytes]:
        head = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}}
        yield orjson.dumps(head)[:-1] + b',"items":['
        for i, item in enumerate(items):
            if i == cut_after:
                raise ConnectionResetError("cut")
            yield (b"," if i else b"") + orjson.dumps(item)
            await asyncio.sleep(0.01)  # one network read each
        yield b"]}"

    return StreamingResponse(body(), media_type="application/json")


def replay(batches: list[Batch]) -> dict[str, str]:
    """What a consumer that applied the deltas in order ends up with: name -> resourceVersion."""
    state: dict[str, str] = {}
    for batch in batches:
        for d in batch.deltas:
            name = d.object["metadata"]["name"]
            if d.type == "DELETED":
                del state[name]
            else:
                state[name] = d.object["metadata"]["resourceVersion"]
    return state


async def test_a_list_is_delivered_in_batches_as_it_arrives(
    fake: FakeApiServer, api: ApiClient
) -> None:
    items = [cm(f"p{i}", i + 1) for i in range(10)]

    async def handler(req: Seen) -> Response:
        return streamed_listing(items, 50) if req.verb == "LIST" else watch()

    fake.handler = handler
    rec = Recorder()
    inf = Informer(api, PODS, namespace="ns", on_batch=rec, list_batch=3)
    inf.start()
    try:
        await inf.wait_synced(10)
    finally:
        await inf.stop()
    assert len(rec.batches) >= 4  # not one batch holding the whole list
    assert all(b.source == "list" for b in rec.batches)
    # Only the complete list is a version to resume from.
    assert [b.resource_version for b in rec.batches[:-1]] == [""] * (len(rec.batches) - 1)
    assert rec.batches[-1].resource_version == "50" and inf.resource_version == "50"
    assert all(len(b.deltas) >= 3 for b in rec.batches[:-1])
    assert [d.object["metadata"]["name"] for b in rec.batches for d in b.deltas] == [
        f"p{i}" for i in range(10)
    ]
    assert all(d.object["kind"] == "Pod" for b in rec.batches for d in b.deltas)
    assert inf.stats.requests == {"LIST": 1, "WATCH": 1} and inf.stats.lists == 1


async def test_a_list_cut_mid_body_is_listed_again_without_loss_or_duplicates(
    fake: FakeApiServer, api: ApiClient
) -> None:
    first = [cm(f"p{i}", i + 1) for i in range(10)]
    # Meanwhile p1 was deleted and p9 changed.
    second = [o for o in first if o["metadata"]["name"] != "p1"]
    second[-1] = cm("p9", 99)

    async def handler(req: Seen) -> Response:
        if req.verb == "WATCH":
            return watch()
        if len(fake.requests("LIST")) == 1:
            return streamed_listing(first, 50, cut_after=5)
        return streamed_listing(second, 60)

    fake.handler = handler
    rec = Recorder()
    inf = Informer(api, PODS, namespace="ns", on_batch=rec, list_batch=2, backoff=quick_backoff())
    inf.start()
    try:
        await inf.wait_synced(10)
    finally:
        await inf.stop()
    assert inf.stats.requests["LIST"] == 2 and inf.stats.errors == 1 and inf.stats.lists == 1
    assert "broke" in (inf.stats.last_error or ""), inf.stats.last_error
    # Part of the cut list was delivered before the cut: the second list does not repeat it.
    cut = [b for b in rec.batches if b.resource_version == ""]
    assert cut and rec.batches[-1].resource_version == "60"
    added = [
        d.object["metadata"]["name"] for b in rec.batches for d in b.deltas if d.type == "ADDED"
    ]
    assert sorted(added) == sorted(f"p{i}" for i in range(10))  # each once, p1 included
    assert replay(rec.batches) == {
        o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in second
    }
    assert inf.store.versions == {
        f"ns/{o['metadata']['name']}": (o["metadata"]["resourceVersion"], o["metadata"]["uid"])
        for o in second
    }
