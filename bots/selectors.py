"""Reads: bots by key, conversations by visitor token, replays, and the pipeline's view of a bot."""

from __future__ import annotations

from django.core import signing
from django.db.models import Prefetch

from bots.models import Bot, Conversation, FormSlot, Intent, Message, ResponseTemplate
from bots.pipeline.types import BotSpec, ChatMessage, IntentSpec, ResponseVariant, SlotSpec
from bots.services.conversations import VISITOR_TOKEN_SALT

HISTORY_MESSAGES = 20


class VisitorTokenInvalid(Exception):
    pass


def bot_get_active_by_public_key(*, public_key: str) -> Bot | None:
    return Bot.objects.filter(public_key=public_key, is_active=True).first()


def bot_origin_allowed(*, bot: Bot, origin: str | None) -> bool:
    """Exact match of scheme://host[:port]; missing, 'null' and look-alikes are refused."""
    if not origin or origin == "null":
        return False
    return origin.rstrip("/") in {o.rstrip("/") for o in bot.allowed_origins}


def conversation_from_visitor_token(*, bot: Bot, token: str) -> Conversation:
    try:
        claims = signing.loads(token, salt=VISITOR_TOKEN_SALT)
    except signing.BadSignature as exc:
        raise VisitorTokenInvalid("visitor token is invalid") from exc
    if not isinstance(claims, dict) or claims.get("b") != bot.pk:
        raise VisitorTokenInvalid("visitor token belongs to another bot")
    conversation = Conversation.objects.select_related("bot").filter(
        pk=claims.get("c"), bot=bot, visitor_id=claims.get("v")).first()
    if conversation is None:
        raise VisitorTokenInvalid("conversation not found")
    return conversation


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
