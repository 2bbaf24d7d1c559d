"""Run a scenario's load model without serving HTTP, as fast as the CPU allows.

The cluster's objects are made the usual way (bootstrap, then the controllers create the pods),
then the controllers stop and the model alone runs on its own simulated time: minutes of an
outage take seconds. Workloads the scenario creates later (``createAt``) are created up front,
so their objects are in the store from the start (their clients still start when declared).
Benchmarks and tests of the outage scenarios use this; ``kubeward sim`` runs the same model on
the live clock instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.load.audit import AuditLog
from kubeward.sim.load.runner import LoadRunner
from kubeward.sim.scenarios.model import Scenario
from kubeward.sim.scenarios.workloads import delayed_manifests


@dataclass
class Prepared:
    cluster: SimCluster
    pods: int
    seconds: float  # wall seconds to build it


def expected_pods(scenario: Scenario) -> int:
    total = 0
    for w in scenario.workloads:
        if w.kind == "DaemonSet":
            total += scenario.node_count * w.copies
        elif w.kind in ("Deployment", "StatefulSet"):
            total += w.replicas * w.copies
    return total


async def prepare(scenario: Scenario, timeout: float = 600.0) -> Prepared:
    """Bootstrap ``scenario`` and run its controllers until its pods exist."""
    started = time.perf_counter()
    # Real time: a faster clock would multiply the kubelets' lease writes, not speed up pod
    # creation (which is CPU-bound).
    cluster = SimCluster(scenario, SimClock(speed=1))
    cluster.bootstrap()
    for _, objects in delayed_manifests(scenario):
        cluster.create_objects(objects)
    cluster.start(delayed=False)
    pods = cluster.store.resource(("", "pods"))
    want = expected_pods(scenario)
    deadline = time.monotonic() + timeout
    try:
        while len(pods.objects) < want:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"only {len(pods.objects):,} of {want:,} pods after {timeout:.0f} s"
                )
            await asyncio.sleep(0.2)
    finally:
        await cluster.stop()
    return Prepared(cluster, len(pods.objects), time.perf_counter() - started)


def run_model(
    prepared: Prepared,
    minutes: float,
    *,
    audit: AuditLog | None = None,
    seed: int = 0,
    on_minute: Callable[[int, LoadRunner], None] | None = None,
) -> LoadRunner:
    """Start the scenario's clients at simulated time 0 and run the model for ``minutes``."""
    cluster = prepared.cluster
    clock = SimClock(speed=1)
    runner = LoadRunner(cluster.scenario.load, cluster.store, clock, audit=audit, seed=seed)
    runner.start(at=0.0)
    for minute in range(1, int(minutes) + 1):
        runner.advance_to(minute * 60.0)
        if on_minute is not None:
            on_minute(minute, runner)
    runner.advance_to(minutes * 60.0)
    return runner
