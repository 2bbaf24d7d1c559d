"""Errors of the client layer: each message names the problem and the fix.

The CLI prints ``str(error)`` and exits non-zero, so the text is written for the person running
kubeward, not for a stack trace.
"""

from __future__ import annotations

from typing import Any

import orjson


class ClientError(Exception):
    """Base of every error kubeward's client layer raises on purpose."""


class KubeConfigError(ClientError):
    """The kubeconfig (or in-cluster config) is missing, unparseable or inconsistent."""


class ClusterUnreachable(ClientError):
    """No HTTP conversation with the API server was possible (DNS, TCP, TLS)."""


class RequestTimeout(ClientError):
    """The API server accepted the connection but did not answer in time."""


class ConnectionLost(ClientError):
    """The connection broke mid-request or mid-stream (reset, protocol error, garbled body)."""


class ApiError(ClientError):
    """The API server answered with an error status (a ``metav1.Status`` body, usually)."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        retry_after: float | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__(text or f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.server_message = message
        self.retry_after = retry_after


class Unauthorized(ApiError):
    """401: the credentials were not accepted (expired token, wrong certificate, ...)."""


class Forbidden(ApiError):
    """403: authenticated, but RBAC does not allow the verb on the resource."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        verb: str,
        group: str,
        resource: str,
        namespace: str | None,
        text: str,
    ) -> None:
        super().__init__(code, reason, message, text=text)
        self.verb, self.group, self.resource, self.namespace = verb, group, resource, namespace


class Gone(ApiError):
    """410: the requested resourceVersion or continue token is older than the server keeps."""


class TooManyRequests(ApiError):
    """429: API Priority and Fairness (or max-inflight) rejected the request; see retry_after."""


class ResourceNotFound(ApiError):
    """404 on a collection: the cluster does not serve this group/version/resource."""


def parse_status(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(reason, message, details) of a ``metav1.Status`` body; tolerant of non-JSON bodies
    (proxies and load balancers answer in HTML)."""
    try:
        status = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return "", body[:200].decode("utf-8", "replace").strip(), {}
    if not isinstance(status, dict):
        return "", "", {}
    details = status.get("details")
    return (
        str(status.get("reason") or ""),
        str(status.get("message") or ""),
        details if isinstance(details, dict) else {},
    )


def rbac_rule(group: str, resource: str, verbs: tuple[str, ...]) -> str:
    verb_list = ", ".join(f'"{v}"' for v in verbs)
    return f'  - apiGroups: ["{group}"]\n    resources: ["{resource}"]\n    verbs: [{verb_list}]'


def forbidden(
    message: str,
    reason: str,
    *,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
    server: str,
) -> Forbidden:
    where = f'in namespace "{namespace}"' if namespace else "at the cluster scope"
    # An informer always needs list and watch together; granting only the refused verb would
    # just move the 403 to the next request.
    verbs = ("list", "watch") if verb in ("list", "watch") else (verb,)
    kind = "Role (in that namespace)" if namespace else "ClusterRole"
    shown = f"{resource}.{group}" if group else resource  # kubectl's spelling
    text = (
        f"Forbidden: the API server at {server} does not allow kubeward to {verb} {shown} "
        f"{where}.\nServer said: {message or reason or 'Forbidden'}\n"
        f"Fix: grant the rule below in a {kind} bound to kubeward's user or service account "
        f"(kubectl auth can-i {verb} {shown} checks it):\n"
        f"{rbac_rule(group, resource, verbs)}"
    )
    return Forbidden(
        403,
        reason or "Forbidden",
        message,
        verb=verb,
        group=group,
        resource=resource,
        namespace=namespace,
        text=text,
    )
