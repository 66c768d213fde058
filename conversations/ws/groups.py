"""The one place a consumer talks to the channel layer (Redis): group_add, group_discard, group_send.

Redis may restart under a live socket. What a failure means differs per call, so each method
states it: a join in hello is retried and then refused, a leave or a broadcast is logged and
dropped (the membership expires on its own; other tabs catch up on resume).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from redis.exceptions import RedisError

from conversations import frames

log = structlog.get_logger(__name__)

CHANNEL_LAYER_ERRORS = (RedisError, OSError)
JOIN_ATTEMPTS = 3


class GroupUnavailable(Exception):
    """The channel layer refused a join JOIN_ATTEMPTS times."""


class ConversationGroups:
    def __init__(self, channel_layer: Any, channel_name: str) -> None:
        self._layer, self._channel = channel_layer, channel_name

    async def join(self, conversation_id: int) -> None:
        """Join, retrying: the first command after a Redis restart fails on a stale pooled connection."""
        for attempt in range(JOIN_ATTEMPTS):
            try:
                await self._layer.group_add(frames.conversation_group(conversation_id), self._channel)
                return
            except CHANNEL_LAYER_ERRORS as exc:
                if attempt == JOIN_ATTEMPTS - 1:
                    log.warning("ws_hello_group_join_failed", conversation_id=conversation_id, error=repr(exc))
                    raise GroupUnavailable from exc
                await asyncio.sleep(0.2 * (attempt + 1))

    async def rejoin(self, conversation_id: int) -> None:
        """Re-join (idempotent; refreshes the group expiry). Best effort: a failure is only logged."""
        try:
            await self._layer.group_add(frames.conversation_group(conversation_id), self._channel)
        except CHANNEL_LAYER_ERRORS as exc:
            log.warning("ws_group_join_failed", error=repr(exc))

    async def leave(self, conversation_id: int) -> None:
        try:
            await self._layer.group_discard(frames.conversation_group(conversation_id), self._channel)
        except CHANNEL_LAYER_ERRORS as exc:  # the membership expires on its own (group_expiry)
            log.warning("ws_group_discard_failed", error=repr(exc))

    async def broadcast(self, conversation_id: int, event: dict[str, Any]) -> None:
        try:
            await self._layer.group_send(frames.conversation_group(conversation_id), event)
        except CHANNEL_LAYER_ERRORS as exc:
            log.warning("ws_broadcast_failed", error=repr(exc))
