"""The openai-outage scenario, 30 simulated minutes, as fast as the model runs.

Builds the scenario's cluster in-process (nodes, workloads; the controllers create every pod,
the telemetry DaemonSet's included), stops the controllers, then runs the API-server load model
alone on simulated time (``kubeward.sim.load.headless``): the built-in system clients and, from
T+5 min, one telemetry agent per node LISTing pods and nodes without resourceVersion.

Prints one line per simulated minute, then a final JSON line:
- ``system_success_before`` / ``system_success_after``: the share of the system components'
  requests (kubelets, kube-proxy, CoreDNS, kube-controller-manager, kube-scheduler) that
  succeeded before the rollout and from the rollout to the end;
- ``minutes_until_dns_failure``: from the rollout until CoreDNS first answers SERVFAIL (null if
  never);
- ``apiserver_restarts``: OOM kills of the modelled kube-apiserver;
- ``wall_seconds_model``: wall time of the 30 simulated minutes; ``wall_seconds_prepare``:
  building the cluster; ``speedup``: simulated / wall seconds of the model run.

``--scenario openai-outage-small`` runs the 500-node variant the tests use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from kubeward.sim.load.headless import prepare, run_model
from kubeward.sim.load.runner import LoadRunner
from kubeward.sim.scenarios.model import load_scenario

ONSET = 300.0  # the telemetry DaemonSet's createAt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="openai-outage")
    parser.add_argument("--minutes", type=float, default=30.0)
    args = parser.parse_args()

    scenario = load_scenario(args.scenario)
    prepared = asyncio.run(prepare(scenario))
    print(
        f"prepared {scenario.node_count:,} nodes, {prepared.pods:,} pods "
        f"in {prepared.seconds:.0f} s",
        flush=True,
    )
    started = time.perf_counter()

    def report(minute: int, runner: LoadRunner) -> None:
        ok, total = runner.system_success((minute - 1) * 60, minute * 60)
        state = runner.model.state
        print(
            f"T+{minute:>2}m memory={runner.model.memory() / 2**30:5.2f}GiB "
            f"up={int(state.up)} restarts={state.restarts:>2} "
            f"system_ok={ok / total if total else 0:6.1%} "
            f"dns_failing={runner.coredns.failure_seconds / 60 if runner.coredns else 0:4.1f}m "
            f"wall={time.perf_counter() - started:5.1f}s",
            flush=True,
        )

    runner = run_model(prepared, args.minutes, on_minute=report)
    wall = time.perf_counter() - started
    summary = runner.summary(ONSET)
    figures = {
        "scenario": args.scenario,
        "nodes": scenario.node_count,
        "pods": prepared.pods,
        "simulated_minutes": args.minutes,
        "system_success_before": summary["system_success_before"],
        "system_success_after": summary["system_success_after"],
        "minutes_until_dns_failure": summary["dns_failure_minutes_after_onset"],
        "dns_failure_minutes": summary["dns_failure_minutes"],
        "apiserver_restarts": summary["apiserver_restarts"],
        "first_oom_minutes_after_onset": (
            round((summary["oom_at_seconds"][0] - ONSET) / 60, 2)
            if summary["oom_at_seconds"]
            else None
        ),
        "wall_seconds_model": round(wall, 1),
        "wall_seconds_prepare": round(prepared.seconds, 1),
        "speedup": round(args.minutes * 60 / wall, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
