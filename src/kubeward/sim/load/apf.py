"""API Priority and Fairness: FlowSchema matching, priority levels, seats and queues.

Follows kube-apiserver's flowcontrol (k8s.io/apiserver/pkg/util/flowcontrol):

- a request goes to the first FlowSchema, by ascending ``matchingPrecedence`` then name, whose
  rules match its user/groups and its verb and target; its flow is (schema, distinguisher);
- each Limited level gets ``ceil(serverCL * shares / sum(shares))`` seats, where serverCL is
  ``--max-requests-inflight`` + ``--max-mutating-requests-inflight``;
- a request that cannot run now joins the shortest queue of its flow's hand (shuffle sharding,
  ``handSize`` of ``queues``), is rejected when that queue holds ``queueLengthLimit``, and times
  out after the queue wait limit; ``Reject`` levels reject at once.

Not modelled (documented in docs/simulator-model.md): borrowing between levels
(``lendablePercent``/``borrowingLimitPercent``), and virtual-finish-time fair queuing, which is
approximated by round-robin across a level's queues.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeward.kube.flowcontrol import (
    FlowSchema,
    Identity,
    Target,
    by_precedence,
    service_account_groups,
)

__all__ = [
    "FlowControl",
    "FlowSchema",
    "Identity",
    "PriorityLevel",
    "Queued",
    "Target",
    "service_account_groups",
]


class Queued(Protocol):
    seats: int
    arrival: float


@dataclass
class PriorityLevel:
    """A level's configuration and its runtime state (executing seats, queues)."""

    name: str
    uid: str
    exempt: bool
    shares: int
    reject: bool  # limitResponse Reject
    queues: int = 1
    hand_size: int = 1
    queue_length_limit: int = 50
    seats: int = 0  # concurrency limit, set by FlowControl.configure
    executing: int = 0  # seats in use
    executing_requests: int = 0
    waiting: list[deque[Any]] = field(default_factory=list)
    waiting_count: int = 0
    _next_queue: int = 0

    @classmethod
    def of(cls, obj: dict[str, Any]) -> PriorityLevel:
        spec = obj.get("spec") or {}
        name, uid = obj["metadata"]["name"], obj["metadata"].get("uid", "")
        if spec.get("type") == "Exempt":
            exempt = cls(name, uid, exempt=True, shares=0, reject=False)
            exempt.waiting = [deque()]  # exempt requests wait only while the server starts
            return exempt
        limited = spec.get("limited") or {}
        response = limited.get("limitResponse") or {}
        queuing = response.get("queuing") or {}
        shares = limited.get("nominalConcurrencyShares")
        level = cls(
            name,
            uid,
            exempt=False,
            shares=30 if shares is None else int(shares),
            reject=response.get("type") != "Queue",
            queues=max(1, int(queuing.get("queues") or 64)),
            hand_size=max(1, int(queuing.get("handSize") or 8)),
            queue_length_limit=max(1, int(queuing.get("queueLengthLimit") or 50)),
        )
        level.waiting = [deque() for _ in range(level.queues)]
        return level

    def hand(self, flow: str) -> list[int]:
        """Shuffle sharding: the flow's ``handSize`` distinct queues, dealt from a hash of the
        flow (deterministic, so a flow always lands in the same hand)."""
        digest = int.from_bytes(hashlib.blake2b(flow.encode(), digest_size=8).digest(), "big")
        deck = list(range(self.queues))
        hand = []
        for i in range(min(self.hand_size, self.queues)):
            remaining = self.queues - i
            digest, pick = divmod(digest, remaining)
            hand.append(deck.pop(pick))
        return hand

    def can_run(self, seats: int) -> bool:
        if self.exempt:
            return True
        # A request wider than the whole level still runs alone (as kube-apiserver caps width).
        return self.executing + seats <= self.seats or self.executing == 0

    def enqueue(self, flow: str, request: Queued) -> bool:
        """False when the chosen queue is full (reject with reason queue-full)."""
        queue = min((self.waiting[i] for i in self.hand(flow)), key=len)
        if len(queue) >= self.queue_length_limit:
            return False
        queue.append(request)
        self.waiting_count += 1
        return True

    def next_waiting(self) -> Any | None:
        """The next request to dispatch (round-robin over non-empty queues) if it fits."""
        if not self.waiting_count:
            return None
        for step in range(self.queues):
            index = (self._next_queue + step) % self.queues
            queue = self.waiting[index]
            if queue:
                if not self.can_run(queue[0].seats):
                    return None
                self._next_queue = (index + 1) % self.queues
                self.waiting_count -= 1
                return queue.popleft()
        return None

    def expire(self, before: float) -> list[Any]:
        """Remove and return requests that arrived before ``before`` (queue wait time-out)."""
        expired = []
        for queue in self.waiting:
            while queue and queue[0].arrival < before:
                expired.append(queue.popleft())
        self.waiting_count -= len(expired)
        return expired

    def drain(self) -> list[Any]:
        out = [r for q in self.waiting for r in q]
        for q in self.waiting:
            q.clear()
        self.waiting_count = 0
        return out


class FlowControl:
    """The current FlowSchemas and priority levels; rebuilt whenever one of them changes."""

    def __init__(self, server_concurrency: int) -> None:
        self.server_concurrency = server_concurrency
        self.schemas: list[FlowSchema] = []
        self.levels: dict[str, PriorityLevel] = {}
        self.generation = 0

    def configure(self, schemas: list[dict[str, Any]], levels: list[dict[str, Any]]) -> list[Any]:
        """Apply new objects. Seats in use carry over by level name; every queued request is
        returned, oldest first, for the caller to classify again under the new configuration."""
        queued = sorted(
            (r for lv in self.levels.values() for r in lv.drain()), key=lambda r: r.arrival
        )
        new_levels = {}
        for obj in levels:
            level = PriorityLevel.of(obj)
            old = self.levels.get(level.name)
            if old is not None:
                level.executing, level.executing_requests = old.executing, old.executing_requests
            new_levels[level.name] = level
        total = sum(lv.shares for lv in new_levels.values() if not lv.exempt)
        for lv in new_levels.values():
            if not lv.exempt:
                lv.seats = max(1, math.ceil(self.server_concurrency * lv.shares / max(total, 1)))
        self.levels = new_levels
        self.schemas = by_precedence(FlowSchema.of(o) for o in schemas)
        self.generation += 1
        return queued

    def classify(self, who: Identity, target: Target) -> tuple[FlowSchema, PriorityLevel] | None:
        """The matching schema and its level; None when nothing matches or the schema names a
        missing level (kube-apiserver then uses catch-all)."""
        for schema in self.schemas:
            if schema.matches(who, target):
                level = self.levels.get(schema.level)
                if level is not None:
                    return schema, level
                break
        catch_all = self.levels.get("catch-all")
        fallback = next((s for s in self.schemas if s.name == "catch-all"), None)
        if catch_all is not None and fallback is not None:
            return fallback, catch_all
        return None
