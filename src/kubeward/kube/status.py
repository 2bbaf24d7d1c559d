"""metav1.Status errors, with the reasons, codes and message formats kube-apiserver uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One field-level validation failure (k8s.io/apimachinery field.Error).

    ``type`` is the Status cause reason, e.g. ``FieldValueRequired``.
    """

    type: str
    field: str
    detail: str = ""
    value: Any = None

    _PREFIX = {
        "FieldValueRequired": "Required value",
        "FieldValueInvalid": "Invalid value",
        "FieldValueNotSupported": "Unsupported value",
        "FieldValueDuplicate": "Duplicate value",
        "FieldValueForbidden": "Forbidden",
        "FieldValueTooLong": "Too long",
        "FieldValueTypeInvalid": "Invalid value",
    }

    def body(self) -> str:
        """The message without the field path, as it appears in a Status cause."""
        prefix = self._PREFIX.get(self.type, self.type)
        if self.type in ("FieldValueInvalid", "FieldValueNotSupported", "FieldValueDuplicate"):
            prefix = f"{prefix}: {_render_value(self.value)}"
        return f"{prefix}: {self.detail}" if self.detail else prefix

    def message(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, str]:
        return {"reason": self.type, "message": self.body(), "field": self.field}


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", path, detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", path, detail, value)


def not_supported(path: str, value: Any, valid: list[str]) -> FieldError:
    options = ", ".join(f'"{v}"' for v in valid)
    return FieldError("FieldValueNotSupported", path, f"supported values: {options}", value)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", path, detail)


@dataclass
class StatusError(Exception):
    """An API error rendered as a ``metav1.Status`` body."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Extra list metadata (e.g. an inconsistent continue token on 410 Expired).
    list_meta: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def to_status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.list_meta or {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def qualified(resource: str, group: str) -> str:
    """``pods`` or ``deployments.apps``: how kube-apiserver names a resource in messages."""
    return f"{resource}.{group}" if group else resource


def _details(resource: str, group: str, name: str) -> dict[str, Any]:
    """metav1.StatusDetails: name and group are omitted when empty."""
    d: dict[str, Any] = {"name": name, "kind": resource} if name else {"kind": resource}
    if group:
        d["group"] = group
    return d


def not_found(resource: str, group: str, name: str) -> StatusError:
    return StatusError(
        404,
        "NotFound",
        f'{qualified(resource, group)} "{name}" not found',
        _details(resource, group, name),
    )


def already_exists(resource: str, group: str, name: str) -> StatusError:
    return StatusError(
        409,
        "AlreadyExists",
        f'{qualified(resource, group)} "{name}" already exists',
        _details(resource, group, name),
    )


def conflict(resource: str, group: str, name: str, why: str) -> StatusError:
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
        _details(resource, group, name),
    )


STALE_OBJECT = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid_object(kind: str, group: str, name: str, errors: list[FieldError]) -> StatusError:
    shown = kind if not group else f"{kind}.{group}"
    if len(errors) == 1:
        summary = errors[0].message()
    else:
        summary = "[" + ", ".join(e.message() for e in errors) + "]"
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": [e.cause() for e in errors]}
    if group:
        details["group"] = group
    return StatusError(422, "Invalid", f'{shown} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def gone(message: str, list_meta: dict[str, Any] | None = None) -> StatusError:
    return StatusError(410, "Expired", message, list_meta=list_meta)


def too_many_requests(
    message: str, retry_after: int = 1, details: dict | None = None
) -> StatusError:
    """``retry_after=0``: no Retry-After header and no retryAfterSeconds (as the eviction
    handler answers a disruption-budget refusal)."""
    d = dict(details or {})
    if retry_after:
        d.setdefault("retryAfterSeconds", retry_after)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return StatusError(429, "TooManyRequests", message, d, headers=headers)


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def forbidden_error(
    message: str, resource: str = "", group: str = "", name: str = ""
) -> StatusError:
    details = _details(resource, group, name) if resource else None
    return StatusError(403, "Forbidden", message, details)


def method_not_allowed(message: str) -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> StatusError:
    # kube-apiserver's wording, listing only what the simulator decodes (no protobuf).
    return StatusError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted "
        f'media types include: application/json, application/yaml (got "{content_type}")',
    )


def timeout(message: str) -> StatusError:
    return StatusError(504, "Timeout", message)


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")
