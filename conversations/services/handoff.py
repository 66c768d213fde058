"""Who answers a conversation: the bot, the queue, an agent. Every change of hands goes through here.

States (`Conversation.Status`): `bot` -> `queued` -> `assigned` -> `resolved`, or back to `bot`.
Each transition locks the conversation row, checks the state it starts from and who asks, stores a
`ConversationEvent` (who, when, why), and after commit tells the visitor (a `handoff` frame on the
conversation's group) and the inbox (an update on the bot's inbox group; routing runs as the
`inbox.conversation_route` task). A refused transition raises `HandoffRefused` and changes nothing.

Races: two agents claiming one conversation both lock the row; the second sees `assigned` and is
refused (`already_assigned`), so exactly one wins. The turn service calls `handoff_request` inside
its own store transaction, so a reply that hands over and the state change commit together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from bots.models import AgentProfile, AgentTeam, Conversation, ConversationEvent, Message
from chatplatform.access.scoping import may_handle
from chatplatform.celery import task_send
from conversations.selectors import conversation_notice, handoff_state
from conversations.services.messages import client_id_clean, visitor_text_clean
from conversations.services.sequencing import message_insert_next_seq, violated_constraint
from conversations.services.webhook_events import handoff_changed_emit, message_created_emit
from inference_worker.publisher import get_turn_events

log = structlog.get_logger(__name__)

ROUTE_TASK = "inbox.conversation_route"
SUGGESTION_TASK = "copilot.suggestion_write"  # a reply suggestion for the agent (copilot/tasks.py)
Status = Conversation.Status
Kind = ConversationEvent.Kind


class HandoffRefused(Exception):
    """A transition that is not allowed from this state or for this person (nothing changed)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def handoff_request(
    *,
    conversation_id: int,
    reason: str,
    actor: Any = None,
    team: AgentTeam | None = None,
    priority: int | None = None,
) -> Conversation:
    """Queue the conversation for a person (from the bot, a resolved chat, or an API call). Asking
    again while queued or assigned changes nothing: the visitor asking twice is not an error.
    `priority` None: the team's default priority."""
    with transaction.atomic():
        conversation = _locked(conversation_id)
        if conversation.status in (Status.QUEUED, Status.ASSIGNED):
            return conversation
        team = team or AgentTeam.objects.filter(bots=conversation.bot_id).order_by("pk").first()
        _transition(
            conversation,
            to=Status.QUEUED,
            kind=Kind.HANDOFF_REQUESTED,
            actor=actor,
            team=team,
            reason=reason,
            changes={
                "queued_at": timezone.now(),
                "assigned_agent": None,
                "assigned_at": None,
                "team": team,
                "priority": priority if priority is not None else (team.priority if team is not None else 0),
                "ended_at": None,
            },
        )
        conversation_id = conversation.pk
        transaction.on_commit(lambda: task_send(ROUTE_TASK, conversation_id))
    return conversation


def handoff_claim(*, conversation_id: int, agent: Any) -> Conversation:
    """An agent takes a queued conversation, or takes over a live bot conversation on their own."""
    return _assign(conversation_id=conversation_id, agent=agent, actor=agent, allowed_from=(Status.QUEUED, Status.BOT))


def handoff_assign(*, conversation_id: int, agent: Any, actor: Any = None) -> Conversation:
    """The router (actor None) or a supervisor gives a queued conversation to an agent."""
    return _assign(conversation_id=conversation_id, agent=agent, actor=actor, allowed_from=(Status.QUEUED,))


def handoff_transfer(
    *, conversation_id: int, actor: Any, to_agent: Any = None, to_team: AgentTeam | None = None, reason: str = ""
) -> Conversation:
    """Hand an assigned conversation to another agent (assigned to them) or team (queued for it)."""
    if (to_agent is None) == (to_team is None):
        raise HandoffRefused("bad_request", "Transfer to one agent or one team.")
    with transaction.atomic():
        conversation = _locked(conversation_id)
        _require_state(conversation, (Status.ASSIGNED,))
        _require_holder(conversation, actor)
        if to_agent is not None:
            _require_may_handle(to_agent, conversation)
            changes = {"assigned_agent": to_agent, "assigned_at": timezone.now()}
            _transition(
                conversation,
                to=Status.ASSIGNED,
                kind=Kind.TRANSFERRED,
                actor=actor,
                agent=to_agent,
                reason=reason,
                changes=changes,
            )
            _profile_touch_assigned(to_agent)
            return conversation
        if to_team is None or not team_serves(to_team, conversation):
            raise HandoffRefused("not_allowed", "That team does not answer this bot's visitors.")
        changes = {
            "assigned_agent": None,
            "assigned_at": None,
            "team": to_team,
            "queued_at": timezone.now(),
            # An urgent conversation stays urgent; a team that serves first raises it.
            "priority": max(conversation.priority, to_team.priority),
        }
        _transition(
            conversation,
            to=Status.QUEUED,
            kind=Kind.TRANSFERRED,
            actor=actor,
            team=to_team,
            reason=reason,
            changes=changes,
        )
        conversation_pk = conversation.pk
        transaction.on_commit(lambda: task_send(ROUTE_TASK, conversation_pk))
    return conversation


def handoff_return_to_bot(*, conversation_id: int, actor: Any, reason: str = "") -> Conversation:
    """Back to the bot: it answers the visitor's next message, with the agent's turns in its history.
    The dialogue's fallback streak starts over, so the bot does not offer a person straight away."""
    with transaction.atomic():
        conversation = _locked(conversation_id)
        _require_state(conversation, (Status.QUEUED, Status.ASSIGNED))
        _require_holder(conversation, actor)
        tracker = dict(conversation.tracker or {})
        tracker.update(consecutive_fallbacks=0, handoff_offered=False)
        _transition(
            conversation,
            to=Status.BOT,
            kind=Kind.RETURNED_TO_BOT,
            actor=actor,
            reason=reason,
            changes={"assigned_agent": None, "tracker": tracker},
        )
    return conversation


def handoff_resolve(*, conversation_id: int, actor: Any, reason: str = "") -> Conversation:
    with transaction.atomic():
        conversation = _locked(conversation_id)
        if conversation.status == Status.RESOLVED:
            raise HandoffRefused("already_resolved", "This conversation is already resolved.")
        _require_holder(conversation, actor)
        _transition(
            conversation,
            to=Status.RESOLVED,
            kind=Kind.RESOLVED,
            actor=actor,
            reason=reason,
            changes={"ended_at": timezone.now()},
        )
    return conversation


def handoff_reopen(*, conversation_id: int, actor: Any, reason: str = "") -> Conversation:
    """An agent reopens a resolved conversation: it is theirs."""
    with transaction.atomic():
        conversation = _locked(conversation_id)
        _require_state(conversation, (Status.RESOLVED,))
        _require_may_handle(actor, conversation)
        changes = {"assigned_agent": actor, "assigned_at": timezone.now(), "ended_at": None}
        _transition(
            conversation,
            to=Status.ASSIGNED,
            kind=Kind.REOPENED,
            actor=actor,
            agent=actor,
            reason=reason,
            changes=changes,
        )
    return conversation


def handoff_reopen_by_visitor(*, conversation: Conversation) -> None:
    """The visitor wrote again after the conversation was resolved: the bot has it again. Called by
    the turn service with the row already locked in its transaction."""
    _transition(
        conversation,
        to=Status.BOT,
        kind=Kind.REOPENED,
        reason="The visitor wrote again.",
        changes={"assigned_agent": None, "ended_at": None},
    )


def handoff_offline_notify(*, conversation_id: int) -> None:
    """Nobody can come now: after the bot's reply says so, the widget shows the offline form."""
    state = {"status": "offline", "position": None, "expected_wait_s": None, "agent": None}
    transaction.on_commit(lambda: get_turn_events().handoff(conversation_id=conversation_id, state=state), robust=True)


def visitor_message_for_agent_notify(*, conversation: Conversation) -> None:
    """A visitor wrote while people have the conversation: unread counts in the inbox go up."""
    conversation_id, bot_id = conversation.pk, conversation.bot_id
    agent_ids = (conversation.assigned_agent_id,) if conversation.assigned_agent_id else ()
    payload = {"kind": "visitor_message", "conversation_id": conversation_id, "status": conversation.status}
    transaction.on_commit(
        lambda: get_turn_events().inbox(bot_id=bot_id, payload=payload, agent_ids=agent_ids), robust=True
    )
    if conversation.status == Status.ASSIGNED:  # a suggested reply for the agent (not again if one exists)
        transaction.on_commit(lambda: task_send(SUGGESTION_TASK, conversation_id, False), robust=True)


def agent_message_send(*, conversation_id: int, agent: Any, text: str, client_id: str | None = None) -> Message:
    """Store an agent's message (only the agent the conversation is assigned to) and deliver it to
    the visitor like a bot reply: numbered, replayed on reconnect. A resend of `client_id` is stored once."""
    text = visitor_text_clean(text)
    client_id = client_id_clean(client_id) if client_id is not None else None
    with transaction.atomic():
        conversation = _locked(conversation_id)
        _require_state(conversation, (Status.ASSIGNED,))
        if conversation.assigned_agent_id != getattr(agent, "pk", None):
            raise HandoffRefused("not_assigned_to_you", "Only the agent this conversation is assigned to may reply.")
        if client_id is not None:
            existing = Message.objects.filter(conversation=conversation, client_id=client_id).first()
            if existing is not None:
                return existing
        try:
            message = message_insert_next_seq(
                conversation_id=conversation.pk, role=Message.Role.AGENT, text=text, author=agent, client_id=client_id
            )
        except IntegrityError as exc:
            if violated_constraint(exc) != "message_unique_client_id":
                raise
            return Message.objects.get(conversation=conversation, client_id=client_id)
        Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=timezone.now())
        message = Message.objects.select_related("author__agent_profile").get(pk=message.pk)
        bot_id, agent_id = conversation.bot_id, agent.pk
        message_created_emit(bot_id=bot_id, message=message)
        transaction.on_commit(lambda: get_turn_events().message(message=message), robust=True)
        transaction.on_commit(
            lambda: get_turn_events().inbox(
                bot_id=bot_id,
                payload={"kind": "message", "conversation_id": message.conversation_id},
                agent_ids=(agent_id,),
            ),
            robust=True,
        )
    return message


def team_serves(team: AgentTeam | None, conversation: Conversation) -> bool:
    return team is not None and team.bots.filter(pk=conversation.bot_id).exists()


# --- internals --------------------------------------------------------------------------------


def _locked(conversation_id: int) -> Conversation:
    try:
        # `of=("self",)` and no_key: the same lock the turn takes, never the bot's row.
        return (
            Conversation.objects.select_for_update(of=("self",), no_key=True)
            .select_related("bot", "assigned_agent__agent_profile")
            .get(pk=conversation_id)
        )
    except Conversation.DoesNotExist as exc:
        raise HandoffRefused("not_found", "No such conversation.") from exc


def _assign(*, conversation_id: int, agent: Any, actor: Any, allowed_from: Iterable[str]) -> Conversation:
    with transaction.atomic():
        conversation = _locked(conversation_id)
        if conversation.status == Status.ASSIGNED:
            if conversation.assigned_agent_id == agent.pk:
                return conversation  # a double click: already theirs
            raise HandoffRefused("already_assigned", "Another agent has this conversation.")
        _require_state(conversation, tuple(allowed_from))
        _require_may_handle(agent, conversation)
        now = timezone.now()
        changes: dict[str, Any] = {"assigned_agent": agent, "assigned_at": now}
        if conversation.status == Status.BOT:  # a takeover: it never waited in the queue
            changes["queued_at"] = now
        _transition(conversation, to=Status.ASSIGNED, kind=Kind.ASSIGNED, actor=actor, agent=agent, changes=changes)
        _profile_touch_assigned(agent)
    return conversation


def _require_state(conversation: Conversation, allowed: tuple[str, ...]) -> None:
    if conversation.status in allowed:
        return
    if conversation.status == Status.RESOLVED:
        raise HandoffRefused("already_resolved", "This conversation is resolved.")
    raise HandoffRefused("bad_state", f"Not possible while the conversation is {conversation.get_status_display()}.")


def _require_may_handle(user: Any, conversation: Conversation) -> None:
    if user is None or not may_handle(user, conversation.bot_id):
        raise HandoffRefused("not_allowed", "This agent does not answer this bot's visitors.")


def _require_holder(conversation: Conversation, actor: Any) -> None:
    """Assigned conversations are changed by their agent or an admin; others by anyone on the bot."""
    _require_may_handle(actor, conversation)
    if (
        conversation.status == Status.ASSIGNED
        and conversation.assigned_agent_id != actor.pk
        and not (actor.is_superuser or actor.has_perm("analytics.view_all_bots"))
    ):
        raise HandoffRefused("not_assigned_to_you", "Another agent has this conversation.")


def _profile_touch_assigned(agent: Any) -> None:
    AgentProfile.objects.update_or_create(user=agent, defaults={"last_assigned_at": timezone.now()})


def _transition(
    conversation: Conversation,
    *,
    to: str,
    kind: str,
    actor: Any = None,
    agent: Any = None,
    team: AgentTeam | None = None,
    reason: str = "",
    changes: dict[str, Any] | None = None,
) -> None:
    """Apply a checked transition to the locked row: fields, the event, the live notices after commit."""
    from_status = conversation.status
    fields = ["status", "last_activity_at"]
    conversation.status = to
    conversation.last_activity_at = timezone.now()
    for name, value in (changes or {}).items():
        setattr(conversation, name, value)
        fields.append(name)
    conversation.save(update_fields=fields)
    ConversationEvent.objects.create(
        conversation=conversation,
        kind=kind,
        from_status=from_status,
        to_status=to,
        actor=actor,
        agent=agent,
        team=team,
        reason=reason[:200],
    )
    handoff_changed_emit(conversation=conversation, kind=kind, agent=agent, actor=actor, reason=reason[:200])
    log.info("handoff_transition", conversation_id=conversation.pk, kind=kind, from_status=from_status, to_status=to)
    _notify_after_commit(
        conversation,
        kind=kind,
        agent_ids=tuple(a.pk for a in (agent, actor) if a is not None),
        actor_id=getattr(actor, "pk", None),
    )


def _notify_after_commit(
    conversation: Conversation, *, kind: str, agent_ids: tuple[int, ...], actor_id: int | None
) -> None:
    conversation_id, bot_id = conversation.pk, conversation.bot_id

    def notify() -> None:
        # Read after commit: the visitor sees the state that was stored (position counts included).
        fresh = Conversation.objects.select_related("assigned_agent__agent_profile", "bot").get(pk=conversation_id)
        events = get_turn_events()
        events.handoff(conversation_id=conversation_id, state=handoff_state(conversation=fresh))
        # Everything an inbox page needs to decide on a notification travels with the update: with
        # many pages open, one read here replaces one query per page.
        payload = {
            "kind": kind,
            "conversation_id": conversation_id,
            "status": fresh.status,
            "assignee_id": fresh.assigned_agent_id,
            "actor_id": actor_id,
            "notice": conversation_notice(conversation=fresh),
        }
        events.inbox(bot_id=bot_id, payload=payload, agent_ids=agent_ids)

    # robust: live notices are best effort (the state is stored; pages and widgets re-read it on
    # reconnect), so a dead channel layer must not fail what was committed.
    transaction.on_commit(notify, robust=True)
