"""Coalesce streamed text into one frame per window instead of one per token.

A frame per token (~30/s per reply, times every concurrent reply) would flood the channel layer,
whose per-channel capacity drops messages when full. The first chunk goes out at once (it is what
the visitor waits for); after that at most one flush per window. There is no timer thread: a flush
happens when a chunk arrives after the window has passed, and `finish()` sends whatever is left, so
a stalled stream delays its pending text until the next chunk or the end, never loses it.

`offset` = number of characters sent before the flushed text, so a client can place deltas and
detect a gap (the channel layer is lossy) and the final message carries the whole text anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple


class Flush(NamedTuple):
    offset: int
    text: str


class DeltaCoalescer:
    def __init__(
        self,
        on_flush: Callable[[int, str], None] | None = None,
        *,
        window_ms: float = 40,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_flush = on_flush
        self._window = max(0.0, window_ms) / 1000.0
        self._clock = clock
        self._pending: list[str] = []
        self._last_flush: float | None = None
        self.sent = 0  # characters flushed so far
        self.flushes = 0

    def feed(self, text: str) -> Flush | None:
        if text:
            self._pending.append(text)
        if not self._pending:
            return None
        now = self._clock()
        # The microsecond of slack keeps float clock arithmetic from pushing a flush a chunk late.
        if self._last_flush is not None and now - self._last_flush < self._window - 1e-6:
            return None
        self._last_flush = now
        return self._flush()

    def finish(self) -> Flush | None:
        return self._flush() if self._pending else None

    def _flush(self) -> Flush:
        text = "".join(self._pending)
        self._pending.clear()
        flush = Flush(self.sent, text)
        self.sent += len(text)
        self.flushes += 1
        if self._on_flush is not None:
            self._on_flush(flush.offset, flush.text)
        return flush
