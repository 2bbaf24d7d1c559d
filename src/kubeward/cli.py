"""The ``kubeward`` command line: one Typer app, one subcommand per package."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer
from rich.console import Console

from kubeward import __version__

app = typer.Typer(
    help="kubeward: keep Kubernetes clusters and their workloads stable.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )


@app.command()
def version() -> None:
    """Print kubeward's version."""
    console.print(f"kubeward {__version__}")


@app.command()
def sim(
    scenario: str = typer.Option("tiny", help="Built-in scenario name or path to a YAML file."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(6443, help="Port to listen on; 0 picks a free one."),
    kubeconfig_out: Path = typer.Option(
        Path(".kubeward/sim.kubeconfig"), help="Where to write the kubeconfig for clients."
    ),
    tls: bool = typer.Option(
        True,
        "--tls/--no-tls",
        help="Serve HTTPS with a self-signed CA "
        "generated at start (the CA goes into the kubeconfig). kubectl "
        "sends bearer tokens only over HTTPS, so --no-tls suits raw "
        "HTTP clients only.",
    ),
    speed: float | None = typer.Option(
        None,
        help="Simulated seconds per real second (1 = real time, 60 = an hour a minute); "
        "default: the scenario's speed, else 1.",
    ),
    watch_cache_size: int = typer.Option(
        20_000,
        help="Events kept per resource for watches and "
        "consistent pagination; older versions get 410 Gone.",
    ),
    bookmark_interval: float = typer.Option(60.0, help="Seconds between watch bookmarks."),
    load: bool = typer.Option(
        True,
        "--load/--no-load",
        help="Model the API server's capacity (APF, CPU, memory, OOM) and the scenario's "
        "synthetic clients; every request then goes through the model.",
    ),
    max_requests_inflight: int | None = typer.Option(
        None, help="Modelled --max-requests-inflight (default: the scenario's, else 400)."
    ),
    max_mutating_requests_inflight: int | None = typer.Option(
        None, help="Modelled --max-mutating-requests-inflight (default: the scenario's, else 200)."
    ),
    apiserver_cores: float | None = typer.Option(
        None, help="Modelled API-server cores (default: the scenario's, else 8)."
    ),
    apiserver_memory: str | None = typer.Option(
        None, help='Modelled API-server memory limit, a quantity like "16Gi"; above it: OOM.'
    ),
    audit_log: Path | None = typer.Option(
        None, help="Write audit.k8s.io/v1 Event JSON lines (level Metadata) to this file."
    ),
    audit_sample: float = typer.Option(
        1.0,
        help="Fraction of synthetic clients' requests to audit (HTTP requests are always "
        "audited); sampled lines carry sim.kubeward.io/audit-sample-rate.",
    ),
    audit_request_received: bool = typer.Option(
        False,
        "--audit-request-received",
        help="Also log stage RequestReceived (an audit policy without omitStages: "
        "[RequestReceived]): the only trace of requests the server never finishes.",
    ),
    token_auth_file: Path | None = typer.Option(
        None,
        help='Extra bearer tokens, kube-apiserver\'s CSV format: token,user,uid,"group1,group2". '
        "Users outside system:masters get what RBAC bindings grant them.",
    ),
    authorization_mode: str = typer.Option(
        "RBAC",
        help="RBAC (the default: Roles, ClusterRoles and their bindings decide) or AlwaysAllow "
        "(every authenticated request is allowed).",
    ),
    load_summary: Path | None = typer.Option(
        None,
        help="On exit, write the load model's outage figures (system-request success before and "
        "after the first scenario client starts, restarts, DNS failure) as JSON to this file.",
    ),
    list_scenarios: bool = typer.Option(
        False, "--list-scenarios", help="List built-in scenarios and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level."),
) -> None:
    """Run the cluster simulator: a Kubernetes API server kubectl and client libraries use."""
    from kubeward.sim.api.authn import read_token_file
    from kubeward.sim.clock import SimClock
    from kubeward.sim.cluster import SimCluster
    from kubeward.sim.load.runner import LoadOverrides
    from kubeward.sim.scenarios.model import ScenarioError, builtin_scenarios, load_scenario
    from kubeward.sim.serve import RunningSim, SimOptions, serve

    _setup_logging(verbose)
    if list_scenarios:
        # One line per scenario (no wrapping), so it reads well and greps well.
        scenarios = builtin_scenarios()
        width = max(map(len, scenarios))
        for name, sc in scenarios.items():
            typer.echo(f"{name:<{width}}  {sc.description}")
        return
    try:
        loaded = load_scenario(scenario)
        clock = SimClock(speed if speed is not None else loaded.speed)
        overrides = LoadOverrides(
            cores=apiserver_cores,
            memory_bytes=_memory_option(apiserver_memory),
            max_requests_inflight=max_requests_inflight,
            max_mutating_requests_inflight=max_mutating_requests_inflight,
        )
        if not 0 < audit_sample <= 1:
            raise ValueError("--audit-sample must be in (0, 1], e.g. 0.1 keeps one in ten")
        if token_auth_file is not None:
            read_token_file(token_auth_file)  # fail now, with the line at fault
        if authorization_mode not in ("RBAC", "AlwaysAllow"):
            raise ValueError(
                f"--authorization-mode {authorization_mode!r} is not supported: "
                "use RBAC or AlwaysAllow"
            )
    except (ScenarioError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if host not in ("127.0.0.1", "::1", "localhost"):
        err_console.print(
            f"[yellow]warning:[/yellow] listening on {host}: the simulator is "
            "reachable from other machines"
        )
    cluster = SimCluster(loaded, clock, watch_window=watch_cache_size)
    options = SimOptions(
        host=host,
        port=port,
        kubeconfig_out=kubeconfig_out,
        use_tls=tls,
        bookmark_interval=bookmark_interval,
        token_auth_file=token_auth_file,
        authorization_mode=authorization_mode,
        load=load,
        load_overrides=overrides,
        audit_log=audit_log,
        audit_sample=audit_sample,
        audit_request_received=audit_request_received,
        load_summary=load_summary,
    )

    def ready(running: RunningSim) -> None:
        console.print(
            f"kubeward simulator: scenario [bold]{loaded.name}[/bold] "
            f"({loaded.node_count:,} nodes) serving {running.server_url}"
        )
        console.print(
            f"export KUBECONFIG={running.kubeconfig}", soft_wrap=True, markup=False, highlight=False
        )

    try:
        asyncio.run(serve(cluster, options, ready))
    except OSError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _memory_option(value: str | None) -> float | None:
    from kubeward.kube.quantity import QuantityError, parse_quantity

    if value is None:
        return None
    try:
        memory = float(parse_quantity(value))
    except QuantityError as exc:
        raise ValueError(f'--apiserver-memory: {value!r} is not a quantity (e.g. "16Gi")') from exc
    if memory <= 0:
        raise ValueError("--apiserver-memory must be positive (e.g. 16Gi)")
    return memory


@app.command()
def demo(
    scenario: str = typer.Option("demo", help="Scenario to run the demo on."),
    duration: float = typer.Option(
        None,
        help="Seconds to keep the simulator up after the "
        "tour (default: until Ctrl-C; 0 in CI or without a TTY).",
    ),
) -> None:
    """Start the simulator and walk through what kubeward sees (what `make demo` runs)."""
    from kubeward.demo import run_demo

    _setup_logging(False)
    try:
        code = run_demo(scenario, duration)
    except RuntimeError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    raise typer.Exit(code)


def _register_subcommands() -> None:
    # Each package owns its CLI; the top-level app only mounts them.
    from kubeward.collect.cli import collect
    from kubeward.events.cli import events_app
    from kubeward.guard.cli import guard_app
    from kubeward.replay_cli import replay_app

    app.command("collect")(collect)
    app.add_typer(events_app, name="events")
    app.add_typer(guard_app, name="guard")
    app.add_typer(replay_app, name="replay")


_register_subcommands()


if __name__ == "__main__":
    app()
