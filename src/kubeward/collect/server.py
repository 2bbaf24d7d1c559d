"""The master's HTTP endpoints (Starlette on uvicorn, in the informers' event loop).

``/metrics`` streams the merged shards family by family, so the master never holds the whole
exposition; ``/healthz`` fails once a worker died; ``/readyz`` once every kind is synced;
``/workers`` lists the workers' own /metrics URLs (one scrape target per shard).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from kubeward.collect.master import Collector
from kubeward.collect.worker import CONTENT_TYPE


def make_app(collector: Collector) -> Starlette:
    async def metrics(_: Request) -> Response:
        return StreamingResponse(collector.metrics(), media_type=CONTENT_TYPE)

    async def healthz(_: Request) -> Response:
        if collector.fatal:
            return PlainTextResponse(collector.fatal + "\n", status_code=503)
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        waiting = sorted(n for n, i in collector.informers.items() if not i.synced.is_set())
        if waiting or not collector.informers:
            return PlainTextResponse(f"not synced: {', '.join(waiting)}\n", status_code=503)
        return PlainTextResponse("ok\n")

    async def workers(_: Request) -> Response:
        return JSONResponse(
            [
                {"worker": w.index, "url": w.url, "pid": w.pid, "up": not w.dead.is_set()}
                for w in collector.links
            ]
        )

    return Starlette(
        routes=[
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/workers", workers),
        ]
    )


class Server(uvicorn.Server):
    """uvicorn without its signal handling: ``kubeward collect`` owns SIGTERM/SIGINT and shuts
    informers, workers and the event store down in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port), so the address is known before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def make_server(collector: Collector) -> Server:
    config = uvicorn.Config(
        make_app(collector), log_level="warning", access_log=False, lifespan="off"
    )
    return Server(config)
