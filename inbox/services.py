"""The inbox's writes: presence, routing queued conversations to agents, private notes.

Routing picks among the online agents of the conversation's team (or the bot's teams) who are
under capacity: least busy first (fewest assigned conversations, then the longest since their last
assignment), or round robin (the longest since their last assignment). The assignment itself is
`handoff_assign`, which locks the conversation: two routers racing cannot both assign it.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from bots.models import AgentProfile, AgentTeam, Conversation
from chatplatform.access.scoping import bots_handled_by, may_handle
from chatplatform.celery import task_send
from conversations.selectors import agents_online
from conversations.services.handoff import HandoffRefused, handoff_assign
from conversations.services.messages import visitor_text_clean
from inbox.models import AgentNote

log = structlog.get_logger(__name__)

ROUTE_TASK = "inbox.conversation_route"
# Queued conversations re-routed when an agent comes online (the rest wait for the next change).
ROUTE_ON_ONLINE_LIMIT = 20


def presence_set(*, user: Any, presence: str) -> AgentProfile:
    if presence not in AgentProfile.Presence.values:
        raise ValueError(f"unknown presence {presence!r}")
    profile, _ = AgentProfile.objects.update_or_create(
        user=user, defaults={"presence": presence, "last_seen_at": timezone.now()}
    )
    if presence == AgentProfile.Presence.ONLINE:
        transaction.on_commit(lambda: queued_route_for(user=user), robust=True)
    return profile


def presence_heartbeat(*, user: Any) -> None:
    """The open inbox page says it is still there; without it "online" lapses (see agents_online)."""
    updated = AgentProfile.objects.filter(user=user).update(last_seen_at=timezone.now())
    if not updated:
        AgentProfile.objects.create(user=user, last_seen_at=timezone.now())


def conversation_route(*, conversation_id: int) -> Conversation | None:
    """Give a queued conversation to an online agent with room, if there is one (else it waits)."""
    conversation = Conversation.objects.filter(pk=conversation_id, status=Conversation.Status.QUEUED).first()
    if conversation is None:
        return None
    team = conversation.team or AgentTeam.objects.filter(bots=conversation.bot_id).order_by("pk").first()
    candidates = agents_online(bot_id=conversation.bot_id).filter(presence=AgentProfile.Presence.ONLINE)
    if conversation.team_id:
        candidates = candidates.filter(user__agent_teams=conversation.team_id)
    held = Count("user__assigned_conversations", filter=Q(user__assigned_conversations__status="assigned"))
    ranked = candidates.annotate(held=held).select_related("user")
    if team is not None and team.routing == AgentTeam.Routing.ROUND_ROBIN:
        ranked = ranked.order_by("last_assigned_at", "pk")
    else:
        ranked = ranked.order_by("held", "last_assigned_at", "pk")
    default_capacity = team.capacity_per_agent if team is not None else 3
    for profile in ranked:
        if getattr(profile, "held", 0) >= (profile.capacity or default_capacity):
            continue
        try:
            return handoff_assign(conversation_id=conversation.pk, agent=profile.user)
        except HandoffRefused as exc:  # taken meanwhile, or the agent lost access: try the next one
            log.info("route_assign_refused", conversation_id=conversation.pk, code=exc.code)
            if exc.code in ("already_assigned", "already_resolved", "bad_state"):
                return None
    return None


def queued_route_for(*, user: Any) -> None:
    """Route the oldest queued conversations of the agent's bots (they just came online)."""
    queued = (
        Conversation.objects.filter(bot__in=bots_handled_by(user), status=Conversation.Status.QUEUED)
        .order_by("-priority", "queued_at")
        .values_list("pk", flat=True)[:ROUTE_ON_ONLINE_LIMIT]
    )
    for conversation_id in queued:
        task_send(ROUTE_TASK, conversation_id)


def note_add(*, conversation_id: int, author: Any, text: str) -> AgentNote:
    conversation = Conversation.objects.get(pk=conversation_id)
    if not may_handle(author, conversation.bot_id):
        raise HandoffRefused("not_allowed", "This agent does not answer this bot's visitors.")
    return AgentNote.objects.create(conversation=conversation, author=author, text=visitor_text_clean(text))
