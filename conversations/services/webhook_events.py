"""What live conversations tell outgoing webhooks (webhooks/, docs/webhooks.md).

Each helper builds one event's `data` from rows the caller already holds and calls `emit_event`
inside the caller's transaction: the event exists exactly when the change was committed, and with
no endpoint subscribed it costs one query. Visitor identity (visitor id, user id, identity hash)
is never sent.
"""

from __future__ import annotations

from typing import Any

from bots.models import Conversation, ConversationEvent, Message
from conversations.selectors import agent_display
from webhooks.models import EventType
from webhooks.services.events import emit_event

# The wire names of message roles: "user" is the visitor.
ROLE_NAMES = {Message.Role.USER: "visitor", Message.Role.BOT: "bot", Message.Role.AGENT: "agent"}


def conversation_started_emit(*, conversation: Conversation) -> None:
    emit_event(
        event_type=EventType.CONVERSATION_STARTED,
        bot_id=conversation.bot_id,
        conversation_id=conversation.pk,
        data={"conversation": {"id": conversation.pk, "channel": conversation.channel, "locale": conversation.locale}},
    )


def message_created_emit(*, bot_id: int, message: Message) -> None:
    author = _agent(message.author) if message.role == Message.Role.AGENT else None
    emit_event(
        event_type=EventType.MESSAGE_CREATED,
        bot_id=bot_id,
        conversation_id=message.conversation_id,
        data={
            "message": {
                "id": message.pk,
                "role": ROLE_NAMES[Message.Role(message.role)],
                "text": message.text,
                "seq": message.seq,
                "reply_to": message.reply_to_id,
                "author": author,
            }
        },
    )


def handoff_changed_emit(*, conversation: Conversation, kind: str, agent: Any, actor: Any, reason: str) -> None:
    """A change of hands (conversations/services/handoff.py): requested, assigned or resolved."""
    common = {"bot_id": conversation.bot_id, "conversation_id": conversation.pk}
    if kind == ConversationEvent.Kind.HANDOFF_REQUESTED:
        team = conversation.team
        handoff = {
            "reason": reason,
            "requested_by": _agent(actor),
            "team": {"id": team.pk, "name": team.name} if team is not None else None,
            "priority": conversation.priority,
        }
        emit_event(event_type=EventType.HANDOFF_REQUESTED, data={"handoff": handoff}, **common)
    elif conversation.status == Conversation.Status.ASSIGNED and agent is not None:
        emit_event(event_type=EventType.CONVERSATION_ASSIGNED, data={"agent": _agent(agent), "via": kind}, **common)
    elif conversation.status == Conversation.Status.RESOLVED:
        conversation_resolved_emit(conversation=conversation, actor=actor, reason=reason)


def conversation_resolved_emit(*, conversation: Conversation, actor: Any, reason: str) -> None:
    emit_event(
        event_type=EventType.CONVERSATION_RESOLVED,
        bot_id=conversation.bot_id,
        conversation_id=conversation.pk,
        data={"resolved_by": _agent(actor), "reason": reason},
    )


def feedback_created_emit(*, conversation: Conversation, message: Message) -> None:
    emit_event(
        event_type=EventType.FEEDBACK_CREATED,
        bot_id=conversation.bot_id,
        conversation_id=conversation.pk,
        data={"feedback": {"message_id": message.pk, "rating": message.feedback, "comment": message.feedback_comment}},
    )


def csat_submitted_emit(*, conversation: Conversation, score: int) -> None:
    emit_event(
        event_type=EventType.CSAT_SUBMITTED,
        bot_id=conversation.bot_id,
        conversation_id=conversation.pk,
        data={"csat": {"score": score, "comment": None}},
    )


def _agent(user: Any) -> dict[str, Any] | None:
    """An agent as visitors see them (their display name), never the login or the e-mail."""
    shown = agent_display(user)
    return None if shown is None else {"id": user.pk, "name": shown["name"]}


def action_failed_emit(*, conversation: Conversation, message: Message) -> None:
    """One event per failed HTTP action call of a bot reply (Message.action_calls)."""
    for call in message.action_calls:
        if call.get("status") != "failed":
            continue
        emit_event(
            event_type=EventType.ACTION_FAILED,
            bot_id=conversation.bot_id,
            conversation_id=conversation.pk,
            data={
                "action": {
                    "name": str(call.get("action", "")),
                    "error": str(call.get("error", "")),
                    "http_status": call.get("http_status"),
                    "attempts": int(call.get("attempts") or 0),
                    "latency_ms": call.get("latency_ms"),
                    "message_id": message.pk,
                }
            },
        )
