"""Rich rendering of an :class:`~kubeward.guard.analysis.Analysis`: culprits, the per-client
breakdown, and findings with their fixes."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubeward.guard.analysis import Analysis
from kubeward.guard.audit import ReadStats

_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def short_agent(user_agent: str) -> str:
    """The program and version of a userAgent ("kubelet/v1.31.0 (linux/amd64) kubernetes/abc"
    -> "kubelet/v1.31.0"): enough to tell clients apart in a table."""
    return user_agent.split(" ", 1)[0] if user_agent else ""


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _num(x: float, digits: int = 0) -> str:
    if x == 0:
        return "-"
    return f"{x:,.{digits}f}"


def _rate(x: float) -> str:
    if x == 0:
        return "-"
    return f"{x:,.2f}" if x < 100 else f"{x:,.0f}"


def _pct(x: float) -> str:
    if x == 0:
        return "-"
    return f"{x:.1%}" if x >= 0.001 else "<0.1%"


def render(
    analysis: Analysis,
    console: Console,
    *,
    top: int = 20,
    source: str = "",
    stats: ReadStats | None = None,
) -> None:
    """Print the analysis: a summary line, the culprits, the top ``top`` rows, the findings."""
    head = Text()
    head.append("API-server load by client", style="bold")
    head.append(
        f"  {_when(analysis.start)} .. {_when(analysis.end)} UTC ({analysis.seconds:,.0f} s)"
        f"  {analysis.total_requests:,.0f} requests "
        f"({analysis.total_requests / analysis.seconds:,.1f}/s)"
    )
    if source:
        head.append(f"  from {source}")
    console.print(head, soft_wrap=True, highlight=False)
    if stats is not None and stats.malformed:
        console.print(
            f"({stats.malformed:,} malformed line(s) skipped)", style="yellow", highlight=False
        )

    culprits = Table(title="Culprits (ranked by estimated API-server cost)", title_justify="left")
    for name, justify in (
        ("#", "right"),
        ("user", "left"),
        ("userAgent", "left"),
        ("req/s", "right"),
        ("cost share", "right"),
        ("429s", "right"),
        ("instances", "right"),
        ("flow schema", "left"),
    ):
        culprits.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for c in analysis.culprits[: max(5, top // 2)]:
        culprits.add_row(
            str(c.rank),
            c.user,
            short_agent(c.user_agent),
            _rate(c.requests_per_second),
            _pct(c.share),
            _num(c.throttled),
            _num(c.instances),
            ", ".join(c.flow_schemas),
        )
    console.print(culprits)

    rows = Table(
        title="Requests by identity x verb x resource x scope (objects and cost estimated)",
        title_justify="left",
    )
    for name, justify in (
        ("#", "right"),
        ("user", "left"),
        ("userAgent", "left"),
        ("verb", "left"),
        ("resource", "left"),
        ("scope", "left"),
        ("req/s", "right"),
        ("objects/s", "right"),
        ("cost", "right"),
        ("429s", "right"),
        ("LIST no RV", "right"),
        ("unpaged large", "right"),
        ("relist/s", "right"),
        ("watches", "right"),
    ):
        rows.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    # Only a log with the RequestReceived stage can show requests that never completed.
    unfinished = any(r.unfinished for r in analysis.rows)
    if unfinished:
        rows.add_column("unfinished", justify="right")
    for r in analysis.rows[:top]:
        extra = [_num(r.unfinished)] if unfinished else []
        rows.add_row(
            str(r.rank),
            r.user,
            short_agent(r.user_agent),
            r.verb,
            r.resource,
            r.scope,
            _rate(r.requests_per_second),
            _rate(r.objects_per_second),
            _pct(r.share),
            _num(r.throttled),
            _num(r.lists_without_rv),
            _num(r.unpaged_large_lists),
            _rate(r.relists_per_second),
            _num(r.watches),
            *extra,
        )
    if len(analysis.rows) > top:
        rows.caption = f"{len(analysis.rows) - top:,} more rows: --top N, or --json for all"
    console.print(rows)

    if not analysis.findings:
        console.print("No best-practice findings.", style="green")
        return
    console.print(Text("Findings", style="bold"))
    for i, f in enumerate(analysis.findings, 1):
        line = Text(f"{i}. ")
        line.append(f"[{f.severity}] ", style=_SEVERITY_STYLE.get(f.severity, ""))
        line.append(f.kind, style="bold")
        who = f.user + (f" ({short_agent(f.user_agent)})" if f.user_agent else "")
        if who:
            line.append(f"  {who}")
        if f.resource:
            line.append(f"  {f.resource}")
        console.print(line, soft_wrap=True, highlight=False)
        console.print(Text("   " + f.summary), soft_wrap=True, highlight=False)
        console.print(Text("   fix: " + f.fix, style="green"), soft_wrap=True, highlight=False)
