"""Copilot updates to the agents who have a conversation open: one channel-layer send per update.

Tasks run in worker threads without an event loop, so `async_to_sync` runs the send on a loop of
its own; a brief or a suggestion is a few sends a conversation, not a stream, so the turn publisher's
ordered FIFOs are not needed here. The layer is lossy anyway: what was stored is the truth and the
inbox reads it when a conversation is opened, so a failed send is logged, never raised.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from conversations.frames import inbox_event

log = structlog.get_logger(__name__)

SEND_TIMEOUT_S = 5.0  # a hung Redis must not hold the task


def inbox_conversation_group(conversation_id: int) -> str:
    """The inbox pages that have this conversation open (notes, briefs, suggestions)."""
    return f"inbox.conversation.{conversation_id}"


async def _group_send(group: str, event: dict[str, Any]) -> None:
    await asyncio.wait_for(get_channel_layer().group_send(group, event), timeout=SEND_TIMEOUT_S)


def assist_publish(*, conversation_id: int, update: dict[str, Any]) -> None:
    """Send `{"type": "inbox.update", "update": update}` to the conversation's inbox group."""
    group = inbox_conversation_group(conversation_id)
    try:
        async_to_sync(_group_send)(group, inbox_event(update))
    except (TimeoutError, RedisError, OSError) as exc:
        log.warning("copilot_publish_failed", group=group, kind=update.get("kind"), error=repr(exc))
