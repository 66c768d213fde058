"""Reads of live conversations: by visitor token, replays, the history the LLM sees."""

from __future__ import annotations

import re
import zlib
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.core import signing

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


def conversation_from_visitor_token(*, bot: Bot, token: str) -> Conversation:
    """The conversation a visitor token opens. Raises VisitorTokenExpired for an old token and
    VisitorTokenInvalid for anything else that is not a token this server issued for this bot."""
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
    conversation = (
        Conversation.objects.select_related("bot").filter(pk=conversation_id, bot=bot, visitor_id=visitor_id).first()
    )
    if conversation is None:
        raise VisitorTokenInvalid("conversation not found")
    return conversation


def _claims(claims: object) -> tuple[int, int, str]:
    """(bot id, conversation id, visitor id) with exact types: a float or bool would compare equal
    to a pk, and a list or NUL byte would make the query itself fail."""
    if not isinstance(claims, dict):
        raise VisitorTokenInvalid("visitor token claims are not an object")
    bot_id, conversation_id, visitor_id = claims.get("b"), claims.get("c"), claims.get("v")
    for pk in (bot_id, conversation_id):
        if type(pk) is not int or not 0 < pk <= _PK_MAX:
            raise VisitorTokenInvalid("visitor token claims are malformed")
    if (
        not isinstance(visitor_id, str)
        or not 0 < len(visitor_id) <= _VISITOR_ID_MAX
        or not visitor_id.isascii()
        or not visitor_id.isprintable()
    ):
        raise VisitorTokenInvalid("visitor token claims are malformed")
    return cast(int, bot_id), cast(int, conversation_id), visitor_id  # checked above: exact ints


def messages_after(*, conversation_id: int, after_seq: int, limit: int = 500) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq).order_by("seq")[:limit])


def conversation_last_seq(*, conversation_id: int) -> int:
    last = (
        Message.objects.filter(conversation_id=conversation_id).order_by("-seq").values_list("seq", flat=True).first()
    )
    return last or 0


def conversation_history(*, conversation_id: int, before_seq: int, limit: int = HISTORY_MESSAGES) -> list[ChatMessage]:
    """The most recent messages before `before_seq`, oldest first, as the LLM sees them."""
    rows = list(
        Message.objects.filter(conversation_id=conversation_id, seq__lt=before_seq)
        .order_by("-seq")
        .values_list("role", "text")[:limit]
    )
    rows.reverse()
    return [ChatMessage(role="user" if role == Message.Role.USER else "assistant", content=text) for role, text in rows]
