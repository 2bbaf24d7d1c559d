"""Simulator API server figures: memory at 150,000 pods, LIST throughput, watch latency.

Prints progress, then one JSON line with the figures (the last line of output). Run:
``.venv/bin/python benchmarks/sim_api.py`` (``--quick`` for a smoke run). Client and server talk
plain HTTP on 127.0.0.1 so the figures measure the server, not TLS. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx
import orjson

HERE = Path(__file__).resolve().parent
STAMP = b'"bench.kubeward.io/written-at":"'
WATCHERS = 10
TARGETS = {
    "rss_bytes": 2 * 1024**3,
    "paginated_objects_per_s": 50_000,
    "rv0_list_seconds": 5.0,
    "watch_p99_ms": 100.0,
}


def log(msg: str) -> None:
    print(msg, flush=True)


class Server:
    """``_simserver.py`` in a subprocess; terminated on exit from the ``with`` block, always."""

    def __init__(self, workdir: Path, pods: int, *extra: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        cmd = [
            sys.executable,
            str(HERE / "_simserver.py"),
            "--pods",
            str(pods),
            "--port",
            "0",
            "--kubeconfig-out",
            str(workdir / "kubeconfig"),
            *extra,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()  # written once the pods are loaded
            if not line:
                raise RuntimeError(f"benchmark server exited early ({self.proc.wait()})")
            info = json.loads(line)
        except BaseException:
            self.stop()
            raise
        self.url: str = info["server"]
        self.token: str = info["token"]
        self.load_seconds: float = info["load_seconds"]

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=300, headers={"Authorization": f"Bearer {self.token}"}
        )

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- LIST -------------------------------------------------------------------------------------


def paginated_walk(http: httpx.Client) -> tuple[int, float]:
    """Every pod, 500 per page, each page decoded with orjson: (objects, seconds)."""
    started, count, token = time.perf_counter(), 0, ""
    while True:
        params = {"limit": "500"}
        if token:
            params["continue"] = token
        r = http.get("/api/v1/pods", params=params)
        r.raise_for_status()
        page = orjson.loads(r.content)
        count += len(page["items"])
        token = page["metadata"].get("continue", "")
        if not token:
            return count, time.perf_counter() - started


def paginated_walk_raw(http: httpx.Client) -> tuple[int, float]:
    """The same walk, items not decoded: only the list metadata is parsed for the token."""
    started, count, token = time.perf_counter(), 0, ""
    while True:
        params = {"limit": "500"}
        if token:
            params["continue"] = token
        r = http.get("/api/v1/pods", params=params)
        r.raise_for_status()
        body = r.content
        head = body[: body.index(b',"items":[')] + b"}"
        token = orjson.loads(head)["metadata"].get("continue", "")
        count += body.count(b'{"metadata":{"name":')
        if not token:
            return count, time.perf_counter() - started


def rv0_list(http: httpx.Client) -> tuple[int, int, float, float]:
    """(items, body bytes, seconds until the body arrived, seconds until it was decoded too)."""
    started = time.perf_counter()
    r = http.get("/api/v1/pods", params={"resourceVersion": "0"})
    r.raise_for_status()
    raw = r.content
    received = time.perf_counter() - started
    body = orjson.loads(raw)
    decoded = time.perf_counter() - started
    return len(body["items"]), len(raw), received, decoded


# -- watch ------------------------------------------------------------------------------------


def watcher(
    server: Server, rv: str, latencies: list[float], stop: threading.Event, errors: list[str]
) -> None:
    """One cluster-wide pod watch; latency of each event = receive time - stamped write time."""
    try:
        with (
            server.client() as http,
            http.stream(
                "GET",
                "/api/v1/pods",
                params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "900"},
            ) as r,
        ):
            r.raise_for_status()
            buffer = b""
            for chunk in r.iter_raw():
                now = time.time()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    at = line.find(STAMP)
                    if at >= 0:
                        start = at + len(STAMP)
                        stamped = float(line[start : line.index(b'"', start)])
                        if stamped > 0:  # "0": a pod as loaded, not one of the timed writes
                            latencies.append(now - stamped)
                if stop.is_set():
                    return
    except httpx.HTTPError as exc:
        if not stop.is_set():
            errors.append(repr(exc))


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def measure_watch(
    workdir: Path, pods: int, rate: int, seconds: float, path: str
) -> dict[str, object]:
    start_file = workdir / "start-writes"
    with Server(
        workdir,
        pods,
        "--writes-per-s",
        str(rate),
        "--write-seconds",
        str(seconds),
        "--start-file",
        str(start_file),
        "--write-path",
        path,
    ) as server:
        with server.client() as http:
            r = http.get("/api/v1/pods", params={"limit": "1"})
            r.raise_for_status()
            rv = orjson.loads(r.content)["metadata"]["resourceVersion"]
        stop = threading.Event()
        errors: list[str] = []
        per_watcher: list[list[float]] = [[] for _ in range(WATCHERS)]
        threads = [
            threading.Thread(target=watcher, args=(server, rv, lat, stop, errors), daemon=True)
            for lat in per_watcher
        ]
        for t in threads:
            t.start()
        time.sleep(1.0)  # every watch connected before the first write
        start_file.touch()
        result_file = workdir / "writes.json"
        deadline = time.monotonic() + seconds + 120
        while not result_file.exists():
            if server.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the write load did not finish")
            time.sleep(0.2)
        writes = json.loads(result_file.read_text())
        if "error" in writes:
            raise RuntimeError(f"the write load failed: {writes['error']}")
        time.sleep(2.0)  # the last events arrive
        stop.set()
    for t in threads:
        t.join(timeout=10)
    if errors:
        raise RuntimeError(f"watch failed: {errors[0]}")
    every = sorted(x for lat in per_watcher for x in lat)
    if not every:
        raise RuntimeError("no watch events received")
    return {
        "watch_p50_ms": round(1000 * percentile(every, 0.50), 2),
        "watch_p99_ms": round(1000 * percentile(every, 0.99), 2),
        "watch_max_ms": round(1000 * every[-1], 2),
        "achieved_writes_per_s": round(writes["writes"] / writes["seconds"], 1),
        "writes_total": writes["writes"],
        "events_received": [len(x) for x in per_watcher],
    }


# -- main -------------------------------------------------------------------------------------


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, help="pods for RSS and LIST (default 150,000)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 20,000 pods, 5 s per watch phase"
    )
    parser.add_argument("--writes-per-s", type=int, default=5000)
    parser.add_argument("--watch-pods", type=int, default=20_000, help="pods in the watch phases")
    parser.add_argument("--watch-seconds", type=float, help="default 20 (5 with --quick)")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the ``with Server`` blocks terminate their server.
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))
    pods = args.pods or (20_000 if args.quick else 150_000)
    watch_pods = min(pods, args.watch_pods)
    watch_seconds = args.watch_seconds or (5.0 if args.quick else 20.0)
    # Python's cyclic GC rescans every decoded object again and again while a large LIST is
    # being decoded (measured: 20,000 pods decode in 0.9-1.7 s with it, 0.25 s without): a
    # high-volume client turns it off, and so does this one, to measure the server.
    gc.disable()
    figures: dict[str, object] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "pods": pods,
    }
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kubeward-bench-") as tmp:
        workdir = Path(tmp)
        log(f"[1/3] server with {pods:,} pods: loading in-process ...")
        with Server(workdir / "list", pods) as server:
            log(f"  loaded in {server.load_seconds:.1f} s")
            time.sleep(2)
            rss = server.rss_bytes()
            log(f"  RSS: {rss / 2**20:,.0f} MiB")
            with server.client() as http:
                walks, raw_walks, decoded, received, body_bytes = [], [], [], [], 0
                for _ in range(3):
                    count, seconds = paginated_walk(http)
                    assert count == pods, (count, pods)
                    walks.append(count / seconds)
                    log(f"  paginated LIST, decoded: {count / seconds:,.0f} objects/s")
                for _ in range(3):
                    count, seconds = paginated_walk_raw(http)
                    assert count == pods, (count, pods)
                    raw_walks.append(count / seconds)
                    log(f"  paginated LIST, not decoded: {count / seconds:,.0f} objects/s")
                for _ in range(3):
                    count, body_bytes, arrived, seconds = rv0_list(http)
                    assert count == pods, (count, pods)
                    received.append(arrived)
                    decoded.append(seconds)
                    log(
                        f"  resourceVersion=0 LIST: {body_bytes / 1e6:,.0f} MB received in "
                        f"{arrived:.2f} s, decoded by {seconds:.2f} s"
                    )
            rss_after = server.rss_bytes()
            log(f"  RSS after the LISTs: {rss_after / 2**20:,.0f} MiB")
        figures.update(
            {
                "rss_bytes_150k_pods": rss if pods == 150_000 else None,
                "rss_bytes": rss,
                "rss_bytes_after_lists": rss_after,
                "load_seconds": round(server.load_seconds, 1),
                "pod_json_bytes_avg": round(body_bytes / pods),
                "paginated_list_objects_per_s": round(statistics.median(walks)),
                "paginated_list_walks": [round(x) for x in walks],
                "paginated_list_objects_per_s_undecoded": round(statistics.median(raw_walks)),
                "rv0_list_seconds": round(statistics.median(decoded), 3),
                "rv0_list_seconds_received": round(statistics.median(received), 3),
                "rv0_list_body_bytes": body_bytes,
            }
        )
        log(
            f"[2/3] watch: {WATCHERS} watchers, {args.writes_per_s:,} writes/s straight into the "
            f"store, {watch_seconds:.0f} s, {watch_pods:,} pods ..."
        )
        watch = measure_watch(
            workdir / "watch", watch_pods, args.writes_per_s, watch_seconds, "store"
        )
        log(f"  {watch}")
        figures.update(watch)
        figures["watch_write_path"] = "store"
        figures["watch_pods"] = watch_pods
        figures["watch_seconds"] = watch_seconds
        log(
            f"[3/3] watch: {WATCHERS} watchers, up to {args.writes_per_s:,} writes/s through "
            f"ObjectAPI.update (defaulting + validation), {watch_seconds:.0f} s ..."
        )
        api_watch = measure_watch(
            workdir / "watch-api", watch_pods, args.writes_per_s, watch_seconds, "api"
        )
        log(f"  {api_watch}")
        figures["watch_via_object_api"] = api_watch
    figures["targets"] = TARGETS
    figures["meets_targets"] = {
        "rss_bytes": (
            None if figures["rss_bytes_150k_pods"] is None else rss <= TARGETS["rss_bytes"]
        ),
        "paginated_objects_per_s": statistics.median(walks) >= TARGETS["paginated_objects_per_s"],
        "rv0_list_seconds": statistics.median(decoded) <= TARGETS["rv0_list_seconds"],
        "watch_p99_ms": float(str(watch["watch_p99_ms"])) <= TARGETS["watch_p99_ms"],
    }
    # The same targets, read from the server's side: pages not decoded; RV=0 body received.
    figures["meets_targets_server_side"] = {
        "paginated_objects_per_s": statistics.median(raw_walks)
        >= TARGETS["paginated_objects_per_s"],
        "rv0_list_seconds": statistics.median(received) <= TARGETS["rv0_list_seconds"],
    }
    figures["run_seconds"] = round(time.monotonic() - began)
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
