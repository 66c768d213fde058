"""Reads: bots by key, conversations by visitor token, replays, and the pipeline's view of a bot."""

from __future__ import annotations

import re
import zlib
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db.models import Prefetch

from bots.models import Bot, Conversation, FormSlot, Intent, Message, ResponseTemplate
from bots.pipeline.types import BotSpec, ChatMessage, IntentSpec, ResponseVariant, SlotSpec
from bots.services.conversations import VISITOR_TOKEN_SALT

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


def bot_get_active_by_public_key(*, public_key: str) -> Bot | None:
    return Bot.objects.filter(public_key=public_key, is_active=True).first()


def bot_origin_allowed(*, bot: Bot, origin: str | None) -> bool:
    """Exact match of scheme://host[:port]; missing, 'null' and look-alikes are refused."""
    if not origin or origin == "null":
        return False
    return origin.rstrip("/") in {o.rstrip("/") for o in bot.allowed_origins}


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
    conversation = Conversation.objects.select_related("bot").filter(
        pk=conversation_id, bot=bot, visitor_id=visitor_id).first()
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
    if (not isinstance(visitor_id, str) or not 0 < len(visitor_id) <= _VISITOR_ID_MAX
            or not visitor_id.isascii() or not visitor_id.isprintable()):
        raise VisitorTokenInvalid("visitor token claims are malformed")
    return bot_id, conversation_id, visitor_id


def messages_after(*, conversation_id: int, after_seq: int, limit: int = 500) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id, seq__gt=after_seq).order_by("seq")[:limit])


def conversation_last_seq(*, conversation_id: int) -> int:
    last = Message.objects.filter(conversation_id=conversation_id).order_by("-seq").values_list("seq", flat=True).first()
    return last or 0


def conversation_history(*, conversation_id: int, before_seq: int, limit: int = HISTORY_MESSAGES) -> list[ChatMessage]:
    """The most recent messages before `before_seq`, oldest first, as the LLM sees them."""
    rows = list(Message.objects.filter(conversation_id=conversation_id, seq__lt=before_seq)
                .order_by("-seq").values_list("role", "text")[:limit])
    rows.reverse()
    return [ChatMessage(role="user" if role == Message.Role.USER else "assistant", content=text) for role, text in rows]


def bot_spec(*, bot: Bot) -> BotSpec:
    intents = Intent.objects.filter(bot=bot).prefetch_related(
        Prefetch("responses", queryset=ResponseTemplate.objects.order_by("position", "id")),
        Prefetch("form_slots", queryset=FormSlot.objects.order_by("position", "id")),
    )
    return BotSpec(
        slug=bot.slug, name=bot.name, persona=bot.persona, greeting=bot.greeting, fallback_text=bot.fallback_text,
        handoff_text=bot.handoff_text, nlu_threshold=bot.nlu_threshold,
        fallbacks_before_handoff=bot.fallbacks_before_handoff,
        generate_when_out_of_scope=bot.generate_when_out_of_scope, llm_temperature=bot.llm_temperature,
        llm_max_tokens=bot.llm_max_tokens,
        intents={
            i.name: IntentSpec(
                name=i.name, response_mode=i.response_mode,  # type: ignore[arg-type]
                responses=tuple(ResponseVariant(text=r.text, quick_replies=tuple(r.quick_replies)) for r in i.responses.all()),
                form_slots=tuple(SlotSpec(name=s.name, entity=s.entity, prompt=s.prompt) for s in i.form_slots.all()),
            )
            for i in intents
        },
    )
