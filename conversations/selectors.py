"""Reads of live conversations: by visitor token (and the visitor it names), replays, the history the LLM sees."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.core import signing
from django.db.models import Q

from bots.models import Bot, Conversation, Message
from conversations.visitor_tokens import VISITOR_TOKEN_SALT
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


def messages_after(*, conversation_id: int, after_seq: int, limit: int = 500) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq).order_by("seq")[:limit])


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
