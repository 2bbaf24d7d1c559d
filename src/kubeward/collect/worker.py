"""A worker process: one shard's state, its /metrics, and renders for the master.

The worker never talks to the API server. It reads the master's messages from a pipe:

- ``("apply", kind, ops)``: ordered upserts/deletes for its shard;
- ``("render", request_id)``: send back each family's lines for the master's merged /metrics,
  in the order of the enabled families (FAMILIES order, less those that
  ``--metric-allowlist``/``--metric-denylist`` leave out): ``("part", request_id, index)``
  each followed by one raw frame (an Arrow text buffer, sent without copying) as slices are
  rendered, ``("chunk", request_id, index)`` when the family is complete, and finally
  ``("end", request_id, error)``;
- ``("sync", request_id)``: fold everything received so far into the columns, then answer
  ``("end", request_id, None)`` (a barrier: used to time the apply path);
- ``("stop",)``.

It answers with ``("hello", index, port, pid)`` once its own HTTP server listens. Its /metrics
serves its shard plus its own counters. When the master goes away (EOF on the pipe) it exits.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kubeward.collect.kinds import STATE_KIND_BY_NAME
from kubeward.collect.ksm import Family, exposition, families_named, render_families
from kubeward.collect.state import COMPACT_AFTER, ShardState

log = logging.getLogger("kubeward.collect.worker")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def resource_label(kind: str) -> str:
    """The ``resource`` label of a kind, as the master's self-metrics write it
    (``deployments.apps``, ``pods``): its plural qualified by its API group."""
    return STATE_KIND_BY_NAME[kind].resource.display


class ShardMetrics(Collector):
    """The worker's own series, read from the state at scrape time."""

    def __init__(self, state: ShardState, index: int, shards: int) -> None:
        self.state, self.index, self.shards = state, index, shards

    def collect(self) -> Iterator[Any]:
        info = GaugeMetricFamily(
            "kubeward_collector_shard_info", "This worker's shard.", labels=["shard", "shards"]
        )
        info.add_metric([str(self.index), str(self.shards)], 1)
        yield info
        objects = GaugeMetricFamily(
            "kubeward_collector_shard_objects", "Objects held by this shard.", labels=["resource"]
        )
        for kind, n in self.state.objects().items():
            objects.add_metric([resource_label(kind)], n)
        yield objects
        applied = CounterMetricFamily(
            "kubeward_collector_shard_deltas_applied",
            "Deltas applied to this shard's columnar state.",
            labels=["resource"],
        )
        for kind in self.state.kinds:
            applied.add_metric([resource_label(kind)], self.state.applied[kind])
        yield applied
        yield CounterMetricFamily(
            "kubeward_collector_shard_compactions",
            "Batched compactions of pending rows into the Arrow columns.",
            value=self.state.compactions,
        )
        yield GaugeMetricFamily(
            "kubeward_collector_shard_arrow_bytes",
            "Bytes held by this shard's Arrow tables.",
            value=self.state.nbytes(),
        )


def _handler(
    state: ShardState, registry: CollectorRegistry, families: tuple[Family, ...]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                snapshot = state.snapshot()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.end_headers()
                try:
                    for piece in exposition(snapshot, families=families):
                        self.wfile.write(piece)
                finally:
                    del snapshot
                    pa.default_memory_pool().release_unused()
                self.wfile.write(generate_latest(registry))
            elif self.path == "/healthz":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok\n")
            else:
                self.send_error(404)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s", format % args)

    return Handler


def _render_for_master(
    conn: Connection, request: int, state: ShardState, families: tuple[Family, ...]
) -> None:
    try:
        snapshot = state.snapshot()
        for index, (_family, body) in enumerate(render_families(snapshot, families=families)):
            for piece in body:
                if len(piece):
                    conn.send(("part", request, index))
                    conn.send_bytes(piece)  # the buffer itself: no copy into a pickle
            conn.send(("chunk", request, index))
    except Exception as exc:  # a bug must not leave the master waiting for chunks
        log.exception("render failed")
        conn.send(("end", request, f"{type(exc).__name__}: {exc}"))
        return
    finally:
        pa.default_memory_pool().release_unused()  # give the render's buffers back to the OS
    conn.send(("end", request, None))


def worker_main(
    index: int,
    shards: int,
    conn: Connection,
    host: str,
    port: int,
    log_level: int,
    family_names: tuple[str, ...],
) -> None:
    """Entry point of a worker process (started by :class:`~kubeward.collect.link.WorkerLink`)."""
    # A terminal's Ctrl-C or a group-wide SIGTERM reaches the master, which stops the workers in
    # order; a worker ends when told to or when the master is gone (EOF on the pipe).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=log_level,
        format=f"ts=%(asctime)s level=%(levelname)s logger=%(name)s worker={index} %(message)s",
    )
    state = ShardState()
    families = families_named(family_names)  # --metric-allowlist / --metric-denylist
    registry = CollectorRegistry()
    registry.register(ShardMetrics(state, index, shards))
    server = ThreadingHTTPServer((host, port), _handler(state, registry, families))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()
    conn.send(("hello", index, server.server_address[1], os.getpid()))
    try:
        _loop(conn, state, families)
    except (EOFError, OSError):
        log.info("master went away; exiting")
    finally:
        server.shutdown()
        server.server_close()


def _loop(conn: Connection, state: ShardState, families: tuple[Family, ...]) -> None:
    while True:
        if not conn.poll(COMPACT_AFTER):
            state.maybe_compact()  # quiet: fold in what is pending
            continue
        message = conn.recv()
        verb = message[0]
        if verb == "apply":
            state.apply(message[1], message[2])
            state.maybe_compact()
        elif verb == "render":
            _render_for_master(conn, message[1], state, families)
        elif verb == "sync":
            state.maybe_compact(force=True)
            conn.send(("end", message[1], None))
        elif verb == "stop":
            return
        else:
            log.error("unknown message %r", verb)
