"""The master's side of a worker: the process, its pipe, and two threads around the pipe.

Sending happens in a thread fed by a bounded queue, so a slow worker slows the informers
(they await :meth:`WorkerLink.send`) instead of blocking the event loop or growing memory.
Receiving happens in another thread that hands render chunks to whoever asked for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from multiprocessing.context import SpawnContext
from typing import Any

from kubeward.collect.ksm import FAMILY_NAMES
from kubeward.collect.worker import worker_main

log = logging.getLogger("kubeward.collect.link")

OUTBOX_SIZE = 64  # messages (each up to CHUNK ops) waiting for one worker


class WorkerDied(RuntimeError):
    pass


class WorkerLink:
    def __init__(
        self,
        ctx: SpawnContext,
        index: int,
        shards: int,
        host: str,
        port: int,
        log_level: int,
        families: tuple[str, ...] = FAMILY_NAMES,
    ) -> None:
        self.index = index
        self.host = host
        self._conn, child = ctx.Pipe()
        self._child = child
        self.process = ctx.Process(
            target=worker_main,
            args=(index, shards, child, host, port, log_level, families),
            name=f"kubeward-collect-worker-{index}",
            daemon=True,
        )
        self.outbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue(OUTBOX_SIZE)
        self.inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.port: int | None = None
        self.pid: int | None = None
        self.ready = threading.Event()
        self.dead = threading.Event()
        self._stopping = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def start(self) -> None:
        self.process.start()
        self._child.close()  # the worker holds its end now: EOF reaches us if it dies
        threading.Thread(
            target=self._send_loop, name=f"link-{self.index}-send", daemon=True
        ).start()
        threading.Thread(
            target=self._recv_loop, name=f"link-{self.index}-recv", daemon=True
        ).start()

    def _send_loop(self) -> None:
        while True:
            message = self.outbox.get()
            if message is None:
                return
            try:
                self._conn.send(message)
            except (OSError, ValueError) as exc:
                self._died(f"send failed: {exc}")
                return

    def _recv_loop(self) -> None:
        parts: list[bytes] = []
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                self._died("pipe closed")
                return
            if message[0] == "hello":
                _, _, self.port, self.pid = message
                self.ready.set()
            elif message[0] == "part":
                # A piece of a family's text follows as a raw frame (worker._render_for_master).
                try:
                    parts.append(self._conn.recv_bytes())
                except (EOFError, OSError):
                    self._died("pipe closed")
                    return
            elif message[0] == "chunk":
                self.inbox.put((*message, b"".join(parts)))  # one family, assembled
                parts = []
            else:
                self.inbox.put(message)

    def _died(self, why: str) -> None:
        if not self.dead.is_set() and not self._stopping:
            log.error("worker=%d died (%s)", self.index, why)
        self.dead.set()
        self.ready.set()
        self.inbox.put(("dead",))

    async def send(self, message: tuple[Any, ...]) -> None:
        if self.dead.is_set():
            raise WorkerDied(f"worker {self.index} is not running")
        try:
            self.outbox.put_nowait(message)
        except queue.Full:
            await asyncio.to_thread(self.outbox.put, message)

    async def receive(self, request: int, timeout: float) -> tuple[Any, ...]:
        """The next message of render ``request`` (leftovers of abandoned renders skipped)."""
        while True:
            try:
                message = await asyncio.to_thread(self.inbox.get, True, timeout)
            except queue.Empty:
                raise WorkerDied(f"worker {self.index} did not answer in {timeout:.0f}s") from None
            if message[0] == "dead":
                self.inbox.put(message)
                raise WorkerDied(f"worker {self.index} is not running")
            if message[1] == request:
                return message

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        with contextlib.suppress(queue.Full):
            self.outbox.put(("stop",), timeout=1)
            self.outbox.put(None, timeout=1)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()  # workers ignore SIGTERM (see worker_main)
            self.process.join(2)
        self._conn.close()
