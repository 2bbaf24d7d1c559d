"""The scheduler's view of the nodes: NumPy columns, updated in place from store events.

Resources are columns of one float array (cpu in millicores, memory and other resources in
their base unit) so a resource-fit test over 15,000 nodes is a handful of vector operations.
Labels and taint sets are interned to integer ids for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kubeward.kube.quantity import parse_quantity

CPU, MEMORY, PODS, GPU = 0, 1, 2, 3
BASE_RESOURCES = ("cpu", "memory", "pods", "nvidia.com/gpu")
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"

Taint = tuple[str, str, str]  # key, value, effect


def node_taints(spec: dict[str, Any], effects: tuple[str, ...] | None = None) -> tuple[Taint, ...]:
    """A node's ``spec.taints`` as (key, value, effect), those of ``effects`` only if given."""
    return tuple(
        (t.get("key", ""), t.get("value", "") or "", t.get("effect", ""))
        for t in spec.get("taints") or ()
        if effects is None or t.get("effect") in effects
    )


def resource_amount(name: str, value: Any) -> float:
    amount = parse_quantity(str(value))
    return float(amount * 1000) if name == "cpu" else float(amount)


@dataclass
class NodeTable:
    capacity: int = 64
    names: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    resources: list[str] = field(default_factory=lambda: list(BASE_RESOURCES))
    # Bumped whenever something a static filter reads changes (labels, taints, readiness).
    generation: int = 0

    def __post_init__(self) -> None:
        # Column-major: the filters read one resource over all nodes at a time.
        self.allocatable = np.zeros((self.capacity, len(self.resources)), order="F")
        self.requested = np.zeros((self.capacity, len(self.resources)), order="F")
        self.present = np.zeros(self.capacity, dtype=bool)
        self.unschedulable = np.zeros(self.capacity, dtype=bool)
        self.taint_set = np.zeros(self.capacity, dtype=np.int32)
        self.taint_sets: list[tuple[Taint, ...]] = [()]
        self._taint_set_ids: dict[tuple[Taint, ...], int] = {(): 0}
        self.labels: list[dict[str, str]] = []
        # label key -> array of value ids (0 = label absent)
        self.label_columns: dict[str, np.ndarray] = {}
        self.label_values: dict[str, dict[str, int]] = {}

    def __len__(self) -> int:
        return len(self.names)

    # -- resources ------------------------------------------------------------------------------

    def resource_column(self, name: str) -> int:
        if name not in self.resources:
            self.resources.append(name)
            pad = np.zeros((self.capacity, 1))
            self.allocatable = np.asfortranarray(np.hstack([self.allocatable, pad]))
            self.requested = np.asfortranarray(np.hstack([self.requested, pad]))
        return self.resources.index(name)

    def vector(self, amounts: dict[str, float]) -> np.ndarray:
        """A request vector over the table's resource columns (adds columns as needed)."""
        for name in amounts:
            self.resource_column(name)
        out = np.zeros(len(self.resources))
        for name, value in amounts.items():
            out[self.resources.index(name)] = value
        return out

    def add_request(self, row: int, request: np.ndarray) -> None:
        n = len(request)
        self.requested[row, :n] += request

    def remove_request(self, row: int, request: np.ndarray) -> None:
        n = len(request)
        self.requested[row, :n] -= request

    # -- nodes ----------------------------------------------------------------------------------

    def upsert(self, node: dict[str, Any]) -> bool:
        """Add or refresh a node. True if anything scheduling reads changed (a heartbeat-only
        status update does not, and must not wake unschedulable pods)."""
        name = node["metadata"]["name"]
        row = self.index.get(name)
        added = row is None
        if row is None:
            row = self._new_row(name)
        status = node.get("status") or {}
        spec = node.get("spec") or {}
        alloc = status.get("allocatable") or {}
        before, ncols = self.allocatable[row, :].copy(), len(self.resources)
        self.allocatable[row, :] = 0
        for res, value in alloc.items():
            try:
                amount = resource_amount(res, value)
            except ValueError:
                continue
            col = self.resource_column(res)  # may grow the arrays: index after
            self.allocatable[row, col] = amount
        changed = (
            added
            or ncols != len(self.resources)
            or not np.array_equal(before, self.allocatable[row, :ncols])
        )
        labels = dict(node["metadata"].get("labels") or {})
        taints = _with_condition_taints(node_taints(spec), status.get("conditions") or ())
        unschedulable = bool(spec.get("unschedulable"))
        if (
            labels != self.labels[row]
            or taints != self.taint_sets[self.taint_set[row]]
            or unschedulable != self.unschedulable[row]
        ):
            self.generation += 1
            changed = True
        self._set_labels(row, labels)
        self.taint_set[row] = self._taint_set_id(taints)
        self.unschedulable[row] = unschedulable
        return changed

    def remove(self, name: str) -> None:
        row = self.index.pop(name, None)
        if row is None:
            return
        # Rows are never reused: a tombstoned row simply fails every filter, and a node
        # created again under the same name gets a fresh row.
        self.present[row] = False
        self.allocatable[row, :] = 0
        self.generation += 1

    def _new_row(self, name: str) -> int:
        row = len(self.names)
        if row >= self.capacity:
            self._grow()
        self.names.append(name)
        self.index[name] = row
        self.labels.append({})
        self.present[row] = True
        self.generation += 1
        return row

    def _grow(self) -> None:
        self.capacity *= 2
        self.allocatable = _grown(self.allocatable, self.capacity)
        self.requested = _grown(self.requested, self.capacity)
        self.present = _grown(self.present, self.capacity)
        self.unschedulable = _grown(self.unschedulable, self.capacity)
        self.taint_set = _grown(self.taint_set, self.capacity)
        for key, col in self.label_columns.items():
            self.label_columns[key] = _grown(col, self.capacity)

    def _set_labels(self, row: int, labels: dict[str, str]) -> None:
        for key in set(self.labels[row]) - set(labels):
            self.label_columns[key][row] = 0
        for key, value in labels.items():
            col = self.label_columns.get(key)
            if col is None:
                col = self.label_columns[key] = np.zeros(self.capacity, dtype=np.int32)
                self.label_values[key] = {}
            ids = self.label_values[key]
            col[row] = ids.setdefault(value, len(ids) + 1)
        self.labels[row] = labels

    def _taint_set_id(self, taints: tuple[Taint, ...]) -> int:
        tid = self._taint_set_ids.get(taints)
        if tid is None:
            tid = self._taint_set_ids[taints] = len(self.taint_sets)
            self.taint_sets.append(taints)
        return tid

    # -- vector helpers -------------------------------------------------------------------------

    def label_ids(self, key: str) -> np.ndarray:
        col = self.label_columns.get(key)
        n = len(self.names)
        return col[:n] if col is not None else np.zeros(n, dtype=np.int32)

    def value_id(self, key: str, value: str) -> int:
        return self.label_values.get(key, {}).get(value, -1)


def _grown(arr: np.ndarray, capacity: int) -> np.ndarray:
    shape = (capacity, *arr.shape[1:])
    out = np.zeros(shape, dtype=arr.dtype, order="F")
    out[: arr.shape[0]] = arr
    return out


def _with_condition_taints(taints: tuple[Taint, ...], conditions: Any) -> tuple[Taint, ...]:
    """A node that is not Ready is filtered by the not-ready/unreachable NoSchedule taint the
    node lifecycle controller puts on it; add it here too so the scheduler never races it."""
    ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), "True")
    if ready == "True":
        return taints
    key = UNREACHABLE if ready == "Unknown" else NOT_READY
    if any(t[0] == key and t[2] == "NoSchedule" for t in taints):
        return taints
    return (*taints, (key, "", "NoSchedule"))
