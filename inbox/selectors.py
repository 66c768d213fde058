"""The inbox's reads: the queue views, one conversation as an agent sees it, the agents' pickers,
canned replies. Everything is scoped by `bots_handled_by`: an agent never reads another bot's
conversations (they are "not found", like conversations that do not exist).

Views (`inbox_page`):
- mine: the conversations assigned to the user, the most recently active first;
- unassigned: the queue, highest priority first, then the longest waiting;
- all: the queue (as above), then the assigned conversations (held longest first), then those
  resolved in the last RECENTLY_RESOLVED (the newest first);
- bot: live conversations the bot is answering (active in the last LIVE_WINDOW), for an agent who
  wants to take one over (not one of the page's tabs; the API and the socket accept it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from bots.models import AgentProfile, AgentTeam, Conversation, ConversationEvent, Message, OfflineTicket
from chatplatform.access.scoping import bots_handled_by, sees_all_bots
from conversations import frames
from conversations.selectors import AGENT_HEARTBEAT_FRESH, agent_display, conversation_last_seq, messages_after
from copilot.selectors import brief_for, suggestion_latest
from inbox.models import AgentNote, CannedReply, ReadMark
from inbox.pagination import SortKey, cursor_decode, cursor_encode, keyset_after

PAGE_SIZE = 25
VIEWS = ("mine", "unassigned", "all")  # the page's tabs (and the welcome's counts)
EXTRA_VIEWS = ("bot",)
RECENTLY_RESOLVED = timedelta(hours=24)
LIVE_WINDOW = timedelta(minutes=30)
DETAIL_MESSAGES = 500  # the newest; older ones are in the transcript (analytics)
LAST_MESSAGE_CHARS = 140
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # "no time" in sort columns, which must not be NULL
Status = Conversation.Status


@dataclass(frozen=True)
class _View:
    keys: tuple[SortKey, ...]


_VIEWS: dict[str, _View] = {
    "mine": _View(keys=(SortKey("last_activity_at", True, datetime), SortKey("pk", True))),
    "unassigned": _View(keys=(SortKey("priority", True), SortKey("waiting_since", False, datetime), SortKey("pk"))),
    "all": _View(
        keys=(
            SortKey("bucket"),
            SortKey("queue_priority", True),
            SortKey("waiting_since", False, datetime),
            SortKey("resolved_sort", True, datetime),
            SortKey("pk"),
        )
    ),
    "bot": _View(keys=(SortKey("last_activity_at", True, datetime), SortKey("pk", True))),
}


def handled_conversation(*, user: Any, conversation_id: int) -> Conversation | None:
    """The conversation if it belongs to a bot `user` handles, else None (missing or not theirs)."""
    return (
        Conversation.objects.filter(pk=conversation_id, bot__in=bots_handled_by(user))
        .select_related("bot", "assigned_agent__agent_profile")
        .first()
    )


def inbox_conversations(*, user: Any, view: str, bot_id: int | None = None) -> QuerySet[Conversation]:
    """The view's conversations of the bots `user` handles, annotated with the view's sort columns."""
    base = Conversation.objects.filter(bot__in=bots_handled_by(user))
    if bot_id is not None:
        base = base.filter(bot_id=bot_id)
    now = timezone.now()
    waiting_since = Case(
        When(status=Status.QUEUED, then=Coalesce("queued_at", "started_at")),
        When(status=Status.ASSIGNED, then=Coalesce("assigned_at", "last_activity_at")),
        default=Value(_EPOCH),
        output_field=DateTimeField(),
    )
    if view == "mine":
        rows = base.filter(status=Status.ASSIGNED, assigned_agent=user)
    elif view == "unassigned":
        rows = base.filter(status=Status.QUEUED).annotate(waiting_since=waiting_since)
    elif view == "all":
        rows = base.filter(
            Q(status__in=[Status.QUEUED, Status.ASSIGNED])
            | Q(status=Status.RESOLVED, ended_at__gte=now - RECENTLY_RESOLVED)
        ).annotate(
            bucket=Case(
                When(status=Status.QUEUED, then=Value(0)),
                When(status=Status.ASSIGNED, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            ),
            queue_priority=Case(When(status=Status.QUEUED, then=F("priority")), default=Value(0)),
            waiting_since=waiting_since,
            resolved_sort=Case(
                When(status=Status.RESOLVED, then=Coalesce("ended_at", "last_activity_at")),
                default=Value(_EPOCH),
                output_field=DateTimeField(),
            ),
        )
    elif view == "bot":
        rows = base.filter(status=Status.BOT, last_activity_at__gte=now - LIVE_WINDOW)
    else:
        raise ValueError(f"unknown view {view!r}")
    return rows.order_by(*(key.order_by for key in _VIEWS[view].keys))


def inbox_page(*, user: Any, view: str, bot_id: int | None = None, cursor: str | None = None) -> dict[str, Any]:
    """One page (PAGE_SIZE items) of a view and the cursor of the next, None on the last page.
    Raises `inbox.pagination.CursorInvalid` for a cursor this view did not hand out."""
    keys = _VIEWS[view].keys
    rows = inbox_conversations(user=user, view=view, bot_id=bot_id)
    if cursor:
        rows = rows.filter(keyset_after(keys, cursor_decode(view, keys, cursor)))
    page = list(_with_item_columns(rows, user=user)[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    return {
        "items": _items(page),
        "next_cursor": cursor_encode(view, keys, page[-1]) if more else None,
    }


def inbox_counts(*, user: Any) -> dict[str, int]:
    return {view: inbox_conversations(user=user, view=view).count() for view in VIEWS}


def inbox_item(*, user: Any, conversation_id: int) -> dict[str, Any] | None:
    """One conversation as a list item (after an action), None if it is not one of the user's bots'."""
    rows = Conversation.objects.filter(pk=conversation_id, bot__in=bots_handled_by(user))
    found = list(_with_item_columns(rows, user=user))
    return _items(found)[0] if found else None


def inbox_conversation(*, user: Any, conversation_id: int) -> dict[str, Any] | None:
    """Everything the agent sees of one conversation; None if it is not one of their bots'."""
    item = inbox_item(user=user, conversation_id=conversation_id)
    if item is None:
        return None
    conversation = Conversation.objects.get(pk=conversation_id)
    last_seq = conversation_last_seq(conversation_id=conversation_id)
    messages = [
        message_frame_for_agent(m)
        for m in messages_after(
            conversation_id=conversation_id, after_seq=max(0, last_seq - DETAIL_MESSAGES), limit=DETAIL_MESSAGES
        )
    ]
    events = ConversationEvent.objects.filter(conversation_id=conversation_id).select_related(
        "actor__agent_profile", "agent__agent_profile", "team"
    )
    notes = AgentNote.objects.filter(conversation_id=conversation_id).select_related("author__agent_profile")
    return {
        **item,
        "visitor": {"id": conversation.visitor_id, "user_id": conversation.user_id, "locale": conversation.locale},
        "slots": {k: v for k, v in ((conversation.tracker or {}).get("slots") or {}).items() if v is not None},
        "messages": messages,
        "events": [event_dict(e) for e in events],
        "notes": [note_dict(n) for n in notes],
        "brief": brief_for(conversation_id),
        "suggestion": suggestion_latest(conversation_id),
        "last_seq": last_seq,
    }


def message_frame_for_agent(message: Message) -> dict[str, Any]:
    """The widget's message frame, plus the NLU's reading of visitor messages."""
    frame = frames.message_frame(message)
    if message.role == Message.Role.USER:
        frame.update(intent=message.intent or None, confidence=message.confidence, entities=message.entities)
    return frame


def event_dict(event: ConversationEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor": _name(event.actor),
        "agent": _name(event.agent),
        "team": event.team.name if event.team else None,
        "reason": event.reason,
        "created_at": event.created_at.isoformat(),
    }


def note_dict(note: AgentNote) -> dict[str, Any]:
    return {
        "id": note.pk,
        "conversation_id": note.conversation_id,
        "author": _name(note.author),
        "text": note.text,
        "created_at": note.created_at.isoformat(),
    }


def note_for(*, user: Any, note_id: int) -> dict[str, Any] | None:
    note = (
        AgentNote.objects.filter(pk=note_id, conversation__bot__in=bots_handled_by(user))
        .select_related("author__agent_profile")
        .first()
    )
    return note_dict(note) if note is not None else None


def agent_directory(*, user: Any) -> dict[str, Any]:
    """Bots, teams and fellow agents of the bots `user` handles (the inbox's pickers). An agent's
    presence here is what routing sees: online or away only with a fresh heartbeat."""
    bots = list(bots_handled_by(user).order_by("name", "pk"))
    bot_ids = [b.pk for b in bots]
    teams = AgentTeam.objects.filter(bots__in=bot_ids).distinct().order_by("name", "pk")
    colleagues = (
        get_user_model()
        .objects.filter(agent_teams__bots__in=bot_ids, is_active=True)
        .select_related("agent_profile")
        .distinct()
        .order_by("first_name", "pk")
    )
    now = timezone.now()
    return {
        "bots": [{"id": b.pk, "name": b.name} for b in bots],
        "teams": [{"id": t.pk, "name": t.name} for t in teams],
        "agents": [
            {"id": u.pk, "name": _name(u), "presence": presence_effective(getattr(u, "agent_profile", None), now=now)}
            for u in colleagues
        ],
    }


def presence_effective(profile: AgentProfile | None, *, now: datetime) -> str:
    if profile is None or profile.last_seen_at is None or now - profile.last_seen_at >= AGENT_HEARTBEAT_FRESH:
        return AgentProfile.Presence.OFFLINE
    return profile.presence


def agent_self(*, user: Any) -> dict[str, Any]:
    """The agent as their own page shows them: the presence they chose (it survives reloads)."""
    fresh = get_user_model().objects.select_related("agent_profile").get(pk=user.pk)
    profile = getattr(fresh, "agent_profile", None)
    presence = profile.presence if profile is not None else AgentProfile.Presence.OFFLINE
    return {"id": fresh.pk, "name": _name(fresh), "presence": presence}


# --- Canned replies ------------------------------------------------------------------------------


def canned_replies_for(*, user: Any, bot_id: int | None = None) -> list[dict[str, Any]]:
    """The canned replies `user` may send (for one bot, or any bot they handle), one per shortcut:
    where shortcuts collide the most specific wins (bot and team, bot, team, everyone)."""
    rows = CannedReply.objects.filter(_canned_scope(user=user, bot_id=bot_id))
    best: dict[str, CannedReply] = {}
    for reply in sorted(rows, key=_specificity, reverse=True):
        best.setdefault(reply.shortcut, reply)
    return [
        {"id": r.pk, "shortcut": r.shortcut, "text": r.text, "bot_id": r.bot_id, "team_id": r.team_id}
        for r in sorted(best.values(), key=lambda r: r.shortcut)
    ]


def canned_reply_expand(*, user: Any, bot_id: int, text: str) -> str:
    """`text` itself, or the canned reply when the whole text is one of its shortcuts ("/refund")."""
    shortcut = text.strip().lower()
    if not shortcut.startswith("/") or len(shortcut) > 41:
        return text
    rows = CannedReply.objects.filter(_canned_scope(user=user, bot_id=bot_id), shortcut=shortcut)
    chosen = max(rows, key=_specificity, default=None)
    return chosen.text if chosen is not None else text


def _canned_scope(*, user: Any, bot_id: int | None) -> Q:
    handled = bots_handled_by(user)
    if bot_id is not None:
        handled = handled.filter(pk=bot_id)
    handled_ids = handled.values("pk")
    scope = Q(bot__isnull=True) | Q(bot__in=handled_ids)
    teams = AgentTeam.objects.filter(bots__in=handled_ids)
    if not sees_all_bots(user):
        teams = teams.filter(members=user)
    return scope & (Q(team__isnull=True) | Q(team__in=teams.values("pk")))


def _specificity(reply: CannedReply) -> tuple[int, int]:
    return (reply.bot_id is not None) * 2 + (reply.team_id is not None), reply.pk


# --- internals --------------------------------------------------------------------------------


def _with_item_columns(rows: QuerySet[Conversation], *, user: Any) -> QuerySet[Conversation]:
    """What a list item needs beyond the row, in the same query: the last message's id and the
    number of visitor messages after the user's read mark."""
    read_seq = ReadMark.objects.filter(user=user, conversation=OuterRef("pk")).values("last_seq")[:1]
    unread = (
        Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.USER, seq__gt=OuterRef("read_seq"))
        .order_by()
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_id = Message.objects.filter(conversation=OuterRef("pk")).order_by("-seq").values("pk")[:1]
    return (
        rows.select_related("bot", "team", "assigned_agent__agent_profile")
        .annotate(read_seq=Coalesce(Subquery(read_seq), 0))
        .annotate(unread=Coalesce(Subquery(unread), 0), last_message_id=Subquery(last_id))
    )


def _items(rows: list[Conversation]) -> list[dict[str, Any]]:
    last_ids = [getattr(c, "last_message_id", None) for c in rows]
    last = Message.objects.only("role", "text", "created_at").in_bulk([i for i in last_ids if i is not None])
    now = timezone.now()
    return [_item(c, last=last.get(getattr(c, "last_message_id", None) or 0), now=now) for c in rows]


def _item(conversation: Conversation, *, last: Message | None, now: datetime) -> dict[str, Any]:
    queued = conversation.status == Status.QUEUED and conversation.queued_at is not None
    waiting_s = (
        max(0, int((now - conversation.queued_at).total_seconds())) if queued and conversation.queued_at else None
    )
    agent = conversation.assigned_agent
    sla_s = conversation.team.sla_seconds_effective() if conversation.team is not None else settings.INBOX_SLA_SECONDS
    return {
        "id": conversation.pk,
        "bot": {"id": conversation.bot_id, "name": conversation.bot.name},
        "status": conversation.status,
        "priority": conversation.priority,
        "queued_at": conversation.queued_at.isoformat() if conversation.queued_at else None,
        "waiting_s": waiting_s,
        "sla_seconds": sla_s,
        "sla_breached": waiting_s is not None and waiting_s > sla_s,
        "assigned_agent": {"id": agent.pk, "name": _name(agent)} if agent is not None else None,
        "last_message": (
            {"role": last.role, "text": last.text[:LAST_MESSAGE_CHARS], "created_at": last.created_at.isoformat()}
            if last is not None
            else None
        ),
        "unread": getattr(conversation, "unread", 0),
    }


def _name(user: Any) -> str | None:
    display = agent_display(user)
    return display["name"] if display is not None else None


TICKETS_SHOWN = 50
TICKET_MESSAGE_CHARS = 1000


def tickets_open(*, user: Any) -> dict[str, Any]:
    """The offline messages visitors left for the user's bots and nobody has dealt with yet,
    oldest first (they have waited longest), with how many there are in all."""
    rows = OfflineTicket.objects.filter(bot__in=bots_handled_by(user), status=OfflineTicket.Status.OPEN)
    shown = rows.select_related("bot").order_by("created_at", "pk")[:TICKETS_SHOWN]
    return {
        "total": rows.count(),
        "items": [
            {
                "id": t.pk,
                "bot": {"id": t.bot_id, "name": t.bot.name},
                "conversation_id": t.conversation_id,
                "name": t.name,
                "email": t.email,
                "message": t.message[:TICKET_MESSAGE_CHARS],
                "created_at": t.created_at.isoformat(),
            }
            for t in shown
        ],
    }
