"""A shard's state: for each kind, its tables in Arrow columns and a key -> version index.

Deltas arrive as ordered operations ``(key, rows)`` (an upsert; ``rows`` from the kind's row
builder) or ``(key, None)`` (a delete). Applying one appends rows and marks the previous
version dead; nothing is rebuilt per delta. :meth:`ShardState.snapshot` (before a render) and
:meth:`ShardState.maybe_compact` (when enough has piled up) fold the pending work into the
columns in one vectorised pass per table.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from kubeward.collect.columnar import ColumnTable
from kubeward.collect.kinds import STATE_KINDS, StateKind

Op = tuple[str, tuple[Any, ...] | None]

# Compact a kind when this many rows are pending or dead, so memory stays bounded between
# renders; otherwise at the next render or after COMPACT_AFTER seconds.
COMPACT_ROWS = 50_000
COMPACT_AFTER = 1.0


class KindState:
    def __init__(self, kind: StateKind) -> None:
        self.kind = kind
        self.tables = [ColumnTable(spec) for spec in kind.tables]
        self.index: dict[str, int] = {}  # object key -> seq of its live version
        self.dead: list[int] = []
        self.dirty = False

    def __len__(self) -> int:
        return len(self.index)

    def upsert(self, key: str, rows: tuple[Any, ...], seq: int) -> None:
        old = self.index.get(key)
        if old is not None:
            self.dead.append(old)
        self.index[key] = seq
        main, *children = rows
        self.tables[0].append(seq, main)
        for table, child_rows in zip(self.tables[1:], children, strict=True):
            for row in child_rows:
                table.append(seq, row)
        self.dirty = True

    def delete(self, key: str) -> bool:
        old = self.index.pop(key, None)
        if old is None:
            return False
        self.dead.append(old)
        self.dirty = True
        return True

    def backlog(self) -> int:
        return len(self.dead) + len(self.tables[0].pending)

    def compact(self) -> None:
        dead = np.fromiter(self.dead, np.int64, len(self.dead)) if self.dead else None
        for table in self.tables:
            table.compact(dead)
        self.dead = []
        self.dirty = False

    def nbytes(self) -> int:
        return sum(t.nbytes() for t in self.tables)


class ShardState:
    """All kinds of one shard. Thread-safe: a worker applies in one thread and renders in its
    HTTP threads."""

    def __init__(self, kinds: Sequence[StateKind] = STATE_KINDS) -> None:
        self.kinds = {k.name: KindState(k) for k in kinds}
        self.lock = threading.Lock()
        self.applied: Counter[str] = Counter()  # deltas applied, by kind
        self.compactions = 0
        self._seq = 0
        self._last_compact = time.monotonic()

    def apply(self, kind: str, ops: Iterable[Op]) -> int:
        """Apply ordered upserts/deletes of one kind; returns how many were applied."""
        state = self.kinds[kind]
        n = 0
        with self.lock:
            for key, rows in ops:
                if rows is None:
                    state.delete(key)
                else:
                    self._seq += 1
                    state.upsert(key, rows, self._seq)
                n += 1
            self.applied[kind] += n
        return n

    def maybe_compact(self, force: bool = False) -> bool:
        """Fold pending work in when it is large, old, or ``force``; True if anything ran."""
        with self.lock:
            overdue = time.monotonic() - self._last_compact >= COMPACT_AFTER
            ran = False
            for state in self.kinds.values():
                if state.dirty and (force or overdue or state.backlog() >= COMPACT_ROWS):
                    state.compact()
                    ran = True
            if ran or overdue:
                self._last_compact = time.monotonic()
            self.compactions += ran
            return ran

    def snapshot(self) -> dict[str, list[pa.Table]]:
        """Compact what is pending and return every kind's tables (immutable Arrow tables:
        safe to render outside the lock while deltas keep arriving)."""
        self.maybe_compact(force=True)
        with self.lock:
            return {name: [t.base for t in s.tables] for name, s in self.kinds.items()}

    def objects(self) -> dict[str, int]:
        with self.lock:
            return {name: len(s) for name, s in self.kinds.items()}

    def nbytes(self) -> int:
        with self.lock:
            return sum(s.nbytes() for s in self.kinds.values())
