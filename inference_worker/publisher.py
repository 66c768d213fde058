"""Publishes a turn's live output to the conversation's channel-layer group from worker threads.

The channel layer is asyncio; worker threads are not. One background event loop per worker
process owns the layer's Redis connections and every thread hands it coroutines. Deltas are
fire-and-forget (the layer is lossy anyway: the stored final message is the truth); final
messages and errors wait briefly so a reply is on its way before the task is acked.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

import structlog
from channels.layers import get_channel_layer

from bots.frames import conversation_group, delta_event, error_event, message_event, typing_event
from bots.models import Message

log = structlog.get_logger(__name__)


class ChannelLayerEvents:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="channel-layer-loop", daemon=True)
        self._thread.start()
        self._layer = get_channel_layer()

    def _send(self, conversation_id: int, event: dict[str, Any], *, wait: float | None) -> None:
        future: Future[None] = asyncio.run_coroutine_threadsafe(
            self._layer.group_send(conversation_group(conversation_id), event), self._loop)
        if wait is None:
            future.add_done_callback(_log_failure)
            return
        try:
            future.result(timeout=wait)
        except Exception as exc:  # noqa: BLE001 - the reply is stored; the visitor gets it on reconnect
            log.warning("publish_failed", conversation_id=conversation_id, error=repr(exc))

    def typing(self, *, conversation_id: int, on: bool) -> None:
        self._send(conversation_id, typing_event(on=on), wait=None)

    def delta(self, *, conversation_id: int, reply_to: int, offset: int, text: str) -> None:
        self._send(conversation_id, delta_event(reply_to=reply_to, offset=offset, text=text), wait=None)

    def message(self, *, message: Message) -> None:
        self._send(message.conversation_id, message_event(message), wait=5.0)

    def error(self, *, conversation_id: int, code: str, detail: str, reply_to: int) -> None:
        self._send(conversation_id, error_event(code, detail, reply_to=reply_to), wait=5.0)


def _log_failure(future: Future[None]) -> None:
    exc = future.exception()
    if exc is not None:
        log.debug("delta_publish_failed", error=repr(exc))


_events_lock = threading.Lock()
_events: ChannelLayerEvents | None = None


def get_turn_events() -> ChannelLayerEvents:
    global _events
    with _events_lock:
        if _events is None:
            _events = ChannelLayerEvents()
        return _events
