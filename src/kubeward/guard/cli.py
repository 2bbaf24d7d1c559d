"""``kubeward guard ...``: the control-plane guard's commands (``analyze`` here; others register
theirs on :data:`guard_app`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from kubeward.client import ClientError, connect
from kubeward.clitext import print_error as _error
from kubeward.clitext import print_warning as _warn
from kubeward.guard.analysis import Aggregator, Analysis
from kubeward.guard.apimetrics import ApiServerMetrics, MetricsError, fetch_metrics
from kubeward.guard.audit import AuditParser, read_audit_log
from kubeward.guard.durations import parse_window
from kubeward.guard.protect_cli import protect
from kubeward.guard.report import render
from kubeward.guard.watch_cli import watch

guard_app = typer.Typer(
    help="Control-plane guard: find the clients that load the API server, and protect it.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

GUARD_AGENT = "kubeward-guard"


async def _metrics(kubeconfig: Path | None, context: str | None) -> ApiServerMetrics:
    api = await connect(kubeconfig, context, agent=GUARD_AGENT)
    try:
        return await fetch_metrics(api)
    finally:
        await api.aclose()


def analyze_file(
    path: Path,
    window_seconds: float,
    storage_objects: dict[str, float],
    *,
    progress: bool = False,
) -> tuple[Analysis, AuditParser, Aggregator]:
    """Stream ``path`` into an aggregator keeping ``window_seconds`` and report that window."""
    parser = AuditParser()
    aggregator = Aggregator(retention_seconds=window_seconds)
    size = path.stat().st_size
    if progress and size > 0:
        with Progress(
            TextColumn("reading audit log"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task("read", total=size)
            records = read_audit_log(
                path, parser=parser, on_progress=lambda n: bar.update(task, completed=n)
            )
            aggregator.add_all(records)
    else:
        aggregator.add_all(read_audit_log(path, parser=parser))
    start, end = aggregator.window(window_seconds)
    return aggregator.report(start, end, storage_objects), parser, aggregator


@guard_app.command()
def analyze(
    kubeconfig: Path | None = typer.Option(
        None,
        "--kubeconfig",
        help="Kubeconfig of the cluster whose /metrics give collection sizes "
        "(default: $KUBECONFIG, in-cluster, ~/.kube/config).",
    ),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context."),
    audit_log: Path | None = typer.Option(
        None,
        "--audit-log",
        envvar="KUBEWARD_AUDIT_LOG",
        help="The API server's audit log: audit.k8s.io/v1 Event JSON lines "
        "(kube-apiserver --audit-log-path, or a webhook backend writing lines to a file).",
    ),
    window: str = typer.Option(
        "10m",
        "--window",
        help="Analyse the last DURATION of the log (30s, 10m, 1h), relative to its newest event.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (ranked rows + findings)."),
    top: int = typer.Option(20, "--top", min=1, help="Rows shown in the table."),
    metrics: bool = typer.Option(
        True,
        "--metrics/--no-metrics",
        help="Read collection sizes from the API server's /metrics (without: object counts "
        "and LIST costs are unknown).",
    ),
) -> None:
    """Who loads the API server: per client identity, verb, resource and scope, from the audit
    log and /metrics; culprits ranked by estimated cost, best-practice findings with fixes."""
    try:
        window_seconds = parse_window(window)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--window'") from None
    if audit_log is None:
        _error(
            "no audit log given. Fix: pass --audit-log FILE (the file kube-apiserver writes "
            "with --audit-log-path, or `kubeward sim --audit-log FILE`); docs/guard.md says "
            "how to turn auditing on."
        )
        raise typer.Exit(2)
    if not audit_log.exists():
        _error(f"--audit-log {audit_log}: no such file. Fix: pass the path of the audit log.")
        raise typer.Exit(2)
    if not audit_log.is_file():
        _error(f"--audit-log {audit_log}: not a regular file. Fix: pass the audit log file.")
        raise typer.Exit(2)
    try:
        with audit_log.open("rb"):
            pass
    except OSError as exc:
        _error(f"--audit-log {audit_log}: cannot be read ({exc.strerror}).")
        raise typer.Exit(2) from None

    api_metrics = ApiServerMetrics()
    if metrics:
        try:
            api_metrics = asyncio.run(_metrics(kubeconfig, context))
        except (ClientError, MetricsError) as exc:
            _error(str(exc))
            raise typer.Exit(1) from None

    analysis, parser, aggregator = analyze_file(
        audit_log,
        window_seconds,
        api_metrics.storage_objects,
        progress=err_console.is_terminal and not as_json,
    )
    stats = parser.stats
    if stats.malformed:
        examples = "; ".join(stats.malformed_examples)
        _warn(
            f"skipped {stats.malformed:,} malformed line(s) of {audit_log} ({examples}). "
            "Lines must be audit.k8s.io/v1 Event JSON objects, one per line."
        )
    if stats.bad_sample_rates:
        _warn(
            f"{stats.bad_sample_rates:,} event(s) carry an invalid "
            "sim.kubeward.io/audit-sample-rate (not in (0, 1]); counted once each."
        )
    if aggregator.records == 0:
        _error(
            f"--audit-log {audit_log}: no audit events in {stats.lines:,} line(s). Fix: point it "
            "at an audit log (audit.k8s.io/v1 Event JSON lines, level Metadata or above)."
        )
        raise typer.Exit(1)
    if metrics and not api_metrics.storage_objects:
        _warn(
            "/metrics has no apiserver_storage_objects: object counts and LIST costs are "
            "estimated without collection sizes."
        )

    if as_json:
        doc: dict[str, Any] = analysis.to_dict()
        doc["input"] = {
            "auditLog": str(audit_log),
            "lines": stats.lines,
            "records": stats.records,
            "malformed": stats.malformed,
            "malformedExamples": stats.malformed_examples,
            "skippedStages": stats.skipped_stages,
            "windowSeconds": window_seconds,
        }
        doc["apiServer"] = api_metrics.to_dict()
        typer.echo(json.dumps(doc, indent=2))
        return
    # Piped output keeps whole rows (a wide table wraps badly at the default 80 columns).
    out = console if console.is_terminal else Console(width=220)
    render(analysis, out, top=top, source=str(audit_log), stats=stats)


guard_app.command("protect")(protect)
guard_app.command("watch")(watch)
