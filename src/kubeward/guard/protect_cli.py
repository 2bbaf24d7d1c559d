"""``kubeward guard protect``: throttle one culprit identity with API Priority and Fairness.

Without ``--apply``/``--revert``/``--dry-run`` it prints the two objects as YAML (no cluster
needed: pipe them to ``kubectl apply --server-side -f -`` or review them). Exit codes: 0 done,
1 the kubeconfig or the cluster failed (unreadable config, unreachable, 401/403, conflict),
2 bad input, 3 refused (system or exempt identity, or an object the guard does not manage).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import typer
from rich.console import Console

from kubeward.client import connect
from kubeward.client.errors import ClientError
from kubeward.clitext import print_error as _error
from kubeward.guard import protect as ops
from kubeward.guard.apf import (
    GUARD_PRECEDENCE,
    Culprit,
    GuardInputError,
    GuardObjects,
    Limits,
    build,
)
from kubeward.guard.identities import refusal

EXIT_CLUSTER = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
AGENT = "kubeward-guard"

err_console = Console(stderr=True)


def _fail(code: int, message: str) -> typer.Exit:
    _error(message)
    return typer.Exit(code)


def _culprit(user: str | None, service_account: str | None) -> Culprit:
    if (user is None) == (service_account is None):
        raise GuardInputError(
            "name exactly one culprit: --user NAME or --service-account NAMESPACE/NAME."
        )
    if service_account is not None:
        return Culprit.parse_service_account(service_account)
    assert user is not None
    if not user.strip():
        raise GuardInputError("--user: empty username.")
    return Culprit(user.strip())


def protect(
    kubeconfig: Path | None = typer.Option(
        None,
        "--kubeconfig",
        help="Kubeconfig of the cluster (default: $KUBECONFIG, in-cluster, ~/.kube/config). "
        "Only used with --apply, --revert or --dry-run.",
    ),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context."),
    user: str | None = typer.Option(
        None, "--user", help="Username to throttle, as the audit log records it."
    ),
    service_account: str | None = typer.Option(
        None, "--service-account", help="Service account to throttle, as NAMESPACE/NAME."
    ),
    group: list[str] = typer.Option(
        [],
        "--group",
        help="A group of the user as the audit log records it (repeatable); only used to "
        "refuse system identities such as members of system:masters or system:nodes.",
    ),
    apply: bool = typer.Option(
        False, "--apply", help="Server-side apply the objects (field manager kubeward-guard)."
    ),
    revert: bool = typer.Option(
        False, "--revert", help="Delete the guard's objects for this identity."
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Print a unified diff between the server's objects and what --apply would store; "
        "change nothing.",
    ),
    shares: int = typer.Option(
        Limits.shares, "--shares", help="nominalConcurrencyShares of the guard's priority level."
    ),
    queue_length: int = typer.Option(
        Limits.queue_length, "--queue-length", help="queueLengthLimit: requests per queue."
    ),
    queues: int = typer.Option(Limits.queues, "--queues", help="Number of queues."),
    hand_size: int = typer.Option(
        Limits.hand_size, "--hand-size", help="Queues a flow is dealt (shuffle sharding)."
    ),
    precedence: int = typer.Option(
        GUARD_PRECEDENCE,
        "--precedence",
        help="matchingPrecedence of the FlowSchema (default 1000: after the system schemas, "
        "before service-accounts 9000 and global-default 9900).",
    ),
) -> None:
    """Throttle one client identity with an API Priority and Fairness FlowSchema and a small
    Limited priority level; refuses system and exempt identities."""
    if sum((apply, revert, dry_run)) > 1:
        raise _fail(EXIT_BAD_INPUT, "choose one of --apply, --revert and --dry-run.")
    try:
        culprit = _culprit(user, service_account)
    except GuardInputError as exc:
        raise _fail(EXIT_BAD_INPUT, str(exc)) from None
    reason = refusal(culprit.user, [*group, *culprit.groups])
    if reason is not None and not revert:  # removing an old rule is always allowed
        raise _fail(EXIT_REFUSED, reason)
    try:
        objects = build(
            culprit,
            Limits(shares=shares, queues=queues, hand_size=hand_size, queue_length=queue_length),
            precedence=precedence,
        )
    except GuardInputError as exc:
        raise _fail(EXIT_BAD_INPUT, str(exc)) from None
    if not (apply or revert or dry_run):
        sys.stdout.write(objects.to_yaml())
        return
    try:
        asyncio.run(_run(objects, kubeconfig, context, apply, revert, precedence))
    except ops.NotManaged as exc:
        raise _fail(EXIT_REFUSED, str(exc)) from None
    except ClientError as exc:
        raise _fail(EXIT_CLUSTER, str(exc)) from None


async def _run(
    objects: GuardObjects,
    kubeconfig: Path | None,
    context: str | None,
    apply: bool,
    revert: bool,
    precedence: int,
) -> None:
    path: str | os.PathLike[str] | None = kubeconfig
    async with await connect(path, context, agent=AGENT) as api:
        who = objects.culprit.describe()
        if revert:
            outcomes = await ops.revert(api, objects.culprit)
            for outcome in outcomes:
                print(outcome.line())
            if all(o.action == "not found" for o in outcomes):
                err_console.print(f"No guard objects for {who} on the server.", highlight=False)
            return
        if apply:
            result = await ops.apply(api, objects, precedence=precedence)
            for outcome in result.outcomes:
                print(outcome.line())
            err_console.print(
                f"{who} is now classified to priority level {objects.name} "
                "(nominalConcurrencyShares "
                f"{objects.priority_level['spec']['limited']['nominalConcurrencyShares']}, "
                "queuing); undo with --revert.",
                highlight=False,
                soft_wrap=True,
            )
            for name in result.shadowed_by:
                err_console.print(
                    f'warning: FlowSchema "{name}" comes before the guard\'s (lower '
                    f"matchingPrecedence than {precedence}) and names {who}: requests it "
                    "matches are not throttled.",
                    highlight=False,
                    soft_wrap=True,
                )
            return
        text = await ops.diff(api, objects)
        if text:
            sys.stdout.write(text)
        else:
            err_console.print("No changes: the server already has these objects.")


if __name__ == "__main__":  # python -m kubeward.guard.protect_cli (same as kubeward guard protect)
    typer.run(protect)
