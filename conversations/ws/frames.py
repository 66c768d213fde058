"""The JSON frames of the chat protocol (docs/protocol.md), built in one place.

Used by the consumer (replay, acks) and by the worker (deltas, final replies) so both speak the
same shapes. Also the channel-layer event names the consumer forwards.
"""

from __future__ import annotations

from typing import Any

from bots.models import Conversation, Message
from bots.selectors import bot_display_config

PROTOCOL_VERSION = 1


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def message_frame(message: Message) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "message",
        "id": message.pk,
        "seq": message.seq,
        "role": message.role,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
    }
    if message.role == Message.Role.USER:
        frame["client_id"] = message.client_id
    else:
        frame["reply_to"] = message.reply_to_id
        frame["quick_replies"] = list(message.quick_replies)
        frame["citations"] = list(message.citations)
        frame["feedback"] = message.feedback or None
    return frame


def welcome_frame(
    *, conversation: Conversation, visitor_token: str, last_seq: int, replay: list[Message]
) -> dict[str, Any]:
    return {
        "type": "welcome",
        "v": PROTOCOL_VERSION,
        "conversation_id": conversation.pk,
        "visitor_token": visitor_token,
        "last_seq": last_seq,
        "bot": bot_display_config(conversation.bot),
        "messages": [message_frame(m) for m in replay],
    }


def ack_frame(*, client_id: str, message: Message, duplicate: bool) -> dict[str, Any]:
    return {"type": "ack", "client_id": client_id, "message_id": message.pk, "seq": message.seq, "duplicate": duplicate}


def error_frame(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail, **extra}


def delta_event(*, reply_to: int, offset: int, text: str) -> dict[str, Any]:
    """Channel-layer event; the consumer turns it into a `delta` frame."""
    return {"type": "chat.delta", "frame": {"type": "delta", "reply_to": reply_to, "offset": offset, "text": text}}


def typing_event(*, on: bool) -> dict[str, Any]:
    return {"type": "chat.frame", "frame": {"type": "typing", "role": "bot", "on": on}}


def message_event(message: Message) -> dict[str, Any]:
    return {"type": "chat.frame", "frame": message_frame(message)}


def error_event(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "chat.frame", "frame": error_frame(code, detail, **extra)}
