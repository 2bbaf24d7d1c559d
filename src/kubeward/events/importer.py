"""Reading Events from files: ``kubectl get events -o json`` output or a watch stream.

Accepted: a JSON List (``items``), a single Event, a JSON array of Events, several documents in
a row (``kubectl get events -w -o json``), and watch events (``{"type": "ADDED", "object":
{...}}``, as ``?watch=1`` and ``kubectl get events -w -o json --output-watch-events`` print).
DELETED watch events are stored too (as their last state): the API server deletes Events after
its ``--event-ttl`` (1 h), and keeping them longer is the point of an event center. BOOKMARK
and ERROR watch events carry no Event and are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

_SKIPPED_WATCH_TYPES = {"BOOKMARK", "ERROR"}


def iter_event_objects(text: str) -> Iterator[dict[str, Any]]:
    """The Event objects in ``text``; raises ValueError naming the bad line or shape.

    ``text`` is one JSON document or several in a row, one per line or pretty-printed
    (``kubectl get events -w -o json`` prints indented documents back to back).
    """
    decoder = json.JSONDecoder()
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {exc.lineno} is not JSON: {exc.msg}") from None
        yield from _objects(doc)


def _objects(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, list):
        for item in doc:
            yield from _objects(item)
    elif not isinstance(doc, dict):
        raise ValueError(f"expected JSON objects, got {type(doc).__name__}")
    elif "items" in doc and isinstance(doc["items"], list):
        yield from _objects(doc["items"])
    elif "object" in doc and isinstance(doc.get("type"), str):
        if doc["type"] not in _SKIPPED_WATCH_TYPES:
            yield doc["object"]
    else:
        yield doc
