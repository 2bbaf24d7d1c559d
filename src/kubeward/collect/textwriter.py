"""The Prometheus text format written straight from Arrow columns.

A family's lines are built column-wise with ``binary_join_element_wise``: constant fragments
(``kube_pod_info{namespace="``) and columns are joined row by row into one string array whose
data buffer *is* the text, newline-terminated lines back to back. No Python object is created
per series, which is what makes a few million series renderable in seconds (prometheus_client
builds a Sample tuple per series; see ADR 0005 for the figures).

Null values drop the line: a column left null where kube-state-metrics emits nothing (an unset
``spec.replicas``, a job that has not started) needs no special case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Part: TypeAlias = "str | pa.Array"
Text: TypeAlias = "pa.Buffer | bytes"


def as_text(array: pa.Array) -> Text:
    """The concatenated bytes of a string array's values, without copying."""
    array = pc.drop_null(array)
    if len(array) == 0:
        return b""
    offsets = np.frombuffer(
        array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4
    )
    data = array.buffers()[2]
    start, end = int(offsets[0]), int(offsets[-1])
    return data[start:end] if data is not None and end > start else b""


def join(parts: Sequence[Part]) -> pa.Array:
    """Row-wise concatenation of constant strings and equally long string arrays."""
    merged: list[Part] = []
    for part in parts:
        last = merged[-1] if merged else None
        if isinstance(part, str) and isinstance(last, str):
            merged[-1] = last + part
        else:
            merged.append(part)
    if not any(isinstance(p, pa.Array) for p in merged):
        raise ValueError("join() needs at least one column")
    return pc.binary_join_element_wise(*merged, "")


class Line:
    """The parts of one family's lines: ``Line("kube_pod_info").text(prefix)
    .label("node", node).value("1")``."""

    def __init__(self, name: str) -> None:
        self.parts: list[Part] = [name]
        self.labelled = False

    def _open(self) -> None:
        self.parts.append("," if self.labelled else "{")
        self.labelled = True

    def text(self, fragment: Part) -> Line:
        """Labels already rendered as ``k="v",k2="v2"`` (e.g. an object's identity)."""
        self._open()
        self.parts.append(fragment)
        return self

    def more(self, fragment: Part) -> Line:
        """Labels rendered as ``,k="v",k2="v2"`` or ``""`` per row (a variable number of
        labels, e.g. an object's allowlisted labels), after at least one other label."""
        if not self.labelled:
            raise ValueError("more() needs a label before it")
        self.parts.append(fragment)
        return self

    def label(self, key: str, value: Part) -> Line:
        self._open()
        self.parts += [f'{key}="', value, '"']
        return self

    def value(self, value: Part) -> Text:
        self.parts += ["} " if self.labelled else " ", value, "\n"]
        return as_text(join(self.parts))


def labels(pairs: Sequence[tuple[str, Part]]) -> pa.Array:
    """``k="v",k2="v2"`` per row, to be reused by every family of a kind."""
    parts: list[Part] = []
    for i, (key, value) in enumerate(pairs):
        parts += [("," if i else "") + f'{key}="', value, '"']
    return join(parts)


def ints(array: pa.Array) -> pa.Array:
    return pc.cast(array, pa.string())


def floats(array: pa.Array) -> pa.Array:
    """Floats as text; integral values without an exponent (``17179869184``, not
    ``1.7179869184e+10``), as Go's ``strconv.FormatFloat(v, 'g'...)`` would not, but readable."""
    whole = pc.cast(array, pa.int64(), safe=False)
    integral = pc.equal(pc.cast(whole, pa.float64()), array)
    return pc.if_else(integral, pc.cast(whole, pa.string()), pc.cast(array, pa.string()))


def flags(mask: pa.Array) -> pa.Array:
    """Booleans as ``1``/``0``."""
    return pc.if_else(mask, "1", "0")


def header(name: str, help_text: str, type_: str) -> bytes:
    help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    return f"# HELP {name} {help_text}\n# TYPE {name} {type_}\n".encode()
