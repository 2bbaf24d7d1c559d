"""``kubeward replay openai-outage``: run :mod:`kubeward.replay` and print both sides."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kubeward.clitext import print_error
from kubeward.replay import FULL_NODES, ReplayOptions, SideResult, run_side

replay_app = typer.Typer(
    help="Replay control-plane outages on the simulator, with and without kubeward's guard.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

# The goals for the guarded side.
GOALS = {
    "seconds_to_detect": 60.0,
    "seconds_to_mitigate": 120.0,
    "system_success_after": 0.99,
}

ROWS: list[tuple[str, str]] = [
    ("system_success_before", "system-request success before the rollout"),
    ("system_success_after", "system-request success after the rollout"),
    ("apiserver_restarts", "API-server restarts (OOM kills)"),
    ("restarts_after_mitigation", "restarts after mitigation"),
    ("minutes_until_dns_failure", "minutes from rollout to DNS failure"),
    ("dns_failure_minutes", "minutes of DNS failure"),
    ("seconds_to_detect", "seconds from rollout to alert naming the culprit"),
    ("alert_opened_seconds", "seconds from rollout to that alert's opening"),
    ("seconds_to_mitigate", "seconds from rollout to mitigation"),
    ("culprit", "culprit named"),
    ("culprit_cost_share", "culprit's share of estimated cost"),
    ("signals", "signals"),
    ("false_alarms_before_onset", "alerts before the rollout"),
    ("guard_requests", "guard's own API requests"),
    ("simulated_minutes", "simulated minutes"),
    ("wall_seconds", "wall seconds"),
    ("clock_held_seconds", "wall seconds the simulator's clock stood still (busy)"),
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(value) or "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def goals_met(figures: dict[str, Any]) -> dict[str, bool]:
    """The issue's goals for the guarded side, each checked on the measured figures."""
    detect, mitigate = figures["seconds_to_detect"], figures["seconds_to_mitigate"]
    success = figures["system_success_after"]
    return {
        "detected within 60 s": detect is not None and detect <= GOALS["seconds_to_detect"],
        "mitigated within 2 min": mitigate is not None and mitigate <= GOALS["seconds_to_mitigate"],
        "system-request success >= 99%": success is not None
        and success >= GOALS["system_success_after"],
        "no API-server restart after mitigation": figures["restarts_after_mitigation"] == 0,
        "DNS never fails": figures["dns_failure_minutes"] == 0,
    }


def summary_table(results: list[SideResult]) -> Table:
    table = Table(title="openai-outage replay", title_justify="left")
    table.add_column("figure")
    sides = [r.figures() for r in results]
    for side in sides:
        table.add_column("with guard" if side["guard"] else "without guard", justify="right")
    for key, label in ROWS:
        table.add_row(label, *(_cell(side[key]) for side in sides))
    return table


@replay_app.command("openai-outage")
def openai_outage(
    guard: bool | None = typer.Option(
        None,
        "--guard/--no-guard",
        help="Run only the guarded side (auto-protect) or only the unguarded one; default both.",
    ),
    nodes: int = typer.Option(
        500,
        min=3,
        max=FULL_NODES,
        help=f"Cluster size; {FULL_NODES:,} is the full scenario (slow: minutes per side).",
    ),
    speed: float | None = typer.Option(
        None,
        min=0.1,
        help="Simulated seconds per real second (default 10 up to 1,000 nodes, else 2). Too "
        "fast and the guard samples the API server less often in simulated time.",
    ),
    minutes: float | None = typer.Option(
        None,
        min=6.0,
        help="Simulated minutes per side (default 15; 20 beyond 1,000 nodes). The rollout "
        "starts at minute 5 (minute 10 beyond 1,000 nodes, which take longer to build).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead."),
) -> None:
    """Replay the December 2024 OpenAI outage: a telemetry DaemonSet LISTs the API server from
    every node. Starts the simulator, the collector and the guard for each side and prints the
    figures side by side."""
    small = nodes <= 1000
    onset = 300.0 if small else 600.0
    total = minutes if minutes is not None else (15.0 if small else 20.0)
    if total * 60 <= onset + 60:
        raise typer.BadParameter(
            f"{total:g} minutes ends before the rollout at minute {onset / 60:g} has an effect; "
            f"give at least {onset / 60 + 2:g}",
            param_hint="'--minutes'",
        )
    options = ReplayOptions(
        nodes=nodes,
        speed=speed if speed is not None else (10.0 if small else 2.0),
        minutes=total,
        audit_sample=1.0 if small else 0.2,
        onset_seconds=onset,
        start_timeout=600.0 if small else 1200.0,
    )
    sides = [False, True] if guard is None else [guard]

    def progress(message: str) -> None:
        if not as_json:
            err_console.print(Text(message), highlight=False, soft_wrap=True)

    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="kubeward-replay-") as tmp:
            for side in sides:
                results.append(asyncio.run(run_side(side, options, Path(tmp), progress)))
    except RuntimeError as exc:
        print_error(str(exc))
        raise typer.Exit(1) from exc
    figures = [r.figures() for r in results]
    guarded = next((f for f in figures if f["guard"]), None)
    if as_json:
        out: dict[str, Any] = {"sides": figures}
        if guarded is not None:
            out["goals"] = goals_met(guarded)
        console.print_json(json.dumps(out))
        return
    console.print(summary_table(results))
    if guarded is not None:
        for goal, met in goals_met(guarded).items():
            console.print(
                Text.assemble(("met  " if met else "MISSED ", "green" if met else "red"), goal)
            )
