"""``kubeward demo``: the simulator on the demo scenario, the collector and the guard, and a
short tour of what each of them sees.

Every part runs as it would against a real cluster: the simulator (``kubeward sim``), the
collector (``kubeward collect``) and the guard (``kubeward guard watch``) are child processes
that talk over HTTP on loopback only. The tour prints only what was actually run or measured.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
import yaml
from rich.console import Console
from rich.panel import Panel

console = Console()

STATE_DIR = Path(".kubeward")
KUBECONFIG = STATE_DIR / "demo.kubeconfig"
AUDIT_LOG = STATE_DIR / "demo-audit.log"
STORE = STATE_DIR / "kubeward.db"
COLLECT_LOG = STATE_DIR / "demo-collect.log"
GUARD_INTERVAL = "2s"  # real time between guard checks (the demo runs in real time)
GUARD_LOG = STATE_DIR / "demo-guard.log"
_SERVING = re.compile(r"kubeward collect: serving (http://\S+)/metrics")
_SYNCED = re.compile(r"kubeward collect: synced (\d+) resources")


def find_kubectl() -> str | None:
    return os.environ.get("KUBEWARD_KUBECTL") or shutil.which("kubectl")


def _kubeward(*args: str) -> list[str]:
    return [sys.executable, "-m", "kubeward.cli", *args]


def start_simulator(
    kubeconfig: Path, scenario: str, extra_args: Sequence[str] = (), timeout: float = 60.0
) -> subprocess.Popen[bytes]:
    """``kubeward sim`` in a child process on a free port; returns once /readyz answers."""
    kubeconfig.unlink(missing_ok=True)
    proc = subprocess.Popen(
        _kubeward(
            "sim",
            "--scenario",
            scenario,
            "--port",
            "0",
            "--kubeconfig-out",
            str(kubeconfig),
            *extra_args,
        ),
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_ready(proc, kubeconfig, time.monotonic() + timeout, timeout)
    except BaseException:  # not ready, or interrupted (Ctrl-C, SIGTERM): never leave it running
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    return proc


def _wait_ready(
    proc: subprocess.Popen[bytes], kubeconfig: Path, deadline: float, timeout: float
) -> None:
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start; run `kubeward sim -v` to see why")
        time.sleep(0.1)
    cluster = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]
    with httpx.Client(verify=False) as http:  # readiness probe only; no credentials sent
        while True:
            try:
                if http.get(f"{cluster['server']}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not become ready within {timeout:.0f} s")
            time.sleep(0.1)


@dataclass
class Collector:
    """``kubeward collect`` in a child process; ``url`` is its master's base URL."""

    proc: subprocess.Popen[str]
    log: Path
    url: str = ""
    synced: int = 0
    lines: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # drained to the end so the pipe never fills up
            self.lines.append(line.rstrip("\n"))
            if m := _SERVING.search(line):
                self.url = m.group(1)
            elif m := _SYNCED.search(line):
                self.synced = int(m.group(1))
                self._ready.set()
        self._ready.set()  # exited: wait_synced() reports why

    def wait_synced(self, timeout: float) -> None:
        if not self._ready.wait(timeout) or not self.synced:
            tail = " ".join(self.log.read_text(errors="replace").splitlines()[-3:])
            code = self.proc.poll()
            state = f"exited with code {code}" if code is not None else "did not sync"
            raise RuntimeError(
                f"the collector {state} within {timeout:.0f} s ({self.log}: {tail or 'empty'})"
            )


def start_collector(kubeconfig: Path, store: Path, log: Path) -> Collector:
    """``kubeward collect --listen 127.0.0.1:0``: every port picked free, reported on stdout."""
    command = _kubeward("collect", "--kubeconfig", str(kubeconfig), "--listen", "127.0.0.1:0")
    command += ["--store", str(store)]
    with log.open("w") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    collector = Collector(proc, log)
    threading.Thread(target=collector._read, name="collector-stdout", daemon=True).start()
    return collector


def guard_args(kubeconfig: Path, audit_log: Path, store: Path) -> list[str]:
    return [
        *("guard", "watch", "--kubeconfig", str(kubeconfig), "--audit-log", str(audit_log)),
        *("--store", str(store), "--interval", GUARD_INTERVAL, "-v"),
    ]


def start_guard(kubeconfig: Path, audit_log: Path, store: Path, log: Path) -> subprocess.Popen[str]:
    """``kubeward guard watch``: health from /metrics, culprits from the audit log, alerts to
    the terminal and the store. Its stderr (one line per check, warnings, the closing summary)
    goes to ``log``."""
    command = _kubeward(*guard_args(kubeconfig, audit_log, store))
    with log.open("w") as stderr:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=stderr, text=True)


def _stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None, timeout: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_all(
    procs: Sequence[subprocess.Popen[bytes] | subprocess.Popen[str]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)


def _shown(text: str, limit: int) -> str:
    lines = text.rstrip("\n").splitlines()
    return "\n".join(lines[:limit] + (["..."] if len(lines) > limit else []))


def _command_text(args: Sequence[str]) -> str:
    """How the user would type a kubeward command (``.venv/bin/kubeward`` under make demo)."""
    exe = Path(sys.executable).parent / "kubeward"
    name = "kubeward"
    if exe.exists() and shutil.which("kubeward") != str(exe):
        try:
            name = str(exe.relative_to(Path.cwd()))
        except ValueError:
            name = str(exe)
    return " ".join([name, *args])


def _kubectl_tour(kubectl: str | None, kubeconfig: Path) -> None:
    if not kubectl:
        console.print(
            "[yellow]kubectl not found: install Debian's kubernetes-client to "
            "try the kubectl commands below[/yellow]"
        )
        return
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    for title, args in (
        ("kubectl get nodes", ["get", "nodes", "-L", "topology.kubernetes.io/zone"]),
        ("kubectl get deployments,jobs,hpa -A", ["get", "deployments,jobs,hpa", "-A"]),
        (
            "kubectl get pods -n shop -o wide",
            ["get", "pods", "-n", "shop", "-o", "wide"],
        ),
    ):
        console.rule(title)
        try:
            out = subprocess.run(
                [kubectl, *args], env=env, text=True, capture_output=True, timeout=60
            )
            text = out.stdout if out.returncode == 0 else out.stderr
        except subprocess.TimeoutExpired:
            text = "kubectl did not answer within 60 s"
        console.print(_shown(text, 8), soft_wrap=True, markup=False, highlight=False)


@dataclass
class MetricsView:
    series: int = 0
    families: int = 0
    running: int = 0
    examples: list[str] = field(default_factory=list)
    events_written: float = 0.0
    error: str = ""


def _scrape(url: str) -> MetricsView:
    view = MetricsView()
    try:
        text = httpx.get(f"{url}/metrics", timeout=30).raise_for_status().text
    except httpx.HTTPError as exc:
        view.error = f"{type(exc).__name__}: {exc}"
        return view
    families: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE kube_"):
            families.add(line.split()[2])
        elif line.startswith("kube_"):
            view.series += 1
            if line.startswith("kube_pod_status_phase{") and 'phase="Running"} 1' in line:
                view.running += 1
                if len(view.examples) < 2:
                    view.examples.append(line)
        elif line.startswith("kubeward_events_written_total "):
            view.events_written = float(line.split()[1])
    view.families = len(families)
    return view


def _collector_panel(collector: Collector) -> None:
    deadline = time.monotonic() + 15
    view = _scrape(collector.url)
    while not view.error and view.events_written == 0 and time.monotonic() < deadline:
        time.sleep(0.5)  # the event writer flushes to the store about once a second
        view = _scrape(collector.url)
    metrics = f"{collector.url}/metrics"
    if view.error:
        body = f"{metrics} could not be read: {view.error}"
    else:
        body = (
            f"kube-state-metrics compatible /metrics: {metrics}\n"
            f"It served {view.series:,} kube-state-metrics series in {view.families} families "
            f"just now, from one LIST+WATCH per kind ({collector.synced} kinds synced), "
            f'{view.running} of them kube_pod_status_phase{{phase="Running"}} 1.\n'
            f"Events go to the event center ({STORE}): "
            f"{view.events_written:,.0f} written so far."
        )
    console.print(Panel(body, title="collector", expand=False), highlight=False)
    if not view.error:
        console.print(
            f"$ curl -s {metrics} | grep '^kube_pod_status_phase.*Running' | head -2",
            *view.examples,
            sep="\n",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )


def _run_shown(title: str, args: list[str], shown: list[str]) -> int:
    """Run a kubeward command with the terminal as its output (so its tables fit it)."""
    console.rule(title)
    console.print(f"$ {_command_text(shown)}", soft_wrap=True, markup=False, highlight=False)
    sys.stdout.flush()
    try:
        code = subprocess.run(_kubeward(*args), stdin=subprocess.DEVNULL, timeout=120).returncode
    except subprocess.TimeoutExpired:
        console.print(f"[yellow]{title}: no answer within 120 s[/yellow]")
        return -1
    if code != 0:
        console.print(f"[yellow]exit code {code}[/yellow]")
    return code


def _guard_checks(proc: subprocess.Popen[str], log: Path, timeout: float) -> int:
    """The checks the guard has made so far (``-v`` logs one ``event=step`` line each); waits
    up to ``timeout`` for the first."""
    deadline = time.monotonic() + timeout
    while True:
        checks = log.read_text(errors="replace").count(" event=step ")
        if checks or proc.poll() is not None or time.monotonic() > deadline:
            return checks
        time.sleep(0.2)


def _guard_report(proc: subprocess.Popen[str], log: Path) -> None:
    """What the guard said when it stopped (``stopped after N check(s): ...``), or why it
    failed."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    if proc.returncode == 0 and lines and lines[-1].startswith("stopped after"):
        console.print(f"guard: {lines[-1]}", soft_wrap=True, markup=False, highlight=False)
    else:
        tail = " ".join(lines[-3:]) or "no output"
        console.print(
            f"[yellow]guard: exited with code {proc.returncode} ({log}: {tail})[/yellow]",
            soft_wrap=True,
            highlight=False,
        )


def _keep_running(
    duration: float | None, children: dict[str, subprocess.Popen[bytes] | subprocess.Popen[str]]
) -> int:
    """Wait ``duration`` seconds (None: until interrupted); a child that stops by itself ends
    the demo (exit code 1 if it failed)."""
    end = None if duration is None else time.monotonic() + duration
    while end is None or (left := end - time.monotonic()) > 0:
        for name, proc in children.items():
            if proc.returncode is None and proc.poll() is not None:
                console.print(
                    f"[yellow]the {name} exited with code {proc.returncode}; stopping the demo"
                    "[/yellow]"
                )
                return 1 if proc.returncode else 0
        time.sleep(1.0 if end is None else min(1.0, left))
    return 0


def run_demo(scenario: str, duration: float | None) -> int:
    if duration is None and (os.environ.get("CI") or not sys.stdin.isatty()):
        duration = 0
    STATE_DIR.mkdir(exist_ok=True)
    kubeconfig = KUBECONFIG.resolve()
    audit_log = AUDIT_LOG.resolve()
    audit_log.unlink(missing_ok=True)  # the simulator appends: keep this run's requests only
    kubectl = find_kubectl()

    sigterm = False

    def terminate(_signum: int, _frame: FrameType | None) -> None:
        nonlocal sigterm
        sigterm = True
        raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, terminate)
    sim: subprocess.Popen[bytes] | None = None
    collector: Collector | None = None
    guard: subprocess.Popen[str] | None = None
    guard_reported = False
    try:
        with console.status(f"starting the simulator (scenario {scenario})"):
            sim = start_simulator(kubeconfig, scenario, ["--audit-log", str(audit_log)])
        with console.status("starting the collector and waiting for its first full LIST"):
            collector = start_collector(kubeconfig, STORE, COLLECT_LOG)
            collector.wait_synced(timeout=120)
        guard = start_guard(kubeconfig, audit_log, STORE, GUARD_LOG)
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        console.print(
            f"simulator  {server} (scenario {scenario}, audit log {AUDIT_LOG})",
            f"collector  {collector.url}/metrics (events to {STORE})",
            f"guard      {_command_text(guard_args(KUBECONFIG, AUDIT_LOG, STORE))}",
            sep="\n",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
        _kubectl_tour(kubectl, kubeconfig)
        _collector_panel(collector)
        events = ["events", "list", "--store", str(STORE), "--limit", "8"]
        _run_shown("the event center, newest first", events, events)
        analyze = ["guard", "analyze", "--kubeconfig", str(KUBECONFIG)]
        analyze += ["--audit-log", str(AUDIT_LOG), "--window", "5m"]
        _run_shown("who loads the API server", [*analyze, "--top", "8"], analyze)
        checks = _guard_checks(guard, GUARD_LOG, timeout=30)  # at least one, unless it failed
        if duration == 0 or guard.poll() is not None:
            _stop(guard, timeout=30)  # what the guard did during the tour, before the last words
            _guard_report(guard, GUARD_LOG)
            guard_reported = True
        else:
            console.print(
                f"guard: running, {checks} check(s) so far, one every {GUARD_INTERVAL}; its "
                "alerts print here.",
                highlight=False,
            )

        kw = _command_text
        running = (
            "Running now; Ctrl-C stops everything."
            if duration != 0
            else "No terminal (or CI): everything stops now. Run `make demo` in a terminal to "
            "keep it up."
        )
        console.print(
            Panel.fit(
                f"{running}\n\n"
                f"  simulator  {server}\n"
                f"  KUBECONFIG {kubeconfig}\n"
                f"  collector  {collector.url}/metrics\n"
                f"  events     {STORE}\n"
                f"  audit log  {AUDIT_LOG}  (the guard follows it)\n\n"
                "The demo runs in real time. In its first 20 minutes: search leaks memory "
                "and is OOMKilled, general-0 goes NotReady (3m), checkout's rollout crashloops "
                "(7m), a kernel deadlock (10m), a GPU Xid error (12m), a registry outage (14m); "
                "web follows diurnal traffic behind an HPA. See docs/scenarios.md.",
                title="kubeward demo",
            ),
            highlight=False,
        )
        console.print(
            "In another shell:" if duration != 0 else "Then, in another shell:",
            f"  export KUBECONFIG={kubeconfig}",
            "  kubectl get pods -A -w",
            "  kubectl top pods -A",
            "  kubectl logs -n shop <a crashlooping checkout pod> --previous",
            "  kubectl get quota,pvc -A",
            "  kubectl auth can-i --list -n shop --as=system:serviceaccount:shop:default",
            "  kubectl drain general-1 --ignore-daemonsets --delete-emptydir-data",
            f"  curl -s {collector.url}/metrics | grep ^kube_deployment",
            f"  {kw(['events', 'list', '--store', str(STORE), '--type', 'Warning'])}",
            f"  {kw(analyze)}",
            sep="\n",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
        console.print(
            Panel.fit(
                f"Try `{kw(['replay', 'openai-outage'])}`: it replays the December 2024 OpenAI "
                "outage on a 500-node simulated cluster with and without the guard and prints "
                "both sides.",
                title="next",
            ),
            highlight=False,
        )
        if duration is None:
            console.print("Press Ctrl-C to stop.")
        elif duration > 0:
            console.print(f"Press Ctrl-C to stop (it stops by itself after {duration:g} s).")
        children: dict[str, subprocess.Popen[bytes] | subprocess.Popen[str]] = {
            "simulator": sim,
            "collector": collector.proc,
            "guard": guard,
        }
        return _keep_running(duration, children)
    except KeyboardInterrupt:
        if not sigterm:
            # Ctrl-C in a terminal reaches the whole process group: the children are already
            # stopping on their own; a SIGTERM in the middle of that could cut it short.
            _wait_all([p for p in (sim, collector.proc if collector else None, guard) if p], 10)
        return 0
    finally:
        if guard is not None and guard.returncode is None:
            _stop(guard, timeout=30)
        if guard is not None and not guard_reported:
            _guard_report(guard, GUARD_LOG)
        _stop(collector.proc if collector else None, timeout=30)
        _stop(sim, timeout=15)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
