"""Label and field selectors, copied from k8s.io/apimachinery (labels, fields, metav1).

The label-selector lexer and parser mirror labels/selector.go token for token, so the same
strings are accepted, requirements come out in the same (key-sorted) order, ``str()`` gives
the same canonical text, and errors carry the same messages kube-apiserver returns, e.g.
``unable to parse requirement: <nil>: Invalid value: "a b": ...``.

Field selectors follow fields/selector.go: terms split on unescaped commas and sorted, the
first ``!=``, ``==`` or ``=`` splits a term, and only ``\\``, ``,`` and ``=`` may be
backslash-escaped in values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

__all__ = [
    "DOES_NOT_EXIST",
    "DOUBLE_EQUALS",
    "EQUALS",
    "EXISTS",
    "GREATER_THAN",
    "IN",
    "LESS_THAN",
    "NOT_EQUALS",
    "NOT_IN",
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "SelectorIndex",
    "escape_field_value",
    "exact_match",
    "filing_pairs",
    "label_selector_from_dict",
    "new_requirement",
    "parse_field_selector",
    "parse_label_selector",
    "unescape_field_value",
    "validate_label_key",
    "validate_label_value",
]

K = TypeVar("K")

# selection.Operator values.
DOES_NOT_EXIST = "!"
EQUALS = "="
DOUBLE_EQUALS = "=="
IN = "in"
NOT_EQUALS = "!="
NOT_IN = "notin"
EXISTS = "exists"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_UNARY_OPERATORS = (EXISTS, DOES_NOT_EXIST)


class SelectorError(ValueError):
    """A selector Kubernetes would reject; the message is Kubernetes' own."""


# --- validation (k8s.io/apimachinery/pkg/api/validate/content) ----------------------------

_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_ERR = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_LABEL_KEY_FMT})?"
_LABEL_VALUE_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_ERR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
# ASCII-only classes and \Z (not $, which also matches before a trailing newline).
_LABEL_KEY_RE = re.compile(f"(?:{_LABEL_KEY_FMT})\\Z")
_LABEL_VALUE_RE = re.compile(f"(?:{_LABEL_VALUE_FMT})\\Z")
_DNS1123_SUBDOMAIN_RE = re.compile(f"(?:{_DNS1123_SUBDOMAIN_FMT})\\Z")


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError, including its double space before each 'or'."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _nbytes(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))  # Go measures strings in bytes


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if _nbytes(value) > 253:
        errs.append(_max_len_error(253))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_ERR, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def validate_label_key(key: str) -> list[str]:
    """IsQualifiedName: problems with a label key ([prefix/]name), empty if valid."""
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in _dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_LABEL_KEY_ERR, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _nbytes(name) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _LABEL_KEY_RE.match(name):
        errs.append(
            "name part "
            + _regex_error(_LABEL_KEY_ERR, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def validate_label_value(value: str) -> list[str]:
    """IsValidLabelValue: problems with a label value, empty if valid."""
    errs = []
    if _nbytes(value) > 63:
        errs.append(_max_len_error(63))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(
            _regex_error(_LABEL_VALUE_ERR, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errs


def _go_quote(s: str) -> str:
    """strconv.Quote, as used by %q in Kubernetes' messages."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code < 0xE000:
            out.append("\\ufffd")  # not a valid rune in Go
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES["\v"] = "\\v"


def _go_string_slice(values: Sequence[str] | None) -> str:
    """%#v of a []string."""
    if not values:
        return "[]string(nil)" if values is None else "[]string{}"
    return "[]string{" + ", ".join(_go_quote(v) for v in values) + "}"


def _invalid(path: str, bad_value: str, detail: str) -> str:
    """field.Invalid(...).Error()."""
    return f"{path}: Invalid value: {bad_value}: {detail}"


def _aggregate(errs: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message, or '[a, b]' without duplicates."""
    unique = list(dict.fromkeys(errs))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


_INT64_RE = re.compile(r"[+-]?[0-9]+\Z")


def _parse_int64(s: str) -> int | None:
    """strconv.ParseInt(s, 10, 64), or None (Python's int() is laxer: '_', spaces)."""
    if len(s) > 30 or not _INT64_RE.match(s):
        return None
    n = int(s)
    return n if -(2**63) <= n < 2**63 else None


# --- label requirements and selectors ------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """One label requirement (labels.Requirement): key, operator and values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Requirement.Matches: note NotIn/!= also match when the key is absent."""
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op == EXISTS:
            return self.key
        spelled = {IN: " in ", NOT_IN: " notin ", GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op in (IN, NOT_IN):
            values = f"({values})"
        return f"{self.key}{spelled}{values}"


def new_requirement(key: str, operator: str, values: Iterable[str] | None = ()) -> Requirement:
    """labels.NewRequirement: validate key, operator arity and values, or SelectorError."""
    vals = None if values is None else list(values)
    errs: list[str] = []
    key_errs = validate_label_key(key)
    if key_errs:
        errs.append(_invalid("key", _go_quote(key), "; ".join(key_errs)))
    n = len(vals or ())
    if operator in (IN, NOT_IN):
        if n == 0:
            errs.append(
                _invalid(
                    "values",
                    _go_string_slice(vals),
                    "for 'in', 'notin' operators, values set can't be empty",
                )
            )
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if n != 1:
            errs.append(
                _invalid(
                    "values",
                    _go_string_slice(vals),
                    "exact-match compatibility requires one single value",
                )
            )
    elif operator in _UNARY_OPERATORS:
        if n != 0:
            errs.append(
                _invalid(
                    "values",
                    _go_string_slice(vals),
                    "values set must be empty for exists and does not exist",
                )
            )
    elif operator in (GREATER_THAN, LESS_THAN):
        if n != 1:
            errs.append(
                _invalid(
                    "values",
                    _go_string_slice(vals),
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                )
            )
        for i, v in enumerate(vals or ()):
            if _parse_int64(v) is None:
                errs.append(
                    _invalid(
                        f"values[{i}]",
                        _go_quote(v),
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    )
                )
    else:
        supported = ", ".join(_go_quote(o) for o in (*_BINARY_OPERATORS, *_UNARY_OPERATORS))
        errs.append(
            f"operator: Unsupported value: {_go_quote(operator)}: supported values: {supported}"
        )
    for i, v in enumerate(vals or ()):
        value_errs = validate_label_value(v)
        if value_errs:
            errs.append(_invalid(f"values[{i}][{key}]", _go_quote(v), "; ".join(value_errs)))
    if errs:
        raise SelectorError(_aggregate(errs))
    return Requirement(key, operator, tuple(vals or ()))


class LabelSelector:
    """An AND of label requirements, or the special selector that matches nothing.

    Mirrors labels.Selector: requirements are kept sorted by key (stable for equal keys).
    """

    __slots__ = ("_nothing", "_requirements")

    def __init__(self, requirements: Iterable[Requirement] = (), *, _nothing: bool = False):
        self._requirements: tuple[Requirement, ...] = tuple(
            sorted(requirements, key=lambda r: r.key)
        )
        self._nothing = _nothing

    @classmethod
    def everything(cls) -> LabelSelector:
        """labels.Everything(): matches every label set (also what '' parses to)."""
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        """labels.Nothing(): matches no label set (a nil metav1.LabelSelector)."""
        return cls(_nothing=True)

    @classmethod
    def from_set(cls, labels: Mapping[str, str] | None) -> LabelSelector:
        """ValidatedSelectorFromSet: key=value for every pair; None/{} select everything."""
        return cls(new_requirement(k, EQUALS, [v]) for k, v in (labels or {}).items())

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        return self._requirements

    @property
    def empty(self) -> bool:
        """Selector.Empty(): true when it does not restrict (Nothing is not empty)."""
        return not self._nothing and not self._requirements

    @property
    def matches_nothing(self) -> bool:
        """labels.MatchesNothing: only the Nothing selector (contradictions aren't detected)."""
        return self._nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self._nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self._requirements)

    def add(self, *requirements: Requirement) -> LabelSelector:
        """Selector.Add: a new selector with more requirements (Nothing stays Nothing)."""
        if self._nothing:
            return self
        return LabelSelector((*self._requirements, *requirements))

    def requires_exact_match(self, label: str) -> str | None:
        """RequiresExactMatch: the value forced by the first requirement on ``label``."""
        for r in self._requirements:
            if r.key == label:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self._requirements)

    def __repr__(self) -> str:
        if self._nothing:
            return "LabelSelector.nothing()"
        return f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return (self._nothing, self._requirements) == (other._nothing, other._requirements)

    def __hash__(self) -> int:
        return hash((self._nothing, self._requirements))


# --- which selectors match a label set, without trying every one -------------------------


class SelectorIndex(Generic[K]):
    """Label selectors by key, and which of them match a label set, without trying every
    one: a selector with an equality requirement (``key=value``, ``key in (a, b)``) is filed
    under those (key, value) pairs and only tried for label sets that have one of them; the
    others are tried every time. Matching itself is always ``LabelSelector.matches``."""

    def __init__(self) -> None:
        self._selectors: dict[K, LabelSelector] = {}
        self._filed: dict[K, tuple[tuple[str, str], ...]] = {}
        self._by_pair: dict[tuple[str, str], set[K]] = {}
        self._unfiled: set[K] = set()

    def __len__(self) -> int:
        return len(self._selectors)

    def set(self, key: K, selector: LabelSelector) -> None:
        self.remove(key)
        self._selectors[key] = selector
        if selector.matches_nothing:
            return  # never a candidate
        pairs = filing_pairs(selector)
        if pairs is None:
            self._unfiled.add(key)
            return
        self._filed[key] = pairs
        for pair in pairs:
            self._by_pair.setdefault(pair, set()).add(key)

    def remove(self, key: K) -> None:
        if self._selectors.pop(key, None) is None:
            return
        self._unfiled.discard(key)
        for pair in self._filed.pop(key, ()):
            keys = self._by_pair[pair]
            keys.discard(key)
            if not keys:
                del self._by_pair[pair]

    def get(self, key: K) -> LabelSelector | None:
        return self._selectors.get(key)

    def matching(self, labels: Mapping[str, str]) -> list[K]:
        """Keys of the selectors that match ``labels`` (in no particular order)."""
        candidates = set(self._unfiled)
        for pair in labels.items():
            filed = self._by_pair.get(pair)
            if filed:
                candidates |= filed
        return [k for k in candidates if self._selectors[k].matches(labels)]


def filing_pairs(selector: LabelSelector) -> tuple[tuple[str, str], ...] | None:
    """The (key, value) pairs one of which any matching label set must have: those of the
    selector's first equality or ``in`` requirement. None when it has none."""
    for r in selector.requirements:
        if r.operator in (IN, EQUALS, DOUBLE_EQUALS) and r.values:
            return tuple((r.key, v) for v in r.values)
    return None


# --- the label selector lexer/parser (labels/selector.go) ---------------------------------

_T_ERROR = "error"
_T_EOS = "end of string"
_T_CLOSED_PAR = ")"
_T_COMMA = ","
_T_DOES_NOT_EXIST = "!"
_T_DOUBLE_EQUALS = "=="
_T_EQUALS = "="
_T_GREATER_THAN = ">"
_T_IDENTIFIER = "identifier"
_T_IN = "in"
_T_LESS_THAN = "<"
_T_NOT_EQUALS = "!="
_T_NOT_IN = "notin"
_T_OPEN_PAR = "("

# Literal -> token; every token except identifier/end/error has a literal spelling.
_STRING_TO_TOKEN = {
    ")": _T_CLOSED_PAR,
    ",": _T_COMMA,
    "!": _T_DOES_NOT_EXIST,
    "==": _T_DOUBLE_EQUALS,
    "=": _T_EQUALS,
    ">": _T_GREATER_THAN,
    "in": _T_IN,
    "<": _T_LESS_THAN,
    "!=": _T_NOT_EQUALS,
    "notin": _T_NOT_IN,
    "(": _T_OPEN_PAR,
}
_OPERATOR_BY_TOKEN = {
    _T_IN: IN,
    _T_EQUALS: EQUALS,
    _T_DOUBLE_EQUALS: DOUBLE_EQUALS,
    _T_GREATER_THAN: GREATER_THAN,
    _T_LESS_THAN: LESS_THAN,
    _T_NOT_IN: NOT_IN,
    _T_NOT_EQUALS: NOT_EQUALS,
}
_WHITESPACE = frozenset(" \t\r\n")
_SPECIAL = frozenset("=!(),><")
_END = "\x00"  # Go's lexer reads byte 0 at the end, so a NUL in the input acts as an end too


def _lex(s: str) -> list[tuple[str, str]]:
    """All tokens up to and including the end-of-string token."""
    pos = 0

    def read() -> str:
        nonlocal pos
        if pos < len(s):
            pos += 1
            return s[pos - 1]
        return _END

    items: list[tuple[str, str]] = []
    while True:
        ch = read()
        while ch in _WHITESPACE:
            ch = read()
        if ch == _END:
            items.append((_T_EOS, ""))
            return items
        pos -= 1
        buf = ""
        if ch in _SPECIAL:
            # Longest run of special characters that still spells a token.
            last: tuple[str, str] | None = None
            while True:
                ch = read()
                if ch == _END:
                    break
                if ch not in _SPECIAL:
                    pos -= 1
                    break
                buf += ch
                if buf in _STRING_TO_TOKEN:
                    last = (_STRING_TO_TOKEN[buf], buf)
                elif last is not None:
                    pos -= 1
                    break
            items.append(last or (_T_ERROR, f"error expected: keyword found '{buf}'"))
        else:
            while True:
                ch = read()
                if ch == _END:
                    break
                if ch in _SPECIAL or ch in _WHITESPACE:
                    pos -= 1
                    break
                buf += ch
            items.append((_STRING_TO_TOKEN.get(buf, _T_IDENTIFIER), buf))


class _Parser:
    """labels.Parser: recursive descent over the pre-lexed tokens."""

    def __init__(self, text: str):
        self.items = _lex(text)
        self.position = 0

    def lookahead(self, values: bool) -> tuple[str, str]:
        tok, lit = self.items[self.position]
        if values and tok in (_T_IN, _T_NOT_IN):
            tok = _T_IDENTIFIER  # 'in'/'notin' are ordinary words where values may appear
        return tok, lit

    def consume(self, values: bool) -> tuple[str, str]:
        item = self.lookahead(values)
        self.position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead(True)
            if tok in (_T_IDENTIFIER, _T_DOES_NOT_EXIST):
                try:
                    requirements.append(self.parse_requirement())
                except SelectorError as err:
                    raise SelectorError(f"unable to parse requirement: {err}") from None
                tok, lit = self.consume(True)
                if tok == _T_EOS:
                    return requirements
                if tok != _T_COMMA:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self.lookahead(True)
                if tok2 not in (_T_IDENTIFIER, _T_DOES_NOT_EXIST):
                    raise SelectorError(f"found '{lit2}', expected: identifier after ','")
            elif tok == _T_EOS:
                return requirements
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        key, operator = self.parse_key_and_infer_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return new_requirement(key, operator, [])
        operator = self.parse_operator()
        values = self.parse_values() if operator in (IN, NOT_IN) else self.parse_exact_value()
        return new_requirement(key, operator, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, str]:
        operator = ""
        tok, lit = self.consume(True)
        if tok == _T_DOES_NOT_EXIST:
            operator = DOES_NOT_EXIST
            tok, lit = self.consume(True)
        if tok != _T_IDENTIFIER:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key_errs = validate_label_key(lit)
        if key_errs:
            # The parser validates with a nil field path, hence Kubernetes' "<nil>: ".
            raise SelectorError(_invalid("<nil>", _go_quote(lit), "; ".join(key_errs)))
        if self.lookahead(True)[0] in (_T_EOS, _T_COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        return lit, operator

    def parse_operator(self) -> str:
        tok, lit = self.consume(False)
        if tok not in _OPERATOR_BY_TOKEN:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return _OPERATOR_BY_TOKEN[tok]

    def parse_values(self) -> set[str]:
        tok, lit = self.consume(True)
        if tok != _T_OPEN_PAR:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead(True)
        if tok in (_T_IDENTIFIER, _T_COMMA):
            values = self.parse_identifiers_list()
            if self.consume(True)[0] != _T_CLOSED_PAR:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _T_CLOSED_PAR:  # "()" is the single empty value
            self.consume(True)
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        """A comma-separated list of possibly empty values: "(a,,b)", "(,a)", "(a,)"."""
        values: set[str] = set()
        while True:
            tok, lit = self.consume(True)
            if tok == _T_IDENTIFIER:
                values.add(lit)
                tok2, lit2 = self.lookahead(True)
                if tok2 == _T_COMMA:
                    continue
                if tok2 == _T_CLOSED_PAR:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _T_COMMA:
                if not values:
                    values.add("")  # "(,"
                tok2 = self.lookahead(True)[0]
                if tok2 == _T_CLOSED_PAR:
                    values.add("")  # ",)"
                    return values
                if tok2 == _T_COMMA:
                    values.add("")  # ",,"
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        if self.lookahead(True)[0] in (_T_EOS, _T_COMMA):
            return {""}  # "a=" selects the empty value
        tok, lit = self.consume(True)
        if tok == _T_IDENTIFIER:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """labels.Parse: ``"a=b,c in (x,y),!d"``; the empty string selects everything."""
    return LabelSelector(_Parser(text).parse())


_LABEL_SELECTOR_OPERATORS = {
    "In": IN,
    "NotIn": NOT_IN,
    "Exists": EXISTS,
    "DoesNotExist": DOES_NOT_EXIST,
}


def label_selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: None selects nothing, {} selects everything."""
    if sel is None:
        return LabelSelector.nothing()
    if not isinstance(sel, Mapping):
        raise SelectorError(f"label selector must be an object, got {type(sel).__name__}")
    match_labels = sel.get("matchLabels") or {}
    match_expressions = sel.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be an object")
    if not isinstance(match_expressions, list):
        raise SelectorError("matchExpressions must be a list")
    if not match_labels and not match_expressions:
        return LabelSelector.everything()
    requirements = []
    for key, value in sorted(match_labels.items()):
        requirements.append(new_requirement(_str(key), EQUALS, [_str(value)]))
    for expr in match_expressions:
        if not isinstance(expr, Mapping):
            raise SelectorError("matchExpressions items must be objects")
        operator = _str(expr.get("operator") or "")
        if operator not in _LABEL_SELECTOR_OPERATORS:
            raise SelectorError(f"{_go_quote(operator)} is not a valid label selector operator")
        raw_values = expr.get("values")
        if raw_values is not None and not isinstance(raw_values, list):
            raise SelectorError("matchExpressions values must be a list")
        # Go copies the list with append([]string(nil), ...): empty becomes nil.
        values = [_str(v) for v in raw_values] if raw_values else None
        key = _str(expr.get("key") or "")
        requirements.append(new_requirement(key, _LABEL_SELECTOR_OPERATORS[operator], values))
    return LabelSelector(requirements)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise SelectorError(f"expected a string, got {type(value).__name__}: {value!r}")
    return value


# --- field selectors (fields/selector.go) -------------------------------------------------


class FieldRequirement(NamedTuple):
    """One field term; ``operator`` is "=" (for both = and ==) or "!="."""

    field: str
    operator: str
    value: str


def escape_field_value(value: str) -> str:
    """fields.EscapeValue: backslash-escape \\, ',' and '=' so any literal can be a value."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_field_value(value: str) -> str:
    """fields.UnescapeValue: undo escape_field_value, rejecting bare ',' and '='."""
    if not any(c in value for c in "\\,="):
        return value
    out = []
    in_slash = False
    for c in value:
        if in_slash:
            if c not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            # Go formats the rune with %v, i.e. as its code point number.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped (escapes are kept)."""
    if not text:
        return []
    terms = []
    start = 0
    in_slash = False
    for i, c in enumerate(text):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """Split at the first operator; '!=' and '==' win over '=' at the same position."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


class FieldSelector:
    """An AND of field terms (fields.Selector); a missing field compares as ''."""

    __slots__ = ("_requirements",)

    def __init__(self, requirements: Iterable[FieldRequirement | tuple[str, str, str]] = ()):
        reqs = []
        for field, op, value in requirements:
            if op == DOUBLE_EQUALS:
                op = EQUALS
            if op not in (EQUALS, NOT_EQUALS):
                raise SelectorError(f"unsupported field selector operator {op!r}")
            reqs.append(FieldRequirement(field, op, value))
        self._requirements = tuple(reqs)

    @classmethod
    def everything(cls) -> FieldSelector:
        return cls()

    @classmethod
    def from_set(cls, fields: Mapping[str, str] | None) -> FieldSelector:
        """fields.SelectorFromSet, in sorted field order so str() is deterministic."""
        return cls((f, EQUALS, v) for f, v in sorted((fields or {}).items()))

    @property
    def requirements(self) -> list[FieldRequirement]:
        return list(self._requirements)

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(r.field for r in self._requirements)

    @property
    def empty(self) -> bool:
        return not self._requirements

    def matches(self, fields: Mapping[str, str] | None) -> bool:
        fields = fields or {}
        for r in self._requirements:
            equal = fields.get(r.field, "") == r.value
            if equal != (r.operator == EQUALS):
                return False
        return True

    def requires_exact_match(self, field: str) -> str | None:
        """RequiresExactMatch: the value of the first ``field=value`` term, if any."""
        for r in self._requirements:
            if r.field == field and r.operator == EQUALS:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(f"{r.field}{r.operator}{escape_field_value(r.value)}" for r in self)

    def __iter__(self) -> Iterator[FieldRequirement]:
        return iter(self._requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self._requirements == other._requirements

    def __hash__(self) -> int:
        return hash(self._requirements)


def parse_field_selector(text: str) -> FieldSelector:
    """fields.ParseSelector: ``"spec.nodeName=n1,status.phase!=Running"``; '' is everything."""
    requirements = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, raw = split
        value = unescape_field_value(raw)
        if not field and not value:
            continue  # the identity transform turns "=" into Everything, which is dropped
        requirements.append(FieldRequirement(field, NOT_EQUALS if op == "!=" else EQUALS, value))
    return FieldSelector(requirements)


class _ExactMatcher(Protocol):
    def requires_exact_match(self, name: str, /) -> str | None: ...


def exact_match(sel: _ExactMatcher, field: str) -> str | None:
    """The value ``sel`` forces ``field`` to have (e.g. spec.nodeName), or None.

    Works for FieldSelector and LabelSelector alike; used to index list/watch lookups.
    """
    return sel.requires_exact_match(field)
