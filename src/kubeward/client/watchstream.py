"""Watch streams are newline-delimited JSON: one ``{"type": ..., "object": ...}`` per line.

Network reads cut lines anywhere, so the decoder keeps the unfinished tail and decodes only
complete lines, with orjson straight from bytes (no str round-trip).
"""

from __future__ import annotations

from typing import Any

import orjson


class LineDecoder:
    def __init__(self) -> None:
        # Pieces of the line still being received: a 5 MB object arriving in 64 KiB reads is
        # joined once, not re-concatenated on every read.
        self._pending: list[bytes] = []

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """Decode every line completed by ``chunk``; keep the rest."""
        if b"\n" not in chunk:
            if chunk:
                self._pending.append(chunk)
            return []
        lines = chunk.split(b"\n")
        if self._pending:
            lines[0] = b"".join((*self._pending, lines[0]))
            self._pending = []
        tail = lines.pop()
        if tail:
            self._pending.append(tail)
        return [orjson.loads(line) for line in lines if line.strip()]

    def close(self) -> list[dict[str, Any]]:
        """The stream ended: a last line without its newline still counts."""
        rest = b"".join(self._pending)
        self._pending = []
        return [orjson.loads(rest)] if rest.strip() else []
