"""Publishes a turn's live output to the conversation's channel-layer group from worker threads.

The channel layer is asyncio; worker threads are not. One background event loop per worker
process owns the layer's Redis connections and every thread hands it events.

Order: each conversation has its own FIFO on that loop, drained by one task at a time, so a
turn's events (typing, deltas, final message, error) reach the group exactly in the order they
were published. Sending them as independent coroutines (as before) let a later delta overtake an
earlier one (offset 142 arrived before 140). Different conversations have different FIFOs and
stay concurrent. Handing an event over is `call_soon_threadsafe`: the worker thread never waits
on Redis for a delta. Final messages and errors wait briefly so a reply is on its way before the
task is acked.

Connections: every conversation's drainer runs at once, but channels-redis's pool for the process
holds at most 100 Redis connections (redis-py's default) and raises `MaxConnectionsError` past it,
which lost final messages under 200 busy chats (the soak, docs/reliability.md row 1). At most
`MAX_CONCURRENT_SENDS` group sends run at a time; the others wait their turn on the loop.

Faults: the layer is lossy anyway (the stored final message is the truth), so a failed or timed
out send is logged and the FIFO moves on; later events still go out in order. Deltas that sat in
the FIFO for longer than `STALE_DELTA_S` (Redis was hanging) are dropped rather than sent, so the
final message is not stuck behind a backlog the visitor no longer needs.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import structlog
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from bots.models import Message
from conversations.frames import (
    agent_group,
    conversation_group,
    delta_event,
    error_event,
    handoff_event,
    inbox_event,
    inbox_group,
    message_event,
    typing_event,
)

log = structlog.get_logger(__name__)

SEND_TIMEOUT_S = 5.0  # one group_send; a hung Redis must not stall a conversation's FIFO forever
STALE_DELTA_S = 10.0  # a delta older than this is not worth sending (the final message follows)
FINAL_SEND_ATTEMPTS = 3
FINAL_WAIT_S = 5.0  # how long the worker thread waits for a final message / error to be sent
MAX_CONCURRENT_SENDS = 64  # below the layer's pool of 100 connections per process (see above)


@dataclass(slots=True)
class _Pending:
    event: dict[str, Any]
    queued_at: float  # loop time
    droppable: bool  # a delta: may be skipped when stale
    done: Future[None] | None  # set when the caller waits for this send


class ChannelLayerEvents:
    def __init__(
        self,
        layer: Any = None,
        *,
        send_timeout: float = SEND_TIMEOUT_S,
        stale_delta: float = STALE_DELTA_S,
        max_concurrent_sends: int = MAX_CONCURRENT_SENDS,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="channel-layer-loop", daemon=True)
        self._thread.start()
        self._layer = layer if layer is not None else get_channel_layer()
        self._sends = asyncio.Semaphore(max_concurrent_sends)  # used on the loop's thread only
        self._send_timeout = send_timeout
        self._stale_delta = stale_delta
        # group -> its FIFO; only touched on the loop's thread, so no lock is needed.
        self._fifos: dict[str, deque[_Pending]] = {}

    def _send(self, group: str, event: dict[str, Any], *, wait: float | None, droppable: bool = False) -> None:
        done: Future[None] | None = Future() if wait is not None else None
        # call_soon_threadsafe keeps the call order of one thread, and one turn runs in one thread.
        self._loop.call_soon_threadsafe(self._enqueue, group, event, droppable, done)
        if done is None:
            return
        try:
            done.result(timeout=wait)
        except Exception as exc:  # noqa: BLE001 - the reply is stored; the visitor gets it on reconnect
            log.warning("publish_failed", group=group, error=repr(exc))

    def _enqueue(self, group: str, event: dict[str, Any], droppable: bool, done: Future[None] | None) -> None:
        item = _Pending(event=event, queued_at=self._loop.time(), droppable=droppable, done=done)
        fifo = self._fifos.get(group)
        if fifo is not None:  # a drainer is running for this group and will pick it up
            fifo.append(item)
            return
        fifo = self._fifos[group] = deque([item])
        self._loop.create_task(self._drain(group, fifo))

    async def _drain(self, group: str, fifo: deque[_Pending]) -> None:
        dropped = 0
        try:
            while fifo:
                item = fifo.popleft()
                if item.droppable and self._loop.time() - item.queued_at > self._stale_delta:
                    dropped += 1
                    continue
                try:
                    await self._group_send(group, item)
                except Exception as exc:  # noqa: BLE001 - log and move on: later events must still go out
                    if item.done is not None:
                        item.done.set_exception(exc)
                    else:
                        log.debug("delta_publish_failed", group=group, error=repr(exc))
                else:
                    if item.done is not None:
                        item.done.set_result(None)
        finally:
            # No await between the last `while fifo` check and here, so nothing was appended since:
            # the next event for this conversation starts a new drainer.
            if self._fifos.get(group) is fifo:
                del self._fifos[group]
            if dropped:
                log.info("stale_deltas_dropped", group=group, count=dropped)

    async def _group_send(self, group: str, item: _Pending) -> None:
        """A final message or error is retried on a connection error: after a Redis restart the
        layer's first command fails on a stale pooled connection, which redis-py then discards,
        so the next attempt reaches the new server. Deltas are not retried (the next one or the
        final message carries the text anyway)."""
        attempts = 1 if item.droppable else FINAL_SEND_ATTEMPTS
        for attempt in range(attempts):
            try:
                async with self._sends:
                    await asyncio.wait_for(self._layer.group_send(group, item.event), timeout=self._send_timeout)
                return
            except (TimeoutError, RedisError, OSError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop (tests; a worker process simply exits)."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def typing(self, *, conversation_id: int, on: bool) -> None:
        self._send(conversation_group(conversation_id), typing_event(on=on), wait=None)

    def delta(self, *, conversation_id: int, reply_to: int, offset: int, text: str) -> None:
        event = delta_event(reply_to=reply_to, offset=offset, text=text)
        self._send(conversation_group(conversation_id), event, wait=None, droppable=True)

    def message(self, *, message: Message) -> None:
        self._send(conversation_group(message.conversation_id), message_event(message), wait=FINAL_WAIT_S)

    def error(self, *, conversation_id: int, code: str, detail: str, reply_to: int) -> None:
        self._send(conversation_group(conversation_id), error_event(code, detail, reply_to=reply_to), wait=FINAL_WAIT_S)

    # Handoff (issue #12): from services in the web process (the inbox) and the worker (a turn that
    # hands over), after commit. In order per group, like a turn's frames.

    def handoff(self, *, conversation_id: int, state: dict[str, Any]) -> None:
        self._send(conversation_group(conversation_id), handoff_event(state), wait=FINAL_WAIT_S)

    def inbox(self, *, bot_id: int, payload: dict[str, Any], agent_ids: tuple[int, ...] = ()) -> None:
        self._send(inbox_group(bot_id), inbox_event(payload), wait=None)
        for agent_id in agent_ids:
            self._send(agent_group(agent_id), inbox_event(payload), wait=None)


_events_lock = threading.Lock()
_events: ChannelLayerEvents | None = None


def get_turn_events() -> ChannelLayerEvents:
    global _events
    with _events_lock:
        if _events is None:
            _events = ChannelLayerEvents()
        return _events
