"""``kubeward collect``: the collector's command line.

Registered in ``kubeward.cli`` as ``app.command("collect")(collect)``; also runnable as
``python -m kubeward.collect.cli``. Heavy imports (pyarrow, uvicorn, the store) happen inside
the command so ``kubeward --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from kubeward.clitext import print_error as _error
from kubeward.guard.health import THRESHOLD_HELP

if TYPE_CHECKING:  # pyarrow loads only when the command runs
    from kubeward.collect.metadata import MetadataRows

collect_app = typer.Typer(
    help="Collect cluster state and events with one LIST+WATCH per kind.",
    add_completion=False,
)

DEFAULT_STORE = ".kubeward/kubeward.db"
DEFAULT_LISTEN = "127.0.0.1:8080"
# Exit code of a stop (SIGTERM/SIGINT) that could not write every buffered Event to the store.
EXIT_EVENTS_LOST = 3


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise typer.BadParameter(
            f"{value!r} is not HOST:PORT (e.g. {DEFAULT_LISTEN}; port 0 picks free ports)",
            param_hint="'--listen'",
        )
    return host, int(port)


def parse_retention(value: str | None) -> timedelta | None:
    """``--event-retention``: a positive duration (``7d``) or None."""
    if value is None:
        return None
    from kubeward.events.timeparse import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--event-retention'") from None


def parse_allowlists(labels: str | None, annotations: str | None) -> MetadataRows:
    """The two allowlist options, checked (a bad one exits 2 naming it)."""
    from kubeward.collect.ksm import LABELLED_KINDS
    from kubeward.collect.metadata import AllowlistError, MetadataRows, parse_allowlist

    kinds = LABELLED_KINDS
    parsed = []
    for value, prefix, option in (
        (labels, "label", "--metric-labels-allowlist"),
        (annotations, "annotation", "--metric-annotations-allowlist"),
    ):
        try:
            parsed.append(parse_allowlist(value, prefix, kinds))
        except AllowlistError as exc:
            raise typer.BadParameter(str(exc), param_hint=f"'{option}'") from None
    return MetadataRows(*parsed)


def parse_family_filter(allow: str | None, deny: str | None) -> tuple[str, ...]:
    """The families left by --metric-allowlist / --metric-denylist (a bad one exits 2)."""
    from kubeward.collect.ksm import FamilyFilterError, select_families

    option = "--metric-allowlist" if allow is not None else "--metric-denylist"
    try:
        families, unmatched = select_families(allow, deny)
    except FamilyFilterError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{option}'") from None
    if unmatched:
        # Accepted, as kube-state-metrics does, but most likely a typo.
        typer.echo(
            f"warning: {option}: {', '.join(map(repr, unmatched))} matches no metric family "
            "(`kubeward collect --list-families` lists the names)",
            err=True,
        )
    return families


def _print_families() -> None:
    from kubeward.collect.ksm import FAMILIES

    width = max(len(f.name) for f in FAMILIES)
    for family in FAMILIES:
        typer.echo(f"{family.name:<{width}}  {family.type:<7}  {family.help}")


@collect_app.command()
def collect(
    kubeconfig: Path | None = typer.Option(
        None,
        "--kubeconfig",
        help="Kubeconfig file (default: $KUBECONFIG, the pod's service account in a cluster, "
        "else ~/.kube/config).",
    ),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context to use."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=256,
        help="Worker processes holding shards of the state and serving them. The API server "
        "sees one LIST and one WATCH per kind whatever this is.",
    ),
    listen: str = typer.Option(
        DEFAULT_LISTEN,
        "--listen",
        help="HOST:PORT of the master's /metrics (all shards); worker i serves its shard on "
        "PORT+i. Loopback by default; port 0 picks free ports (see /workers).",
    ),
    store: str = typer.Option(
        DEFAULT_STORE,
        "--store",
        envvar="KUBEWARD_STORE",
        help="Event store: SQLite file path or sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST:PORT/DB.",
    ),
    no_store: bool = typer.Option(False, "--no-store", help="Do not collect Events."),
    cluster: str = typer.Option(
        "default", "--cluster", help="Name the events are filed under in the store."
    ),
    event_retention: str | None = typer.Option(
        None,
        "--event-retention",
        help="Delete stored events of this --cluster last seen longer ago than this (30m, 12h, "
        "7d, 2w), checked every 5 minutes (default: keep them all; "
        "`kubeward events purge` does it by hand).",
    ),
    event_buffer: int = typer.Option(
        100_000,
        "--event-buffer",
        min=1,
        help="Events held in memory while the store is unavailable; past it the oldest are "
        "dropped and counted in kubeward_events_dropped_total.",
    ),
    labels_allowlist: str | None = typer.Option(
        None,
        "--metric-labels-allowlist",
        metavar="RESOURCE=[KEY,...],...",
        help="Object labels exposed as label_* on kube_<kind>_labels, as in kube-state-metrics: "
        "e.g. 'pods=[app,app.kubernetes.io/*],nodes=[*]'; '*=[...]' for every resource "
        "(default: none, and no kube_*_labels series).",
    ),
    annotations_allowlist: str | None = typer.Option(
        None,
        "--metric-annotations-allowlist",
        metavar="RESOURCE=[KEY,...],...",
        help="Object annotations exposed as annotation_* on kube_<kind>_annotations, with the "
        "syntax of --metric-labels-allowlist (default: none).",
    ),
    metric_allowlist: str | None = typer.Option(
        None,
        "--metric-allowlist",
        metavar="PATTERN,...",
        help="Expose only the families whose names match one of these regular expressions "
        "(matched anywhere in the name, as kube-state-metrics does: "
        "'kube_pod_status_phase,kube_node_'). Exclusive with --metric-denylist.",
    ),
    metric_denylist: str | None = typer.Option(
        None,
        "--metric-denylist",
        metavar="PATTERN,...",
        help="Expose every family except those whose names match one of these regular "
        "expressions (e.g. 'kube_pod_container_state_started,_last_terminated_'). Exclusive "
        "with --metric-allowlist.",
    ),
    list_families: bool = typer.Option(
        False,
        "--list-families",
        help="Print the metric families the collector can expose (name, type, help) and exit.",
    ),
    watch_timeout: float | None = typer.Option(
        None,
        "--watch-timeout",
        min=1,
        help="Seconds each watch asks the server to keep it open (default: random 300-600, "
        "as client-go).",
    ),
    guard: bool = typer.Option(
        False,
        "--guard/--no-guard",
        help="Also run the control-plane guard (as `kubeward guard watch`): check the API "
        "server's /metrics every --guard-interval, alert naming the culprits from --audit-log, "
        "alerts printed and stored in --store.",
    ),
    audit_log: Path | None = typer.Option(
        None,
        "--audit-log",
        envvar="KUBEWARD_AUDIT_LOG",
        help="With --guard: the API server's audit log, followed to name the culprits.",
    ),
    guard_protect: bool = typer.Option(
        False,
        "--guard-protect",
        help="With --guard: throttle the culprit with API Priority and Fairness (a non-system "
        "identity with >= 25% of the estimated cost).",
    ),
    guard_interval: float = typer.Option(
        5.0, "--guard-interval", min=0.1, help="With --guard: seconds between two checks."
    ),
    guard_threshold: list[str] | None = typer.Option(
        None, "--guard-threshold", metavar="NAME=VALUE", help=f"With --guard: {THRESHOLD_HELP}"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level."),
) -> None:
    """Watch a cluster and serve kube-state-metrics-compatible /metrics; store its Events.

    One LIST+WATCH per kind for the whole collector, however many workers serve the shards.

    Exit codes: 0 stopped by SIGTERM/SIGINT; 1 cannot connect, list or serve, or a worker or
    informer failed; 2 bad option or --store URL; 3 stopped, but buffered Events could not be
    written to the store (the loss is logged with its count).
    """
    if list_families:
        _print_families()
        raise typer.Exit(0)
    host, port = parse_listen(listen)
    retention = parse_retention(event_retention)
    metadata = parse_allowlists(labels_allowlist, annotations_allowlist)
    families = parse_family_filter(metric_allowlist, metric_denylist)
    if not guard and (audit_log is not None or guard_protect or guard_threshold):
        raise typer.BadParameter(
            "--audit-log, --guard-protect and --guard-threshold configure the guard; add --guard",
            param_hint="'--guard'",
        )
    from kubeward.guard.watch_cli import threshold_options  # the guard loads only when used

    thresholds = threshold_options(guard_threshold, "--guard-threshold") if guard else None
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    settings: dict[str, Any] = {
        "kubeconfig": kubeconfig,
        "context": context,
        "workers": workers,
        "host": host,
        "port": port,
        "store": None if no_store else store,
        "cluster": cluster,
        "watch_timeout": watch_timeout,
        "event_retention": retention,
        "event_buffer": event_buffer,
        "metadata": metadata,
        "families": families,
        "guard": guard,
        "audit_log": audit_log,
        "guard_protect": guard_protect,
        "guard_interval": guard_interval,
        "guard_thresholds": thresholds,
    }
    raise typer.Exit(asyncio.run(_run(settings)))


async def _run(s: dict[str, Any]) -> int:
    from kubeward.client import ClientError, connect
    from kubeward.store import StoreError, open_store

    try:
        api = await connect(s["kubeconfig"], s["context"])
    except ClientError as exc:
        _error(str(exc))
        return 1
    store = None
    if s["store"] is not None:
        try:
            # Lazy: the collector starts (and buffers events) while the database is down.
            store = open_store(s["store"], lazy=True)
        except StoreError as exc:
            _error(str(exc))
            await api.aclose()
            return 2
    try:
        return await _serve(api, store, s)
    finally:
        await api.aclose()
        if store is not None:
            store.close()


async def _serve(api: Any, store: Any, s: dict[str, Any]) -> int:
    from kubeward.collect.link import WorkerDied
    from kubeward.collect.master import Collector, Options
    from kubeward.collect.server import bind, make_server

    options = Options(
        s["workers"],
        s["host"],
        s["port"],
        s["cluster"],
        s["watch_timeout"],
        event_retention=s["event_retention"],
        event_buffer=s["event_buffer"],
        metadata=s["metadata"],
        families=s["families"],
    )
    try:
        sock = bind(options.host, options.port)
    except OSError as exc:
        _error(f"cannot listen on {options.host}:{options.port}: {exc}. Fix: pick another --listen")
        return 1
    collector = Collector(api, options, store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = make_server(collector)
    serving: asyncio.Task[None] | None = None
    guarding: asyncio.Task[None] | None = None
    code = 1
    try:
        await collector.start_workers()
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        port = sock.getsockname()[1]
        typer.echo(
            f"kubeward collect: serving http://{options.host}:{port}/metrics "
            f"workers={','.join(collector.worker_urls())}"
        )
        collector.start_informers()
        if s["guard"]:
            guarding = asyncio.create_task(_guard_loop(api, store, s, stop), name="guard")
        code = await _until_done(collector, stop)
    except WorkerDied as exc:
        _error(str(exc))
        code = 1
    finally:
        if guarding is not None:
            guarding.cancel()
            await asyncio.gather(guarding, return_exceptions=True)
        server.should_exit = True
        if serving is not None:
            await asyncio.wait([serving], timeout=5)
        events_lost = not await collector.stop()
        if events_lost:
            _error("some Events could not be written to the store before exit (see the log)")
        sock.close()
    # A clean stop that lost buffered Events is not a success: EXIT_EVENTS_LOST tells a
    # supervisor or script so. A failure (1) keeps its own code.
    return EXIT_EVENTS_LOST if events_lost and code == 0 else code


async def _guard_loop(api: Any, store: Any, s: dict[str, Any], stop: asyncio.Event) -> None:
    """``kubeward guard watch`` inside the collector: same checks, alerts and store, sharing
    the collector's connection (one /metrics GET per check; no LIST or WATCH of its own)."""

    from kubeward.guard.alertstore import AlertRecorder
    from kubeward.guard.detect import Guard, GuardOptions
    from kubeward.guard.watch_cli import Reporter

    options = GuardOptions(auto_protect=s["guard_protect"], thresholds=s["guard_thresholds"])
    reporter = Reporter(
        out=Console(width=200) if not Console().is_terminal else Console(),
        as_json=False,
        cluster=s["cluster"],
        window=options.window,
        auto_protect=options.auto_protect,
        min_share=options.min_share,
        kubeconfig=s["kubeconfig"],
        recorder=AlertRecorder(store, s["cluster"]) if store is not None else None,
    )
    guard = Guard(api, s["audit_log"], options, on_protect=reporter.on_protect)
    try:
        while not stop.is_set():
            await guard.step()
            reporter.update(guard.alerts)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(s["guard_interval"]):
                    await stop.wait()
    finally:
        reporter.update(guard.alerts)
        reporter.finish()


async def _until_done(collector: Any, stop: asyncio.Event) -> int:
    synced = asyncio.create_task(collector.wait_synced())
    stopped = asyncio.create_task(stop.wait())
    fatal = asyncio.create_task(collector.fatal_event.wait())
    try:
        done, _ = await asyncio.wait({synced, stopped, fatal}, return_when=asyncio.FIRST_COMPLETED)
        if synced in done:
            error = synced.exception()
            if error is not None:
                _report_sync_failure(collector, error)
                return 1
            typer.echo(f"kubeward collect: synced {len(collector.informers)} resources")
            done, _ = await asyncio.wait({stopped, fatal}, return_when=asyncio.FIRST_COMPLETED)
        if fatal in done:
            _error(f"{collector.fatal}; exiting so the supervisor restarts the collector")
            return 1
        return 0
    finally:
        for task in (synced, stopped, fatal):
            task.cancel()


def _report_sync_failure(collector: Any, error: BaseException) -> None:
    """The first failure in full (it names the fix); the other kinds' on one line each."""
    from kubeward.client import Forbidden

    _error(str(error))
    forbidden = isinstance(error, Forbidden)
    for name, informer in collector.informers.items():
        failure = informer.failure
        if failure is not None and failure is not error:
            forbidden = forbidden or isinstance(failure, Forbidden)
            _error(f"also {name}: {str(failure).splitlines()[0]}")
    if forbidden:
        _error(
            "deploy/02-rbac.yaml in kubeward's source has the ClusterRole granting list and watch "
            "on exactly the kinds the collector reads (kubectl apply -f deploy/)."
        )


if __name__ == "__main__":
    collect_app()
