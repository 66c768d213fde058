"""The JSON frames of the chat protocol (docs/protocol.md), built in one place.

Used by the consumer (replay, acks) and by the worker (deltas, final replies) so both speak the
same shapes. Also the channel-layer event names the consumer forwards.
"""

from __future__ import annotations

from typing import Any

from bots.models import Bot, Conversation, Message
from bots.selectors import bot_display_config
from conversations.selectors import agent_display

# The version this server speaks; it still serves v1 clients (SUPPORTED_VERSIONS), the v1 way:
# a v1 hello without a token starts a conversation at once, a v2 one at the first message.
PROTOCOL_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def inbox_group(bot_id: int) -> str:
    """The agents' inbox pages of one bot: queue and conversation changes (not message text)."""
    return f"inbox.bot.{bot_id}"


def agent_group(user_id: int) -> str:
    """One agent's open inbox pages (assignments, transfers to them)."""
    return f"inbox.agent.{user_id}"


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
    elif message.role == Message.Role.AGENT:
        frame["author"] = agent_display(message.author) or {"name": "Support agent", "avatar_url": ""}
        frame["feedback"] = None
    else:
        frame["reply_to"] = message.reply_to_id
        frame["quick_replies"] = list(message.quick_replies)
        frame["citations"] = list(message.citations)
        frame["feedback"] = message.feedback or None
    return frame


def welcome_frame(
    *,
    bot: Bot,
    conversation: Conversation | None,
    visitor_token: str,
    last_seq: int,
    replay: list[Message],
    v: int = PROTOCOL_VERSION,
    handoff: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`conversation` None (v2, no visitor message yet): `conversation_id` null, `last_seq` 0, no
    messages, and `visitor_token` names the visitor only (see conversations.visitor_tokens)."""
    return {
        "type": "welcome",
        "v": v,
        "conversation_id": conversation.pk if conversation is not None else None,
        "visitor_token": visitor_token,
        "last_seq": last_seq,
        "bot": bot_display_config(bot),
        "messages": [message_frame(m) for m in replay],
        "handoff": handoff
        or {"status": Conversation.Status.BOT, "position": None, "expected_wait_s": None, "agent": None},
    }


def ack_frame(
    *,
    client_id: str,
    message: Message,
    duplicate: bool,
    conversation: Conversation | None = None,
    visitor_token: str = "",
) -> dict[str, Any]:
    """With `conversation` and `visitor_token` for the message that opened the connection's
    conversation (v2): the client stores the token as it stores a welcome's."""
    frame: dict[str, Any] = {
        "type": "ack",
        "client_id": client_id,
        "message_id": message.pk,
        "seq": message.seq,
        "duplicate": duplicate,
    }
    if conversation is not None:
        frame["conversation_id"] = conversation.pk
        frame["visitor_token"] = visitor_token
    return frame


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


def handoff_event(state: dict[str, Any]) -> dict[str, Any]:
    """The conversation's handler changed (queued, assigned, back to the bot, resolved, offline)."""
    return {"type": "chat.frame", "frame": {"type": "handoff", **state}}


def typing_from_event(*, role: str, on: bool, author: dict[str, str] | None = None) -> dict[str, Any]:
    """Typing of the visitor (for agents) or of an agent (for the visitor)."""
    frame: dict[str, Any] = {"type": "typing", "role": role, "on": on}
    if author is not None:
        frame["author"] = author
    return {"type": "chat.frame", "frame": frame}


def inbox_event(payload: dict[str, Any]) -> dict[str, Any]:
    """Channel-layer event for inbox pages: `payload` names what changed; pages re-read what they show."""
    return {"type": "inbox.update", "update": payload}
