"""The inbox's reads: the queue views (mine, unassigned, all) and one conversation for an agent."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from bots.models import Conversation, ConversationEvent, Message
from chatplatform.access.scoping import bots_handled_by
from conversations import frames
from conversations.selectors import agent_display, messages_after
from inbox.models import AgentNote

PAGE_SIZE = 25
VIEWS = ("mine", "unassigned", "all")
_Status = Conversation.Status


def inbox_conversations(*, user: Any, view: str, bot_id: int | None = None) -> QuerySet[Conversation]:
    """Conversations of the bots `user` handles: theirs, the queue, or everything people have."""
    base = Conversation.objects.filter(bot__in=bots_handled_by(user))
    if bot_id is not None:
        base = base.filter(bot_id=bot_id)
    if view == "mine":
        return base.filter(status=_Status.ASSIGNED, assigned_agent=user).order_by("-last_activity_at", "-pk")
    if view == "unassigned":
        return base.filter(status=_Status.QUEUED).order_by("-priority", "queued_at", "pk")
    return base.filter(status__in=[_Status.QUEUED, _Status.ASSIGNED]).order_by("-priority", "queued_at", "pk")


def inbox_page(*, user: Any, view: str, bot_id: int | None = None, cursor: str | None = None) -> dict[str, Any]:
    """One page of a view (PAGE_SIZE items) and the cursor of the next, if any."""
    offset = _offset(cursor)
    last_seq = Message.objects.filter(conversation=OuterRef("pk")).order_by("-seq")
    rows = list(
        inbox_conversations(user=user, view=view, bot_id=bot_id)
        .select_related("bot", "assigned_agent__agent_profile")
        .annotate(last_seq=Subquery(last_seq.values("seq")[:1]))[offset : offset + PAGE_SIZE + 1]
    )
    more = len(rows) > PAGE_SIZE
    return {
        "items": [inbox_item(c) for c in rows[:PAGE_SIZE]],
        "next_cursor": _cursor(offset + PAGE_SIZE) if more else None,
    }


def inbox_counts(*, user: Any) -> dict[str, int]:
    return {view: inbox_conversations(user=user, view=view).count() for view in VIEWS}


def inbox_item(conversation: Conversation) -> dict[str, Any]:
    last = Message.objects.filter(conversation=conversation).order_by("-seq").first()
    since = conversation.queued_at if conversation.status == _Status.QUEUED else None
    waiting_s = int((timezone.now() - since).total_seconds()) if since else None
    return {
        "id": conversation.pk,
        "bot": {"id": conversation.bot_id, "name": conversation.bot.name},
        "status": conversation.status,
        "priority": conversation.priority,
        "queued_at": conversation.queued_at.isoformat() if conversation.queued_at else None,
        "waiting_s": waiting_s,
        "sla_breached": waiting_s is not None and waiting_s > settings.INBOX_SLA_SECONDS,
        "assigned_agent": (
            {"id": conversation.assigned_agent_id, **(agent_display(conversation.assigned_agent) or {})}
            if conversation.assigned_agent_id
            else None
        ),
        "last_message": (
            {"role": last.role, "text": last.text[:140], "created_at": last.created_at.isoformat()} if last else None
        ),
    }


def inbox_conversation(*, user: Any, conversation_id: int) -> dict[str, Any] | None:
    """Everything the agent sees of one conversation; None if it is not one of their bots'."""
    conversation = (
        Conversation.objects.filter(pk=conversation_id, bot__in=bots_handled_by(user))
        .select_related("bot", "assigned_agent__agent_profile")
        .first()
    )
    if conversation is None:
        return None
    messages = []
    for message in messages_after(conversation_id=conversation.pk, after_seq=0):
        frame = frames.message_frame(message)
        if message.role == Message.Role.USER:
            frame.update(intent=message.intent or None, confidence=message.confidence, entities=message.entities)
        messages.append(frame)
    events = ConversationEvent.objects.filter(conversation=conversation).select_related("actor", "agent", "team")
    notes = AgentNote.objects.filter(conversation=conversation).select_related("author__agent_profile")
    return {
        **inbox_item(conversation),
        "visitor": {"id": conversation.visitor_id, "user_id": conversation.user_id, "locale": conversation.locale},
        "slots": (conversation.tracker or {}).get("slots", {}),
        "messages": messages,
        "events": [
            {
                "kind": e.kind,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "actor": (agent_display(e.actor) or {}).get("name"),
                "agent": (agent_display(e.agent) or {}).get("name"),
                "team": e.team.name if e.team else None,
                "reason": e.reason,
                "created_at": e.created_at.isoformat(),
            }
            for e in events
        ],
        "notes": [note_frame(n) for n in notes],
        "last_seq": messages[-1]["seq"] if messages else 0,
    }


def note_frame(note: AgentNote) -> dict[str, Any]:
    return {
        "type": "note",
        "id": note.pk,
        "conversation_id": note.conversation_id,
        "author": (agent_display(note.author) or {}).get("name"),
        "text": note.text,
        "created_at": note.created_at.isoformat(),
    }


def agent_directory(*, user: Any) -> dict[str, Any]:
    """Bots, teams and fellow agents of the bots `user` handles (the inbox's pickers)."""
    bots = bots_handled_by(user)
    colleagues = (
        get_user_model()
        .objects.filter(agent_teams__bots__in=bots, is_active=True)
        .select_related("agent_profile")
        .distinct()
    )
    return {
        "bots": [{"id": b.pk, "name": b.name} for b in bots],
        "teams": [
            {"id": t["agent_teams__id"], "name": t["agent_teams__name"]}
            for t in bots.values("agent_teams__id", "agent_teams__name").distinct()
            if t["agent_teams__id"]
        ],
        "agents": [
            {
                "id": u.pk,
                "presence": getattr(getattr(u, "agent_profile", None), "presence", "offline"),
                **(agent_display(u) or {}),
            }
            for u in colleagues
        ],
    }


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(cursor.encode()).decode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return 0


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()
