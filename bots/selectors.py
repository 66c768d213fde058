"""Reads: bots by key, conversations by visitor token, replays, and the pipeline's view of a bot."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from django.conf import settings
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


# Each turn needs the bot's intents, responses and forms: three queries for rows that change when
# an admin edits them, not per message. A worker process keeps the spec of its recent bots, keyed
# by the bot row's stamp: `updated_at` (bumped by bots/signals.py whenever an intent, response,
# form slot or action changes) and `nlu_data_version` (bumped by imports and training-data edits).
# The turn reads the bot row fresh in its claim, so an edit reaches the next turn in every process.
_spec_cache: OrderedDict[int, tuple[tuple[datetime | None, int], BotSpec]] = OrderedDict()
_spec_cache_lock = threading.Lock()


def bot_spec(*, bot: Bot) -> BotSpec:
    """The pipeline's view of `bot`, as of the bot row's stamp (see above)."""
    size = settings.BOT_SPEC_CACHE_SIZE
    if bot.pk is None or size <= 0:
        return _bot_spec_read(bot)
    stamp = (bot.updated_at, bot.nlu_data_version)
    with _spec_cache_lock:
        cached = _spec_cache.get(bot.pk)
        if cached is not None and cached[0] == stamp:
            _spec_cache.move_to_end(bot.pk)
            return cached[1]
    spec = _bot_spec_read(bot)
    with _spec_cache_lock:
        _spec_cache[bot.pk] = (stamp, spec)
        _spec_cache.move_to_end(bot.pk)
        while len(_spec_cache) > size:
            _spec_cache.popitem(last=False)
    return spec


def _bot_spec_read(bot: Bot) -> BotSpec:
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
