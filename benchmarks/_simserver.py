"""Benchmark-only simulator process: preloads pods in-process, optionally drives writes.

Pods are loaded through ObjectAPI (defaulting and validation included), then given a Running
status through the status subresource, as a scheduler and kubelet would. Creating 150,000 pods
over HTTP would measure the loader, not the store.

The write load (``--writes-per-s``) updates one annotation per write with the wall-clock time of
the write, from an asyncio task on the server's loop, in batches of at most ``MAX_BATCH`` writes
per loop turn. It starts when ``--start-file`` appears, so watchers can connect first.
``--write-path store`` writes straight into the store (no defaulting or validation: the figure is
watch delivery); ``--write-path api`` goes through ``ObjectAPI.update`` as an HTTP PUT would.
A writer that falls behind still yields to the loop after every batch, so what it achieves is
what the server sustains while serving its watches.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from pathlib import Path

from kubeward.kube.registry import REGISTRY
from kubeward.sim.cluster import SimCluster
from kubeward.sim.scenarios.model import load_scenario
from kubeward.sim.serve import RunningSim, SimOptions, serve

PODS = REGISTRY.get("", "v1", "pods")
NAMESPACES = REGISTRY.get("", "v1", "namespaces")
RS = REGISTRY.get("apps", "v1", "replicasets")
STAMP = "bench.kubeward.io/written-at"


def replicaset(app: str) -> dict:
    labels = {"app": app, "pod-template-hash": "5d9f8c7b6"}
    return {
        "metadata": {"name": f"{app}-5d9f8c7b6", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "x"}]},
            },
        },
    }


def pod(ns: str, i: int, node: str, owner_uid: str) -> dict:
    app = f"app-{i % 200}"
    return {
        "metadata": {
            "name": f"{app}-{i:07d}",
            "namespace": ns,
            "labels": {"app": app, "pod-template-hash": "5d9f8c7b6", "tier": "backend"},
            "annotations": {STAMP: "0"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{app}-5d9f8c7b6",
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "main",
                    "image": f"registry.example.com/{app}:1.4.2",
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "256Mi"},
                        "limits": {"memory": "512Mi"},
                    },
                    "env": [{"name": "LOG_LEVEL", "value": "info"}],
                }
            ],
        },
    }


def running_status(i: int, now: str) -> dict:
    return {
        "status": {
            "phase": "Running",
            "podIP": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
            "hostIP": "10.0.0.1",
            "startTime": now,
            "qosClass": "Burstable",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "image": "registry.example.com/app:1.4.2",
                    "imageID": "registry.example.com/app@sha256:" + "ab" * 32,
                    "containerID": "containerd://" + "cd" * 32,
                    "state": {"running": {"startedAt": now}},
                }
            ],
        }
    }


def preload(cluster: SimCluster, count: int, namespaces: int) -> None:
    for n in range(namespaces):
        cluster.api.create(NAMESPACES, "", {"metadata": {"name": f"bench-{n}"}})
    nodes = ["tiny-0", "tiny-1", "tiny-2"]
    # Owners exist, so the garbage collector leaves the pods alone.
    # Pod i lives in namespace i % namespaces and belongs to app i % 200; with namespaces
    # dividing 200, app a's pods all live in namespace a % namespaces.
    assert 200 % namespaces == 0, "--namespaces must divide 200"
    owners = [
        cluster.api.create(RS, f"bench-{a % namespaces}", replicaset(f"app-{a}")).uid
        for a in range(200)
    ]
    now = cluster.clock.timestamp()
    for i in range(count):
        ns = f"bench-{i % namespaces}"
        stored = cluster.api.create(PODS, ns, pod(ns, i, nodes[i % 3], owners[i % 200]))
        cluster.api.update(
            PODS,
            ns,
            stored.name,
            {**stored.decode(), **running_status(i, now)},
            subresource="status",
        )
    gc.collect()


MAX_BATCH = 50  # writes per loop turn: 10 ms' worth at 5,000/s


async def write_load(
    cluster: SimCluster, rate: int, start_file: Path, seconds: float, path: str
) -> dict[str, object]:
    while not start_file.exists():
        await asyncio.sleep(0.05)
    res = cluster.store.resource(PODS.storage_key)
    keys = list(res.objects.keys())
    tick, i, done, turns = 0.01, 0, 0, 0
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        due = min(int((time.monotonic() - began) * rate) - done, MAX_BATCH)
        for _ in range(due):
            current = res.objects[keys[i % len(keys)]]
            obj = current.decode()
            obj["metadata"]["annotations"][STAMP] = repr(time.time())
            if path == "api":
                cluster.api.update(PODS, current.namespace, current.name, obj)
            else:
                cluster.store.update(PODS.storage_key, obj, current)
            i += 1
        done += due
        turns += 1
        # Behind schedule: only yield (watch streams run), then continue at once.
        behind = int((time.monotonic() - began) * rate) - done >= MAX_BATCH
        await asyncio.sleep(0 if behind else tick)
    return {"writes": done, "seconds": time.monotonic() - began, "batches": turns, "path": path}


async def report_write_load(
    cluster: SimCluster, rate: int, start_file: Path, seconds: float, path: str
) -> None:
    """Runs the write load; its figures (or its error) go to ``writes.json`` for the client."""
    try:
        result = await write_load(cluster, rate, start_file, seconds, path)
    except Exception as exc:  # the client waits for the file: never leave it waiting
        result = {"error": repr(exc)}
    (start_file.parent / "writes.json").write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, required=True)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--kubeconfig-out", type=Path, required=True)
    parser.add_argument("--writes-per-s", type=int, default=0)
    parser.add_argument("--write-seconds", type=float, default=20)
    parser.add_argument("--start-file", type=Path)
    parser.add_argument("--write-path", choices=("store", "api"), default="store")
    args = parser.parse_args()

    # The API server alone: no scheduler or kubelets competing with the preloaded pods.
    cluster = SimCluster(load_scenario("tiny"), simulate=False)

    def ready(running: RunningSim) -> None:
        started = time.perf_counter()
        preload(cluster, args.pods, args.namespaces)
        print(
            json.dumps(
                {
                    "server": running.server_url,
                    "token": running.token,
                    "load_seconds": time.perf_counter() - started,
                }
            ),
            flush=True,
        )
        if args.writes_per_s:
            tasks.append(
                asyncio.get_running_loop().create_task(
                    report_write_load(
                        cluster,
                        args.writes_per_s,
                        args.start_file,
                        args.write_seconds,
                        args.write_path,
                    )
                )
            )

    tasks: list[asyncio.Task[None]] = []  # a reference, so the writer task is not collected
    # Plain HTTP on loopback: the benchmark measures the server, not TLS. No load model: these
    # figures are the simulator's own speed, not a modelled kube-apiserver's latency (a 150,000
    # pod LIST would otherwise wait for its modelled seconds of encoding).
    options = SimOptions(
        host="127.0.0.1",
        port=args.port,
        kubeconfig_out=args.kubeconfig_out,
        use_tls=False,
        load=False,
    )
    asyncio.run(serve(cluster, options, ready))
    sys.exit(0)


if __name__ == "__main__":
    main()
