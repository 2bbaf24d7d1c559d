"""``kubeward guard watch``: live detection against one cluster.

Every ``--interval`` (real seconds) it runs one :meth:`kubeward.guard.detect.Guard.step`:
the audit-log lines written since the last step, one scrape of ``/metrics``, the health
signals, the alert. An alert is printed when it opens (signals, ranked suspects, mitigation),
when the guard mitigates it and when it closes; it is stored in the ``alerts`` table of the SQL
store (inserted on open, updated as it changes). With ``--protect`` the guard throttles the top
culprit with API Priority and Fairness. SIGINT (Ctrl-C) and SIGTERM stop it between or during
steps; the alerts' latest state is stored before it exits.

Exit codes: 0 stopped (signal, ``--once``, ``--for``), 1 the kubeconfig, the cluster or the
store failed at start, 2 bad input.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from kubeward.client import ApiClient, ApiError, ClientError, Unauthorized, connect
from kubeward.clitext import print_error as _error
from kubeward.clitext import print_warning as _warn
from kubeward.guard import apf
from kubeward.guard.alertstore import AlertRecorder
from kubeward.guard.apimetrics import MetricsError, fetch_metrics
from kubeward.guard.detect import Alert, Guard, GuardOptions
from kubeward.guard.durations import parse_window
from kubeward.guard.health import THRESHOLD_HELP, Thresholds
from kubeward.store import Store, StoreError, StoreURLError, open_store

log = logging.getLogger("kubeward.guard.watch")

GUARD_AGENT = "kubeward-guard"
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

err_console = Console(stderr=True)


def _fail(code: int, message: str) -> typer.Exit:
    _error(message)
    return typer.Exit(code)


def _duration(text: str, option: str) -> float:
    try:
        return parse_window(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{option}'") from None


def threshold_options(items: list[str] | None, option: str) -> Thresholds:
    """``--threshold NAME=VALUE`` options as Thresholds; a bad one is a usage error (exit 2)."""
    try:
        return Thresholds.with_overrides(items or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{option}'") from None


def _iso(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _short_refusal(reason: str) -> str:
    """The first sentence of a refusal without its preamble: 'refusing to throttle "X": a
    kubelet (node identity, ...). Its requests ...' -> 'a kubelet (node identity, ...)'.
    ``--json`` keeps the whole text."""
    _, sep, rest = reason.partition('": ')
    text = rest if sep else reason
    return text.split(". ", 1)[0].rstrip(".")


@dataclass
class _Seen:
    """What has been reported for one alert."""

    mitigated: bool = False
    closed: bool = False
    flow_schema: str | None = None


@dataclass
class Reporter:
    """Prints alerts as they open, are mitigated and close, and keeps the store in step."""

    out: Console
    as_json: bool
    cluster: str
    window: float
    auto_protect: bool
    min_share: float
    kubeconfig: Path | None
    recorder: AlertRecorder | None
    seen: dict[int, _Seen] = field(default_factory=dict)
    reported: set[int] = field(default_factory=set)  # alerts whose opening was printed
    _alerts: dict[int, Alert] = field(default_factory=dict)
    store_failed: str = ""
    opened: int = 0

    def on_protect(self, alert: Alert, objects: apf.GuardObjects) -> None:
        self.seen.setdefault(id(alert), _Seen()).flow_schema = objects.name

    def update(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            key = id(alert)
            self._alerts[key] = alert
            state = self.seen.setdefault(key, _Seen())
            row_id = self._store(alert)
            if key not in self.reported:
                self.reported.add(key)
                self.opened += 1
                state.mitigated = bool(alert.protected)
                state.closed = alert.closed_at is not None
                self._opened(alert, state, row_id)
                if state.closed:
                    self._closed(alert, row_id)
                continue
            if alert.protected and not state.mitigated:
                state.mitigated = True
                self._mitigated(alert, state, row_id)
            if alert.closed_at is not None and not state.closed:
                state.closed = True
                self._closed(alert, row_id)

    def finish(self) -> None:
        """Store the last state of every alert (a final try after store errors)."""
        for alert in self._alerts.values():
            self._store(alert)

    def _store(self, alert: Alert) -> int | None:
        if self.recorder is None:
            return None
        try:
            self.recorder.sync(alert)
        except (SQLAlchemyError, StoreError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            if reason != self.store_failed:  # retried every step: say each new reason once
                _warn(
                    f"could not store the alert in {self.recorder.store.display_url}: {reason}. "
                    "Retrying at every step; alerts are still printed."
                )
                self.store_failed = reason
        else:
            if self.store_failed:
                _warn(f"alert store {self.recorder.store.display_url} is writable again.")
                self.store_failed = ""
        return self.recorder.row_id(alert)

    def _emit(self, event: str, alert: Alert, row_id: int | None, **extra: Any) -> None:
        doc = {
            "event": event,
            "id": row_id,
            "cluster": self.cluster,
            "summary": alert.summary(),
            **extra,
            "alert": alert.to_dict(),
        }
        self.out.print_json(json.dumps(doc), indent=None, highlight=False)

    def _opened(self, alert: Alert, state: _Seen, row_id: int | None) -> None:
        if self.as_json:
            self._emit("opened", alert, row_id, flowSchema=state.flow_schema)
            return
        o = self.out
        ref = f"  (store id {row_id})" if row_id is not None else ""
        o.print(
            Text.assemble(
                ("ALERT opened", "bold red"),
                f" {_iso(alert.opened_at)}  cluster {self.cluster}{ref}",
            ),
            highlight=False,
        )
        o.print(Text(f"  {alert.summary()}"), highlight=False)
        o.print("  signals:", highlight=False)
        for sig in alert.signals:
            o.print(Text.assemble("    ", (f"{sig.name:<16}", "yellow"), f" {sig.detail}"))
        if alert.suspects:
            o.print(
                f"  suspects (share of estimated API-server cost, last {_human(self.window)} "
                "of the audit log):",
                highlight=False,
            )
            for rank, s in enumerate(alert.suspects, 1):
                if s.refusal is not None:
                    verdict = Text(f"not protectable: {_short_refusal(s.refusal)}", style="dim")
                elif s.share >= self.min_share:
                    verdict = Text("protectable", style="green")
                else:
                    verdict = Text(
                        f"protectable, below the {self.min_share:.0%} share auto-protect needs",
                        style="dim",
                    )
                o.print(
                    Text.assemble(
                        f"    {rank}. ",
                        (s.user, "bold"),
                        f"  {s.user_agent or '-'}  cost {s.share:.0%}  "
                        f"{s.requests_per_second:,.1f} req/s  ",
                        verdict,
                    ),
                    soft_wrap=True,
                )
        else:
            o.print(
                "  suspects: none (no audit events in the window: pass --audit-log to name the "
                "culprits)",
                highlight=False,
            )
        o.print(Text(f"  mitigation: {self._mitigation(alert, state)}"), soft_wrap=True)

    def _mitigation(self, alert: Alert, state: _Seen) -> str:
        if alert.protected:
            users = ", ".join(alert.protected)
            schema = f" (FlowSchema and PriorityLevelConfiguration {state.flow_schema})"
            return (
                f"throttled {users} with API Priority and Fairness"
                f"{schema if state.flow_schema else ''} at {_iso(alert.mitigated_at)}"
            )
        target = next(
            (s for s in alert.suspects if s.refusal is None and s.share >= self.min_share), None
        )
        if self.auto_protect:
            if target is None:
                return (
                    f"none yet: auto-protect waits for a protectable suspect with at least "
                    f"{self.min_share:.0%} of the estimated cost"
                )
            return f"pending: throttling {target.user} (retried at every step)"
        if target is None:
            return "none (auto-protect off; no protectable suspect carries enough of the cost)"
        config = f" --kubeconfig {self.kubeconfig}" if self.kubeconfig else ""
        return (
            f"none (auto-protect off). To throttle the top culprit: "
            f"kubeward guard protect{config} --user '{target.user}' --apply"
        )

    def _mitigated(self, alert: Alert, state: _Seen, row_id: int | None) -> None:
        if self.as_json:
            self._emit("mitigated", alert, row_id, flowSchema=state.flow_schema)
            return
        self.out.print(
            Text.assemble(
                ("ALERT mitigated", "bold yellow"),
                f" {_iso(alert.mitigated_at)}  cluster {self.cluster}: "
                f"{self._mitigation(alert, state)}",
            ),
            soft_wrap=True,
        )

    def _closed(self, alert: Alert, row_id: int | None) -> None:
        if self.as_json:
            self._emit("closed", alert, row_id)
            return
        assert alert.closed_at is not None
        lasted = _human(alert.closed_at - alert.opened_at)
        self.out.print(
            Text.assemble(
                ("ALERT closed", "bold green"),
                f" {_iso(alert.closed_at)}  cluster {self.cluster}: opened "
                f"{_iso(alert.opened_at)}, lasted {lasted}, no signal since "
                f"{_iso(alert.last_signal_at)}"
                + (f"; throttled {', '.join(alert.protected)}" if alert.protected else ""),
            ),
            soft_wrap=True,
        )


@dataclass(frozen=True)
class WatchSettings:
    kubeconfig: Path | None
    context: str | None
    audit_log: Path | None
    interval: float
    duration: float | None
    once: bool
    options: GuardOptions


async def _check_metrics_access(api: ApiClient) -> None:
    """Fail at start when the user may not read /metrics (401/403): every check would
    otherwise raise an "unavailable" alert. Other failures (an API server already overloaded
    or restarting) are left to the loop, which alerts on them."""
    try:
        await fetch_metrics(api)
    except Unauthorized:
        raise
    except MetricsError as exc:
        cause = exc.__cause__
        if isinstance(cause, ApiError) and cause.code in (401, 403):
            raise WatchStartError(str(exc)) from None
    except ClientError:
        pass


class WatchStartError(ClientError):
    """The watch cannot work against this cluster (message says why and the fix)."""


async def run_watch(settings: WatchSettings, reporter: Reporter) -> int:
    """The loop: returns the number of steps run. ClientError from connecting propagates."""
    api = await connect(settings.kubeconfig, settings.context, agent=GUARD_AGENT)
    try:
        await _check_metrics_access(api)
    except BaseException:
        await api.aclose()
        raise
    guard = Guard(api, settings.audit_log, settings.options, on_protect=reporter.on_protect)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    deadline = None if settings.duration is None else time.monotonic() + settings.duration
    steps = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            step = asyncio.ensure_future(guard.step())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not step.done():  # stopped during a step (a slow scrape or apply)
                step.cancel()
                await asyncio.gather(step, return_exceptions=True)
                break
            step.result()
            steps += 1
            reporter.update(guard.alerts)
            if settings.once:
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            wait = max(0.0, started + settings.interval - now)
            if deadline is not None:
                wait = min(wait, deadline - now)
            try:
                async with asyncio.timeout(wait):
                    await stop.wait()
            except TimeoutError:
                pass
    finally:
        # Handlers stay until the alerts' last state is stored: a second Ctrl-C during
        # shutdown must not kill the watch before it has written them.
        try:
            await api.aclose()
            reporter.update(guard.alerts)
            reporter.finish()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
    return steps


def watch(
    kubeconfig: Path | None = typer.Option(
        None,
        "--kubeconfig",
        help="Kubeconfig of the cluster to watch (default: $KUBECONFIG, in-cluster, "
        "~/.kube/config).",
    ),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context."),
    audit_log: Path | None = typer.Option(
        None,
        "--audit-log",
        envvar="KUBEWARD_AUDIT_LOG",
        help="The API server's audit log (audit.k8s.io/v1 Event JSON lines), followed as it "
        "grows, to name the culprits. May not exist yet; its directory must.",
    ),
    interval: str = typer.Option(
        "5s", "--interval", help="Real time between two checks (scrape + audit read): 5s, 1m."
    ),
    window: str = typer.Option(
        "2m", "--window", help="Audit-log time the suspects are ranked over (API-server time)."
    ),
    store: str | None = typer.Option(
        None,
        "--store",
        envvar="KUBEWARD_STORE",
        help="SQL store for the alerts: SQLite path or URL, or postgresql://... "
        "(default .kubeward/kubeward.db).",
    ),
    cluster: str = typer.Option(
        "default", "--cluster", help="Name the alerts are filed under in the store."
    ),
    protect: bool = typer.Option(
        False,
        "--protect/--no-protect",
        help="Auto-protect: throttle the top culprit with API Priority and Fairness when an "
        "alert opens (only a non-system identity with >= 25% of the estimated cost).",
    ),
    threshold: list[str] | None = typer.Option(
        None,
        "--threshold",
        metavar="NAME=VALUE",
        help=THRESHOLD_HELP,
    ),
    once: bool = typer.Option(False, "--once", help="Run one check and exit."),
    run_for: str | None = typer.Option(
        None, "--for", help="Stop after this long (real time), e.g. 10m; default: until stopped."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object per alert event (opened, mitigated, closed)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every step (stderr)."),
) -> None:
    """Watch the API server's health (/metrics) and its audit log; raise a control-plane alert
    naming the top culprits when it degrades, store it, and optionally throttle the culprit."""
    interval_s = _duration(interval, "--interval")
    window_s = _duration(window, "--window")
    duration_s = _duration(run_for, "--for") if run_for is not None else None
    thresholds = threshold_options(threshold, "--threshold")
    if audit_log is not None:
        if audit_log.is_dir():
            raise _fail(
                EXIT_BAD_INPUT,
                f"--audit-log {audit_log} is a directory. Fix: pass the audit log file "
                "(kube-apiserver --audit-log-path).",
            )
        parent = audit_log.parent if str(audit_log.parent) else Path(".")
        if not parent.is_dir():
            raise _fail(
                EXIT_BAD_INPUT,
                f"--audit-log {audit_log}: directory {parent} does not exist. Fix: pass the "
                "path kube-apiserver writes (--audit-log-path) or your webhook receiver's file.",
            )
        if not audit_log.exists():
            _warn(f"--audit-log {audit_log} does not exist yet; it is read once it appears.")
    logging.basicConfig(
        level=logging.WARNING,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    if verbose:
        logging.getLogger("kubeward").setLevel(logging.DEBUG)

    try:
        opened_store: Store = open_store(store)
    except StoreURLError as exc:
        raise _fail(EXIT_BAD_INPUT, f"--store: {exc}") from None
    except StoreError as exc:
        raise _fail(EXIT_FAILED, str(exc)) from None

    options = GuardOptions(window=window_s, auto_protect=protect, thresholds=thresholds)
    out = Console() if not as_json else Console(soft_wrap=True)
    if not out.is_terminal and not as_json:
        out = Console(width=200)
    reporter = Reporter(
        out=out,
        as_json=as_json,
        cluster=cluster,
        window=window_s,
        auto_protect=protect,
        min_share=options.min_share,
        kubeconfig=kubeconfig,
        recorder=AlertRecorder(opened_store, cluster),
    )
    settings = WatchSettings(kubeconfig, context, audit_log, interval_s, duration_s, once, options)
    try:
        steps = asyncio.run(run_watch(settings, reporter))
    except ClientError as exc:
        raise _fail(EXIT_FAILED, str(exc)) from None
    finally:
        opened_store.close()
    open_now = sum(1 for key in reporter.reported if not reporter.seen[key].closed)
    if not as_json:
        err_console.print(
            f"stopped after {steps} check(s): {reporter.opened} alert(s) opened, "
            f"{open_now} still open; alerts stored in {opened_store.display_url} "
            f"(cluster {cluster}).",
            highlight=False,
            soft_wrap=True,
        )
