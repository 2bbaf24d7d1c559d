"""Running the simulated API server: socket, TLS, kubeconfig, uvicorn, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from kubeward.sim import tls
from kubeward.sim.api.authn import User, read_token_file
from kubeward.sim.api.metrics_api import MetricsProvider
from kubeward.sim.api.server import APIServer, ServerConfig
from kubeward.sim.cluster import SimCluster
from kubeward.sim.heap import freeze_survivors
from kubeward.sim.kubeconfig import write_kubeconfig
from kubeward.sim.load.audit import AuditLog
from kubeward.sim.load.runner import LoadOverrides, LoadRunner

log = logging.getLogger("kubeward.sim")


@dataclass
class SimOptions:
    host: str = "127.0.0.1"
    port: int = 6443
    kubeconfig_out: Path = Path(".kubeward/sim.kubeconfig")
    use_tls: bool = False
    token: str | None = None
    bookmark_interval: float = 60.0
    token_auth_file: Path | None = None
    authorization_mode: str = "RBAC"  # or AlwaysAllow
    load: bool = True  # run the load model (when the scenario enables it)
    load_overrides: LoadOverrides = field(default_factory=LoadOverrides)
    audit_log: Path | None = None
    audit_sample: float = 1.0
    audit_request_received: bool = False  # also log stage RequestReceived
    load_summary: Path | None = None  # write the load model's figures here on exit


async def _flush_every_second(audit: AuditLog) -> None:
    """Lines reach the file within a second even when no further request comes to push
    them out (a watch's ResponseComplete line is often the last for a while)."""
    while True:
        await asyncio.sleep(1.0)
        audit.flush()


def write_load_summary(load: LoadRunner, path: Path) -> None:
    """The model's figures with the onset at the first scenario client's start (the built-in
    clients run from the beginning), plus where simulated time 0 was in unix time."""
    starts = [c.start_at for c in load.spec.clients]
    onset = min(starts) if starts else 0.0
    summary = {
        **load.summary(onset),
        "onset_seconds": onset,
        "clock_start": load.clock.time_at(0).timestamp(),
        # wall seconds the clock stood still while the simulator could not keep up
        "clock_held_seconds": round(load.clock.held_seconds, 3),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")


@dataclass
class RunningSim:
    server_url: str
    kubeconfig: Path
    token: str


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it a response written in two parts (headers,
    # body) waits for the client's delayed ACK, ~40 ms per request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port}: {exc.strerror} (pick another --port, "
            "or --port 0 for any free port)"
        ) from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, ending open watches on SIGINT/SIGTERM so shutdown does not wait on them."""

    def __init__(self, config: uvicorn.Config, api_server: APIServer) -> None:
        super().__init__(config)
        self.api_server = api_server

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        log.info("event=shutdown signal=%s", sig)
        self.api_server.close_watches()
        # As uvicorn's own handler, minus re-raising the signal after shutdown: a SIGTERM'd
        # simulator that shut down cleanly exits 0.
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


async def serve(
    cluster: SimCluster, options: SimOptions, on_ready: Callable[[RunningSim], None] | None = None
) -> None:
    """Serve until SIGINT/SIGTERM. ``on_ready`` runs once the kubeconfig is written."""
    sock = bind(options.host, options.port)
    port = sock.getsockname()[1]
    host_for_url = f"[{options.host}]" if ":" in options.host else options.host
    token = options.token or secrets.token_urlsafe(32)
    ssl_kwargs: dict[str, Any] = {}
    ca_pem = None
    if options.use_tls:
        certs = tls.generate(options.kubeconfig_out.parent / "sim-tls", options.host)
        ssl_kwargs = {"ssl_certfile": str(certs.cert_file), "ssl_keyfile": str(certs.key_file)}
        ca_pem = certs.ca_pem
    scheme = "https" if options.use_tls else "http"
    url = f"{scheme}://{host_for_url}:{port}"
    tokens = read_token_file(options.token_auth_file) if options.token_auth_file else {}
    tokens[token] = User("kubeward-admin", ("system:masters",))
    config = ServerConfig(
        tokens=tokens,
        server_address=f"{host_for_url}:{port}",
        bookmark_interval=options.bookmark_interval,
        authorization_mode=options.authorization_mode,
    )
    metrics = MetricsProvider(cluster.usage) if cluster.usage is not None else None
    audit = (
        AuditLog(
            options.audit_log,
            options.audit_sample,
            request_received=options.audit_request_received,
        )
        if options.audit_log
        else None
    )
    cluster.bootstrap()
    load = None
    if options.load and cluster.scenario.load.enabled:
        load = LoadRunner(
            cluster.scenario.load,
            cluster.store,
            cluster.clock,
            overrides=options.load_overrides,
            audit=audit,
            api=cluster.api,
        )
    cluster.tokens.ca_pem = ca_pem
    server = APIServer(
        cluster.api,
        config,
        metrics=metrics,
        load=load,
        audit=audit,
        tokens=cluster.tokens,
        machines=cluster.state,
    )
    cluster.start()
    load_task = None
    if load is not None:
        load.start()
        load_task = asyncio.get_running_loop().create_task(load.run(), name="load-model")
    flush_task = None
    if audit is not None:
        flush_task = asyncio.get_running_loop().create_task(_flush_every_second(audit))
    # the cluster just built is state, not garbage (kubeward.sim.heap)
    freeze_task = asyncio.get_running_loop().create_task(freeze_survivors(), name="gc-freeze")
    uv_config = uvicorn.Config(
        server.app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        lifespan="off",
        **ssl_kwargs,
    )
    uv = _Server(uv_config, server)
    write_kubeconfig(options.kubeconfig_out, url, token, ca_pem)
    if on_ready is not None:
        on_ready(RunningSim(url, options.kubeconfig_out.resolve(), token))
    try:
        await uv.serve(sockets=[sock])
    finally:
        if load_task is not None:
            load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load_task
        await cluster.stop()
        freeze_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await freeze_task
        if flush_task is not None:
            flush_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flush_task
        if audit is not None:
            audit.close()
        if load is not None and options.load_summary is not None:
            write_load_summary(load, options.load_summary)
        sock.close()
