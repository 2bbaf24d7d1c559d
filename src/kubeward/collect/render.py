"""What a render of a shard's state works on: a kind's tables, cut into slices of objects.

A :class:`KindView` holds one slice: its decoded columns and identity labels are computed once
and shared by the lines of one family. Rendering slice by slice bounds the memory a render
needs (the text and temporaries of one slice, not of 150,000 pods at once) without changing the
output: a family's lines stay together, slice after slice."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

import numpy as np
import pyarrow as pa

from kubeward.collect.columnar import seq_array
from kubeward.collect.kinds import STATE_KIND_BY_NAME
from kubeward.collect.textwriter import labels

# The labels that identify an object in every family of its kind, in kube-state-metrics'
# order (its wrap*Func prepends them).
IDENTITY: dict[str, tuple[str, ...]] = {
    "pods": ("namespace", "pod", "uid"),
    "nodes": ("node",),
    "namespaces": ("namespace",),
    "services": ("namespace", "service", "uid"),
    "persistentvolumeclaims": ("namespace", "persistentvolumeclaim"),
    "persistentvolumes": ("persistentvolume",),
    "storageclasses": ("storageclass",),
    "resourcequotas": ("namespace", "resourcequota"),
    "limitranges": ("namespace", "limitrange"),
    "deployments": ("namespace", "deployment"),
    "replicasets": ("namespace", "replicaset"),
    "daemonsets": ("namespace", "daemonset"),
    "statefulsets": ("namespace", "statefulset"),
    "jobs": ("namespace", "job_name"),
    "cronjobs": ("namespace", "cronjob"),
    "horizontalpodautoscalers": ("namespace", "horizontalpodautoscaler"),
    "poddisruptionbudgets": ("namespace", "poddisruptionbudget"),
}


class KindView:
    """One kind's tables during a render."""

    def __init__(self, kind: str, tables: list[pa.Table]) -> None:
        self.kind = kind
        specs = STATE_KIND_BY_NAME[kind].tables
        self.tables = {spec.name: t for spec, t in zip(specs, tables, strict=True)}
        self.main = tables[0]
        self._decoded: dict[tuple[str, str], pa.Array] = {}
        self._parents: dict[str, pa.Array] = {}

    def rows(self, table: str | None = None) -> int:
        return int((self.tables[table] if table else self.main).num_rows)

    def col(self, table: str, name: str) -> pa.Array:
        """A column as one plain array (dictionary columns decoded to strings)."""
        key = (table, name)
        if key not in self._decoded:
            column = self.tables[table].column(name)
            array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
            if pa.types.is_dictionary(array.type):
                array = array.dictionary_decode()
            self._decoded[key] = array
        return self._decoded[key]

    def main_col(self, name: str) -> pa.Array:
        return self.col(self.main_name, name)

    @property
    def main_name(self) -> str:
        return STATE_KIND_BY_NAME[self.kind].tables[0].name

    @cached_property
    def identity(self) -> pa.Array:
        """``namespace="..",pod="..",uid=".."`` per main row."""
        return labels([(k, self.main_col(k)) for k in IDENTITY[self.kind]])

    def parent_index(self, table: str) -> pa.Array:
        """For each row of a child table, the position of its object in the main table (both
        are sorted by seq and hold the same live objects)."""
        if table not in self._parents:
            idx = np.searchsorted(seq_array(self.main), seq_array(self.tables[table]))
            self._parents[table] = pa.array(idx, pa.int64())
        return self._parents[table]

    def of_parent(self, table: str, array: pa.Array) -> pa.Array:
        """A main-table column (or the identity) repeated for each row of a child table."""
        return array.take(self.parent_index(table))

    def child_identity(self, table: str, mask: pa.Array | None = None) -> pa.Array:
        ident = self.of_parent(table, self.identity)
        return ident if mask is None else ident.filter(mask)


SLICE_OBJECTS = 25_000  # objects per slice


def slices(kind: str, tables: list[pa.Table], size: int = SLICE_OBJECTS) -> list[list[pa.Table]]:
    """The kind's tables cut into zero-copy slices of ``size`` objects, each with its child
    rows (tables are sorted by seq, so an object's children are one contiguous range)."""
    main = tables[0]
    if main.num_rows == 0:
        return []
    main_seq = seq_array(main)
    child_seqs = [seq_array(t) for t in tables[1:]]
    out = []
    for start in range(0, main.num_rows, size):
        stop = min(start + size, main.num_rows)
        lo, hi = main_seq[start], main_seq[stop - 1]
        part = [main.slice(start, stop - start)]
        for table, seqs in zip(tables[1:], child_seqs, strict=True):
            first = int(np.searchsorted(seqs, lo, "left"))
            last = int(np.searchsorted(seqs, hi, "right"))
            part.append(table.slice(first, last - first))
        out.append(part)
    return out


def views(kind: str, parts: list[list[pa.Table]]) -> Iterator[KindView]:
    """A fresh view per slice: its caches live as long as one family's slice."""
    for tables in parts:
        yield KindView(kind, tables)
