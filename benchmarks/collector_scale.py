"""The collector at 15,000 nodes / 150,000 pods: row building, columnar apply, memory, render.

Synthetic objects shaped like the simulator's (a pod: 2 containers with requests/limits, 4
conditions, owner reference, IPs; a node: capacity/allocatable with hugepages, 5 conditions,
nodeInfo) go through the collector's real code paths:

- the master's row builders (``kind.rows``) -> ``rows_per_second``;
- a real worker process (``WorkerLink``, the pipe and messages the master uses), fed in the
  master's 5,000-op messages -> ``initial_apply_seconds`` (all deltas sent, unpickled, applied
  and compacted into Arrow columns, up to a ``sync`` barrier), ``update_ops_per_second``
  (10 % of the pods modified, a delete+add churn of 1 %), ``worker_rss_mib`` (the worker's
  VmRSS between renders: one shard holding everything), ``worker_peak_rss_mib`` (its high-water
  mark, renders included), ``arrow_mib``;
- renders through the pipe as the master merges them -> ``render_seconds``, ``series``,
  ``exposition_mib`` (and the same over the worker's own HTTP /metrics);
- the same two biggest pod families rendered by the hand-written Arrow writer and by
  prometheus_client (a custom Collector + generate_latest over the same columns) ->
  ``writer_series_per_second`` vs ``prometheus_client_series_per_second``;
- the master's per-object memory with objects not kept (informer versions + shard
  placement, 8 shards) -> ``master_state_mib``;
- the same pods held as ``kubernetes`` client ``V1Pod`` models (what a straightforward Python
  tool keeps), measured on a sample and scaled -> ``kubernetes_models_mib`` and
  ``rss_ratio_models_over_worker``.

End to end (``--e2e-pods``, default 150,000 x scale; 0 skips it): ``benchmarks/_simserver.py``
(the simulator's API server alone, plain HTTP, no load model, the ``tiny`` scenario's 3 nodes)
preloaded with that many Running pods, and a real ``kubeward collect --workers 1 --no-store``
process against it -> ``e2e.initial_sync_seconds`` (process start to "synced": the RV=0 LISTs,
rows, the pipe and the worker's columns), ``e2e.master_rss_mib`` / ``e2e.master_peak_rss_mib``
(VmRSS after the sync, VmHWM: the high-water mark reached while the LIST is decoded),
``e2e.worker_rss_mib``, ``e2e.collector_rss_mib`` (master + worker after the sync), and three
scrapes of the master's merged /metrics -> ``e2e.metrics_seconds`` (each, and their median).

Targets (issue 5): RSS <= 1 GiB at full scale, render <= 5 s.

    .venv/bin/python benchmarks/collector_scale.py               # 15,000 nodes, 150,000 pods
    .venv/bin/python benchmarks/collector_scale.py --scale 0.1   # a tenth, for a quick look
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import multiprocessing
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kubeward.client.store import ObjectStore
from kubeward.collect.kinds import STATE_KIND_BY_NAME
from kubeward.collect.ksm import FAMILIES
from kubeward.collect.link import WorkerLink
from kubeward.collect.render import KindView
from kubeward.collect.sharding import Placement, Ring
from kubeward.collect.state import ShardState

PODS, NODES = STATE_KIND_BY_NAME["pods"], STATE_KIND_BY_NAME["nodes"]
CHUNK = 5_000
COND_TIME = "2026-01-01T00:00:00Z"


def node(i: int) -> dict[str, Any]:
    name = f"node-{i:05d}"
    quantities = {
        "cpu": "16",
        "memory": "64Gi",
        "pods": "110",
        "ephemeral-storage": "100Gi",
        "hugepages-2Mi": "0",
        "hugepages-1Gi": "0",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": str(uuid.uuid4()),
            "resourceVersion": str(10 + i),
            "creationTimestamp": "2026-11-01T08:00:00Z",
            "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": f"z{i % 3}"},
        },
        "spec": {"podCIDR": f"10.{64 + i // 256}.{i % 256}.0/24", "providerID": f"sim://{name}"},
        "status": {
            "capacity": quantities,
            "allocatable": {**quantities, "cpu": "15800m", "memory": "62Gi"},
            "conditions": [
                {"type": t, "status": "False" if t != "Ready" else "True"}
                for t in (
                    "MemoryPressure",
                    "DiskPressure",
                    "PIDPressure",
                    "Ready",
                    "KernelDeadlock",
                )
            ],
            "addresses": [
                {"type": "InternalIP", "address": f"10.0.{i // 256}.{i % 256}"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kernelVersion": "6.1.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": "v1.31.0",
                "kubeProxyVersion": "v1.31.0",
                "systemUUID": str(uuid.uuid4()),
            },
        },
    }


def pod(i: int, nodes: int, restarts: int = 0) -> dict[str, Any]:
    ns = f"ns-{i % 150}"
    owner = f"app-{i // 100}-7d9f8b6c5"
    containers = [
        {
            "name": name,
            "image": f"registry.example/{name}:1.0",
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            },
        }
        for name in ("app", "sidecar")
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{owner}-{i:06d}",
            "namespace": ns,
            "uid": str(uuid.uuid4()),
            "resourceVersion": str(100_000 + i + restarts),
            "creationTimestamp": "2026-11-01T09:00:00Z",
            "labels": {"app": f"app-{i // 100}", "pod-template-hash": "7d9f8b6c5"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": owner,
                    "uid": "rs-uid",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"nodeName": f"node-{i % nodes:05d}", "containers": containers},
        "status": {
            "phase": "Running",
            "hostIP": f"10.0.{(i % nodes) // 256}.{(i % nodes) % 256}",
            "podIP": f"10.{64 + i // 65536}.{(i // 256) % 256}.{i % 256}",
            "qosClass": "Burstable",
            "startTime": COND_TIME,
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": COND_TIME}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c["image"],
                    "imageID": f"{c['image']}@sha256:{'0' * 64}",
                    "ready": True,
                    "restartCount": restarts,
                    "started": True,
                    "state": {"running": {"startedAt": COND_TIME}},
                    "containerID": f"containerd://{uuid.uuid4().hex}",
                }
                for c in containers
            ],
        },
    }


def rss_mib(pid: int | str = "self", field: str = "VmRSS") -> float:
    """Resident memory (``VmHWM``: its high-water mark) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def chunks(kind: str, ops: list[tuple[str, Any]]) -> Iterator[tuple[str, str, list[Any]]]:
    for start in range(0, len(ops), CHUNK):
        yield ("apply", kind, ops[start : start + CHUNK])


def send_all(link: WorkerLink, messages: list[tuple[str, str, list[Any]]]) -> None:
    for message in messages:
        link.outbox.put(message)


def sync(link: WorkerLink, request: int) -> None:
    """Until the worker has applied and compacted everything sent before."""
    link.outbox.put(("sync", request))
    message = link.inbox.get(timeout=600)
    assert message[:2] == ("end", request), message


def render(link: WorkerLink, request: int) -> tuple[float, int, int]:
    """Seconds until the worker has sent every family, series and bytes received."""
    start = time.perf_counter()
    link.outbox.put(("render", request))
    series = size = 0
    while True:
        message = link.inbox.get(timeout=600)
        if message[0] == "end":
            assert message[2] is None, message[2]
            break
        size += len(message[3])
        series += message[3].count(b"\n")
    return time.perf_counter() - start, series, size


class PromClientPods(Collector):
    """kube_pod_info and kube_pod_status_phase through prometheus_client, from the columns."""

    def __init__(self, view: KindView) -> None:
        self.view = view

    def collect(self) -> Iterator[GaugeMetricFamily]:
        v = self.view
        cols = {
            c: v.main_col(c).to_pylist()
            for c in ("namespace", "pod", "uid", "host_ip", "pod_ip", "node", "created_by_kind")
        }
        cols.update({c: v.main_col(c).to_pylist() for c in ("created_by_name", "priority_class")})
        cols.update({c: v.main_col(c).to_pylist() for c in ("host_network", "phase")})
        info = GaugeMetricFamily(
            "kube_pod_info",
            "Information about pod.",
            labels=["namespace", "pod", "uid", "host_ip", "pod_ip", "node", "created_by_kind",
                    "created_by_name", "priority_class", "host_network"],
        )  # fmt: skip
        keys = [k for k in cols if k != "phase"]
        for row in zip(*(cols[k] for k in keys), strict=True):
            info.add_metric(list(row), 1)
        yield info
        phase = GaugeMetricFamily(
            "kube_pod_status_phase",
            "The pods current phase.",
            labels=["namespace", "pod", "uid", "phase"],
        )
        for ns, name, uid, current in zip(
            cols["namespace"], cols["pod"], cols["uid"], cols["phase"], strict=True
        ):
            for p in ("Pending", "Succeeded", "Failed", "Unknown", "Running"):
                phase.add_metric([ns, name, uid, p], float(p == current))
        yield phase


def compare_writers(state: ShardState) -> dict[str, float]:
    tables = state.snapshot()
    families = [f for f in FAMILIES if f.name in ("kube_pod_info", "kube_pod_status_phase")]
    start = time.perf_counter()
    view = KindView("pods", tables["pods"])
    text = b"".join(bytes(b) for f in families for b in f.render(view))
    ours = time.perf_counter() - start
    series = text.count(b"\n")
    registry = CollectorRegistry()
    registry.register(PromClientPods(KindView("pods", tables["pods"])))
    start = time.perf_counter()
    theirs_text = generate_latest(registry)
    theirs = time.perf_counter() - start
    assert theirs_text.count(b"\n") - 4 == series, "the two writers disagree on the series"
    return {
        "series": series,
        "writer_seconds": round(ours, 3),
        "prometheus_client_seconds": round(theirs, 3),
        "writer_series_per_second": round(series / ours),
        "prometheus_client_series_per_second": round(series / theirs),
        "speedup": round(theirs / ours, 1),
    }


def master_state_mib(objects: list[dict[str, Any]]) -> float:
    """What the master keeps per object: informer versions (objects not kept) and placement."""
    gc.collect()
    tracemalloc.start()
    store = ObjectStore(keep_objects=False)
    store.replace(objects)
    placement = Placement(Ring(8))
    for obj in objects:
        kind = PODS if obj["kind"] == "Pod" else NODES
        placement.place(
            kind, f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}", obj
        )
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del store, placement
    return size / 2**20


def kubernetes_models_mib(pods: list[dict[str, Any]], sample: int) -> float:
    """MiB to hold ``len(pods)`` pods as kubernetes.client V1Pod models, from a sample."""
    from kubernetes.client import ApiClient

    client = ApiClient()
    docs = [json.dumps(p) for p in pods[:sample]]
    gc.collect()
    tracemalloc.start()
    models = [client.deserialize(d, "V1Pod", "application/json") for d in docs]
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del models
    return size / len(docs) * len(pods) / 2**20


def end_to_end(pods: int) -> dict[str, Any]:
    """``kubeward collect`` as a process against a simulator holding ``pods`` Running pods."""
    from sim_api import Server  # benchmarks/ is on sys.path when this runs as a script

    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp) / "sim", pods) as server:
        out: dict[str, Any] = {"pods": pods, "sim_load_seconds": round(server.load_seconds, 1)}
        cmd = [
            sys.executable,
            "-m",
            "kubeward.collect.cli",
            "--kubeconfig",
            str(Path(tmp) / "sim" / "kubeconfig"),
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--no-store",
        ]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            serving = re.search(r"serving (\S+)", proc.stdout.readline())
            assert serving, "kubeward collect did not start"
            synced = proc.stdout.readline()
            assert "synced" in synced, synced
            out["initial_sync_seconds"] = round(time.perf_counter() - start, 1)
            url = serving[1]
            workers = httpx.get(url.replace("/metrics", "/workers"), timeout=30).json()
            time.sleep(5)  # the master's post-list trim runs once its rows reached the worker
            master = rss_mib(proc.pid)
            worker = sum(rss_mib(w["pid"]) for w in workers)
            out.update(
                master_rss_mib=round(master, 1),
                master_peak_rss_mib=round(rss_mib(proc.pid, "VmHWM"), 1),
                worker_rss_mib=round(worker, 1),
                collector_rss_mib=round(master + worker, 1),
            )
            seconds = []
            for _ in range(3):
                t = time.perf_counter()
                body = httpx.get(url, timeout=600).content
                seconds.append(round(time.perf_counter() - t, 2))
            out.update(
                metrics_seconds=seconds,
                metrics_seconds_median=statistics.median(seconds),
                series=sum(1 for line in body.split(b"\n") if line and line[:1] != b"#"),
                exposition_mib=round(len(body) / 2**20, 1),
                master_rss_after_scrapes_mib=round(rss_mib(proc.pid), 1),
                worker_peak_rss_mib=round(sum(rss_mib(w["pid"], "VmHWM") for w in workers), 1),
            )
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return out


def run(scale: float, model_sample: int) -> dict[str, Any]:
    n_nodes, n_pods = max(3, int(15_000 * scale)), max(10, int(150_000 * scale))
    t = time.perf_counter()
    nodes = [node(i) for i in range(n_nodes)]
    pods = [pod(i, n_nodes) for i in range(n_pods)]
    generate_seconds = time.perf_counter() - t

    t = time.perf_counter()
    node_ops = [(n["metadata"]["name"], NODES.rows(n)) for n in nodes]
    pod_ops = [
        (f"{p['metadata']['namespace']}/{p['metadata']['name']}", PODS.rows(p)) for p in pods
    ]
    rows_seconds = time.perf_counter() - t

    ctx = multiprocessing.get_context("spawn")
    link = WorkerLink(ctx, 1, 1, "127.0.0.1", 0, logging.WARNING)
    link.start()
    assert link.ready.wait(60), "worker did not start"
    assert link.pid is not None
    base_rss = rss_mib(link.pid)
    try:
        messages = list(chunks("nodes", node_ops)) + list(chunks("pods", pod_ops))
        t = time.perf_counter()
        send_all(link, messages)
        sync(link, 1)
        initial_apply = time.perf_counter() - t
        first_render, _, _ = render(link, 2)
        render_seconds, series, size = render(link, 3)
        worker_rss = rss_mib(link.pid)

        # Steady state: 10 % of the pods change (a restart), 1 % are replaced.
        step = 10
        updates = [
            (key, PODS.rows(pod(i, n_nodes, restarts=1)))
            for i, (key, _) in enumerate(pod_ops)
            if i % step == 0
        ]
        churn = [(key, None) for key, _ in pod_ops[1::100]] + pod_ops[1::100]
        t = time.perf_counter()
        send_all(link, list(chunks("pods", updates + churn)))
        sync(link, 4)
        update_seconds = time.perf_counter() - t
        steady_render, _, _ = render(link, 5)

        t = time.perf_counter()
        with urllib.request.urlopen(link.url, timeout=600) as response:
            http_bytes = len(response.read())
        http_seconds = time.perf_counter() - t
        worker_rss_after = rss_mib(link.pid)
        worker_peak = rss_mib(link.pid, "VmHWM")
    finally:
        link.stop()
        while True:
            try:
                link.inbox.get_nowait()
            except queue.Empty:
                break

    state = ShardState()
    t = time.perf_counter()
    state.apply("pods", pod_ops)
    state.snapshot()
    in_process_apply = time.perf_counter() - t
    writers = compare_writers(state)
    arrow = state.nbytes() / 2**20
    del state
    gc.collect()

    master = master_state_mib(nodes + pods)
    models = kubernetes_models_mib(pods, min(model_sample, n_pods))
    applied = n_nodes + n_pods
    result: dict[str, Any] = {
        "nodes": n_nodes,
        "pods": n_pods,
        "generate_seconds": round(generate_seconds, 1),
        "rows_per_second": round(applied / rows_seconds),
        "initial_apply_seconds": round(initial_apply, 2),
        "initial_apply_ops_per_second": round(applied / initial_apply),
        "first_render_seconds": round(first_render, 2),
        "in_process_pod_apply_ops_per_second": round(n_pods / in_process_apply),
        "update_ops_per_second": round((len(updates) + len(churn)) / update_seconds),
        "render_seconds": round(render_seconds, 2),
        "steady_render_seconds": round(steady_render, 2),
        "http_metrics_seconds": round(http_seconds, 2),
        "series": series,
        "exposition_mib": round(size / 2**20, 1),
        "http_exposition_mib": round(http_bytes / 2**20, 1),
        "worker_rss_mib": round(max(worker_rss, worker_rss_after), 1),
        "worker_peak_rss_mib": round(worker_peak, 1),
        "worker_base_rss_mib": round(base_rss, 1),
        "arrow_mib": round(arrow, 1),
        "master_state_mib": round(master, 1),
        "kubernetes_models_mib": round(models, 1),
        "rss_ratio_models_over_worker": round(models / max(worker_rss, worker_rss_after), 1),
        "writer_comparison": writers,
    }
    result["meets_targets"] = {
        "worker_rss<=1GiB": result["worker_rss_mib"] <= 1024,
        "worker_peak_rss<=1GiB": result["worker_peak_rss_mib"] <= 1024,
        "render<=5s": result["render_seconds"] <= 5,
    }
    return result


def add_end_to_end(result: dict[str, Any], pods: int) -> None:
    e2e = result["e2e"] = end_to_end(pods)
    result["meets_targets"].update(
        {
            "e2e_collector_rss<=1GiB": e2e["collector_rss_mib"] <= 1024,
            "e2e_master_peak_rss<=1GiB": e2e["master_peak_rss_mib"] <= 1024,
            "e2e_metrics<=5s": e2e["metrics_seconds_median"] <= 5,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 15k nodes/150k pods")
    parser.add_argument(
        "--model-sample", type=int, default=5_000, help="pods deserialised as V1Pod models"
    )
    parser.add_argument(
        "--e2e-pods",
        type=int,
        default=None,
        help="pods preloaded in a simulator for the end-to-end kubeward collect run "
        "(default: 150,000 x scale; 0 skips it)",
    )
    args = parser.parse_args()
    result = run(args.scale, args.model_sample)
    e2e_pods = int(150_000 * args.scale) if args.e2e_pods is None else args.e2e_pods
    if e2e_pods > 0:
        add_end_to_end(result, e2e_pods)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
