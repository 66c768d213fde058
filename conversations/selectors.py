"""Reads of live conversations: by visitor token (and the visitor it names), replays, the history the LLM sees."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core import signing
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from bots.models import AgentProfile, Bot, Conversation, Message
from conversations.visitor_tokens import VISITOR_TOKEN_SALT
from engine.business_hours import business_hours_open
from engine.types import ChatMessage

HISTORY_MESSAGES = 20


class VisitorTokenInvalid(Exception):
    pass


class VisitorTokenExpired(VisitorTokenInvalid):
    """Correctly signed but older than VISITOR_TOKEN_MAX_AGE_DAYS."""


# What signing.dumps produces: URL-safe base64, ":" separators, "." for a compressed payload. Anything
# else (lone surrogates, NUL, other scripts) is refused before it reaches the signer, which would
# raise UnicodeEncodeError on a surrogate; real tokens are about 100 characters.
_VISITOR_TOKEN = re.compile(r"[A-Za-z0-9_\-:.]{1,512}")


_PK_MAX = 2**63 - 1


_VISITOR_ID_MAX = 64


@dataclass(frozen=True)
class TokenVisitor:
    """Who a visitor token speaks for: the visitor and, once it exists, their conversation."""

    visitor_id: str
    conversation: Conversation | None


def visitor_from_token(*, bot: Bot, token: str) -> TokenVisitor:
    """The visitor (and conversation) a visitor token names. Raises VisitorTokenExpired for an old
    token and VisitorTokenInvalid for anything else that is not a token this server issued for this
    bot. A conversation token whose conversation is gone is invalid; a pending token (`"c": null`)
    names the visitor's conversation if their first message created one since, else none."""
    if not isinstance(token, str) or not _VISITOR_TOKEN.fullmatch(token):
        raise VisitorTokenInvalid("visitor token is malformed")
    max_age = timedelta(days=settings.VISITOR_TOKEN_MAX_AGE_DAYS)
    try:
        claims = signing.loads(token, salt=VISITOR_TOKEN_SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise VisitorTokenExpired("visitor token expired") from exc
    except signing.BadSignature as exc:
        raise VisitorTokenInvalid("visitor token is invalid") from exc
    except (ValueError, TypeError, OverflowError, zlib.error) as exc:
        # Only reachable with a correctly signed payload that is not our JSON (a key leak, or a token
        # from another app sharing SECRET_KEY and salt): still a refusal, never a crash.
        raise VisitorTokenInvalid("visitor token payload is malformed") from exc
    bot_id, conversation_id, visitor_id = _claims(claims)
    if bot_id != bot.pk:
        raise VisitorTokenInvalid("visitor token belongs to another bot")
    if conversation_id is None:
        return TokenVisitor(visitor_id=visitor_id, conversation=conversation_of_visitor(bot=bot, visitor_id=visitor_id))
    conversation = (
        Conversation.objects.select_related("bot").filter(pk=conversation_id, bot=bot, visitor_id=visitor_id).first()
    )
    if conversation is None:
        raise VisitorTokenInvalid("conversation not found")
    return TokenVisitor(visitor_id=visitor_id, conversation=conversation)


def conversation_from_visitor_token(*, bot: Bot, token: str) -> Conversation:
    """The conversation a visitor token opens; VisitorTokenInvalid also for a pending token whose
    visitor has no conversation yet (see visitor_from_token)."""
    conversation = visitor_from_token(bot=bot, token=token).conversation
    if conversation is None:
        raise VisitorTokenInvalid("the visitor has no conversation yet")
    return conversation


def conversation_of_visitor(*, bot: Bot, visitor_id: str) -> Conversation | None:
    """The conversation a pending visitor's first message created (the oldest, should there be two)."""
    return (
        Conversation.objects.select_related("bot")
        .filter(bot=bot, visitor_id=visitor_id)
        .order_by("started_at", "pk")
        .first()
    )


def _claims(claims: object) -> tuple[int, int | None, str]:
    """(bot id, conversation id or None for a pending token, visitor id) with exact types: a float or
    bool would compare equal to a pk, and a list or NUL byte would make the query itself fail. A
    pending token has `"c": null`; a missing "c" is malformed."""
    if not isinstance(claims, dict):
        raise VisitorTokenInvalid("visitor token claims are not an object")
    bot_id, conversation_id, visitor_id = claims.get("b"), claims.get("c"), claims.get("v")
    if "c" not in claims:
        raise VisitorTokenInvalid("visitor token claims are malformed")
    for pk in (bot_id, conversation_id) if conversation_id is not None else (bot_id,):
        if type(pk) is not int or not 0 < pk <= _PK_MAX:
            raise VisitorTokenInvalid("visitor token claims are malformed")
    if (
        not isinstance(visitor_id, str)
        or not 0 < len(visitor_id) <= _VISITOR_ID_MAX
        or not visitor_id.isascii()
        or not visitor_id.isprintable()
    ):
        raise VisitorTokenInvalid("visitor token claims are malformed")
    return cast(int, bot_id), cast("int | None", conversation_id), visitor_id  # checked above: exact ints


# Visitor messages the bot never answers: imported history, and what people had (the agents' turn).
UNANSWERED_ACTIONS = ("imported", "for_agent")


def messages_owed_a_reply() -> QuerySet[Message]:
    """Visitor messages the bot still owes a reply (the turn service and the sweeper agree on it)."""
    return Message.objects.filter(role=Message.Role.USER, reply__isnull=True).exclude(action__in=UNANSWERED_ACTIONS)


def messages_after(*, conversation_id: int, after_seq: int, limit: int = 500) -> list[Message]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq)
        .select_related("author__agent_profile")
        .order_by("seq")[:limit]
    )


def conversation_last_seq(*, conversation_id: int) -> int:
    last = (
        Message.objects.filter(conversation_id=conversation_id).order_by("-seq").values_list("seq", flat=True).first()
    )
    return last or 0


def conversation_history(*, conversation_id: int, before_seq: int, limit: int = HISTORY_MESSAGES) -> list[ChatMessage]:
    """The most recent messages before `before_seq`, oldest first, as the LLM sees them. Replies to
    earlier messages count even when stored after `before_seq` (the visitor wrote again while the
    previous reply was streaming: that reply is part of what the visitor has seen)."""
    rows = list(
        Message.objects.filter(conversation_id=conversation_id)
        .filter(Q(seq__lt=before_seq) | Q(role=Message.Role.BOT, reply_to__seq__lt=before_seq))
        .order_by("-seq")
        .values_list("role", "text")[:limit]
    )
    rows.reverse()
    return [ChatMessage(role="user" if role == Message.Role.USER else "assistant", content=text) for role, text in rows]


# --- Handoff: who can come, where the visitor is in the queue -----------------------------------

# An "online" agent whose inbox page sent no heartbeat for this long is not counted: a closed laptop
# must not keep visitors waiting for nobody.
AGENT_HEARTBEAT_FRESH = timedelta(seconds=120)
# Expected waits come from the bot's recent handoffs; fewer than this and the widget shows no estimate.
WAIT_SAMPLE_MIN = 3
WAIT_SAMPLE_WINDOW = timedelta(days=7)


def agent_display(user: Any) -> dict[str, str] | None:
    """An agent as visitors see them: a name and an avatar (never the login or the e-mail)."""
    if user is None:
        return None
    profile = getattr(user, "agent_profile", None)
    name = (profile.display_name if profile else "") or user.first_name or "Support agent"
    return {"name": name, "avatar_url": profile.avatar_url if profile else ""}


def agents_online(*, bot_id: int, now: datetime | None = None) -> QuerySet[Any]:
    """Members of the bot's teams who are online (or away) with a fresh heartbeat."""
    now = now or timezone.now()
    return AgentProfile.objects.filter(
        user__agent_teams__bots=bot_id,
        user__is_active=True,
        presence__in=[AgentProfile.Presence.ONLINE, AgentProfile.Presence.AWAY],
        last_seen_at__gte=now - AGENT_HEARTBEAT_FRESH,
    ).distinct()


def handoff_available(*, bot: Bot, now: datetime | None = None) -> bool:
    """Whether a person can be offered now: inside business hours and someone of the bot's teams is
    on duty. When not, the bot says so and offers the offline form instead of a queue."""
    now = now or timezone.now()
    return business_hours_open(bot.business_hours, now) and agents_online(bot_id=bot.pk, now=now).exists()


def queue_position(*, conversation: Conversation) -> int | None:
    """1 = next to be served. Higher priority first, then the longest waiting."""
    if conversation.status != Conversation.Status.QUEUED or conversation.queued_at is None:
        return None
    ahead = Conversation.objects.filter(bot_id=conversation.bot_id, status=Conversation.Status.QUEUED).filter(
        Q(priority__gt=conversation.priority) | Q(priority=conversation.priority, queued_at__lt=conversation.queued_at)
    )
    return ahead.count() + 1


def expected_wait_seconds(*, conversation: Conversation, position: int | None) -> int | None:
    """Median wait of the bot's recent handoffs times the position; None without enough history."""
    if position is None:
        return None
    since = timezone.now() - WAIT_SAMPLE_WINDOW
    rows = (
        Conversation.objects.filter(bot_id=conversation.bot_id, queued_at__gte=since, assigned_at__gt=F("queued_at"))
        .order_by("-assigned_at")
        .values_list("queued_at", "assigned_at")[:50]
    )
    waits = sorted((assigned - queued).total_seconds() for queued, assigned in rows if queued and assigned)
    if len(waits) < WAIT_SAMPLE_MIN:
        return None
    return round(waits[len(waits) // 2] * position)


NOTICE_TEXT_CHARS = 140


def conversation_notice(*, conversation: Conversation) -> dict[str, str]:
    """What an inbox notification says about a conversation: its bot and the visitor's last words.
    Read once when a change is published, so no inbox page queries it per update."""
    last = (
        Message.objects.filter(conversation_id=conversation.pk, role=Message.Role.USER)
        .order_by("-seq")
        .values_list("text", flat=True)
        .first()
    )
    return {"bot": conversation.bot.name, "text": (last or "")[:NOTICE_TEXT_CHARS]}


def handoff_state(*, conversation: Conversation) -> dict[str, Any]:
    """The `handoff` object of the widget protocol (docs/protocol.md)."""
    position = queue_position(conversation=conversation)
    agent = conversation.assigned_agent if conversation.status == Conversation.Status.ASSIGNED else None
    return {
        "status": conversation.status,
        "position": position,
        "expected_wait_s": expected_wait_seconds(conversation=conversation, position=position),
        "agent": agent_display(agent),
    }
