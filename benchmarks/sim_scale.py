"""How fast the simulator brings a large cluster up: created -> Running for every pod.

Builds the ``large`` scenario (15,000 nodes, 150,000 pods in 1,500 Deployments) in-process,
starts the control plane, kubelets and the rest, and waits until every pod is Running. The
whole simulated cluster runs on one event loop, as ``kubeward sim`` does; time is real time
(``--speed 1``), so node leases cost what they would (1,500 renewals per second).

Figures (final JSON line):
- ``seconds_to_all_running``: from the controllers' start to the last pod Running;
- ``pods_per_second``: pods / that time (target >= 1,000; KWOK does about 20);
- ``scheduler_pods_per_second``: binding decisions per second of scheduler CPU time
  (filtering + scoring; target >= 2,000 at 15,000 nodes), and ``scheduler_wall_pods_per_second``
  including the binding writes and events;
- ``rss_mib``: the process's resident memory with everything Running (target <= 4 GiB);
- ``bootstrap_seconds``: creating the nodes and workload objects;
- ``gc_seconds``: time in CPython's cyclic garbage collector while the pods came up (the event
  loop is blocked meanwhile), with the heap frozen as ``kubeward sim`` freezes it
  (``kubeward.sim.heap``).

``--scale 0.1`` runs a tenth of the cluster (1,500 nodes, 15,000 pods) for a quick look.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sys
import time

from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.heap import freeze_survivors
from kubeward.sim.scenarios.model import load_scenario
from kubeward.sim.store.objects import StoreEvent


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class GCTimer:
    """A ``gc.callbacks`` entry adding up the collector's time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


async def run(scale: float, timeout: float) -> dict[str, object]:
    scenario = load_scenario("large")
    pools = [
        p.model_copy(update={"count": max(1, int(p.count * scale))}) for p in scenario.node_pools
    ]
    workloads = [
        w.model_copy(update={"copies": max(1, int(w.copies * scale))}) for w in scenario.workloads
    ]
    scenario = scenario.model_copy(update={"node_pools": pools, "workloads": workloads})
    expected = scenario.pod_count
    cluster = SimCluster(scenario, clock=SimClock(speed=1.0))
    running: set[str] = set()
    first_running = [0.0]

    def count(event: StoreEvent) -> None:
        if event.storage_key != ("", "pods"):
            return
        if event.type != "DELETED" and event.obj.fields.get("status.phase") == "Running":
            if not running:
                first_running[0] = time.perf_counter()
            running.add(event.obj.key)
        else:
            running.discard(event.obj.key)

    cluster.store.add_listener(count)
    gc_timer = GCTimer()
    gc.freeze()  # the bootstrap objects live for the whole run: keep the GC off them
    t0 = time.perf_counter()
    cluster.bootstrap()
    bootstrap = time.perf_counter() - t0
    start = time.perf_counter()
    gc.callbacks.append(gc_timer)
    cluster.start()
    # The simulator's heap policy, as `kubeward sim` runs it (kubeward.sim.heap).
    freezer = asyncio.get_running_loop().create_task(freeze_survivors())
    last_report = start
    while len(running) < expected:
        await asyncio.sleep(0.5)
        now = time.perf_counter()
        if now - last_report > 10:
            print(f"  {now - start:6.1f}s running={len(running):,}/{expected:,}", file=sys.stderr)
            last_report = now
        if now - start > timeout:
            break
    elapsed = time.perf_counter() - start
    gc.callbacks.remove(gc_timer)
    assert cluster.scheduler is not None
    stats = cluster.scheduler.stats
    result = {
        "scale": scale,
        "nodes": scenario.node_count,
        "pods": expected,
        "pods_running": len(running),
        "bootstrap_seconds": round(bootstrap, 1),
        "gc_seconds": round(gc_timer.seconds, 1),
        "seconds_to_all_running": round(elapsed, 1) if len(running) >= expected else None,
        "pods_per_second": round(len(running) / elapsed, 1),
        "scheduler_pods_per_second": round(stats.bound / stats.decide_seconds, 1)
        if stats.decide_seconds
        else None,
        "scheduler_wall_pods_per_second": round(stats.bound / elapsed, 1),
        "rss_mib": round(rss_mib(), 1),
        "lease_writes": sum(getattr(c, "lease_writes", 0) for c in cluster.controllers),
        "store_revision": cluster.store.revision,
        # wall seconds the clock stood still while the loop was blocked (ADR 0009)
        "clock_held_seconds": round(cluster.clock.held_seconds, 1),
    }
    result["meets_targets"] = {
        "pods_per_second>=1000": result["pods_per_second"] >= 1000,
        "scheduler_pods_per_second>=2000": (result["scheduler_pods_per_second"] or 0) >= 2000,
        "rss<=4GiB": result["rss_mib"] <= 4096,
        "all_running": len(running) >= expected,
    }
    freezer.cancel()
    await cluster.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of `large` to build")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after (s)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.scale, args.timeout))))


if __name__ == "__main__":
    main()
