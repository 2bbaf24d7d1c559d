"""Applying, diffing and reverting the guard's APF objects through the API.

Everything goes through :class:`kubeward.client.ApiClient` (same transport, credentials and
error mapping as the rest of the platform), so it works unchanged against a real cluster and
against ``kubeward sim``:

- :func:`apply`: server-side apply (``PATCH`` ``application/apply-patch+yaml``,
  ``fieldManager=kubeward-guard``), the priority level first since the schema refers to it.
  An existing object of that name without the guard's managed-by label is never touched
  (:class:`NotManaged`); one with it is taken over with ``force=true``, so a hand edit of the
  guard's own object does not block an emergency re-apply.
- :func:`diff`: the same apply with ``dryRun=All``; a unified diff of the YAML on the server
  and the YAML the server would store (volatile metadata left out). Changes nothing.
- :func:`revert`: deletes the guard's FlowSchema then its priority level for one identity,
  after checking the label; :func:`revert_all` deletes every object carrying the label.

Every request is counted in ``api.requests`` like the client's own.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson
import yaml

from kubeward.client.api import _AUTH_FAILURES, ApiClient
from kubeward.client.errors import ClientError, ConnectionLost
from kubeward.client.resources import Resource
from kubeward.guard.apf import (
    API_VERSION,
    FIELD_MANAGER,
    GUARD_PRECEDENCE,
    MANAGED_SELECTOR,
    Culprit,
    GuardObjects,
    guard_name,
    is_managed,
    shadowing,
)
from kubeward.kube.flowcontrol import FLOWCONTROL

FLOW_SCHEMAS = Resource(FLOWCONTROL, "v1", "flowschemas", namespaced=False)
PRIORITY_LEVELS = Resource(FLOWCONTROL, "v1", "prioritylevelconfigurations", namespaced=False)
_RESOURCES = {"FlowSchema": FLOW_SCHEMAS, "PriorityLevelConfiguration": PRIORITY_LEVELS}
_VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


class NotManaged(ClientError):
    """An object the guard would write or delete exists but is not the guard's."""


@dataclass
class Outcome:
    """What happened to one object, worded as kubectl words it."""

    kind: str
    name: str
    action: str  # "created", "configured", "unchanged", "deleted", "not found"
    object: dict[str, Any] | None = None

    def line(self) -> str:
        verb = {
            "created": "serverside-applied",
            "configured": "serverside-applied",
        }.get(self.action, self.action)
        note = f" ({self.action})" if self.action in ("created", "configured") else ""
        return f"{self.kind.lower()}.{FLOWCONTROL}/{self.name} {verb}{note}"


@dataclass
class ApplyResult:
    outcomes: list[Outcome]
    # FlowSchemas on the server that still come before the guard's for this identity.
    shadowed_by: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(o.action in ("created", "configured") for o in self.outcomes)


def _path(kind: str, name: str) -> str:
    return f"{_RESOURCES[kind].collection_path()}/{name}"


async def _send(
    api: ApiClient,
    method: str,
    kind: str,
    name: str,
    *,
    verb: str,
    params: dict[str, str] | None = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    ok: Sequence[int] = (200, 201),
) -> tuple[int, dict[str, Any] | None]:
    """One request on one object with the client's error mapping; ``(status, body)`` for the
    statuses in ``ok`` and 404 (body None)."""
    resource = _RESOURCES[kind]
    api.requests[verb, resource.display] += 1
    try:
        response = await api.http.request(
            method, _path(kind, name), params=params, content=content, headers=headers
        )
    except httpx2.TransportError as exc:
        raise api.transport_error(exc) from exc
    except _AUTH_FAILURES as exc:
        raise api.auth_failure(exc) from exc
    if response.status_code == 404 and method != "PATCH":
        return 404, None
    if response.status_code not in ok:
        raise api.status_error(response, response.content, verb, resource, None)
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError as exc:
        raise ConnectionLost(f"{method} {_path(kind, name)}: body is not JSON ({exc})") from exc
    return response.status_code, body if isinstance(body, dict) else None


async def get(api: ApiClient, kind: str, name: str) -> dict[str, Any] | None:
    """The object on the server, or None."""
    _, body = await _send(api, "GET", kind, name, verb="get")
    return body


async def _server_side_apply(
    api: ApiClient, obj: dict[str, Any], *, dry_run: bool
) -> dict[str, Any]:
    params = {"fieldManager": FIELD_MANAGER, "force": "true"}
    if dry_run:
        params["dryRun"] = "All"
    _, body = await _send(
        api,
        "PATCH",
        obj["kind"],
        obj["metadata"]["name"],
        verb="patch",
        params=params,
        content=orjson.dumps(obj),  # JSON is YAML: the apply-patch+yaml body
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    if body is None:
        raise ConnectionLost(f"apply of {obj['kind']}/{obj['metadata']['name']}: empty answer")
    return body


def _refuse_foreign(kind: str, name: str, current: dict[str, Any] | None, doing: str) -> None:
    if current is not None and not is_managed(current):
        raise NotManaged(
            f"{_RESOURCES[kind].display}/{name} exists but is not managed by kubeward-guard "
            f"(no label {MANAGED_SELECTOR}); refusing to {doing} it. Fix: rename or delete "
            "that object yourself if it is stale."
        )


async def _list_schemas(api: ApiClient) -> list[dict[str, Any]]:
    doc = await api.list_page(FLOW_SCHEMAS, None, {})
    return list(doc.get("items") or [])


async def apply(
    api: ApiClient, objects: GuardObjects, *, precedence: int = GUARD_PRECEDENCE
) -> ApplyResult:
    """Server-side apply the level then the schema. Idempotent: applying the same objects
    again leaves them (and their resourceVersion) unchanged. ``precedence`` is the schema's,
    used to report the server's FlowSchemas that would still come first."""
    outcomes = []
    for obj in objects.objects():
        kind, name = obj["kind"], obj["metadata"]["name"]
        current = await get(api, kind, name)
        _refuse_foreign(kind, name, current, "overwrite")
        stored = await _server_side_apply(api, obj, dry_run=False)
        if current is None:
            action = "created"
        elif _rv(current) == _rv(stored):
            action = "unchanged"
        else:
            action = "configured"
        outcomes.append(Outcome(kind, name, action, stored))
    shadowed = shadowing(await _list_schemas(api), objects.culprit, precedence)
    return ApplyResult(outcomes, shadowed)


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def comparable(obj: dict[str, Any] | None) -> str:
    """YAML of an object as a diff shows it: without managedFields, resourceVersion,
    generation, uid, creationTimestamp and status (what the server changes on its own)."""
    if obj is None:
        return ""
    shown = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE_METADATA}
    shown["metadata"] = meta
    shown.setdefault("apiVersion", API_VERSION)
    return yaml.safe_dump(shown, sort_keys=True, default_flow_style=False)


async def diff(api: ApiClient, objects: GuardObjects) -> str:
    """Unified diff, per object, between the server's YAML and what a server-side apply
    would store (the server's own dry run, so defaults appear as they would). Empty when
    applying would change nothing. Writes nothing."""
    chunks = []
    for obj in objects.objects():
        kind, name = obj["kind"], obj["metadata"]["name"]
        current = await get(api, kind, name)
        _refuse_foreign(kind, name, current, "overwrite")
        would = await _server_side_apply(api, obj, dry_run=True)
        before, after = comparable(current), comparable(would)
        if before == after:
            continue
        label = f"{kind.lower()}.{FLOWCONTROL}/{name}"
        chunks.append(
            "".join(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile=f"{label} (server)" if current is not None else "/dev/null",
                    tofile=f"{label} (applied)",
                )
            )
        )
    return "".join(chunks)


async def _delete(api: ApiClient, kind: str, name: str) -> Outcome:
    current = await get(api, kind, name)
    if current is None:
        return Outcome(kind, name, "not found")
    _refuse_foreign(kind, name, current, "delete")
    code, _ = await _send(
        api,
        "DELETE",
        kind,
        name,
        verb="delete",
        params={},
        # Delete exactly what was checked: a same-named object recreated meanwhile stays.
        content=orjson.dumps(
            {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {"uid": current["metadata"].get("uid")},
            }
        ),
        headers={"Content-Type": "application/json"},
        ok=(200, 202),
    )
    return Outcome(kind, name, "deleted" if code != 404 else "not found")


async def revert(api: ApiClient, culprit: Culprit | str) -> list[Outcome]:
    """Delete the guard's FlowSchema and priority level for ``culprit`` (schema first, so no
    request is ever classified to a missing level). Objects without the guard's label are
    refused (:class:`NotManaged`); missing ones are reported as ``not found``."""
    user = culprit.user if isinstance(culprit, Culprit) else culprit
    name = guard_name(user)
    return [
        await _delete(api, "FlowSchema", name),
        await _delete(api, "PriorityLevelConfiguration", name),
    ]


async def managed(api: ApiClient) -> dict[str, list[dict[str, Any]]]:
    """Every FlowSchema and priority level on the server carrying the guard's label."""
    out = {}
    for kind, resource in _RESOURCES.items():
        doc = await api.list_page(resource, None, {"labelSelector": MANAGED_SELECTOR})
        out[kind] = [o for o in doc.get("items") or [] if is_managed(o)]
    return out


async def revert_all(api: ApiClient) -> list[Outcome]:
    """Delete every object the guard manages (schemas first)."""
    found = await managed(api)
    outcomes = []
    for kind in ("FlowSchema", "PriorityLevelConfiguration"):
        for obj in found[kind]:
            outcomes.append(await _delete(api, kind, obj["metadata"]["name"]))
    return outcomes
