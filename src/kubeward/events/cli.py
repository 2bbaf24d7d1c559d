"""``kubeward events ...``: list, count, import and purge stored Kubernetes Events."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console

from kubeward.clitext import print_error as _error
from kubeward.events.importer import iter_event_objects
from kubeward.events.normalize import EventShapeError
from kubeward.events.query import EventFilter, list_events, stats
from kubeward.events.render import events_table, print_table, stats_table, to_json
from kubeward.events.retention import purge_events
from kubeward.events.timeparse import parse_duration, parse_time
from kubeward.events.writer import EventWriter
from kubeward.store import DEFAULT_STORE, Store, StoreError, StoreURLError, open_store

events_app = typer.Typer(
    help="The event center: Kubernetes Events kept in kubeward's SQL store.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

_STORE_HELP = (
    f"Store: a SQLite file path (default {DEFAULT_STORE}) or a URL, "
    "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB."
)


def _bad(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{option}'")


def _time_option(option: str, value: str | None) -> datetime | None:
    try:
        return parse_time(value) if value else None
    except ValueError as exc:
        raise _bad(option, str(exc)) from None


def _event_type(value: str | None) -> str | None:
    if value is None:
        return None
    for known in ("Normal", "Warning"):
        if value.lower() == known.lower():
            return known
    raise _bad("--type", f"{value!r} is not an event type; use Normal or Warning")


def _object(value: str | None) -> tuple[str | None, str | None]:
    if value is None:
        return (None, None)
    kind, sep, name = value.rpartition("/")
    if not name or (sep and not kind) or "/" in kind:
        raise _bad("--object", f"{value!r}: use KIND/NAME (e.g. pod/web-1) or NAME")
    return (kind or None, name)


StoreOpt = typer.Option(None, "--store", envvar="KUBEWARD_STORE", help=_STORE_HELP)
ClusterOpt = typer.Option(None, "--cluster", help="Only this cluster's events (default: all).")
NamespaceOpt = typer.Option(None, "--namespace", "-n", help="Only events in this namespace.")
ObjectOpt = typer.Option(
    None,
    "--object",
    help="Only events about this object: KIND/NAME (pod/web-1, deploy/web, node/n1) or NAME.",
)
ReasonOpt = typer.Option(None, "--reason", help="Only this reason, e.g. FailedScheduling.")
TypeOpt = typer.Option(None, "--type", help="Normal or Warning.")
SinceOpt = typer.Option(
    None,
    "--since",
    help="Last seen at or after: a duration ago (30s, 15m, 1h, 7d) or an RFC 3339 time.",
)
UntilOpt = typer.Option(None, "--until", help="Last seen at or before (same forms as --since).")


@contextmanager
def _opened(store: str | None, *, create: bool) -> Iterator[Store]:
    """The store, or a clear message and a non-zero exit."""
    try:
        opened = open_store(store, create=create)
    except StoreURLError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--store'") from None
    except StoreError as exc:
        _error(f"--store: {exc}")
        raise typer.Exit(1) from None
    with opened:
        yield opened


def _filter(
    cluster: str | None,
    namespace: str | None,
    obj: str | None,
    reason: str | None,
    type_: str | None,
    since: str | None,
    until: str | None,
) -> EventFilter:
    """The filter from the options, or a usage error naming the bad option."""
    kind, name = _object(obj)
    return EventFilter(
        cluster,
        namespace,
        kind,
        name,
        reason,
        _event_type(type_),
        _time_option("--since", since),
        _time_option("--until", until),
    )


@events_app.command("list")
def list_command(
    store: str | None = StoreOpt,
    cluster: str | None = ClusterOpt,
    namespace: str | None = NamespaceOpt,
    obj: str | None = ObjectOpt,
    reason: str | None = ReasonOpt,
    type_: str | None = TypeOpt,
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    limit: int = typer.Option(500, "--limit", min=0, help="At most this many (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
) -> None:
    """List events, newest first (like kubectl get events, but kept beyond the API's 1 h TTL)."""
    flt = _filter(cluster, namespace, obj, reason, type_, since, until)
    with _opened(store, create=False) as opened:
        rows = list_events(opened, flt, limit=limit or None)
    if as_json:
        sys.stdout.write(json.dumps([to_json(r) for r in rows], indent=2) + "\n")
        return
    if not rows:
        err_console.print("No events found.")
        return
    print_table(console, events_table(rows, show_namespace=namespace is None))
    if limit and len(rows) == limit:
        err_console.print(f"(the newest {limit} shown; --limit 0 shows all)")


@events_app.command("stats")
def stats_command(
    store: str | None = StoreOpt,
    cluster: str | None = ClusterOpt,
    namespace: str | None = NamespaceOpt,
    obj: str | None = ObjectOpt,
    reason: str | None = ReasonOpt,
    type_: str | None = TypeOpt,
    since: str | None = SinceOpt,
    until: str | None = UntilOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Count events by type and reason (events stored, and occurrences including repeats)."""
    flt = _filter(cluster, namespace, obj, reason, type_, since, until)
    with _opened(store, create=False) as opened:
        counts = stats(opened, flt)
    if as_json:
        sys.stdout.write(json.dumps([c.__dict__ for c in counts], indent=2) + "\n")
    elif counts:
        print_table(console, stats_table(counts))
    else:
        err_console.print("No events found.")


@events_app.command("import")
def import_command(
    path: str = typer.Argument(
        ..., help="File with kubectl get events -o json output or a watch stream; - for stdin."
    ),
    store: str | None = StoreOpt,
    cluster: str = typer.Option("default", "--cluster", help="Cluster name to file them under."),
) -> None:
    """Store Events from a file (deduplicated by uid like the collector's)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        objects = list(iter_event_objects(text))
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="PATH") from None
    except ValueError as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="PATH") from None
    with _opened(store, create=True) as opened:
        writer = EventWriter(opened, cluster=cluster, auto_flush=False)
        try:
            writer.add_many(objects)
        except EventShapeError as exc:
            raise typer.BadParameter(f"{path}: {exc}", param_hint="PATH") from None
        if not writer.close():
            _error(
                f"--store: store unavailable, {writer.dropped} events not stored: "
                f"{writer.last_error}"
            )
            raise typer.Exit(1)
    err_console.print(f"Imported {len(objects)} events into {opened.display_url}.")


@events_app.command("purge")
def purge_command(
    retention: str = typer.Option(
        ..., "--retention", help="Delete events last seen longer ago than this (e.g. 7d, 12h)."
    ),
    store: str | None = StoreOpt,
    cluster: str | None = ClusterOpt,
) -> None:
    """Apply a retention period now (the collector also does it periodically)."""
    try:
        period = parse_duration(retention)
    except ValueError as exc:
        raise _bad("--retention", str(exc)) from None
    with _opened(store, create=False) as opened:
        deleted = purge_events(opened, period, cluster=cluster)
    err_console.print(f"Deleted {deleted} events last seen more than {retention} ago.")


if __name__ == "__main__":
    events_app()
