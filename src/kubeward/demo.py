"""``kubeward demo``: the simulator on the demo scenario, and a short tour with real kubectl.

The simulator runs as its own process and everything else talks to it over HTTP, exactly as it
would to a real cluster.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import yaml
from rich.console import Console
from rich.panel import Panel

console = Console()


def find_kubectl() -> str | None:
    return os.environ.get("KUBEWARD_KUBECTL") or shutil.which("kubectl")


def start_simulator(
    kubeconfig: Path, scenario: str, extra_args: Sequence[str] = (), timeout: float = 60.0
) -> subprocess.Popen[bytes]:
    """``kubeward sim`` in a child process on a free port; returns once /readyz answers."""
    kubeconfig.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubeward.cli",
            "sim",
            "--scenario",
            scenario,
            "--port",
            "0",
            "--kubeconfig-out",
            str(kubeconfig),
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start; run `kubeward sim -v` to see why")
        time.sleep(0.1)
    cluster = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]
    with httpx.Client(verify=False) as http:  # readiness probe only; no credentials sent
        while True:
            try:
                if http.get(f"{cluster['server']}/readyz", timeout=2).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                proc.terminate()
                raise RuntimeError(f"the simulator did not become ready within {timeout:.0f} s")
            time.sleep(0.1)


def run_demo(scenario: str, duration: float | None) -> int:
    kubeconfig = Path(".kubeward/demo.kubeconfig").resolve()
    kubectl = find_kubectl()
    with console.status(f"starting the simulator (scenario {scenario})"):
        sim = start_simulator(kubeconfig, scenario)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    try:
        if kubectl:
            time.sleep(3)  # a few simulated seconds: pods get scheduled and start
            for title, args, stdin in (
                ("nodes", ["get", "nodes", "-L", "topology.kubernetes.io/zone"], None),
                ("the demo's workloads", ["get", "deployments,jobs,hpa", "-A"], None),
                (
                    "pods (scheduled, pulling, running; one image cannot be pulled)",
                    ["get", "pods", "-n", "shop", "-o", "wide"],
                    None,
                ),
                (
                    "recent events",
                    ["get", "events", "-n", "shop", "--sort-by=.lastTimestamp"],
                    None,
                ),
                ("usage (metrics.k8s.io)", ["top", "nodes", "--sort-by=cpu"], None),
            ):
                if title:
                    console.rule(title)
                out = subprocess.run(
                    [kubectl, *args], env=env, input=stdin, text=True, capture_output=True
                )
                text = out.stdout if out.returncode == 0 else out.stderr
                lines = text.splitlines()
                console.print(
                    "\n".join(lines[:12] + (["..."] if len(lines) > 12 else [])),
                    markup=False,
                    highlight=False,
                )
        else:
            console.print(
                "[yellow]kubectl not found: install Debian's kubernetes-client to "
                "try the commands below[/yellow]"
            )
        if duration is None and (os.environ.get("CI") or not sys.stdin.isatty()):
            duration = 0
        running = (
            "The simulator is running. In another shell:"
            if duration != 0
            else (
                "No terminal (or CI): the simulator stops now. Run `make demo` in a terminal to "
                "keep it up, then in another shell:"
            )
        )
        console.print(
            Panel.fit(
                f"{running}\n\n"
                f"  export KUBECONFIG={kubeconfig}\n"
                f"  kubectl get pods -A -w\n"
                f"  kubectl get events -A -w\n"
                f"  kubectl top pods -A\n"
                f"  kubectl rollout status -n shop deployment/checkout\n"
                f"  kubectl describe node general-0\n"
                f"  kubectl drain general-1 --ignore-daemonsets --delete-emptydir-data\n\n"
                "The demo runs in real time. In its first 20 minutes: search leaks memory "
                "and is OOMKilled, general-0 goes NotReady (3m), checkout's rollout crashloops "
                "(7m), a kernel deadlock (10m), a GPU Xid error (12m), a registry outage (14m); "
                "web follows diurnal traffic behind an HPA. `kubeward sim --scenario demo "
                "--speed 60` plays it in 20 seconds. See docs/scenarios.md.",
                title="kubeward demo",
            )
        )
        if duration is None:
            console.print("Press Ctrl-C to stop.")
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        else:
            time.sleep(duration)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sim.kill()
