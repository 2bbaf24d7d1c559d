"""Object validation with kube-apiserver's own field paths, reasons and messages (v1.31).

Ported from k8s.io/apimachinery/pkg/util/validation, pkg/apis/core/validation,
pkg/apis/apps/validation, pkg/apis/batch/validation and friends. Entry points:

* ``validate_object(group, kind, obj, namespaced=...)`` for create,
* ``validate_update(group, kind, old, new)`` for update (create checks plus immutability).

Both expect the object *after* ``defaults.apply_defaults`` (Kubernetes defaults at decode time,
before validation), but they never require a field that defaulting would have filled: such a
field is checked only when present, so undefaulted input gets the same verdict.

Validation never raises, whatever the input: a value of the wrong JSON type yields a
``FieldValueTypeInvalid`` error at its path (real kube-apiserver rejects those while decoding,
with a 400; here they become part of the 422 so nothing is written either way).

Bad values are reported as Go's ``%#v`` shows them where users see it (``map[string]string{...}``,
``v1.LabelSelector{...}``, ``intstr.IntOrString{...}``), via :class:`GoValue`.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import json
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TypeGuard

from kubeward.kube.limitrange import LIMIT_TYPES
from kubeward.kube.priority import validate_priority_class, validate_priority_class_update
from kubeward.kube.quantity import Quantity, QuantityError
from kubeward.kube.quota import (
    BEST_EFFORT,
    EXISTENCE_ONLY_SCOPES,
    NOT_BEST_EFFORT,
    NOT_TERMINATING,
    SCOPE_OPERATORS,
    SCOPES,
    STANDARD_QUOTA_RESOURCES,
    TERMINATING,
    claim_storage,
    is_integer_resource,
    scope_valid_for_resource,
)
from kubeward.kube.rbac import GROUP as RBAC_GROUP
from kubeward.kube.selectors import SelectorError, label_selector_from_dict
from kubeward.kube.status import FieldError, forbidden, invalid, not_supported, required

__all__ = [
    "FIELD_IMMUTABLE",
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "GoValue",
    "config_map_key",
    "dns1035_label",
    "dns1123_label",
    "dns1123_subdomain",
    "label_value",
    "name_is_dns1035_label",
    "name_is_dns_label",
    "name_is_dns_subdomain",
    "port_name",
    "qualified_name",
    "validate_object",
    "validate_update",
]

# --- messages (k8s.io/apimachinery/pkg/util/validation) -----------------------------------

FIELD_IMMUTABLE = "field is immutable"
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * (1 << 10)  # 256 KiB, keys plus values
MAX_SECRET_SIZE = 1 << 20  # core.MaxSecretSize, also used for ConfigMaps
_MAX_INT32 = 2**31 - 1
_NEGATIVE = "must be greater than or equal to 0"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError, including the double space it puts before each ' or '."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _nbytes(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))  # Go's len() counts bytes


def _re(fmt: str) -> re.Pattern[str]:
    # fullmatch semantics via \Z: Go's `$` never matches before a trailing newline.
    return re.compile(f"(?:{fmt})\\Z")


DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_ERR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_ERR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_ERR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_ERR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
LABEL_VALUE_FMT = f"({QUALIFIED_NAME_FMT})?"
LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
CONFIG_MAP_KEY_ERR = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
ENV_VAR_NAME_ERR = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', "
    "'-', or '.', and must not start with a digit"
)
PERCENT_FMT = "[0-9]+%"
PERCENT_ERR = "a valid percent string must be a numeric string followed by an ending '%'"

_DNS1123_LABEL_RE = _re(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = _re(DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = _re(DNS1035_LABEL_FMT)
_QUALIFIED_NAME_RE = _re(QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = _re(LABEL_VALUE_FMT)
_CONFIG_MAP_KEY_RE = _re(CONFIG_MAP_KEY_FMT)
_ENV_VAR_NAME_RE = _re(ENV_VAR_NAME_FMT)
_PERCENT_RE = _re(PERCENT_FMT)
_PORT_NAME_CHARSET_RE = _re("[-a-z0-9]+")
_PORT_NAME_LETTER_RE = re.compile("[a-z]")


def dns1123_label(value: str) -> list[str]:
    """IsDNS1123Label: problems with ``value``, empty when it is valid."""
    errs = []
    if _nbytes(value) > 63:
        errs.append(max_len_error(63))
    if not _DNS1123_LABEL_RE.match(value):
        if _DNS1123_SUBDOMAIN_RE.match(value):
            errs.append("must not contain dots")  # a valid subdomain: only the dots are wrong
        else:
            errs.append(regex_error(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    """IsDNS1123Subdomain: problems with ``value``, empty when it is valid."""
    errs = []
    if _nbytes(value) > 253:
        errs.append(max_len_error(253))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label(value: str) -> list[str]:
    """IsDNS1035Label (Service names): problems with ``value``, empty when it is valid."""
    errs = []
    if _nbytes(value) > 63:
        errs.append(max_len_error(63))
    if not _DNS1035_LABEL_RE.match(value):
        errs.append(regex_error(DNS1035_LABEL_ERR, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def qualified_name(value: str) -> list[str]:
    """IsQualifiedName (label keys, annotation keys, finalizers): ``[prefix/]name``."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif _nbytes(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _QUALIFIED_NAME_RE.match(name):
        errs.append(
            "name part "
            + regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def label_value(value: str) -> list[str]:
    """IsValidLabelValue: problems with ``value``, empty when it is valid."""
    errs = []
    if _nbytes(value) > 63:
        errs.append(max_len_error(63))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(regex_error(LABEL_VALUE_ERR, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def config_map_key(value: str) -> list[str]:
    """IsConfigMapKey (ConfigMap and Secret data keys)."""
    errs = []
    if _nbytes(value) > 253:
        errs.append(max_len_error(253))
    if not _CONFIG_MAP_KEY_RE.match(value):
        errs.append(
            regex_error(CONFIG_MAP_KEY_ERR, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name")
        )
    return errs + _chdir_prefix(value)


def env_var_name(value: str) -> list[str]:
    errs = []
    if not _ENV_VAR_NAME_RE.match(value):
        errs.append(
            regex_error(
                ENV_VAR_NAME_ERR, ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1"
            )
        )
    return errs + _chdir_prefix(value)


def port_name(value: str) -> list[str]:
    """IsValidPortName (IANA_SVC_NAME)."""
    errs = []
    if _nbytes(value) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET_RE.match(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER_RE.search(value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def port_num(value: int) -> list[str]:
    return [] if 1 <= value <= 65535 else [inclusive_range_error(1, 65535)]


def percent(value: str) -> list[str]:
    return [] if _PERCENT_RE.match(value) else [regex_error(PERCENT_ERR, PERCENT_FMT, "1%", "93%")]


def _path_segment_name(value: str) -> list[str]:
    """path.IsValidPathSegmentName (HPA scaleTargetRef kind and name)."""
    for bad in (".", ".."):
        if value == bad:
            return [f"may not be '{bad}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


NameFn = Callable[[str, bool], list[str]]


def _mask_trailing_dash(name: str) -> str:
    # Go's maskTrailingDash (it really drops two characters): a generateName may end in '-'.
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return dns1035_label(_mask_trailing_dash(name) if prefix else name)


# --- Go %#v rendering of bad values -------------------------------------------------------


class GoValue:
    """A bad value plus the text Go's ``%#v`` prints for it in a field error.

    ``FieldError`` renders non-string values with ``str()``, so this makes messages read
    ``Invalid value: map[string]string{"app":"x"}: ...`` while ``.value`` keeps the JSON.
    """

    __slots__ = ("text", "value")

    def __init__(self, value: Any, text: str) -> None:
        self.value = value
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"GoValue({self.text})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, GoValue):
            return self.text == other.text
        return bool(self.value == other)

    def __hash__(self) -> int:
        return hash(self.text)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(s: str) -> str:
    """strconv.Quote, close enough: escapes quotes, backslashes and unprintables."""
    out = []
    for ch in s:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _go_scalar(v: Any) -> str:
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nil"
    return str(v)


def _go_map_text(d: Any) -> str:
    if d is None:
        return "map[string]string(nil)"
    if not isinstance(d, dict):
        return _go_scalar(d)
    items = sorted((str(k), v) for k, v in d.items())  # fmt prints maps key-sorted
    return (
        "map[string]string{" + ", ".join(f"{go_quote(k)}:{_go_scalar(v)}" for k, v in items) + "}"
    )


def go_map(d: Any) -> GoValue:
    return GoValue(d, _go_map_text(d))


def _go_strings_text(values: Any) -> str:
    if values is None:
        return "[]string(nil)"
    if not isinstance(values, list):
        return _go_scalar(values)
    return "[]string{" + ", ".join(_go_scalar(v) for v in values) + "}"


def go_strings(values: Any) -> GoValue:
    return GoValue(values, _go_strings_text(values))


def go_label_selector(sel: Any) -> GoValue:
    sel_d = sel if isinstance(sel, dict) else {}
    exprs = sel_d.get("matchExpressions")
    if isinstance(exprs, list) and exprs:
        parts = []
        for e in exprs:
            e = e if isinstance(e, dict) else {}
            parts.append(
                "v1.LabelSelectorRequirement{"
                f"Key:{_go_scalar(e.get('key') or '')}, "
                f"Operator:{_go_scalar(e.get('operator') or '')}, "
                f"Values:{_go_strings_text(e.get('values'))}}}"
            )
        exprs_text = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    elif isinstance(exprs, list):
        exprs_text = "[]v1.LabelSelectorRequirement{}"
    else:
        exprs_text = "[]v1.LabelSelectorRequirement(nil)"
    text = (
        f"v1.LabelSelector{{MatchLabels:{_go_map_text(sel_d.get('matchLabels'))}, "
        f"MatchExpressions:{exprs_text}}}"
    )
    return GoValue(sel, text)


def _go_intstr_text(v: Any) -> str:
    if isinstance(v, str):
        return f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(v)}}}"
    return f'intstr.IntOrString{{Type:0, IntVal:{_go_scalar(v)}, StrVal:""}}'


def go_intstr(v: Any) -> GoValue:
    return GoValue(v, _go_intstr_text(v))


def _go_struct(type_name: str, value: Any) -> GoValue:
    """A struct too big to print field by field (Go would dump it all); keep the type name."""
    return GoValue(value, f"{type_name}{{...}}")


# --- the error collector and type-checked accessors ----------------------------------------


def _join(path: str, child: str) -> str:
    return f"{path}.{child}" if path else child


def type_invalid(path: str, value: Any, expected: str) -> FieldError:
    return FieldError("FieldValueTypeInvalid", path, f"must be of type {expected}", value)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", path, "", value)


def not_found(path: str, value: Any) -> FieldError:
    return FieldError("FieldValueNotFound", path, "", value)


def too_long(path: str, max_bytes: int) -> FieldError:
    return FieldError("FieldValueTooLong", path, f"must have at most {max_bytes} bytes", "")


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)  # JSON true is not a number


class _V:
    """Collects errors; the getters return a typed value or None (and record a type error)."""

    def __init__(self) -> None:
        self.errs: list[FieldError] = []

    def add(self, err: FieldError) -> None:
        self.errs.append(err)

    def invalid_each(self, path: str, value: Any, msgs: Iterable[str]) -> None:
        for m in msgs:
            self.errs.append(invalid(path, value, m))

    def _typed(
        self, parent: Any, key: str, path: str, check: Callable[[Any], bool], expected: str
    ) -> Any:
        if not isinstance(parent, dict):
            return None
        v = parent.get(key)
        if v is None:
            return None
        if check(v):
            return v
        self.errs.append(type_invalid(_join(path, key), v, expected))
        return None

    def obj(self, parent: Any, key: str, path: str) -> dict[str, Any] | None:
        return self._typed(parent, key, path, lambda v: isinstance(v, dict), "object")

    def array(self, parent: Any, key: str, path: str) -> list[Any] | None:
        return self._typed(parent, key, path, lambda v: isinstance(v, list), "array")

    def string(self, parent: Any, key: str, path: str) -> str | None:
        return self._typed(parent, key, path, lambda v: isinstance(v, str), "string")

    def integer(self, parent: Any, key: str, path: str) -> int | None:
        return self._typed(parent, key, path, _is_int, "integer")

    def boolean(self, parent: Any, key: str, path: str) -> bool | None:
        return self._typed(parent, key, path, lambda v: isinstance(v, bool), "boolean")

    def intstr(self, parent: Any, key: str, path: str) -> int | str | None:
        return self._typed(
            parent, key, path, lambda v: isinstance(v, str) or _is_int(v), "integer or string"
        )

    def str_map(self, parent: Any, key: str, path: str) -> dict[str, str] | None:
        """A map[string]string: non-string values are type errors and are left out."""
        m = self.obj(parent, key, path)
        if m is None:
            return None
        out: dict[str, str] = {}
        for k, v in m.items():
            if isinstance(v, str):
                out[str(k)] = v
            else:
                self.errs.append(type_invalid(f"{_join(path, key)}[{k}]", v, "string"))
        return out

    def items(self, parent: Any, key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
        """(path, item) for each object in a list; non-objects are type errors."""
        lst = self.array(parent, key, path)
        out = []
        for i, item in enumerate(lst or ()):
            p = f"{_join(path, key)}[{i}]"
            if isinstance(item, dict):
                out.append((p, item))
            else:
                self.errs.append(type_invalid(p, item, "object"))
        return out

    def nonnegative(self, parent: Any, key: str, path: str) -> int | None:
        v = self.integer(parent, key, path)
        if v is not None and v < 0:
            self.errs.append(invalid(_join(path, key), v, _NEGATIVE))
        return v

    def enum(self, parent: Any, key: str, path: str, valid: list[str]) -> str | None:
        """An enum that defaulting fills: checked only when present."""
        v = self.string(parent, key, path)
        if v is not None and v not in valid:
            if v == "":
                self.errs.append(required(_join(path, key)))
            else:
                self.errs.append(not_supported(_join(path, key), v, valid))
        return v


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _dedupe(errs: list[FieldError]) -> list[FieldError]:
    # ErrorList.ToAggregate drops repeated messages (e.g. one bad label per key).
    seen: set[tuple[str, str, str]] = set()
    out = []
    for e in errs:
        key = (e.type, e.field, e.body() if _renderable(e) else repr(e.value) + e.detail)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _renderable(e: FieldError) -> bool:
    try:
        e.body()
    except Exception:  # a value whose str() fails must not break deduplication
        return False
    return True


# --- metadata (apimachinery/pkg/api/validation/objectmeta.go) -------------------------------


# Label keys and values, and annotation keys, repeat across every object of a workload: their
# checks are remembered (bounded). The cached results are tuples, so no caller can change them.
@functools.lru_cache(maxsize=16384)
def _label_key_problems(key: str) -> tuple[str, ...]:
    return tuple(qualified_name(key))


@functools.lru_cache(maxsize=16384)
def _label_value_problems(value: str) -> tuple[str, ...]:
    return tuple(label_value(value))


@functools.lru_cache(maxsize=4096)
def _annotation_key_problems(key: str) -> tuple[str, ...]:
    return tuple(qualified_name(key.lower()))  # QualifiedName except that case does not matter


def _validate_labels(v: _V, labels: dict[str, str] | None, path: str) -> None:
    for k, val in (labels or {}).items():
        v.invalid_each(path, k, _label_key_problems(k))
        v.invalid_each(path, val, _label_value_problems(val))


def _validate_annotations(v: _V, annotations: dict[str, str] | None, path: str) -> None:
    total = 0
    for k, val in (annotations or {}).items():
        v.invalid_each(path, k, _annotation_key_problems(k))
        total += _nbytes(k) + _nbytes(val)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        v.add(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))


def _validate_object_meta(
    v: _V, obj: dict[str, Any], name_fn: NameFn, *, namespaced: bool
) -> dict[str, Any]:
    meta = v.obj(obj, "metadata", "") or {}
    generate_name = v.string(meta, "generateName", "metadata")
    name = v.string(meta, "name", "metadata")
    if generate_name:
        v.invalid_each("metadata.generateName", generate_name, name_fn(generate_name, True))
    if not name:
        if not generate_name:
            v.add(required("metadata.name", "name or generateName is required"))
        # else: the API layer generates the name from generateName before storing.
    else:
        v.invalid_each("metadata.name", name, name_fn(name, False))
    # Presence of metadata.namespace is the API layer's job; its format is checked here.
    namespace = v.string(meta, "namespace", "metadata")
    if namespaced and namespace:
        v.invalid_each("metadata.namespace", namespace, dns1123_label(namespace))
    v.nonnegative(meta, "generation", "metadata")
    _validate_labels(v, v.str_map(meta, "labels", "metadata"), "metadata.labels")
    _validate_annotations(v, v.str_map(meta, "annotations", "metadata"), "metadata.annotations")
    for _, ref in v.items(meta, "ownerReferences", "metadata"):
        _validate_owner_reference(v, ref, "metadata.ownerReferences")
    finalizers = v.array(meta, "finalizers", "metadata") or []
    for i, fin in enumerate(finalizers):
        if not isinstance(fin, str):
            v.add(type_invalid(f"metadata.finalizers[{i}]", fin, "string"))
            continue
        v.invalid_each("metadata.finalizers", fin, qualified_name(fin))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        v.add(
            invalid(
                "metadata.finalizers",
                go_strings(finalizers),
                "finalizer orphan and foregroundDeletion cannot be both set",
            )
        )
    return meta


def _validate_owner_reference(v: _V, ref: dict[str, Any], path: str) -> None:
    # Kubernetes reports these at the list path, without an index.
    api_version = v.string(ref, "apiVersion", path) or ""
    if not api_version.rpartition("/")[2]:
        v.add(invalid(_join(path, "apiVersion"), api_version, "version must not be empty"))
    for key in ("kind", "name", "uid"):
        val = v.string(ref, key, path) or ""
        if not val:
            v.add(invalid(_join(path, key), val, "must not be empty"))


# --- label selectors (metav1 validation) ---------------------------------------------------


def _validate_label_selector(v: _V, sel: dict[str, Any] | None, path: str) -> None:
    if sel is None:
        return
    _validate_labels(v, v.str_map(sel, "matchLabels", path), _join(path, "matchLabels"))
    for p, expr in v.items(sel, "matchExpressions", path):
        op = v.string(expr, "operator", p) or ""
        values = v.array(expr, "values", p) or []
        if op in ("In", "NotIn"):
            if not values:
                v.add(
                    required(
                        _join(p, "values"), "must be specified when `operator` is 'In' or 'NotIn'"
                    )
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                v.add(
                    forbidden(
                        _join(p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            v.add(invalid(_join(p, "operator"), op, "not a valid selector operator"))
        key = v.string(expr, "key", p) or ""
        v.invalid_each(_join(p, "key"), key, qualified_name(key))
        for i, val in enumerate(values):
            if isinstance(val, str):
                v.invalid_each(f"{p}.values[{i}]", val, label_value(val))
            else:
                v.add(type_invalid(f"{p}.values[{i}]", val, "string"))


def _selector_matches(sel: Any, labels: dict[str, str] | None) -> bool | None:
    """Whether ``sel`` selects ``labels``; None if the selector cannot be parsed."""
    try:
        return label_selector_from_dict(sel).matches(labels or {})
    except (SelectorError, TypeError, ValueError):
        return None


def _selector_is_empty(sel: dict[str, Any]) -> bool:
    return not sel.get("matchLabels") and not sel.get("matchExpressions")


# --- quantities and resources ---------------------------------------------------------------

_QUANTITY_RE_ERR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
_STANDARD_RESOURCES = _STANDARD_CONTAINER_RESOURCES | {
    "storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "services.nodeports",
    "services.loadbalancers",
}


def _quantity(v: _V, raw: Any, path: str) -> Quantity | None:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        v.add(type_invalid(path, raw, "string"))
        return None
    try:
        q = Quantity.parse(raw)
    except QuantityError as exc:
        # resource.ParseQuantity's own message (format, numeric part or suffix).
        v.add(invalid(path, raw if isinstance(raw, str) else str(raw), str(exc)))
        return None
    except (ValueError, ArithmeticError):
        v.add(invalid(path, str(raw), _QUANTITY_RE_ERR))
        return None
    if not q.amount.is_finite():
        v.add(invalid(path, str(raw), _QUANTITY_RE_ERR))
        return None
    return q


def _is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _overcommit_allowed(name: str) -> bool:
    return _is_native(name) and not _is_hugepages(name)


def _validate_container_resource_name(v: _V, name: str, path: str) -> None:
    msgs = qualified_name(name)
    if msgs:
        v.invalid_each(path, name, msgs)
        return
    if "/" not in name:
        standard = name in _STANDARD_RESOURCES or _is_hugepages(name)
        if not standard:
            v.add(invalid(path, name, "must be a standard resource type or fully qualified"))
        if name not in _STANDARD_CONTAINER_RESOURCES and not _is_hugepages(name):
            v.add(invalid(path, name, "must be a standard resource for containers"))


def _resource_list(v: _V, parent: dict[str, Any], key: str, path: str) -> dict[str, Quantity]:
    raw = v.obj(parent, key, path) or {}
    out: dict[str, Quantity] = {}
    base = _join(path, key)
    for name, val in raw.items():
        p = f"{base}[{name}]"
        _validate_container_resource_name(v, str(name), p)
        q = _quantity(v, val, p)
        if q is None:
            continue
        if q.amount < 0:
            v.add(invalid(p, str(q), _NEGATIVE))
        out[str(name)] = q
    return out


def _validate_resources(v: _V, resources: dict[str, Any] | None, path: str) -> None:
    if resources is None:
        return
    limits = _resource_list(v, resources, "limits", path)
    requests = _resource_list(v, resources, "requests", path)
    req_path, lim_path = _join(path, "requests"), _join(path, "limits")
    for name, req in requests.items():
        lim = limits.get(name)
        if lim is not None:
            if req.amount != lim.amount and not _overcommit_allowed(name):
                v.add(invalid(req_path, str(req), f"must be equal to {name} limit of {lim}"))
            elif req.amount > lim.amount:
                v.add(
                    invalid(
                        req_path, str(req), f"must be less than or equal to {name} limit of {lim}"
                    )
                )
        elif not _overcommit_allowed(name):
            v.add(required(lim_path, "Limit must be set for non overcommitable resources"))


# --- pods (core/validation ValidatePodSpec and helpers) ------------------------------------

_RESTART_POLICIES = ["Always", "OnFailure", "Never"]
_DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
_PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
_PROTOCOLS = ["SCTP", "TCP", "UDP"]  # sets.List order
_TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
_VOLUME_SOURCES = (
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
)


def _validate_volumes(v: _V, spec: dict[str, Any], path: str) -> set[str]:
    names: set[str] = set()
    for p, vol in v.items(spec, "volumes", path):
        present = [s for s in _VOLUME_SOURCES if vol.get(s) is not None]
        if not present:
            v.add(required(p, "must specify a volume type"))
        for extra in present[1:]:
            v.add(forbidden(_join(p, extra), "may not specify more than 1 volume type"))
        name = v.string(vol, "name", p) or ""
        if not name:
            v.add(required(_join(p, "name")))
        else:
            v.invalid_each(_join(p, "name"), name, dns1123_label(name))
        if name in names:
            v.add(duplicate(_join(p, "name"), name))
        names.add(name)
    return names


def _validate_container_ports(v: _V, ctr: dict[str, Any], path: str) -> None:
    names: set[str] = set()
    for p, port in v.items(ctr, "ports", path):
        name = v.string(port, "name", p)
        if name:
            msgs = port_name(name)
            if msgs:
                v.invalid_each(_join(p, "name"), name, msgs)
            elif name in names:
                v.add(duplicate(_join(p, "name"), name))
            else:
                names.add(name)
        cport = v.integer(port, "containerPort", p)
        if not cport:
            if cport is not None or "containerPort" not in port:
                v.add(required(_join(p, "containerPort")))
        else:
            v.invalid_each(_join(p, "containerPort"), cport, port_num(cport))
        hport = v.integer(port, "hostPort", p)
        if hport:
            v.invalid_each(_join(p, "hostPort"), hport, port_num(hport))
        v.enum(port, "protocol", p, _PROTOCOLS)


def _validate_env(v: _V, ctr: dict[str, Any], path: str) -> None:
    for p, ev in v.items(ctr, "env", path):
        name = v.string(ev, "name", p) or ""
        if not name:
            v.add(required(_join(p, "name")))
        else:
            v.invalid_each(_join(p, "name"), name, env_var_name(name))
        value_from = v.obj(ev, "valueFrom", p)
        if value_from is not None:
            sources = [
                k
                for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
                if value_from.get(k) is not None
            ]
            vf_path = _join(p, "valueFrom")
            if not sources:
                v.add(
                    invalid(
                        vf_path,
                        "",
                        "must specify one of: `fieldRef`, `resourceFieldRef`, "
                        "`configMapKeyRef` or `secretKeyRef`",
                    )
                )
            elif len(sources) > 1:
                v.add(invalid(vf_path, "", "may not have more than one field specified at a time"))
            if ev.get("value"):
                v.add(invalid(vf_path, "", "may not be specified when `value` is not empty"))


def _validate_container(v: _V, ctr: dict[str, Any], path: str, volumes: set[str]) -> str | None:
    """validateContainerCommon; returns the container name."""
    name = v.string(ctr, "name", path)
    if not name:
        v.add(required(_join(path, "name")))
    else:
        v.invalid_each(_join(path, "name"), name, dns1123_label(name))
    if not v.string(ctr, "image", path):
        v.add(required(_join(path, "image")))
    tmp = v.string(ctr, "terminationMessagePolicy", path)
    if tmp == "":
        v.add(
            required(
                _join(path, "terminationMessagePolicy"), "must be 'File' or 'FallbackToLogsOnError'"
            )
        )
    elif tmp is not None and tmp not in ("File", "FallbackToLogsOnError"):
        v.add(
            not_supported(
                _join(path, "terminationMessagePolicy"), tmp, ["File", "FallbackToLogsOnError"]
            )
        )
    _validate_container_ports(v, ctr, path)
    _validate_env(v, ctr, path)
    mount_paths: set[str] = set()
    for p, mnt in v.items(ctr, "volumeMounts", path):
        mname = v.string(mnt, "name", p) or ""
        if not mname:
            v.add(required(_join(p, "name")))
        if mname not in volumes:
            v.add(not_found(_join(p, "name"), mname))
        mpath = v.string(mnt, "mountPath", p) or ""
        if not mpath:
            v.add(required(_join(p, "mountPath")))
        if mpath in mount_paths:
            v.add(invalid(_join(p, "mountPath"), mpath, "must be unique"))
        mount_paths.add(mpath)
    v.enum(ctr, "imagePullPolicy", path, _PULL_POLICIES)
    _validate_resources(v, v.obj(ctr, "resources", path), _join(path, "resources"))
    return name


def _validate_tolerations(v: _V, spec: dict[str, Any], path: str) -> None:
    for p, tol in v.items(spec, "tolerations", path):
        key = v.string(tol, "key", p) or ""
        if key:
            v.invalid_each(_join(p, "key"), key, qualified_name(key))
        op = v.string(tol, "operator", p) or ""
        if not key and op != "Exists":
            v.add(
                invalid(
                    _join(p, "operator"),
                    op,
                    'operator must be Exists when `key` is empty, which means "match all '
                    'values and all keys"',
                )
            )
        effect = v.string(tol, "effect", p) or ""
        if v.integer(tol, "tolerationSeconds", p) is not None and effect != "NoExecute":
            v.add(
                invalid(
                    _join(p, "effect"),
                    effect,
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        value = v.string(tol, "value", p) or ""
        if op in ("Equal", ""):
            msgs = label_value(value)
            if msgs:
                v.add(invalid(_join(p, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                v.add(
                    invalid(
                        _join(p, "operator"),
                        _go_struct("core.Toleration", tol),
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            v.add(not_supported(_join(p, "operator"), op, ["Equal", "Exists"]))
        if effect and effect not in _TAINT_EFFECTS:
            v.add(not_supported(_join(p, "effect"), effect, _TAINT_EFFECTS))


def _validate_pod_spec(v: _V, spec: dict[str, Any], path: str) -> None:
    volumes = _validate_volumes(v, spec, path)
    names: set[str] = set()
    containers_path = _join(path, "containers")
    containers = v.items(spec, "containers", path)
    if not containers:
        v.add(required(containers_path))
    for p, ctr in containers:
        name = _validate_container(v, ctr, p, volumes)
        if name is not None:
            if name in names:
                v.add(duplicate(_join(p, "name"), name))
            names.add(name)
    for p, ctr in v.items(spec, "initContainers", path):
        name = _validate_container(v, ctr, p, volumes)
        if name is not None:
            if name in names:
                v.add(duplicate(_join(p, "name"), name))
            names.add(name)
        restart = v.string(ctr, "restartPolicy", p)
        if restart is not None and restart != "Always":
            v.add(not_supported(_join(p, "restartPolicy"), restart, ["Always"]))
        if restart != "Always":  # only sidecars may have probes and lifecycle hooks
            for hook in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if ctr.get(hook) is not None:
                    v.add(
                        forbidden(
                            _join(p, hook),
                            "may not be set for init containers without restartPolicy=Always",
                        )
                    )
    v.enum(spec, "restartPolicy", path, _RESTART_POLICIES)
    v.enum(spec, "dnsPolicy", path, _DNS_POLICIES)
    _validate_labels(v, v.str_map(spec, "nodeSelector", path), _join(path, "nodeSelector"))
    for key, fn in (
        ("serviceAccountName", dns1123_subdomain),
        ("nodeName", dns1123_subdomain),
        ("hostname", dns1123_label),
        ("subdomain", dns1123_label),
        ("priorityClassName", dns1123_subdomain),
    ):
        val = v.string(spec, key, path)
        if val:
            v.invalid_each(_join(path, key), val, fn(val))
    ads = v.integer(spec, "activeDeadlineSeconds", path)
    if ads is not None and not 1 <= ads <= _MAX_INT32:
        v.add(
            invalid(_join(path, "activeDeadlineSeconds"), ads, inclusive_range_error(1, _MAX_INT32))
        )
    v.integer(spec, "terminationGracePeriodSeconds", path)
    _validate_tolerations(v, spec, path)


def _validate_pod_template(v: _V, tmpl: dict[str, Any] | None, path: str) -> dict[str, Any]:
    """ValidatePodTemplateSpec: labels are reported at ``<path>.labels`` as Kubernetes does."""
    tmpl = tmpl or {}
    meta = v.obj(tmpl, "metadata", path) or {}
    meta_path = _join(path, "metadata")
    _validate_labels(v, v.str_map(meta, "labels", meta_path), _join(path, "labels"))
    _validate_annotations(v, v.str_map(meta, "annotations", meta_path), _join(path, "annotations"))
    spec = v.obj(tmpl, "spec", path) or {}
    _validate_pod_spec(v, spec, _join(path, "spec"))
    if spec.get("ephemeralContainers"):
        v.add(
            forbidden(
                _join(path, "spec.ephemeralContainers"),
                "ephemeral containers not allowed in pod template",
            )
        )
    return spec


def _validate_statefulset_template(v: _V, tmpl: dict[str, Any] | None, path: str) -> dict[str, Any]:
    tmpl = tmpl or {}
    meta = v.obj(tmpl, "metadata", path) or {}
    meta_path = _join(path, "metadata")
    _validate_labels(v, v.str_map(meta, "labels", meta_path), _join(path, "labels"))
    _validate_annotations(v, v.str_map(meta, "annotations", meta_path), _join(path, "annotations"))
    return v.obj(tmpl, "spec", path) or {}


def _template_labels(tmpl: dict[str, Any] | None) -> dict[str, str] | None:
    labels = _d(_d(tmpl).get("metadata")).get("labels")
    return labels if isinstance(labels, dict) else None


def _validate_pod(v: _V, obj: dict[str, Any], create: bool) -> None:
    spec = v.obj(obj, "spec", "") or {}
    _validate_pod_spec(v, spec, "spec")
    if create and spec.get("ephemeralContainers"):
        v.add(forbidden("spec.ephemeralContainers", "cannot be set on create"))


# --- apps/v1 --------------------------------------------------------------------------------


def _validate_int_or_percent(v: _V, parent: dict[str, Any], key: str, path: str) -> int | None:
    """ValidatePositiveIntOrPercent + IsNotMoreThan100Percent; returns the int/percent value."""
    val = v.intstr(parent, key, path)
    if val is None:
        return None
    p = _join(path, key)
    if isinstance(val, str):
        msgs = percent(val)
        v.invalid_each(p, go_intstr(val), msgs)
        if msgs:
            return None
        pct = int(val[:-1])
        if pct > 100:
            v.add(invalid(p, go_intstr(val), "must not be greater than 100%"))
        return pct
    if val < 0:
        v.add(invalid(p, val, _NEGATIVE))
    return val


def _validate_workload_selector(v: _V, spec: dict[str, Any], what: str) -> dict[str, Any] | None:
    """Selector required and non-empty; returns it (or None if absent)."""
    sel = v.obj(spec, "selector", "spec")
    if sel is None:
        if "selector" not in spec or spec.get("selector") is None:
            v.add(required("spec.selector"))
        return None
    _validate_label_selector(v, sel, "spec.selector")
    if _selector_is_empty(sel):
        v.add(
            invalid(
                "spec.selector", go_label_selector(sel), f"empty selector is invalid for {what}"
            )
        )
    return sel


def _check_template_matches(
    v: _V, sel: Any, tmpl: dict[str, Any] | None, path: str, *, skip_empty: bool
) -> None:
    if skip_empty and isinstance(sel, dict) and _selector_is_empty(sel):
        return  # selector.Empty(): nothing to compare
    labels = _template_labels(tmpl)
    matches = _selector_matches(sel, labels)
    if matches is None:
        if sel is not None:
            v.add(invalid("spec.selector", go_label_selector(sel), "invalid label selector"))
        return
    if not matches:
        v.add(
            invalid(
                _join(path, "metadata.labels"),
                go_map(labels),
                "`selector` does not match template `labels`",
            )
        )


def _restart_always(v: _V, spec: dict[str, Any], path: str) -> None:
    rp = spec.get("restartPolicy", "Always")  # absent means defaulted to Always
    if isinstance(rp, str) and rp != "Always":
        v.add(not_supported(_join(path, "restartPolicy"), rp, ["Always"]))


def _validate_replicated(v: _V, obj: dict[str, Any], kind: str) -> None:
    """Deployment, ReplicaSet, StatefulSet and DaemonSet specs."""
    spec = v.obj(obj, "spec", "") or {}
    if kind != "DaemonSet":
        v.nonnegative(spec, "replicas", "spec")
    v.nonnegative(spec, "minReadySeconds", "spec")
    v.nonnegative(spec, "revisionHistoryLimit", "spec")
    what = {
        "Deployment": "deployment",
        "ReplicaSet": "deployment",  # sic: Kubernetes' wording
        "StatefulSet": "statefulset",
        "DaemonSet": "daemonset",
    }[kind]
    sel = _validate_workload_selector(v, spec, what)
    tmpl = v.obj(spec, "template", "spec")
    if sel is not None or kind != "Deployment":  # Deployment stops at a missing selector
        # A missing selector selects nothing, so ReplicaSet/StatefulSet/DaemonSet also report
        # the template mismatch, as Kubernetes does.
        _check_template_matches(v, sel, tmpl, "spec.template", skip_empty=True)
    if sel is None and kind == "Deployment":
        return
    if kind == "StatefulSet":
        # ValidatePodTemplateSpecForStatefulSet checks labels and annotations only: the pod
        # spec may mount volumes that only the volumeClaimTemplates will provide.
        tspec = _validate_statefulset_template(v, tmpl, "spec.template")
    else:
        tspec = _validate_pod_template(v, tmpl, "spec.template")
    _restart_always(v, tspec, "spec.template.spec")
    if tspec.get("activeDeadlineSeconds") is not None:
        p = "spec.template.spec.activeDeadlineSeconds"
        if kind == "StatefulSet":
            v.add(forbidden(p, "activeDeadlineSeconds in StatefulSet is not Supported"))
        else:
            shown = "DaemonSet" if kind == "DaemonSet" else "ReplicaSet"
            v.add(
                invalid(
                    p,
                    tspec["activeDeadlineSeconds"],
                    f"activeDeadlineSeconds in {shown} is not Supported",
                )
            )
    if kind == "Deployment":
        _validate_deployment_strategy(v, spec)
        pds = v.integer(spec, "progressDeadlineSeconds", "spec")
        if pds is not None:
            if pds < 0:
                v.add(invalid("spec.progressDeadlineSeconds", pds, _NEGATIVE))
            raw_mrs = spec.get("minReadySeconds")
            mrs = raw_mrs if _is_int(raw_mrs) else 0
            if pds <= mrs:
                v.add(
                    invalid(
                        "spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"
                    )
                )
    elif kind == "StatefulSet":
        _validate_statefulset_spec(v, spec)
    elif kind == "DaemonSet":
        _validate_daemonset_strategy(v, spec)


def _validate_deployment_strategy(v: _V, spec: dict[str, Any]) -> None:
    strategy = v.obj(spec, "strategy", "spec")
    if strategy is None:
        return  # defaulted to RollingUpdate 25%/25%
    stype = v.string(strategy, "type", "spec.strategy")
    ru = v.obj(strategy, "rollingUpdate", "spec.strategy")
    if stype == "Recreate":
        if ru is not None:
            v.add(
                forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                )
            )
    elif stype in ("RollingUpdate", None):
        if ru is not None:
            path = "spec.strategy.rollingUpdate"
            unavailable = _validate_int_or_percent(v, ru, "maxUnavailable", path)
            surge = _validate_int_or_percent(v, ru, "maxSurge", path)
            if unavailable == 0 and surge == 0:
                v.add(
                    invalid(
                        _join(path, "maxUnavailable"),
                        go_intstr(ru.get("maxUnavailable")),
                        "may not be 0 when `maxSurge` is 0",
                    )
                )
    else:
        v.add(
            not_supported(
                "spec.strategy",
                _go_struct("apps.DeploymentStrategy", strategy),
                ["Recreate", "RollingUpdate"],
            )
        )


def _validate_statefulset_spec(v: _V, spec: dict[str, Any]) -> None:
    pmp = v.string(spec, "podManagementPolicy", "spec")
    if pmp == "":
        v.add(required("spec.podManagementPolicy"))
    elif pmp is not None and pmp not in ("OrderedReady", "Parallel"):
        v.add(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    ordinals = v.obj(spec, "ordinals", "spec")
    if ordinals is not None:
        v.nonnegative(ordinals, "start", "spec.ordinals")
    retention = v.obj(spec, "persistentVolumeClaimRetentionPolicy", "spec")
    if retention is not None:
        for when in ("whenDeleted", "whenScaled"):
            v.enum(
                retention, when, "spec.persistentVolumeClaimRetentionPolicy", ["Retain", "Delete"]
            )
    strategy = v.obj(spec, "updateStrategy", "spec")
    if strategy is None:
        return
    stype = v.string(strategy, "type", "spec.updateStrategy")
    ru = v.obj(strategy, "rollingUpdate", "spec.updateStrategy")
    if stype == "OnDelete":
        if ru is not None:
            v.add(
                invalid(
                    "spec.updateStrategy.rollingUpdate",
                    _go_struct("apps.RollingUpdateStatefulSetStrategy", ru),
                    "only allowed for updateStrategy 'RollingUpdate'",
                )
            )
    elif stype == "RollingUpdate":
        if ru is not None:
            v.nonnegative(ru, "partition", "spec.updateStrategy.rollingUpdate")
    elif stype == "":
        v.add(required("spec.updateStrategy"))
    elif stype is not None:
        v.add(
            invalid(
                "spec.updateStrategy",
                _go_struct("apps.StatefulSetUpdateStrategy", strategy),
                "must be 'RollingUpdate' or 'OnDelete'",
            )
        )


def _validate_daemonset_strategy(v: _V, spec: dict[str, Any]) -> None:
    strategy = v.obj(spec, "updateStrategy", "spec")
    if strategy is None:
        return
    stype = v.string(strategy, "type", "spec.updateStrategy")
    if stype is not None and stype not in ("RollingUpdate", "OnDelete"):
        v.add(
            not_supported(
                "spec.updateStrategy",
                _go_struct("apps.DaemonSetUpdateStrategy", strategy),
                ["OnDelete", "RollingUpdate"],
            )
        )
    ru = v.obj(strategy, "rollingUpdate", "spec.updateStrategy")
    if stype == "RollingUpdate" and ru is not None:
        path = "spec.updateStrategy.rollingUpdate"
        unavailable = _validate_int_or_percent(v, ru, "maxUnavailable", path)
        surge = _validate_int_or_percent(v, ru, "maxSurge", path)
        if unavailable == 0 and surge == 0:
            v.add(
                invalid(
                    _join(path, "maxUnavailable"),
                    go_intstr(ru.get("maxUnavailable")),
                    "may not be 0 when `maxSurge` is 0",
                )
            )


# --- batch/v1 -------------------------------------------------------------------------------


def _validate_job_spec(v: _V, spec: dict[str, Any], path: str, *, cron: bool) -> None:
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        v.nonnegative(spec, key, path)
    mode = v.string(spec, "completionMode", path)
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        v.add(not_supported(_join(path, "completionMode"), mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed" and spec.get("completions") is None:
        v.add(required(_join(path, "completions"), "when completion mode is Indexed"))
    sel = v.obj(spec, "selector", path)
    tmpl = v.obj(spec, "template", path)
    if cron:
        if sel is not None:
            v.add(
                invalid(
                    _join(path, "selector"),
                    go_label_selector(sel),
                    "`selector` will be auto-generated",
                )
            )
        if spec.get("manualSelector") is True:
            v.add(not_supported(_join(path, "manualSelector"), True, ["nil", "false"]))
    elif sel is None:
        # The API layer generates the selector (defaults.generate_job_selector) once the UID
        # exists; only a manual selector must be supplied by the user.
        if spec.get("manualSelector") is True:
            v.add(required(_join(path, "selector")))
    else:
        _validate_label_selector(v, sel, _join(path, "selector"))
        _check_template_matches(v, sel, tmpl, _join(path, "template"), skip_empty=False)
    tspec = _validate_pod_template(v, tmpl, _join(path, "template"))
    rp_path = _join(path, "template.spec.restartPolicy")
    rp = tspec.get("restartPolicy", "Always")  # absent means defaulted to Always
    if rp in ("Always", ""):
        v.add(required(rp_path, 'valid values: "OnFailure", "Never"'))
    elif isinstance(rp, str) and rp not in ("OnFailure", "Never"):
        v.add(not_supported(rp_path, rp, ["OnFailure", "Never"]))


def _validate_job(v: _V, obj: dict[str, Any], create: bool) -> None:
    _validate_job_spec(v, v.obj(obj, "spec", "") or {}, "spec", cron=False)


_CRON_BOUNDS = {
    "minute": (0, 59, None),
    "hour": (0, 23, None),
    "dom": (1, 31, None),
    "month": (
        1,
        12,
        {
            m: i + 1
            for i, m in enumerate(
                ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
            )
        },
    ),
    "dow": (0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}),
}
_CRON_DESCRIPTORS = {
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
}
_GO_DURATION_RE = _re(r"([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+")


def _cron_int(expr: str, names: dict[str, int] | None) -> int:
    if names and expr.lower() in names:
        return names[expr.lower()]
    if not re.fullmatch(r"[+-]?[0-9]+", expr, flags=re.ASCII):
        raise ValueError(
            f"failed to parse int from {expr}: strconv.Atoi: parsing "
            f"{go_quote(expr)}: invalid syntax"
        )
    num = int(expr)
    if num < 0:
        raise ValueError(f"negative number ({num}) not allowed: {expr}")
    return num


def _cron_range(expr: str, lo: int, hi: int, names: dict[str, int] | None) -> None:
    range_and_step = expr.split("/")
    low_high = range_and_step[0].split("-")
    if low_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start = _cron_int(low_high[0], names)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _cron_int(low_high[1], names)
        else:
            raise ValueError(f"too many hyphens: {expr}")
    step = 1
    if len(range_and_step) == 2:
        step = _cron_int(range_and_step[1], None)
        if len(low_high) == 1:
            end = hi  # "N/step" means "N-max/step"
    elif len(range_and_step) > 2:
        raise ValueError(f"too many slashes: {expr}")
    if start < lo:
        raise ValueError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise ValueError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ValueError(f"step of range should be a positive number: {expr}")


def cron_schedule_error(schedule: str) -> str | None:
    """robfig/cron ParseStandard's error for ``schedule``, or None if it parses."""
    if not schedule:
        return "empty spec string"
    spec = schedule
    if spec.startswith(("TZ=", "CRON_TZ=")):
        spec = spec.partition(" ")[2].strip()
    if spec.startswith("@"):
        if spec in _CRON_DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            dur = spec[len("@every ") :]
            if _GO_DURATION_RE.match(dur) or dur == "0":
                return None
            return f'failed to parse duration {spec}: time: invalid duration "{dur}"'
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    try:
        for expr_field, (lo, hi, names) in zip(fields, _CRON_BOUNDS.values(), strict=True):
            for expr in (e for e in expr_field.split(",") if e):
                _cron_range(expr, lo, hi, names)
    except ValueError as exc:
        return str(exc)
    return None


def _known_time_zone(tz: str) -> bool:
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _validate_cronjob(v: _V, obj: dict[str, Any], create: bool) -> None:
    spec = v.obj(obj, "spec", "") or {}
    schedule = v.string(spec, "schedule", "spec")
    if not schedule:
        v.add(required("spec.schedule"))
    else:
        err = cron_schedule_error(schedule)
        if err:
            v.add(invalid("spec.schedule", schedule, err))
        if "TZ" in schedule:
            v.add(
                invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                )
            )
    tz = v.string(spec, "timeZone", "spec")
    if tz is not None:
        if tz.lower() == "local":
            v.add(
                invalid(
                    "spec.timeZone",
                    tz,
                    "timeZone must be an explicit time zone as "
                    "defined in https://www.iana.org/time-zones",
                )
            )
        elif not _known_time_zone(tz):
            v.add(invalid("spec.timeZone", tz, f"unknown time zone {tz}"))
    v.nonnegative(spec, "startingDeadlineSeconds", "spec")
    cp = v.string(spec, "concurrencyPolicy", "spec")
    if cp == "":
        v.add(required("spec.concurrencyPolicy"))
    elif cp is not None and cp not in ("Allow", "Forbid", "Replace"):
        v.add(not_supported("spec.concurrencyPolicy", cp, ["Allow", "Forbid", "Replace"]))
    jt = v.obj(spec, "jobTemplate", "spec") or {}
    _validate_job_spec(
        v, v.obj(jt, "spec", "spec.jobTemplate") or {}, "spec.jobTemplate.spec", cron=True
    )
    v.nonnegative(spec, "successfulJobsHistoryLimit", "spec")
    v.nonnegative(spec, "failedJobsHistoryLimit", "spec")
    name = _d(obj.get("metadata")).get("name")
    if create and isinstance(name, str) and _nbytes(name) > 52:
        # The controller appends an 11-character suffix; Job names are at most 63.
        v.add(invalid("metadata.name", name, "must be no more than 52 characters"))


# --- core/v1 Service, ConfigMap, Secret, PVC, Event, Binding ----------------------------------

_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _service_cluster_ips(spec: dict[str, Any]) -> list[str]:
    ips = spec.get("clusterIPs")
    if isinstance(ips, list) and ips:
        return [ip for ip in ips if isinstance(ip, str)]
    ip = spec.get("clusterIP")
    return [ip] if isinstance(ip, str) and ip else []


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _go_service_port(port: dict[str, Any]) -> GoValue:
    tp = port.get("targetPort")
    text = (
        f"core.ServicePort{{Name:{go_quote(str(port.get('name') or ''))}, "
        f"Protocol:{go_quote(str(port.get('protocol') or ''))}, "
        f"AppProtocol:(*string)(nil), Port:{port.get('port') or 0}, "
        f"TargetPort:{_go_intstr_text(0 if tp is None else tp)}, "
        f"NodePort:{port.get('nodePort') or 0}}}"
    )
    return GoValue(port, text)


def _validate_service(v: _V, obj: dict[str, Any], create: bool) -> None:
    spec = v.obj(obj, "spec", "") or {}
    stype = v.string(spec, "type", "spec")
    cluster_ip = v.string(spec, "clusterIP", "spec") or ""
    headless = cluster_ip == "None"
    ports = v.items(spec, "ports", "spec")
    if not ports and not headless and stype != "ExternalName":
        v.add(required("spec.ports"))
    if stype == "ExternalName":
        if _service_cluster_ips(spec):
            v.add(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if spec.get("ipFamilies"):
            v.add(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            v.add(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = (v.string(spec, "externalName", "spec") or "").removesuffix(".")
        if cname:
            v.invalid_each("spec.externalName", cname, dns1123_subdomain(cname))
        else:
            v.add(required("spec.externalName"))
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    node_ports: set[tuple[Any, Any]] = set()
    for p, port in ports:
        name = v.string(port, "name", p) or ""
        if len(ports) > 1 and not name:
            v.add(required(_join(p, "name")))
        elif name:
            v.invalid_each(_join(p, "name"), name, dns1123_label(name))
            if name in names:
                v.add(duplicate(_join(p, "name"), name))
            names.add(name)
        num = v.integer(port, "port", p)
        v.invalid_each(_join(p, "port"), num or 0, port_num(num or 0))
        v.enum(port, "protocol", p, _PROTOCOLS)
        target = v.intstr(port, "targetPort", p)
        if isinstance(target, str) and target:
            v.invalid_each(_join(p, "targetPort"), target, port_name(target))
        elif _is_int(target) and target != 0:
            v.invalid_each(_join(p, "targetPort"), target, port_num(target))
        app_protocol = v.string(port, "appProtocol", p)
        if app_protocol is not None:
            v.invalid_each(_join(p, "appProtocol"), app_protocol, qualified_name(app_protocol))
        proto = port.get("protocol") if isinstance(port.get("protocol"), str) else None
        key = (proto, num)
        if key in seen and num is not None:
            v.add(duplicate(p, _go_service_port({"protocol": proto, "port": num})))
        seen.add(key)
        node_port = v.integer(port, "nodePort", p)
        if node_port:
            if stype in (None, "ClusterIP"):
                v.add(forbidden(_join(p, "nodePort"), "may not be used when `type` is 'ClusterIP'"))
            elif (proto, node_port) in node_ports:
                v.add(duplicate(_join(p, "nodePort"), node_port))
            node_ports.add((proto, node_port))
    ips = _service_cluster_ips(spec)
    for i, ip in enumerate(ips):
        p = f"spec.clusterIPs[{i}]"
        if i == 0 and ip == "None":
            if len(ips) > 1:
                v.add(invalid(p, "None", "'None' must be the first and only value"))
            continue
        if not _is_ip(ip):
            v.add(invalid(p, ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    explicit_ips = spec.get("clusterIPs")
    if (
        cluster_ip
        and isinstance(explicit_ips, list)
        and explicit_ips
        and explicit_ips[0] != cluster_ip
    ):
        v.add(invalid("spec.clusterIPs[0]", explicit_ips[0], "must match `clusterIP`"))
    v.enum(spec, "sessionAffinity", "spec", ["ClientIP", "None"])
    if stype == "":
        v.add(required("spec.type"))
    elif stype is not None and stype not in _SERVICE_TYPES:
        v.add(not_supported("spec.type", stype, _SERVICE_TYPES))
    policy = v.string(spec, "ipFamilyPolicy", "spec")
    if (
        policy is not None
        and stype != "ExternalName"
        and policy not in ("SingleStack", "PreferDualStack", "RequireDualStack")
    ):
        v.add(
            not_supported(
                "spec.ipFamilyPolicy",
                policy,
                ["PreferDualStack", "RequireDualStack", "SingleStack"],
            )
        )
    for i, fam in enumerate(v.array(spec, "ipFamilies", "spec") or []):
        if fam not in ("IPv4", "IPv6"):
            v.add(not_supported(f"spec.ipFamilies[{i}]", fam, ["IPv4", "IPv6"]))
    itp = v.string(spec, "internalTrafficPolicy", "spec")
    if itp is not None and itp not in ("Cluster", "Local"):
        v.add(not_supported("spec.internalTrafficPolicy", itp, ["Cluster", "Local"]))
    _validate_labels(v, v.str_map(spec, "selector", "spec"), "spec.selector")


def _validate_data_keys(v: _V, obj: dict[str, Any], *, binary_key: str) -> int:
    """ConfigMap/Secret keys; returns the total payload size."""
    total = 0
    data = v.obj(obj, "data", "") or {}
    binary = v.obj(obj, binary_key, "") if binary_key != "data" else None
    for key, val in data.items():
        v.invalid_each(f"data[{key}]", key, config_map_key(str(key)))
        if binary and key in binary:
            v.add(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        if isinstance(val, str):
            total += _nbytes(val)
        elif val is not None:
            v.add(type_invalid(f"data[{key}]", val, "string"))
    for key, val in (binary or {}).items():
        v.invalid_each(f"{binary_key}[{key}]", key, config_map_key(str(key)))
        if isinstance(val, str):
            total += _nbytes(val)
        elif val is not None:
            v.add(type_invalid(f"{binary_key}[{key}]", val, "string"))
    return total


def _validate_configmap(v: _V, obj: dict[str, Any], create: bool) -> None:
    if _validate_data_keys(v, obj, binary_key="binaryData") > MAX_SECRET_SIZE:
        v.add(too_long("", MAX_SECRET_SIZE))
    v.boolean(obj, "immutable", "")


def _validate_secret(v: _V, obj: dict[str, Any], create: bool) -> None:
    # Secret data values are base64 on the wire; the size limit applies to decoded bytes,
    # which is at most the encoded size: checking the encoded size is conservative enough.
    total = _validate_data_keys(v, obj, binary_key="data")
    for key in v.str_map(obj, "stringData", "") or {}:
        v.invalid_each(f"stringData[{key}]", key, config_map_key(key))
    if total * 3 // 4 > MAX_SECRET_SIZE:
        v.add(too_long("data", MAX_SECRET_SIZE))
    v.boolean(obj, "immutable", "")
    stype = v.string(obj, "type", "") or "Opaque"
    keys = set(_d(obj.get("data"))) | set(_d(obj.get("stringData")))
    needed = {
        "kubernetes.io/tls": ("tls.crt", "tls.key"),
        "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
        "kubernetes.io/dockercfg": (".dockercfg",),
        "kubernetes.io/basic-auth": (),
        "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    }.get(stype, ())
    for key in needed:
        if key not in keys:
            v.add(required(f"data[{key}]"))
    if stype == "kubernetes.io/service-account-token":
        anns = _d(_d(obj.get("metadata")).get("annotations"))
        if not anns.get("kubernetes.io/service-account.name"):
            v.add(required("metadata.annotations[kubernetes.io/service-account.name]"))


_ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]


def _validate_pvc(v: _V, obj: dict[str, Any], create: bool) -> None:
    spec = v.obj(obj, "spec", "") or {}
    modes = v.array(spec, "accessModes", "spec")
    if not modes:
        v.add(required("spec.accessModes", "at least 1 access mode is required"))
    for mode in modes or []:
        if mode not in _ACCESS_MODES:
            v.add(not_supported("spec.accessModes", mode, _ACCESS_MODES))
    resources = v.obj(spec, "resources", "spec") or {}
    requests = v.obj(resources, "requests", "spec.resources") or {}
    if "storage" not in requests:
        v.add(required("spec.resources[storage]"))
    else:
        q = _quantity(v, requests["storage"], "spec.resources[storage]")
        if q is not None and q.amount <= 0:
            v.add(invalid("spec.resources[storage]", str(q), "must be greater than zero"))
    mode = v.string(spec, "volumeMode", "spec")
    if mode is not None and mode not in ("Block", "Filesystem"):
        v.add(not_supported("spec.volumeMode", mode, ["Block", "Filesystem"]))
    sel = v.obj(spec, "selector", "spec")
    _validate_label_selector(v, sel, "spec.selector")


_QUOTA_HUGEPAGES = ("hugepages-", "requests.hugepages-")


def _is_quota_name(name: str) -> bool:
    """IsStandardQuotaResourceName: the standard names and the hugepages ones."""
    return name in STANDARD_QUOTA_RESOURCES or name.startswith(_QUOTA_HUGEPAGES)


def _validate_quota_list(v: _V, parent: dict[str, Any], key: str, path: str) -> set[str]:
    """spec.hard / status.hard / status.used: quota resource names and non-negative quantities
    (whole numbers for counted resources)."""
    names: set[str] = set()
    for name, raw in (v.obj(parent, key, path) or {}).items():
        at = f"{path}.{key}[{name}]"
        names.add(name)
        problems = qualified_name(name)
        if problems:
            v.invalid_each(at, name, problems)
        elif "/" not in name and not _is_quota_name(name):
            standard = name in _STANDARD_RESOURCES or _is_hugepages(name)
            detail = (
                "must be a standard resource for quota"
                if standard
                else "must be a standard resource type or fully qualified"
            )
            v.add(invalid(at, name, detail))
        q = _quantity(v, raw, at)
        if q is None:
            continue
        if q.amount < 0:
            v.add(invalid(at, str(q), "must be greater than or equal to 0"))
        if is_integer_resource(name) and q.amount % 1 != 0:
            v.add(invalid(at, str(q), "must be an integer"))
    return names


_CONFLICTING_SCOPES = ((BEST_EFFORT, NOT_BEST_EFFORT), (TERMINATING, NOT_TERMINATING))
_EXIST_ONLY = (
    "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, "
    "ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, "
    "ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"
)


def _go_scopes(values: list[Any]) -> GoValue:
    return GoValue(values, "[]core.ResourceQuotaScope{" + ", ".join(map(_go_scalar, values)) + "}")


def _validate_resourcequota(v: _V, obj: dict[str, Any], create: bool) -> None:
    """ValidateResourceQuota: spec (hard, scopes, scopeSelector) and status (hard, used)."""
    spec = v.obj(obj, "spec", "") or {}
    hard = sorted(n for n in _validate_quota_list(v, spec, "hard", "spec") if _is_quota_name(n))
    scopes = [str(s) for s in v.array(spec, "scopes", "spec") or ()]
    for scope in scopes:
        if scope not in SCOPES:
            v.add(invalid("spec.scopes", _go_scopes(scopes), "unsupported scope"))
        for name in hard:
            if not scope_valid_for_resource(scope, name):
                v.add(
                    invalid(
                        "spec.scopes", _go_scopes(scopes), "unsupported scope applied to resource"
                    )
                )
    for pair in _CONFLICTING_SCOPES:
        if set(pair) <= set(scopes):
            v.add(invalid("spec.scopes", _go_scopes(scopes), "conflicting scopes"))
    selector = v.obj(spec, "scopeSelector", "spec")
    path = "spec.scopeSelector.matchExpressions"
    shown = _go_struct("&core.ScopeSelector", selector)
    chosen: set[str] = set()
    for req in v.array(selector or {}, "matchExpressions", "spec.scopeSelector") or ():
        req = req if isinstance(req, dict) else {}
        scope, op = str(req.get("scopeName", "")), str(req.get("operator", ""))
        values = list(req.get("values") or ())
        if scope not in SCOPES:
            v.add(invalid(f"{path}.scopeName", scope, "unsupported scope"))
        for name in hard:
            if not scope_valid_for_resource(scope, name):
                v.add(invalid(path, shown, "unsupported scope applied to resource"))
        if scope in EXISTENCE_ONLY_SCOPES and op != "Exists":
            v.add(invalid(f"{path}.operator", op, _EXIST_ONLY))
        if op in ("In", "NotIn") and not values:
            v.add(
                required(
                    f"{path}.values",
                    "must be at least one value when `operator` is 'In' or 'NotIn' for scope "
                    "selector",
                )
            )
        elif op in ("Exists", "DoesNotExist") and values:
            v.add(
                invalid(
                    f"{path}.values",
                    go_strings(values),
                    "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope "
                    "selector",
                )
            )
        elif op not in SCOPE_OPERATORS:
            v.add(invalid(f"{path}.operator", op, "not a valid selector operator"))
        chosen.add(scope)
    for pair in _CONFLICTING_SCOPES:
        if set(pair) <= chosen:
            v.add(invalid(path, shown, "conflicting scopes"))
    status = v.obj(obj, "status", "") or {}
    _validate_quota_list(v, status, "hard", "status")
    _validate_quota_list(v, status, "used", "status")


_LIMIT_MAPS = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")


def _validate_limit_resource_name(v: _V, limit_type: str, name: str, path: str) -> None:
    """validateLimitRangeResourceName: container rules for Pod and Container items."""
    if limit_type in ("Pod", "Container"):
        _validate_container_resource_name(v, name, path)
        return
    problems = qualified_name(name)
    if problems:
        v.invalid_each(path, name, problems)
    elif "/" not in name and name not in _STANDARD_RESOURCES and not _is_hugepages(name):
        v.add(invalid(path, name, "must be a standard resource type or fully qualified"))


def _validate_limitrange(v: _V, obj: dict[str, Any], create: bool) -> None:
    """ValidateLimitRange: each item's type once, its resource names, and min <= defaultRequest
    <= default <= max, maxLimitRequestRatio within max/min."""
    spec = v.obj(obj, "spec", "") or {}
    seen: set[str] = set()
    for i, item in enumerate(v.array(spec, "limits", "spec") or ()):
        at = f"spec.limits[{i}]"
        item = item if isinstance(item, dict) else {}
        kind = str(item.get("type") or "")
        problems = qualified_name(kind)
        if problems:
            v.invalid_each(f"{at}.type", kind, problems)
        elif "/" not in kind and kind not in LIMIT_TYPES:
            v.add(invalid(f"{at}.type", kind, "must be a standard limit type or fully qualified"))
        if kind in seen:
            v.add(duplicate(f"{at}.type", kind))
        seen.add(kind)
        maps: dict[str, dict[str, Quantity]] = {}
        for key in _LIMIT_MAPS:
            raw = v.obj(item, key, at) or {}
            if kind == "Pod" and key in ("default", "defaultRequest"):
                if raw:
                    v.add(forbidden(f"{at}.{key}", "may not be specified when `type` is 'Pod'"))
                continue
            maps[key] = {}
            for name, value in raw.items():
                _validate_limit_resource_name(v, kind, name, f"{at}.{key}[{name}]")
                q = _quantity(v, value, f"{at}.{key}[{name}]")
                if q is not None:
                    maps[key][name] = q
        if kind == "PersistentVolumeClaim" and not (
            "storage" in maps["min"] or "storage" in maps["max"]
        ):
            v.add(
                required(
                    f"{at}.limits",
                    "either minimum or maximum storage value is required, but neither was provided",
                )
            )
        _check_limit_order(v, at, maps)


def _check_limit_order(v: _V, at: str, maps: dict[str, dict[str, Quantity]]) -> None:
    low, high = maps.get("min", {}), maps.get("max", {})
    default, request = maps.get("default", {}), maps.get("defaultRequest", {})
    ratios = maps.get("maxLimitRequestRatio", {})
    for k in sorted({name for m in maps.values() for name in m}):
        mn, mx, df, dr, ratio = (
            low.get(k),
            high.get(k),
            default.get(k),
            request.get(k),
            ratios.get(k),
        )

        def bad(key: str, shown: Quantity, message: str, k: str = k) -> None:
            v.add(invalid(f"{at}.{key}[{k}]", str(shown), message))

        if mn is not None and mx is not None and mn.amount > mx.amount:
            bad("min", mn, f"min value {mn} is greater than max value {mx}")
        if dr is not None and mn is not None and mn.amount > dr.amount:
            bad("defaultRequest", dr, f"min value {mn} is greater than default request value {dr}")
        if dr is not None and mx is not None and dr.amount > mx.amount:
            bad("defaultRequest", dr, f"default request value {dr} is greater than max value {mx}")
        if dr is not None and df is not None and dr.amount > df.amount:
            bad(
                "defaultRequest",
                dr,
                f"default request value {dr} is greater than default limit value {df}",
            )
        if df is not None and mn is not None and mn.amount > df.amount:
            bad("default", mn, f"min value {mn} is greater than default value {df}")
        if df is not None and mx is not None and df.amount > mx.amount:
            bad("default", mx, f"default value {df} is greater than max value {mx}")
        if ratio is not None and ratio.amount < 1:
            bad("maxLimitRequestRatio", ratio, f"ratio {ratio} is less than 1")
        if (
            ratio is not None
            and mn is not None
            and mx is not None
            and mn.amount > 0
            and ratio.amount > mx.amount / mn.amount
        ):
            bad(
                "maxLimitRequestRatio",
                ratio,
                f"ratio {ratio} is greater than max/min = {float(mx.amount / mn.amount):f}",
            )
        if (
            not _overcommit_allowed(k)
            and df is not None
            and dr is not None
            and df.amount != dr.amount
        ):
            bad(
                "defaultRequest",
                dr,
                f"default value {df} must equal to defaultRequest value {dr} in {k}",
            )


def _validate_storage_class(v: _V, obj: dict[str, Any], create: bool) -> None:
    """ValidateStorageClass: provisioner, reclaimPolicy and volumeBindingMode (the limits on
    parameters' count and size are not checked)."""
    provisioner = v.string(obj, "provisioner", "") or ""
    if not provisioner:
        v.add(required("provisioner", ""))
    else:
        v.invalid_each("provisioner", provisioner.lower(), qualified_name(provisioner.lower()))
    v.obj(obj, "parameters", "")  # a map of strings, passed to the provisioner as is
    policy = v.string(obj, "reclaimPolicy", "")
    if policy is not None and policy not in ("Delete", "Retain"):
        v.add(not_supported("reclaimPolicy", policy, ["Delete", "Retain"]))
    mode = v.string(obj, "volumeBindingMode", "")
    if not mode:
        v.add(required("volumeBindingMode", ""))
    elif mode not in ("Immediate", "WaitForFirstConsumer"):
        v.add(not_supported("volumeBindingMode", mode, ["Immediate", "WaitForFirstConsumer"]))
    _validate_allowed_topologies(v, obj)


def _validate_allowed_topologies(v: _V, obj: dict[str, Any]) -> None:
    """validateAllowedTopologies / ValidateTopologySelectorTerm: each requirement has values,
    without repeats, and a label key; no two terms alike."""
    seen: list[dict[str, frozenset[str]]] = []
    for term_path, term in v.items(obj, "allowedTopologies", ""):
        expressions: dict[str, frozenset[str]] = {}
        for path, requirement in v.items(term, "matchLabelExpressions", term_path):
            values = [x for x in v.array(requirement, "values", path) or [] if isinstance(x, str)]
            if not values:
                v.add(required(_join(path, "values"), ""))
            for i, value in enumerate(values):
                if value in values[:i]:
                    v.add(duplicate(f"{_join(path, 'values')}[{i}]", value))
            key = v.string(requirement, "key", path) or ""
            v.invalid_each(_join(path, "key"), key, qualified_name(key))
            if key in expressions:
                v.add(duplicate(_join(path, "key"), key))
            expressions[key] = frozenset(values)
        if expressions in seen:
            v.add(duplicate(_join(term_path, "matchLabelExpressions"), ""))
        seen.append(expressions)


def _storage_class_update(v: _V, old: dict[str, Any], new: dict[str, Any]) -> None:
    """ValidateStorageClassUpdate: only metadata, mountOptions, allowVolumeExpansion and
    allowedTopologies may change."""
    if (old.get("parameters") or {}) != (new.get("parameters") or {}):
        v.add(forbidden("parameters", "updates to parameters are forbidden."))
    for key in ("provisioner", "reclaimPolicy"):
        if old.get(key) != new.get(key):
            v.add(forbidden(key, f"updates to {key} are forbidden."))
    if old.get("volumeBindingMode") != new.get("volumeBindingMode"):
        v.add(invalid("volumeBindingMode", new.get("volumeBindingMode"), FIELD_IMMUTABLE))


def _validate_core_event(v: _V, obj: dict[str, Any], create: bool) -> None:
    # legacyValidateEvent: the involved object must live in the event's namespace.
    involved = v.obj(obj, "involvedObject", "") or {}
    inv_ns = v.string(involved, "namespace", "involvedObject") or ""
    ns = _d(obj.get("metadata")).get("namespace") or ""
    has_event_time = bool(obj.get("eventTime"))
    if not has_event_time:
        mismatch = ns != inv_ns if inv_ns else ns not in ("", "default")
    else:
        mismatch = not inv_ns and ns not in ("default", "kube-system")
    if mismatch:
        v.add(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
    if has_event_time:
        _validate_reporting(v, obj, "reportingComponent")


def _validate_reporting(v: _V, obj: dict[str, Any], controller_field: str) -> None:
    controller = v.string(obj, controller_field, "") or ""
    if not controller:
        v.add(required(controller_field))
    v.invalid_each(controller_field, controller, qualified_name(controller))
    for key, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
        val = v.string(obj, key, "") or ""
        if not val:
            v.add(required(key))
        if _nbytes(val) > limit:
            v.add(invalid(key, "", f"can have at most {limit} characters"))


def _validate_events_event(v: _V, obj: dict[str, Any], create: bool) -> None:
    """events.k8s.io/v1: strict validation of new-style events (internal field names)."""
    regarding = v.obj(obj, "regarding", "") or {}
    inv_ns = v.string(regarding, "namespace", "regarding") or ""
    ns = _d(obj.get("metadata")).get("namespace") or ""
    if not inv_ns and ns not in ("default", "kube-system"):
        v.add(invalid("involvedObject.namespace", inv_ns, "does not match event.namespace"))
    if not create:
        return
    if not obj.get("eventTime"):
        v.add(required("eventTime"))
    etype = obj.get("type")
    if etype not in ("Normal", "Warning"):
        v.add(invalid("type", "", f"has invalid value: {etype if etype is not None else ''}"))
    _validate_reporting(v, obj, "reportingController")
    note = v.string(obj, "note", "") or ""
    if _nbytes(note) > 1024:
        v.add(invalid("message", "", "can have at most 1024 characters"))


# --- autoscaling, policy, coordination ------------------------------------------------------

_METRIC_TYPES = ["Object", "Pods", "Resource", "External", "ContainerResource"]
_METRIC_FIELDS = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "External": "external",
    "ContainerResource": "containerResource",
}


def _validate_metric_target(v: _V, target: dict[str, Any] | None, path: str) -> None:
    if target is None:
        return
    ttype = v.string(target, "type", path) or ""
    if not ttype:
        v.add(required(_join(path, "type"), "must specify a metric target type"))
    elif ttype not in ("Utilization", "Value", "AverageValue"):
        v.add(not_supported(_join(path, "type"), ttype, ["Utilization", "Value", "AverageValue"]))
    util = v.integer(target, "averageUtilization", path)
    if util is not None and util < 1:
        v.add(invalid(_join(path, "averageUtilization"), util, "must be greater than 0"))
    for key in ("value", "averageValue"):
        if target.get(key) is not None:
            q = _quantity(v, target[key], _join(path, key))
            if q is not None and q.amount <= 0:
                v.add(invalid(_join(path, key), str(q), "must be positive"))


def _validate_hpa(v: _V, obj: dict[str, Any], create: bool) -> None:
    spec = v.obj(obj, "spec", "") or {}
    min_r = v.integer(spec, "minReplicas", "spec")
    max_r = v.integer(spec, "maxReplicas", "spec")
    if min_r is not None and min_r < 1:
        v.add(invalid("spec.minReplicas", min_r, "must be greater than or equal to 1"))
    if (max_r or 0) < 1:
        v.add(invalid("spec.maxReplicas", max_r or 0, "must be greater than 0"))
    if min_r is not None and (max_r or 0) < min_r:
        v.add(
            invalid(
                "spec.maxReplicas", max_r or 0, "must be greater than or equal to `minReplicas`"
            )
        )
    ref = v.obj(spec, "scaleTargetRef", "spec") or {}
    for key in ("kind", "name"):
        val = v.string(ref, key, "spec.scaleTargetRef") or ""
        p = f"spec.scaleTargetRef.{key}"
        if not val:
            v.add(required(p))
        else:
            v.invalid_each(p, val, _path_segment_name(val))
    for p, metric in v.items(spec, "metrics", "spec"):
        mtype = v.string(metric, "type", p) or ""
        if not mtype:
            v.add(required(_join(p, "type"), "must specify a metric source type"))
        if mtype not in _METRIC_TYPES:
            v.add(not_supported(_join(p, "type"), mtype, _METRIC_TYPES))
        expected = _METRIC_FIELDS.get(mtype)
        if expected and metric.get(expected) is None:
            v.add(
                required(
                    _join(p, expected), "must populate information for the given metric source"
                )
            )
        for present in sorted(f for f in _METRIC_FIELDS.values() if metric.get(f) is not None):
            if present != expected:
                v.add(forbidden(_join(p, present), "must populate the given metric source only"))
        if expected in ("resource", "containerResource"):
            src = v.obj(metric, expected, p)
            if src is not None:
                sp = _join(p, expected)
                if not v.string(src, "name", sp):
                    v.add(required(_join(sp, "name"), "must specify a resource name"))
                if expected == "containerResource" and not v.string(src, "container", sp):
                    v.add(required(_join(sp, "container"), "must specify a container"))
                _validate_metric_target(v, v.obj(src, "target", sp), _join(sp, "target"))


def _validate_pdb(v: _V, obj: dict[str, Any], create: bool) -> None:
    spec = v.obj(obj, "spec", "") or {}
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        text = (
            f"policy.PodDisruptionBudgetSpec{{MinAvailable:"
            f"{_go_intstr_text(spec['minAvailable'])}, MaxUnavailable:"
            f"{_go_intstr_text(spec['maxUnavailable'])}}}"
        )
        v.add(
            invalid(
                "spec", GoValue(spec, text), "minAvailable and maxUnavailable cannot be both set"
            )
        )
    _validate_int_or_percent(v, spec, "minAvailable", "spec")
    _validate_int_or_percent(v, spec, "maxUnavailable", "spec")
    _validate_label_selector(v, v.obj(spec, "selector", "spec"), "spec.selector")
    policy = v.string(spec, "unhealthyPodEvictionPolicy", "spec")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        v.add(
            not_supported(
                "spec.unhealthyPodEvictionPolicy", policy, ["AlwaysAllow", "IfHealthyBudget"]
            )
        )


def _validate_lease(v: _V, obj: dict[str, Any], create: bool) -> None:
    spec = v.obj(obj, "spec", "") or {}
    duration = v.integer(spec, "leaseDurationSeconds", "spec")
    if duration is not None and duration <= 0:
        v.add(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = v.integer(spec, "leaseTransitions", "spec")
    if transitions is not None and transitions < 0:
        v.add(invalid("spec.leaseTransitions", transitions, _NEGATIVE))


def _validate_binding(v: _V, obj: dict[str, Any], create: bool) -> None:
    target = v.obj(obj, "target", "") or {}
    kind = v.string(target, "kind", "target")
    if kind and kind != "Node":
        v.add(not_supported("target.kind", kind, ["Node", "<empty>"]))
    if not v.string(target, "name", "target"):
        v.add(required("target.name"))


# --- flowcontrol.apiserver.k8s.io ------------------------------------------------------------

_FS_VERBS = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "proxy",
    "update",
    "watch",
]
_NS_INTRO = "each member of this list must be '*' or a DNS-1123 label; "


def _validate_fs_subject(v: _V, subject: dict[str, Any], p: str) -> None:
    kind = v.string(subject, "kind", p) or ""
    present = {k: subject.get(k) is not None for k in ("user", "group", "serviceAccount")}
    wrong = {
        "user": "user is forbidden when subject kind is not 'User'",
        "group": "group is forbidden when subject kind is not 'Group'",
        "serviceAccount": "serviceAccount is forbidden when subject kind is not 'ServiceAccount'",
    }
    own = {"User": "user", "Group": "group", "ServiceAccount": "serviceAccount"}.get(kind)
    if own is None:
        v.add(not_supported(_join(p, "kind"), kind, ["Group", "ServiceAccount", "User"]))
        return
    body = v.obj(subject, own, p)
    sp = _join(p, own)
    if body is None:
        v.add(required(sp, f"{own} is required when subject kind is '{kind}'"))
    elif kind == "ServiceAccount":
        name = v.string(body, "name", sp) or ""
        if not name:
            v.add(required(_join(sp, "name")))
        elif name != "*":
            v.invalid_each(_join(sp, "name"), name, dns1123_subdomain(name))
        ns = v.string(body, "namespace", sp) or ""
        if not ns:
            v.add(required(_join(sp, "namespace"), "must specify namespace for service account"))
        else:
            v.invalid_each(_join(sp, "namespace"), ns, dns1123_label(ns))
    elif not v.string(body, "name", sp):
        v.add(required(_join(sp, "name")))
    for other in ("serviceAccount", "user", "group"):
        if other != own and present[other]:
            v.add(forbidden(_join(p, other), wrong[other]))


def _strings(v: _V, parent: dict[str, Any], key: str, path: str) -> list[str]:
    out = []
    for i, item in enumerate(v.array(parent, key, path) or []):
        if isinstance(item, str):
            out.append(item)
        else:
            v.add(type_invalid(f"{_join(path, key)}[{i}]", item, "string"))
    return out


def _validate_fs_rule(v: _V, rule: dict[str, Any], p: str) -> None:
    subjects = v.items(rule, "subjects", p)
    if not subjects:
        v.add(required(_join(p, "subjects"), "subjects must contain at least one value"))
    for sp, subject in subjects:
        _validate_fs_subject(v, subject, sp)
    resource_rules = v.items(rule, "resourceRules", p)
    non_resource_rules = v.items(rule, "nonResourceRules", p)
    if not resource_rules and not non_resource_rules:
        v.add(required(p, "at least one of resourceRules and nonResourceRules has to be non-empty"))
    for rp, rr in resource_rules:
        verbs = _strings(v, rr, "verbs", rp)
        if not verbs:
            v.add(required(_join(rp, "verbs"), "verbs must contain at least one value"))
        elif "*" in verbs:
            if len(verbs) > 1:
                v.add(
                    invalid(
                        _join(rp, "verbs"),
                        go_strings(verbs),
                        "if '*' is present, must not specify other verbs",
                    )
                )
        elif not set(verbs) <= set(_FS_VERBS):
            v.add(not_supported(_join(rp, "verbs"), go_strings(verbs), _FS_VERBS))
        for key, what in (("apiGroups", "api groups"), ("resources", "resources")):
            vals = _strings(v, rr, key, rp)
            if not vals:
                singular = "api group" if key == "apiGroups" else "resource"
                v.add(
                    required(_join(rp, key), f"resource rules must supply at least one {singular}")
                )
            elif len(vals) > 1 and "*" in vals:
                v.add(
                    invalid(
                        _join(rp, key),
                        go_strings(vals),
                        f"if '*' is present, must not specify other {what}",
                    )
                )
        namespaces = _strings(v, rr, "namespaces", rp)
        if not namespaces and rr.get("clusterScope") is not True:
            v.add(
                required(
                    _join(rp, "namespaces"),
                    "resource rules that are not cluster scoped must supply at least one namespace",
                )
            )
        elif "*" in namespaces:
            if len(namespaces) > 1:
                v.add(
                    invalid(
                        _join(rp, "namespaces"),
                        go_strings(namespaces),
                        "if '*' is present, must not specify other namespaces",
                    )
                )
        else:
            for i, ns in enumerate(namespaces):
                for msg in dns1123_label(ns):
                    v.add(invalid(f"{rp}.namespaces[{i}]", ns, _NS_INTRO + msg))
    for np_, nr in non_resource_rules:
        verbs = _strings(v, nr, "verbs", np_)
        if not verbs:
            v.add(required(_join(np_, "verbs"), "verbs must contain at least one value"))
        elif "*" in verbs and len(verbs) > 1:
            v.add(
                invalid(
                    _join(np_, "verbs"),
                    go_strings(verbs),
                    "if '*' is present, must not specify other verbs",
                )
            )
        urls = _strings(v, nr, "nonResourceURLs", np_)
        if not urls:
            v.add(
                required(
                    _join(np_, "nonResourceURLs"), "nonResourceURLs must contain at least one value"
                )
            )
        elif "*" in urls and len(urls) > 1:
            v.add(
                invalid(
                    _join(np_, "nonResourceURLs"),
                    go_strings(urls),
                    "if '*' is present, must not specify other non-resource URLs",
                )
            )


def _validate_flowschema(v: _V, obj: dict[str, Any], create: bool) -> None:
    spec = v.obj(obj, "spec", "") or {}
    name = _d(obj.get("metadata")).get("name")
    prec = v.integer(spec, "matchingPrecedence", "spec")
    if prec is not None:
        if prec <= 0:
            v.add(invalid("spec.matchingPrecedence", prec, "must be a positive value"))
        if prec > 10000:
            v.add(invalid("spec.matchingPrecedence", prec, "must not be greater than 10000"))
        if prec == 1 and name != "exempt":
            v.add(
                invalid(
                    "spec.matchingPrecedence",
                    prec,
                    "only the schema named 'exempt' may have matchingPrecedence 1",
                )
            )
    dm = v.obj(spec, "distinguisherMethod", "spec")
    if dm is not None and dm.get("type") not in ("ByNamespace", "ByUser"):
        v.add(
            not_supported(
                "spec.distinguisherMethod.type",
                _go_struct("flowcontrol.FlowDistinguisherMethod", dm),
                ["ByNamespace", "ByUser"],
            )
        )
    plc = v.obj(spec, "priorityLevelConfiguration", "spec") or {}
    plc_name = v.string(plc, "name", "spec.priorityLevelConfiguration") or ""
    if plc_name:
        v.invalid_each(
            "spec.priorityLevelConfiguration.name", plc_name, dns1123_subdomain(plc_name)
        )
    else:
        v.add(required("spec.priorityLevelConfiguration.name", "must reference a priority level"))
    for p, rule in v.items(spec, "rules", "spec"):
        _validate_fs_rule(v, rule, p)


def _required_entropy_bits(deck: int, hand: int) -> int:
    return math.ceil(math.log2(deck) * hand)


def _validate_plc(v: _V, obj: dict[str, Any], create: bool) -> None:
    spec = v.obj(obj, "spec", "") or {}
    name = _d(obj.get("metadata")).get("name")
    ptype = v.string(spec, "type", "spec") or ""
    if (name == "exempt") != (ptype == "Exempt"):
        v.add(invalid("spec.type", ptype, "type must be 'Exempt' if and only if name is 'exempt'"))
    limited = v.obj(spec, "limited", "spec")
    exempt = v.obj(spec, "exempt", "spec")
    if ptype == "Exempt":
        if limited is not None:
            v.add(forbidden("spec.limited", "must be nil if the type is not Limited"))
        if exempt is not None:
            ncs = v.integer(exempt, "nominalConcurrencyShares", "spec.exempt")
            if ncs is not None and ncs < 0:
                v.add(
                    invalid(
                        "spec.exempt.nominalConcurrencyShares",
                        ncs,
                        "must be a non-negative integer",
                    )
                )
            lp = v.integer(exempt, "lendablePercent", "spec.exempt")
            if lp is not None and not 0 <= lp <= 100:
                v.add(
                    invalid(
                        "spec.exempt.lendablePercent", lp, "must be between 0 and 100, inclusive"
                    )
                )
    elif ptype == "Limited":
        if exempt is not None:
            v.add(forbidden("spec.exempt", "must be nil if the type is Limited"))
        if limited is None:
            v.add(required("spec.limited", "must not be empty when type is Limited"))
        else:
            _validate_limited(v, limited, "spec.limited")
    else:
        v.add(not_supported("spec.type", ptype, ["Exempt", "Limited"]))


def _validate_limited(v: _V, limited: dict[str, Any], path: str) -> None:
    ncs = v.integer(limited, "nominalConcurrencyShares", path)
    if ncs is not None and ncs < 0:
        v.add(
            invalid(_join(path, "nominalConcurrencyShares"), ncs, "must be a non-negative integer")
        )
    lp = v.integer(limited, "lendablePercent", path)
    if lp is not None and not 0 <= lp <= 100:
        v.add(invalid(_join(path, "lendablePercent"), lp, "must be between 0 and 100, inclusive"))
    blp = v.integer(limited, "borrowingLimitPercent", path)
    if blp is not None and blp < 0:
        v.add(
            invalid(
                _join(path, "borrowingLimitPercent"),
                blp,
                "if specified, must be a non-negative integer",
            )
        )
    lr_path = _join(path, "limitResponse")
    lr = v.obj(limited, "limitResponse", path) or {}
    lr_type = v.string(lr, "type", lr_path) or ""
    queuing = v.obj(lr, "queuing", lr_path)
    q_path = _join(lr_path, "queuing")
    if lr_type == "Reject":
        if queuing is not None:
            v.add(forbidden(q_path, "must be nil if limited.limitResponse.type is not Limited"))
    elif lr_type == "Queue":
        if queuing is None:
            v.add(required(q_path, "must not be empty if limited.limitResponse.type is Limited"))
        else:
            qll = v.integer(queuing, "queueLengthLimit", q_path) or 0
            if qll <= 0:
                v.add(invalid(_join(q_path, "queueLengthLimit"), qll, "must be positive"))
            queues = v.integer(queuing, "queues", q_path) or 0
            if queues <= 0:
                v.add(invalid(_join(q_path, "queues"), queues, "must be positive"))
            elif queues > 10_000_000:
                v.add(invalid(_join(q_path, "queues"), queues, "must not be greater than 10000000"))
            hand = v.integer(queuing, "handSize", q_path) or 0
            if hand <= 0:
                v.add(invalid(_join(q_path, "handSize"), hand, "must be positive"))
            elif hand > queues:
                v.add(
                    invalid(
                        _join(q_path, "handSize"),
                        hand,
                        f"should not be greater than queues ({queues})",
                    )
                )
            elif _required_entropy_bits(queues, hand) > 60:
                v.add(
                    invalid(
                        _join(q_path, "handSize"),
                        hand,
                        f"required entropy bits of deckSize {queues} and handSize {hand} "
                        f"should not be greater than 60",
                    )
                )
    else:
        v.add(not_supported(_join(lr_path, "type"), lr_type, ["Queue", "Reject"]))


# --- apiextensions.k8s.io --------------------------------------------------------------------


def _crd_name_fn(obj: dict[str, Any]) -> NameFn:
    spec = _d(obj.get("spec"))
    names = _d(spec.get("names"))

    def name_fn(name: str, prefix: bool) -> list[str]:
        errs = name_is_dns_subdomain(name, prefix)
        if name != f"{names.get('plural')}.{spec.get('group')}":
            errs.append('must be spec.names.plural+"."+spec.group')
        return errs

    return name_fn


def _validate_crd(v: _V, obj: dict[str, Any], create: bool) -> None:
    spec = v.obj(obj, "spec", "") or {}
    group = v.string(spec, "group", "spec") or ""
    if not group:
        v.add(required("spec.group"))
    elif dns1123_subdomain(group):
        v.add(invalid("spec.group", group, ",".join(dns1123_subdomain(group))))
    elif len(group.split(".")) < 2:
        v.add(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = v.string(spec, "scope", "spec") or ""
    if not scope:
        v.add(required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        v.add(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    names = v.obj(spec, "names", "spec") or {}
    plural = v.string(names, "plural", "spec.names") or ""
    if not plural:
        v.add(required("spec.names.plural"))
    elif dns1035_label(plural):
        v.add(invalid("spec.names.plural", plural, ",".join(dns1035_label(plural))))
    singular = v.string(names, "singular", "spec.names") or ""
    if singular and dns1035_label(singular):
        v.add(invalid("spec.names.singular", singular, ",".join(dns1035_label(singular))))
    if not v.string(names, "kind", "spec.names"):
        v.add(required("spec.names.kind"))
    versions = v.items(spec, "versions", "spec")
    if not versions:
        v.add(
            invalid(
                "spec.versions",
                go_strings(None),
                "must have exactly one version marked as storage version",
            )
        )
        return
    storage = 0
    seen: set[str] = set()
    for p, ver in versions:
        vname = v.string(ver, "name", p) or ""
        if not vname:
            v.add(required(_join(p, "name")))
        elif dns1035_label(vname):
            v.add(invalid(_join(p, "name"), vname, ",".join(dns1035_label(vname))))
        if vname in seen:
            v.add(
                invalid("spec.versions", go_strings([vname]), "must contain unique version names")
            )
        seen.add(vname)
        storage += 1 if ver.get("storage") is True else 0
    if storage != 1:
        v.add(
            invalid(
                "spec.versions",
                GoValue(versions, "[]apiextensions.CustomResourceDefinitionVersion{...}"),
                "must have exactly one version marked as storage version",
            )
        )


# --- RBAC (pkg/apis/rbac/validation) -----------------------------------------------------


def _rbac_name(name: str, prefix: bool) -> list[str]:
    """ValidateRBACName: role and binding names are path segments (``system:basic-user``)."""
    return _path_segment_name(name)


def _validate_policy_rules(v: _V, obj: dict[str, Any], namespaced: bool) -> None:
    for p, rule in v.items(obj, "rules", ""):
        verbs = v.array(rule, "verbs", p)
        if not verbs:
            v.add(required(_join(p, "verbs"), "verbs must contain at least one value"))
        urls = v.array(rule, "nonResourceURLs", p)
        if urls:
            if namespaced:
                v.add(
                    invalid(
                        _join(p, "nonResourceURLs"),
                        go_strings(urls),
                        "namespaced rules cannot apply to non-resource URLs",
                    )
                )
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                v.add(
                    invalid(
                        _join(p, "nonResourceURLs"),
                        go_strings(urls),
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not v.array(rule, "apiGroups", p):
            v.add(
                required(_join(p, "apiGroups"), "resource rules must supply at least one api group")
            )
        if not v.array(rule, "resources", p):
            v.add(
                required(_join(p, "resources"), "resource rules must supply at least one resource")
            )


def _validate_role(v: _V, obj: dict[str, Any], create: bool) -> None:
    _validate_policy_rules(v, obj, namespaced=True)


def _validate_cluster_role(v: _V, obj: dict[str, Any], create: bool) -> None:
    _validate_policy_rules(v, obj, namespaced=False)
    rule = v.obj(obj, "aggregationRule", "")
    if rule is None:
        return
    selectors = v.items(rule, "clusterRoleSelectors", "aggregationRule")
    if not selectors:
        v.add(
            required(
                "aggregationRule.clusterRoleSelectors",
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            )
        )
    for p, selector in selectors:
        _validate_label_selector(v, selector, p)


def _validate_binding_subjects(v: _V, obj: dict[str, Any], namespaced: bool) -> None:
    for p, subject in v.items(obj, "subjects", ""):
        name = v.string(subject, "name", p) or ""
        if not name:
            v.add(required(_join(p, "name"), ""))
        kind = v.string(subject, "kind", p) or ""
        api_group = v.string(subject, "apiGroup", p) or ""
        if kind == "ServiceAccount":
            if name:
                v.invalid_each(_join(p, "name"), name, dns1123_subdomain(name))
            if api_group:
                v.add(not_supported(_join(p, "apiGroup"), api_group, [""]))
            if not namespaced and not subject.get("namespace"):
                v.add(required(_join(p, "namespace"), ""))
        elif kind in ("User", "Group"):
            if api_group != RBAC_GROUP:
                v.add(not_supported(_join(p, "apiGroup"), api_group, [RBAC_GROUP]))
        else:
            v.add(not_supported(_join(p, "kind"), kind, ["ServiceAccount", "User", "Group"]))


def _validate_role_binding(v: _V, obj: dict[str, Any], kinds: list[str]) -> None:
    ref = v.obj(obj, "roleRef", "") or {}
    api_group = v.string(ref, "apiGroup", "roleRef") or ""
    if api_group != RBAC_GROUP:
        v.add(not_supported("roleRef.apiGroup", api_group, [RBAC_GROUP]))
    kind = v.string(ref, "kind", "roleRef") or ""
    if kind not in kinds:
        v.add(not_supported("roleRef.kind", kind, kinds))
    name = v.string(ref, "name", "roleRef") or ""
    if not name:
        v.add(required("roleRef.name", ""))
    else:
        v.invalid_each("roleRef.name", name, _path_segment_name(name))
    _validate_binding_subjects(v, obj, namespaced=len(kinds) > 1)


def _role_binding_update(v: _V, old: dict[str, Any], new: dict[str, Any]) -> None:
    """ValidateRoleBindingUpdate: a binding's roleRef never changes (delete and recreate)."""
    before, after = old.get("roleRef") or {}, new.get("roleRef") or {}
    if before != after:
        after = after if isinstance(after, dict) else {}
        text = (
            f'rbac.RoleRef{{APIGroup:"{after.get("apiGroup", "")}", '
            f'Kind:"{after.get("kind", "")}", Name:"{after.get("name", "")}"}}'
        )
        v.add(invalid("roleRef", GoValue(after, text), "cannot change roleRef"))


# --- dispatch ------------------------------------------------------------------------------

Validator = Callable[[_V, dict[str, Any], bool], None]
_FC = "flowcontrol.apiserver.k8s.io"

_NAME_FNS: dict[tuple[str, str], NameFn] = {
    ("", "Namespace"): name_is_dns_label,
    (RBAC_GROUP, "Role"): _rbac_name,
    (RBAC_GROUP, "ClusterRole"): _rbac_name,
    (RBAC_GROUP, "RoleBinding"): _rbac_name,
    (RBAC_GROUP, "ClusterRoleBinding"): _rbac_name,
    ("", "Service"): name_is_dns1035_label,  # ValidateServiceName is a DNS-1035 label
}

_KINDS: dict[tuple[str, str], Validator] = {
    ("", "Pod"): _validate_pod,
    ("", "Service"): _validate_service,
    ("", "ConfigMap"): _validate_configmap,
    ("", "Secret"): _validate_secret,
    ("", "PersistentVolumeClaim"): _validate_pvc,
    ("", "ResourceQuota"): _validate_resourcequota,
    ("", "LimitRange"): _validate_limitrange,
    ("storage.k8s.io", "StorageClass"): _validate_storage_class,
    ("", "Event"): _validate_core_event,
    ("events.k8s.io", "Event"): _validate_events_event,
    ("apps", "Deployment"): lambda v, o, c: _validate_replicated(v, o, "Deployment"),
    ("apps", "ReplicaSet"): lambda v, o, c: _validate_replicated(v, o, "ReplicaSet"),
    ("apps", "StatefulSet"): lambda v, o, c: _validate_replicated(v, o, "StatefulSet"),
    ("apps", "DaemonSet"): lambda v, o, c: _validate_replicated(v, o, "DaemonSet"),
    ("batch", "Job"): _validate_job,
    ("batch", "CronJob"): _validate_cronjob,
    ("autoscaling", "HorizontalPodAutoscaler"): _validate_hpa,
    ("policy", "PodDisruptionBudget"): _validate_pdb,
    ("coordination.k8s.io", "Lease"): _validate_lease,
    (_FC, "FlowSchema"): _validate_flowschema,
    (_FC, "PriorityLevelConfiguration"): _validate_plc,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _validate_crd,
    (RBAC_GROUP, "Role"): _validate_role,
    (RBAC_GROUP, "ClusterRole"): _validate_cluster_role,
    (RBAC_GROUP, "RoleBinding"): lambda v, o, c: _validate_role_binding(
        v, o, ["Role", "ClusterRole"]
    ),
    (RBAC_GROUP, "ClusterRoleBinding"): lambda v, o, c: _validate_role_binding(
        v, o, ["ClusterRole"]
    ),
    ("scheduling.k8s.io", "PriorityClass"): lambda v, o, c: v.errs.extend(
        validate_priority_class(o)
    ),
}


def _name_fn(group: str, kind: str, obj: dict[str, Any]) -> NameFn:
    if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
        return _crd_name_fn(obj)
    return _NAME_FNS.get((group, kind), name_is_dns_subdomain)


def _validate(
    group: str, kind: str, obj: Any, *, namespaced: bool, create: bool, spec_unchanged: bool = False
) -> _V:
    """``spec_unchanged``: an update that leaves a pod's spec as stored (status and metadata
    writes, most pod writes) skips re-validating the spec, which was valid when stored."""
    v = _V()
    if not isinstance(obj, dict):
        v.add(type_invalid("", obj, "object"))
        return v
    if (group, kind) == ("", "Binding"):
        _validate_binding(v, obj, create)  # a subresource body: no metadata rules
        return v
    _validate_object_meta(v, obj, _name_fn(group, kind, obj), namespaced=namespaced)
    validator = _KINDS.get((group, kind))
    if validator is not None and not (spec_unchanged and (group, kind) == ("", "Pod")):
        validator(v, obj, create)
    return v


def validate_object(
    group: str, kind: str, obj: dict[str, Any], *, namespaced: bool
) -> list[FieldError]:
    """Errors that make ``obj`` invalid to create (empty when valid). Unknown kinds: metadata."""
    return _dedupe(_validate(group, kind, obj, namespaced=namespaced, create=True).errs)


# --- updates ------------------------------------------------------------------------------


def _semantic(value: Any) -> Any:
    """Normalize for apiequality.Semantic: zero values equal absent, quantities by amount."""
    if isinstance(value, dict):
        out = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "", 0, False, [], {})}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _semantic_resources(value: Any) -> Any:
    """Like _semantic, but compares resource quantities by amount ("1" == "1000m")."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in ("limits", "requests") and isinstance(v, dict):
                out[k] = {name: _amount(q) for name, q in v.items()}
            else:
                out[k] = _semantic_resources(v)
        return {k: v for k, v in out.items() if v not in (None, "", 0, False, [], {})}
    if isinstance(value, list):
        return [_semantic_resources(v) for v in value]
    return value


def _amount(q: Any) -> Any:
    try:
        amount: Decimal = Quantity.parse(q).amount
    except (QuantityError, ValueError, ArithmeticError, TypeError):
        return q
    return amount


def _equal(a: Any, b: Any) -> bool:
    return bool(_semantic_resources(a) == _semantic_resources(b))


def _immutable(v: _V, new: Any, old: Any, path: str, shown: Any = None) -> None:
    if not _equal(new, old):
        v.add(invalid(path, new if shown is None else shown, FIELD_IMMUTABLE))


def _go_field(key: str) -> str:
    return key[:1].upper() + key[1:]


def _spec_diff(old: dict[str, Any], new: dict[str, Any], type_name: str) -> str:
    """A cmp.Diff-like rendering of the top-level spec fields that differ."""
    lines = [f"  {type_name}{{"]
    for key in sorted(set(old) | set(new), key=str):
        if _equal(old.get(key), new.get(key)):
            continue
        for sign, side in (("-", old), ("+", new)):
            if key in side:
                lines.append(f"{sign} \t{_go_field(str(key))}: {_short(side[key])},")
    lines.append("  }")
    return "\n".join(lines)


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)"
)
STATEFULSET_UPDATE_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
    "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
    "forbidden"
)


def _container_list(spec: dict[str, Any], key: str) -> list[Any]:
    val = spec.get(key)
    return val if isinstance(val, list) else []


def _pod_update(v: _V, old: dict[str, Any], new: dict[str, Any]) -> None:
    old_spec, new_spec = _d(old.get("spec")), _d(new.get("spec"))
    if old_spec == new_spec:
        return  # status and metadata writes (kubelets, controllers) are most pod updates
    for key in ("containers", "initContainers"):
        old_c, new_c = _container_list(old_spec, key), _container_list(new_spec, key)
        if len(old_c) != len(new_c):
            v.add(forbidden(f"spec.{key}", "pod updates may not add or remove containers"))
            return
        for i, ctr in enumerate(new_c):
            image = _d(ctr).get("image")
            if isinstance(image, str) and image and image.strip() != image:
                v.add(
                    invalid(
                        f"spec.{key}[{i}].image",
                        image,
                        "must not have leading or trailing whitespace",
                    )
                )
    # Only additions to tolerations (tolerationSeconds may change).
    new_tols = [_d(t) for t in _container_list(new_spec, "tolerations")]
    for old_tol in _container_list(old_spec, "tolerations"):
        wanted = {k: val for k, val in _d(old_tol).items() if k != "tolerationSeconds"}
        if not any(
            _equal(wanted, {k: val for k, val in t.items() if k != "tolerationSeconds"})
            for t in new_tols
        ):
            v.add(
                forbidden(
                    "spec.tolerations",
                    "existing toleration can not be modified except its tolerationSeconds",
                )
            )
            break
    new_ads, old_ads = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if _is_int(new_ads):
        if new_ads < 0 or new_ads > _MAX_INT32:
            v.add(
                invalid("spec.activeDeadlineSeconds", new_ads, inclusive_range_error(0, _MAX_INT32))
            )
            return
        if _is_int(old_ads) and old_ads < new_ads:
            v.add(
                invalid(
                    "spec.activeDeadlineSeconds",
                    new_ads,
                    "must be less than or equal to previous value",
                )
            )
            return
    elif new_ads is None and old_ads is not None:
        v.add(
            invalid(
                "spec.activeDeadlineSeconds",
                None,
                "must not update from a positive integer to nil value",
            )
        )
    munged = copy.deepcopy(new_spec)
    for key in ("containers", "initContainers"):
        for ctr, old_ctr in zip(
            _container_list(munged, key), _container_list(old_spec, key), strict=False
        ):
            if isinstance(ctr, dict):
                ctr["image"] = _d(old_ctr).get("image")
    for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        munged.pop(key, None)
        if key in old_spec:
            munged[key] = copy.deepcopy(old_spec[key])
    old_tgps, new_tgps = (
        old_spec.get("terminationGracePeriodSeconds"),
        munged.get("terminationGracePeriodSeconds"),
    )
    if _is_int(old_tgps) and old_tgps < 0 and new_tgps == 1:
        munged["terminationGracePeriodSeconds"] = old_tgps
    if not _equal(munged, old_spec):
        v.add(
            forbidden(
                "spec", POD_UPDATE_FORBIDDEN + "\n" + _spec_diff(old_spec, munged, "core.PodSpec")
            )
        )


def _apps_update(v: _V, kind: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    old_spec, new_spec = _d(old.get("spec")), _d(new.get("spec"))
    if kind == "StatefulSet":
        allowed = (
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        )
        rest_new = {k: val for k, val in new_spec.items() if k not in allowed}
        rest_old = {k: val for k, val in old_spec.items() if k not in allowed}
        if not _equal(rest_new, rest_old):
            v.add(forbidden("spec", STATEFULSET_UPDATE_FORBIDDEN))
        return
    new_sel = new_spec.get("selector")
    _immutable(
        v,
        new_sel,
        old_spec.get("selector"),
        "spec.selector",
        go_label_selector(new_sel) if isinstance(new_sel, dict) else None,
    )


_MUTABLE_SCHEDULING = ("nodeSelector", "affinity", "tolerations", "schedulingGates")


def _job_update(v: _V, old: dict[str, Any], new: dict[str, Any]) -> None:
    old_spec, new_spec = _d(old.get("spec")), _d(new.get("spec"))
    new_sel = new_spec.get("selector")
    _immutable(
        v,
        new_sel,
        old_spec.get("selector"),
        "spec.selector",
        go_label_selector(new_sel) if isinstance(new_sel, dict) else None,
    )
    old_t, new_t = _d(old_spec.get("template")), _d(new_spec.get("template"))
    never_started = new_spec.get("suspend") is True and not _d(old.get("status")).get("startTime")
    if never_started:
        # A suspended Job that never ran may change its scheduling directives.
        old_t, new_t = copy.deepcopy(old_t), copy.deepcopy(new_t)
        for t in (old_t, new_t):
            md = _d(t.get("metadata"))
            md.pop("labels", None)
            md.pop("annotations", None)
            for key in _MUTABLE_SCHEDULING:
                _d(t.get("spec")).pop(key, None)
    _immutable(v, new_t, old_t, "spec.template", _go_struct("core.PodTemplateSpec", new_t))
    old_c, new_c = old_spec.get("completions"), new_spec.get("completions")
    indexed = new_spec.get("completionMode") == "Indexed" == old_spec.get("completionMode")
    if indexed:
        if (
            new_c is not None
            and new_spec.get("parallelism") is not None
            and new_c != new_spec.get("parallelism")
            and new_c != old_c
        ):
            v.add(
                invalid(
                    "spec.completions",
                    new_c,
                    "can only be modified in tandem with spec.parallelism",
                )
            )
    else:
        _immutable(v, new_c, old_c, "spec.completions")
    for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex"):
        _immutable(v, new_spec.get(key), old_spec.get(key), f"spec.{key}")


def _service_update(v: _V, old: dict[str, Any], new: dict[str, Any]) -> None:
    old_spec, new_spec = _d(old.get("spec")), _d(new.get("spec"))
    if "ExternalName" in (old_spec.get("type"), new_spec.get("type")):
        return
    old_ips, new_ips = _service_cluster_ips(old_spec), _service_cluster_ips(new_spec)
    if not old_ips or not new_ips:
        return  # unset in the request: the API layer keeps the allocated address
    if old_ips == ["None"] and new_ips == ["None"]:
        return
    for i, ip in enumerate(old_ips[: len(new_ips)]):
        if ip != new_ips[i]:
            v.add(invalid(f"spec.clusterIPs[{i}]", go_strings(new_ips), "may not change once set"))


def _immutable_data_update(v: _V, kind: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    if kind == "Secret":
        _immutable(v, new.get("type") or "Opaque", old.get("type") or "Opaque", "type")
    if old.get("immutable") is not True:
        return
    if new.get("immutable") is not True:
        v.add(forbidden("immutable", "field is immutable when `immutable` is set"))
    keys = ("data",) if kind == "Secret" else ("data", "binaryData")
    for key in keys:
        if _semantic(new.get(key)) != _semantic(old.get(key)):
            v.add(forbidden(key, "field is immutable when `immutable` is set"))


def _pvc_update(v: _V, old: dict[str, Any], new: dict[str, Any]) -> None:
    """ValidatePersistentVolumeClaimUpdate (RecoverVolumeExpansionFailure off, as in 1.31): only
    a bound claim's storage request may change, and only upwards."""
    old_spec, new_spec = copy.deepcopy(_d(old.get("spec"))), copy.deepcopy(_d(new.get("spec")))
    if _d(old.get("status")).get("phase") == "Bound":
        for spec in (old_spec, new_spec):
            _d(_d(spec.get("resources")).get("requests")).pop("storage", None)
    for spec in (old_spec, new_spec):
        spec.pop("volumeAttributesClassName", None)
    if not old_spec.get("volumeName"):
        new_spec.pop("volumeName", None)  # binding a claim sets it once
        old_spec.pop("volumeName", None)
    if not _equal(new_spec, old_spec):
        v.add(
            forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and "
                "volumeAttributesClassName for bound claims\n"
                + _spec_diff(old_spec, new_spec, "core.PersistentVolumeClaimSpec"),
            )
        )
    before, after = claim_storage(old), claim_storage(new)
    if before is not None and after is not None and after.amount < before.amount:
        v.add(
            forbidden(
                "spec.resources.requests.storage", "field can not be less than previous value"
            )
        )


def validate_update(
    group: str, kind: str, old: dict[str, Any], new: dict[str, Any], *, namespaced: bool = True
) -> list[FieldError]:
    """Errors that make replacing ``old`` by ``new`` invalid: the create checks on ``new``
    (minus create-only rules) plus Kubernetes' immutability rules."""
    spec_unchanged = (
        isinstance(new, dict) and isinstance(old, dict) and new.get("spec") == old.get("spec")
    )
    v = _validate(
        group, kind, new, namespaced=namespaced, create=False, spec_unchanged=spec_unchanged
    )
    if not isinstance(new, dict) or not isinstance(old, dict):
        return _dedupe(v.errs)
    old_meta, new_meta = _d(old.get("metadata")), _d(new.get("metadata"))
    for key in ("name", "namespace", "uid"):
        if new_meta.get(key) != old_meta.get(key):
            v.add(invalid(f"metadata.{key}", new_meta.get(key) or "", FIELD_IMMUTABLE))
    try:
        if (group, kind) == ("", "Pod"):
            _pod_update(v, old, new)
        elif group == "apps" and kind in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"):
            _apps_update(v, kind, old, new)
        elif (group, kind) == ("batch", "Job"):
            _job_update(v, old, new)
        elif (group, kind) == ("", "Service"):
            _service_update(v, old, new)
        elif (group, kind) in (("", "ConfigMap"), ("", "Secret")):
            _immutable_data_update(v, kind, old, new)
        elif (group, kind) == ("", "PersistentVolumeClaim"):
            _pvc_update(v, old, new)
        elif (group, kind) == ("storage.k8s.io", "StorageClass"):
            _storage_class_update(v, old, new)
        elif (group, kind) == ("scheduling.k8s.io", "PriorityClass"):
            v.errs.extend(validate_priority_class_update(old, new))
        elif group == RBAC_GROUP and kind in ("RoleBinding", "ClusterRoleBinding"):
            _role_binding_update(v, old, new)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        # Malformed stored/new objects must yield an error, never a 500.
        v.add(invalid("spec", "", f"could not compare with the stored object: {exc}"))
    return _dedupe(v.errs)
