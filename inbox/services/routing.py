"""Routing: a queued conversation goes to an online agent of its team who has room.

Candidates are the members of the conversation's team (or, without one, of the bot's teams) who
are online with a fresh heartbeat (`agents_online`; "away" agents are not given new chats) and
hold fewer assigned conversations than their capacity (`AgentProfile.capacity`, else the team's
`capacity_per_agent`). The team's routing picks among them:

- round robin: the one assigned longest ago (never assigned first);
- least busy: the fewest assigned conversations, ties to the one assigned longest ago.

Races: the assignment is `handoff_assign`, which locks the conversation and refuses a second
assignment, so two routers (or a router and a claiming agent) cannot both have it. Capacity is
checked again under a lock of the agent's profile row, so two routers filling one agent's last
slot at once give it to one conversation only. Locks are taken conversation first, then profile,
the order `handoff_claim` takes them in, so the two never deadlock.

Capacity freed (an agent resolves, returns, transfers) or an agent coming online routes the
oldest queued conversations of their bots again, in order, in one task (`inbox.queue_route`), so
the conversation that waited longest gets the free slot first.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from bots.models import AgentProfile, AgentTeam, Conversation
from chatplatform.access.scoping import bots_handled_by
from chatplatform.celery import task_send
from conversations.selectors import agents_online
from conversations.services.handoff import HandoffRefused, handoff_assign
from copilot.services import brief_request

log = structlog.get_logger(__name__)

ROUTE_TASK = "inbox.conversation_route"  # args: (conversation_id,)
QUEUE_ROUTE_TASK = "inbox.queue_route"  # args: (user_id,)
# Queued conversations looked at when capacity frees up: the oldest; the rest wait for the next change.
QUEUE_ROUTE_LIMIT = 20
DEFAULT_CAPACITY = 3  # an agent outside any team of the bot (an admin): as a new team's default
_STOP_CODES = ("already_assigned", "already_resolved", "bad_state", "not_found")
Status = Conversation.Status


def conversation_route(*, conversation_id: int) -> Conversation | None:
    """Ask for the conversation's brief and give it to an agent with room, if there is one (else it
    waits in the queue). Returns the assigned conversation, or None."""
    conversation = Conversation.objects.filter(pk=conversation_id, status=Status.QUEUED).first()
    if conversation is None:
        return None
    brief_request(conversation.pk)  # for whoever takes it (written once per new message)
    return _route(conversation)


def queued_route_for(*, user: Any) -> None:
    """The agent has room now (came online, resolved, returned or transferred): route the queue of
    their bots again, after the caller's transaction commits."""
    user_id = user.pk
    # robust: routing is best effort (the next change routes again); a dead broker must not fail the
    # presence change or the resolve that was committed.
    transaction.on_commit(lambda: task_send(QUEUE_ROUTE_TASK, user_id), robust=True)


def queue_route(*, user_id: int) -> list[Conversation]:
    """Route the oldest queued conversations of the user's bots, highest priority and longest
    waiting first, one after the other. Returns those that were assigned."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return []
    queued = (
        Conversation.objects.filter(bot__in=bots_handled_by(user), status=Status.QUEUED)
        .order_by("-priority", "queued_at", "pk")
        .values_list("pk", flat=True)[:QUEUE_ROUTE_LIMIT]
    )
    assigned = []
    for conversation_id in list(queued):
        conversation = Conversation.objects.filter(pk=conversation_id, status=Status.QUEUED).first()
        routed = _route(conversation) if conversation is not None else None
        if routed is not None:
            assigned.append(routed)
    return assigned


def route_candidates(*, conversation: Conversation) -> tuple[QuerySet[AgentProfile], int]:
    """Online agents who may take the conversation, best first, each annotated with `held` (their
    assigned conversations, over every bot), and the team's default capacity."""
    team = conversation.team or AgentTeam.objects.filter(bots=conversation.bot_id).order_by("pk").first()
    candidates = agents_online(bot_id=conversation.bot_id).filter(presence=AgentProfile.Presence.ONLINE)
    if conversation.team_id is not None:
        candidates = candidates.filter(user__agent_teams=conversation.team_id)
    ranked = candidates.annotate(held=_held()).select_related("user")
    longest_ago = F("last_assigned_at").asc(nulls_first=True)
    if team is not None and team.routing == AgentTeam.Routing.ROUND_ROBIN:
        ranked = ranked.order_by(longest_ago, "pk")
    else:
        ranked = ranked.order_by("held", longest_ago, "pk")
    return ranked, team.capacity_per_agent if team is not None else DEFAULT_CAPACITY


def _route(conversation: Conversation) -> Conversation | None:
    candidates, default_capacity = route_candidates(conversation=conversation)
    for profile in candidates:
        capacity = profile.capacity or default_capacity
        if getattr(profile, "held", 0) >= capacity:
            continue
        try:
            assigned = _assign_if_room(conversation_id=conversation.pk, profile=profile, capacity=capacity)
        except HandoffRefused as exc:  # taken meanwhile (stop), or this agent lost access (next one)
            log.info("route_assign_refused", conversation_id=conversation.pk, agent_id=profile.user_id, code=exc.code)
            if exc.code in _STOP_CODES:
                return None
            continue
        if assigned is not None:
            log.info("route_assigned", conversation_id=conversation.pk, agent_id=profile.user_id)
            return assigned
    return None


def _assign_if_room(*, conversation_id: int, profile: AgentProfile, capacity: int) -> Conversation | None:
    """Assign under the conversation's lock and the agent's profile lock; None if the agent filled up."""
    with transaction.atomic():
        locked = (
            Conversation.objects.select_for_update(of=("self",), no_key=True)
            .filter(pk=conversation_id)
            .values_list("status", flat=True)
            .first()
        )
        if locked != Status.QUEUED:
            raise HandoffRefused("bad_state" if locked else "not_found", "The conversation is no longer queued.")
        AgentProfile.objects.select_for_update().filter(pk=profile.pk).values_list("pk", flat=True).first()
        held = Conversation.objects.filter(assigned_agent_id=profile.user_id, status=Status.ASSIGNED).count()
        if held >= capacity:
            return None
        return handoff_assign(conversation_id=conversation_id, agent=profile.user)


def _held() -> Coalesce:
    """Assigned conversations of the profile's user, as a subquery: a COUNT over the team joins of
    `agents_online` would count a member of two of the bot's teams twice."""
    assigned = (
        Conversation.objects.filter(assigned_agent_id=OuterRef("user_id"), status=Status.ASSIGNED)
        .order_by()
        .values("assigned_agent_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(assigned), 0)
