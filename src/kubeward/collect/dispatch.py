"""The master's fan-out: informer batches -> rows -> per-shard messages, in delta order.

Rows are built here, once, so workers receive a few hundred bytes per object instead of the
object (a pod is kilobytes of JSON), and every worker's input is already in its table shapes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from kubeward.client import Batch, object_key
from kubeward.client.store import DELETED
from kubeward.collect.kinds import StateKind
from kubeward.collect.link import WorkerLink
from kubeward.collect.metadata import NO_ALLOWLISTS, MetadataRows
from kubeward.collect.sharding import Placement, Ring

log = logging.getLogger("kubeward.collect.dispatch")

CHUNK = 5_000  # ops per message: bounds message size during a 150,000-pod initial list
YIELD_EVERY = 2_000  # deltas between yields to the event loop (keeps /metrics answering)


class Dispatcher:
    def __init__(self, links: Sequence[WorkerLink], metadata: MetadataRows = NO_ALLOWLISTS) -> None:
        self.links = links
        self.metadata = metadata  # the label/annotation allowlists
        self.placement = Placement(Ring(len(links)))
        # By resource (``pods``, ``deployments.apps``): the self-metrics' resource label.
        self.dispatched: Counter[str] = Counter()  # deltas handed to workers
        self.rejected: Counter[str] = Counter()  # objects whose rows could not be built

    async def on_batch(self, kind: StateKind, batch: Batch) -> None:
        ops: list[list[tuple[str, Any]]] = [[] for _ in self.links]
        for i, delta in enumerate(batch.deltas, 1):
            obj = delta.object
            key = object_key(obj)
            if delta.type == DELETED:
                ops[self.placement.remove(kind, key, obj)].append((key, None))
            else:
                try:
                    rows = kind.rows(obj, self.metadata)
                except (TypeError, ValueError, AttributeError) as exc:
                    # A malformed object must not stop the informer; it is counted and logged.
                    self.rejected[kind.resource.display] += 1
                    log.warning("skipped resource=%s key=%s error=%r", kind.name, key, exc)
                    continue
                shard, moved_from = self.placement.place(kind, key, obj)
                if moved_from is not None:
                    ops[moved_from].append((key, None))
                    await self._flush_if_full(kind, ops, moved_from)
                ops[shard].append((key, rows))
                await self._flush_if_full(kind, ops, shard)
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        for shard, pending in enumerate(ops):
            if pending:
                await self.links[shard].send(("apply", kind.name, pending))
        self.dispatched[kind.resource.display] += len(batch.deltas)

    async def _flush_if_full(
        self, kind: StateKind, ops: list[list[tuple[str, Any]]], shard: int
    ) -> None:
        if len(ops[shard]) >= CHUNK:
            await self.links[shard].send(("apply", kind.name, ops[shard]))
            ops[shard] = []
