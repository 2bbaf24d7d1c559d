"""Showing events: a kubectl-like Rich table, or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from kubeward.events.query import ReasonCount
from kubeward.events.timeparse import human_duration


def object_ref(row: dict[str, Any]) -> str:
    """``pod/web-1`` as kubectl's OBJECT column prints it."""
    kind = str(row["object_kind"]).lower()
    return f"{kind}/{row['object_name']}" if kind else str(row["object_name"])


def events_table(
    rows: Sequence[dict[str, Any]], *, show_namespace: bool, now: datetime | None = None
) -> Table:
    now = now or datetime.now(UTC)
    table = Table(box=None, header_style="bold", pad_edge=False)
    if show_namespace:
        table.add_column("NAMESPACE", no_wrap=True)
    for name in ("LAST SEEN", "TYPE", "REASON", "OBJECT"):
        table.add_column(name, no_wrap=True)
    table.add_column("MESSAGE", overflow="fold")
    table.add_column("COUNT", justify="right", no_wrap=True)
    for row in rows:
        age = human_duration((now - row["last_seen"]).total_seconds())
        cells = [
            age,
            row["type"],
            row["reason"],
            object_ref(row),
            row["message"],
            str(row["count"]),
        ]
        if show_namespace:
            cells.insert(0, row["namespace"])
        # Messages come from cluster objects: never let them be read as Rich markup.
        table.add_row(
            *(_plain(c) for c in cells), style="yellow" if row["type"] == "Warning" else None
        )
    return table


def stats_table(counts: Sequence[ReasonCount]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("TYPE", "REASON"):
        table.add_column(name, no_wrap=True)
    for name in ("EVENTS", "OCCURRENCES"):
        table.add_column(name, justify="right", no_wrap=True)
    for c in counts:
        table.add_row(_plain(c.type), _plain(c.reason), str(c.events), str(c.occurrences))
    return table


def _plain(text: str) -> Text:
    return Text(text)


def to_json(row: dict[str, Any]) -> dict[str, Any]:
    """A row with RFC 3339 times, for ``--json``."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        out[key] = value
    return out


def print_table(console: Console, table: Table) -> None:
    """In a terminal: fit its width (MESSAGE wraps). Piped: one line per row, like kubectl,
    so grep and friends see whole messages."""
    if console.is_terminal:
        console.print(table)
    else:
        width = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
        Console(file=console.file, width=max(width, 1), color_system=None).print(table)
