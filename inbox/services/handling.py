"""What agents do with a conversation, from the inbox socket and the inbox API alike: claim, return
to the bot, resolve, reopen, transfer; and the API's handoff trigger.

Each is the handoff service's transition (`conversations.services.handoff`: the lock, the checks,
the event, the live notices) plus what the inbox adds: an agent whose conversation leaves them has
room again, so the queue of their bots is routed again. Refusals are `HandoffRefused`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from bots.models import AgentTeam, Bot, Conversation
from conversations.selectors import handoff_available, handoff_state
from conversations.services import handoff
from conversations.services.handoff import HandoffRefused
from inbox.services.routing import queued_route_for

API_REASON = "Requested through the API."


def conversation_claim(*, conversation_id: int, agent: Any) -> Conversation:
    return handoff.handoff_claim(conversation_id=conversation_id, agent=agent)


def conversation_return_to_bot(*, conversation_id: int, actor: Any) -> Conversation:
    holder_id = _holder_id(conversation_id)
    conversation = handoff.handoff_return_to_bot(conversation_id=conversation_id, actor=actor)
    _capacity_freed(holder_id)
    return conversation


def conversation_resolve(*, conversation_id: int, actor: Any) -> Conversation:
    holder_id = _holder_id(conversation_id)
    conversation = handoff.handoff_resolve(conversation_id=conversation_id, actor=actor)
    _capacity_freed(holder_id)
    return conversation


def conversation_reopen(*, conversation_id: int, actor: Any) -> Conversation:
    return handoff.handoff_reopen(conversation_id=conversation_id, actor=actor)


def conversation_transfer(
    *, conversation_id: int, actor: Any, to_agent_id: int | None = None, to_team_id: int | None = None
) -> Conversation:
    """To one agent (assigned to them at once) or one team (queued for it, then routed)."""
    if (to_agent_id is None) == (to_team_id is None):
        raise HandoffRefused("bad_request", "Transfer to one agent or one team.")
    to_agent = to_team = None
    if to_agent_id is not None:
        to_agent = get_user_model().objects.filter(pk=to_agent_id, is_active=True).first()
        if to_agent is None:
            raise HandoffRefused("not_found", "No such agent.")
    elif to_team_id is not None:
        to_team = AgentTeam.objects.filter(pk=to_team_id).first()
        if to_team is None:
            raise HandoffRefused("not_found", "No such team.")
    holder_id = _holder_id(conversation_id)
    conversation = handoff.handoff_transfer(
        conversation_id=conversation_id, actor=actor, to_agent=to_agent, to_team=to_team
    )
    _capacity_freed(holder_id)
    return conversation


def conversation_handoff_request(
    *, bot: Bot, conversation_id: int, reason: str, priority: int | None
) -> dict[str, Any]:
    """The API's trigger: queue one of the bot's conversations for a person. Like the bot's own
    triggers it only promises a person when one can come (business hours, somebody on duty):
    otherwise `no_agents` and nothing changes. Already queued or assigned: unchanged. Returns the
    widget protocol's `handoff` object."""
    conversation = Conversation.objects.filter(pk=conversation_id, bot=bot).first()
    if conversation is None:
        raise HandoffRefused("not_found", "No such conversation of this bot.")
    if conversation.status not in (Conversation.Status.QUEUED, Conversation.Status.ASSIGNED):
        if not handoff_available(bot=bot):
            raise HandoffRefused("no_agents", "Nobody can take the conversation now (no agent on duty, or closed).")
        handoff.handoff_request(conversation_id=conversation.pk, reason=reason or API_REASON, priority=priority)
    fresh = Conversation.objects.select_related("assigned_agent__agent_profile").get(pk=conversation.pk)
    return handoff_state(conversation=fresh)


def _holder_id(conversation_id: int) -> int | None:
    """Who holds the conversation before a change (read unlocked: it only decides whom to route for)."""
    return Conversation.objects.filter(pk=conversation_id).values_list("assigned_agent_id", flat=True).first()


def _capacity_freed(user_id: int | None) -> None:
    if user_id is None:
        return
    holder = get_user_model().objects.filter(pk=user_id).first()
    if holder is not None:
        queued_route_for(user=holder)
