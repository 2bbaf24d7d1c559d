"""Out-of-band behaviour: the API server goes away (503 with Retry-After, then refused
connections) and comes back. Meanwhile /metrics keeps serving the last known state,
``kubeward_collector_stale_seconds`` grows, the collector backs off instead of hammering, and
afterwards it resyncs without missing or duplicating anything: changes made while it was
disconnected show up, by resuming the watch or, when the version left the watch cache (410),
by a relist whose diff also removes what was deleted meanwhile.

A TCP proxy in front of the simulator plays the outage, so the cluster itself (and its
resourceVersions) survives it, as etcd does behind a real API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.test_collect_support import Collector, parse, start_collector, write_kubeconfig
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e

WATCH_CACHE = 30  # events the simulator keeps per resource; more while away -> 410 -> relist


class ApiProxy:
    """Forwards TCP to the simulator, or plays an API server that is overloaded ("503": every
    request answered 503 + Retry-After) or gone ("down": connections refused). Switching away
    from "forward" cuts every open connection, watches included."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.mode = "forward"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._call(self._listen())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            if self.mode == "503":
                await reader.readuntil(b"\r\n\r\n")
                body = json.dumps(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "code": 503,
                        "reason": "ServiceUnavailable",
                        "message": "the server is restarting",
                    }
                ).encode()
                writer.write(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                    b"Content-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
                return
            up_reader, upstream = await asyncio.open_connection("127.0.0.1", self.upstream)
            self._open.add(upstream)
            await asyncio.gather(_pump(reader, upstream), _pump(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    self._open.discard(w)
                    w.close()

    def set_mode(self, mode: str) -> None:
        self._call(self._set_mode(mode))

    async def _set_mode(self, mode: str) -> None:
        self.mode = mode
        if mode != "forward":
            for w in list(self._open):
                w.transport.abort()
            self._open.clear()
        if mode == "down" and self._server is not None:
            self._server.close()
            self._server = None
        elif mode != "down" and self._server is None:
            await self._listen()

    def close(self) -> None:
        self.set_mode("down")
        self.loop.call_soon_threadsafe(self.loop.stop)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    proc = start_sim(
        tmp_path_factory.mktemp("recovery"),
        "--scenario",
        "tiny",
        "--no-tls",
        "--watch-cache-size",
        str(WATCH_CACHE),
        "--bookmark-interval",
        "0.5",
    )
    yield proc
    proc.stop()


def metric(text: str, name: str, **labels: str) -> float | None:
    key = (name, frozenset(labels.items()))
    return parse(text).get(key)


def stale(collector: Collector, resource: str) -> float:
    value = metric(collector.scrape(), "kubeward_collector_stale_seconds", resource=resource)
    assert value is not None
    return value


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


def test_outages_serve_last_known_state_then_resync_without_missing_updates(
    sim: SimProcess, tmp_path: Path
) -> None:
    proxy = ApiProxy(int(sim.server.rsplit(":", 1)[1]))
    kubeconfig = write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{proxy.port}", sim.token)
    collector = start_collector(tmp_path, kubeconfig, "--no-store", workers=2)
    kube = sim.client()
    ns, deps = "outage", "/apis/apps/v1/namespaces/outage/deployments"
    try:
        collector.wait_ready()
        assert kube.post("/api/v1/namespaces", json={"metadata": {"name": ns}}).status_code == 201
        assert kube.post(deps, json=deployment("d1", 1)).status_code == 201

        def replicas(name: str) -> float | None:
            return metric(
                collector.scrape(), "kube_deployment_spec_replicas", namespace=ns, deployment=name
            )

        eventually(lambda: replicas("d1") == 1)
        assert stale(collector, "deployments.apps") == 0

        # 1. Overloaded: every request gets 503 + Retry-After: 1; open watches are cut.
        proxy.set_mode("503")
        patch = {"spec": {"replicas": 3}}
        headers = {"Content-Type": "application/merge-patch+json"}
        assert kube.patch(f"{deps}/d1", json=patch, headers=headers).status_code == 200
        assert kube.post(deps, json=deployment("d2", 2)).status_code == 201
        eventually(lambda: stale(collector, "deployments.apps") > 0.5)
        first = collector.scrape()
        time.sleep(2.5)
        second = collector.scrape()
        # Last known state, served while the staleness grows.
        assert replicas("d1") == 1 and replicas("d2") is None
        name, labels = "kubeward_collector_stale_seconds", {"resource": "deployments.apps"}
        assert (metric(second, name, **labels) or 0) > (metric(first, name, **labels) or 0) + 2
        # Backing off, not hammering: Retry-After: 1 means about one attempt a second.
        retries = "kubeward_collector_retries_total"
        tried = (metric(second, retries, **labels) or 0) - (metric(first, retries, **labels) or 0)
        assert 1 <= tried <= 5

        proxy.set_mode("forward")
        eventually(lambda: replicas("d1") == 3 and replicas("d2") == 2, timeout=20)
        eventually(lambda: stale(collector, "deployments.apps") == 0)
        after = collector.scrape()
        # Resumed from the watch cache: no relist was needed for deployments.
        assert metric(after, "kubeward_collector_relists_total", resource="deployments.apps") == 0

        # 2. Gone: connections refused. More namespace changes than the watch cache holds
        # happen meanwhile, and d2 is deleted.
        proxy.set_mode("down")
        assert kube.delete(f"{deps}/d2").status_code == 200
        churn = [f"churn-{i}" for i in range(WATCH_CACHE + 5)]
        for name_ in churn:
            r = kube.post("/api/v1/namespaces", json={"metadata": {"name": name_}})
            assert r.status_code == 201
        eventually(lambda: stale(collector, "namespaces") > 1)
        assert (
            metric(
                collector.scrape(),
                "kube_namespace_status_phase",
                namespace="churn-0",
                phase="Active",
            )
            is None
        )
        proxy.set_mode("forward")

        def resynced() -> bool:
            text = collector.scrape()
            listed = {n["metadata"]["name"] for n in kube.get("/api/v1/namespaces").json()["items"]}
            exposed = {
                dict(labels_)["namespace"]
                for (n, labels_) in parse(text)
                if n == "kube_namespace_status_phase"
            }
            return exposed == listed and replicas("d2") is None and replicas("d1") == 3

        eventually(resynced, timeout=30)
        final = collector.scrape()
        # The namespaces' version had left the watch cache: 410, then a relist whose diff
        # brought in what was created meanwhile; one series per phase and namespace, no dups.
        assert (metric(final, "kubeward_collector_relists_total", resource="namespaces") or 0) >= 1
        series = parse(final)  # raises on a duplicated series
        for name_ in churn:
            assert (
                series[
                    "kube_namespace_status_phase",
                    frozenset({("namespace", name_), ("phase", "Active")}),
                ]
                == 1
            )
        # Resynced kinds report fresh again; a loaded machine (CI) needs more than 10 s here.
        eventually(
            lambda: all(stale(collector, r) == 0 for r in ("namespaces", "pods")), timeout=45
        )
    finally:
        kube.close()
        code = collector.stop()
        proxy.close()
    assert code == 0, collector.log()
