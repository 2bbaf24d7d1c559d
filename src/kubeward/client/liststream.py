"""LIST responses decoded as they arrive, item by item, in bounded memory.

A ``resourceVersion=0`` LIST is one response however big the cluster: 150,000 pods are about
342 MiB of JSON and 1.5 GiB once decoded whole. :class:`ListDecoder` is fed the body as it comes
off the socket and hands back each item as soon as it is complete, so what the client holds at
any moment is the items of one network read, not the list.

- **Items**: ``ijson`` (its ``yajl2_c`` backend, a C parser) builds every element of the
  top-level ``items`` array, and checks the whole document's syntax on the way.
- **Envelope** (``kind``, ``apiVersion``, ``metadata``): typed lists from kube-apiserver (Go
  structs) write them before ``items``; they are read from the first bytes with the standard
  library's ``json`` decoder, member by member, so every item can be given the list's
  kind/apiVersion as it is delivered. Unstructured lists (custom resources) are encoded with
  sorted keys, so ``metadata`` comes after ``items``; when ``items`` arrives first, a second
  ijson pass over the same bytes collects ``metadata`` (their items carry their own
  kind/apiVersion).
"""

from __future__ import annotations

import codecs
import json
from typing import Any

import ijson

_WS = " \t\n\r"
# Bytes read before "items" beyond which the envelope walker gives up (a ListMeta is well under
# a kilobyte); items are still decoded, without the list's kind/apiVersion.
HEAD_LIMIT = 1 << 20
_DECODER = json.JSONDecoder()


class ListBodyError(ValueError):
    """The body is not a JSON object, or not valid JSON."""


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    return i


class ListDecoder:
    """Push decoder: ``feed(chunk)`` returns the items completed by that chunk, ``close()`` the
    rest and checks the document is complete; then ``kind``, ``api_version``, ``metadata``."""

    def __init__(self) -> None:
        self._items: list[Any] = ijson.sendable_list()
        self._coro = ijson.items_coro(self._items, "items.item", use_float=True)
        # The envelope walker: members before "items", read from the head of the body.
        self.envelope: dict[str, Any] = {}
        self._head = bytearray()
        self._pos = -1  # index in the decoded head after the last member read; -1: before "{"
        self._walking = True
        # Only when "items" came first: a second pass for the trailing "metadata".
        self._meta: list[Any] | None = None
        self._meta_coro: Any = None
        self._list_kind: str | None = None
        self._item_kind: str | None = None
        self._api_version: str | None = None

    @property
    def kind(self) -> str | None:
        return self._list_kind

    @property
    def api_version(self) -> str | None:
        return self._api_version

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.envelope.get("metadata")
        if meta is None and self._meta:
            meta = self._meta[-1]
        return meta if isinstance(meta, dict) else {}

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        if not chunk:
            return []
        try:
            self._coro.send(chunk)
            if self._meta_coro is not None:
                self._meta_coro.send(chunk)
        except ijson.JSONError as exc:
            raise ListBodyError(_first_line(exc)) from exc
        if self._walking:
            self._head += chunk
            if len(self._head) > HEAD_LIMIT:
                self._end_walk(items_next=True)  # not a Kubernetes list's envelope: stop
            else:
                self._walk()
        return self._take()

    def close(self) -> list[dict[str, Any]]:
        """The body ended: the last items; raises :class:`ListBodyError` if it was cut short or
        is not a JSON object."""
        try:
            self._coro.close()
            if self._meta_coro is not None:
                self._meta_coro.close()
        except ijson.JSONError as exc:
            raise ListBodyError(_first_line(exc)) from exc
        if self._walking and self._pos < 0:
            raise ListBodyError("body is not a JSON object")
        return self._take()

    # -- internals -----------------------------------------------------------------------------

    def _take(self) -> list[dict[str, Any]]:
        if not self._items:
            return []
        items = list(self._items)
        del self._items[:]  # the same list: ijson holds its ``send``
        kind, api_version = self._item_kind, self._api_version
        for item in items:
            if not isinstance(item, dict):
                raise ListBodyError(f"list item is a {type(item).__name__}, not an object")
            # LIST items carry no kind/apiVersion (watch events do); add them so consumers
            # see one shape, as client-go's unstructured decoding does.
            if kind and "kind" not in item:
                item["kind"] = kind
            if api_version and "apiVersion" not in item:
                item["apiVersion"] = api_version
        return items

    def _walk(self) -> None:
        """Read the top-level members that precede ``items``. Commits a member only once the
        byte after it has arrived (``12`` may still become ``123``); anything it cannot read
        yet waits for more bytes, and syntax errors are ijson's to report."""
        text, _ = codecs.utf_8_decode(bytes(self._head), "strict", False)
        i = self._pos
        if i < 0:
            i = _skip_ws(text, 0)
            if i >= len(text):
                return
            if text[i] != "{":
                raise ListBodyError("body is not a JSON object")
            self._pos = i = i + 1
        while True:
            i = _skip_ws(text, i)
            if i >= len(text):
                return
            if text[i] == "}":
                self._end_walk(items_next=False)
                return
            if text[i] == ",":
                i = _skip_ws(text, i + 1)
            try:
                key, j = _DECODER.raw_decode(text, i)
                j = _skip_ws(text, j)
                if j >= len(text) or text[j] != ":":
                    return
                j = _skip_ws(text, j + 1)
                if key == "items":
                    self._end_walk(items_next=True)
                    return
                value, k = _DECODER.raw_decode(text, j)
            except json.JSONDecodeError:
                return  # not all there yet (or invalid: ijson says so)
            k = _skip_ws(text, k)
            if k >= len(text):
                return
            self.envelope[str(key)] = value
            self._pos = i = k
            if key in ("kind", "apiVersion"):
                self._set_type()

    def _end_walk(self, items_next: bool) -> None:
        self._walking = False
        if items_next and "metadata" not in self.envelope:
            self._meta = ijson.sendable_list()
            self._meta_coro = ijson.items_coro(self._meta, "metadata", use_float=True)
            try:
                self._meta_coro.send(bytes(self._head))
            except ijson.JSONError as exc:
                raise ListBodyError(_first_line(exc)) from exc
        self._head = bytearray()

    def _set_type(self) -> None:
        kind = self.envelope.get("kind")
        if isinstance(kind, str):
            self._list_kind = kind
            self._item_kind = kind[:-4] if kind.endswith("List") else kind
        api_version = self.envelope.get("apiVersion")
        if isinstance(api_version, str) and api_version:
            self._api_version = api_version


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
