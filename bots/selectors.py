"""Reads: bots by key, conversations by visitor token, replays, and the pipeline's view of a bot."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from bots.models import Bot, FormSlot, Intent, ResponseTemplate
from engine.types import BotSpec, IntentSpec, ResponseVariant, SlotSpec


def bot_get_active_by_public_key(*, public_key: str) -> Bot | None:
    return Bot.objects.filter(public_key=public_key, is_active=True).first()


def bot_origin_allowed(*, bot: Bot, origin: str | None) -> bool:
    """Exact match of scheme://host[:port]; missing, 'null' and look-alikes are refused."""
    if not origin or origin == "null":
        return False
    return origin.rstrip("/") in {o.rstrip("/") for o in bot.allowed_origins}


def bot_spec(*, bot: Bot) -> BotSpec:
    intents = (
        Intent.objects.filter(bot=bot)
        .select_related("action")
        .prefetch_related(
            Prefetch("responses", queryset=ResponseTemplate.objects.order_by("position", "id")),
            Prefetch("form_slots", queryset=FormSlot.objects.order_by("position", "id")),
        )
    )
    return BotSpec(
        slug=bot.slug,
        name=bot.name,
        persona=bot.persona,
        greeting=bot.greeting,
        fallback_text=bot.fallback_text,
        handoff_text=bot.handoff_text,
        nlu_threshold=bot.nlu_threshold,
        fallbacks_before_handoff=bot.fallbacks_before_handoff,
        generate_when_out_of_scope=bot.generate_when_out_of_scope,
        llm_temperature=bot.llm_temperature,
        llm_max_tokens=bot.llm_max_tokens,
        knowledge_min_similarity=bot.knowledge_min_similarity,
        knowledge_top_k=bot.knowledge_top_k,
        answer_without_knowledge=bot.answer_without_knowledge,
        no_answer_text=bot.no_answer_text,
        faq_min_similarity=bot.faq_min_similarity,
        intents={
            i.name: IntentSpec(
                name=i.name,
                response_mode=i.response_mode,  # type: ignore[arg-type]
                responses=tuple(
                    ResponseVariant(text=r.text, quick_replies=tuple(r.quick_replies)) for r in i.responses.all()
                ),
                form_slots=tuple(SlotSpec(name=s.name, entity=s.entity, prompt=s.prompt) for s in i.form_slots.all()),
                hands_off=i.hands_off,
                # An inactive action is as good as none: the intent answers with its templates.
                action=i.action.name if i.action is not None and i.action.is_active else None,
            )
            for i in intents
        },
    )


def bot_display_config(bot: Bot) -> dict[str, Any]:
    return {
        "name": bot.name,
        "title": bot.widget_title or bot.name,
        "color": bot.widget_color,
        "position": bot.widget_position,
        "avatar_url": bot.avatar_url,
        "greeting": bot.greeting,
        "language": bot.language,
    }
