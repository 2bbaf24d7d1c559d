"""kube-scheduler's active queue with its default QueueSort plugin (PrioritySort): the pod of
the highest ``spec.priority`` is scheduled first; among equals, the one that entered the queue
first (a pod back from backoff enters anew, behind those already waiting)."""

from __future__ import annotations

import heapq
import itertools
import re

# In a Pod's JSON only spec.priority is a number under the key "priority" (labels and
# annotations are strings), so the pending pod need not be decoded to be queued.
_PRIORITY = re.compile(rb'"priority":(-?\d+)')


def raw_priority(raw: bytes) -> int:
    """A stored Pod's ``spec.priority`` (0 when unset), read from its JSON."""
    found = _PRIORITY.search(raw)
    return int(found.group(1)) if found else 0


class ActiveQueue:
    def __init__(self) -> None:
        self._entries: dict[str, int] = {}  # pod key -> its entry's sequence number
        # (-priority, sequence, key); entries of keys taken out meanwhile are skipped at pop
        self._heap: list[tuple[int, int, str]] = []
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def add(self, key: str, priority: int) -> None:
        """Queue ``key`` (no-op if it is queued already)."""
        if key in self._entries:
            return
        sequence = next(self._sequence)
        self._entries[key] = sequence
        heapq.heappush(self._heap, (-priority, sequence, key))

    def discard(self, key: str) -> None:
        if self._entries.pop(key, None) is not None and not self._entries:
            self._heap.clear()  # only skipped entries were left

    def pop(self) -> str:
        """The next pod to schedule (``IndexError`` when empty)."""
        while self._heap:
            _, sequence, key = heapq.heappop(self._heap)
            if self._entries.get(key) == sequence:
                del self._entries[key]
                return key
        raise IndexError("pop from an empty active queue")
