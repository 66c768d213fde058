"""The one turn service: every entry point (widget, OpenAI-compatible API, admin console) ends here.

`turn_run` answers one stored visitor message: NLU -> dialogue -> NLG through the plain-Python
`TurnProcessor`, the reply stored once, events published after commit. It holds the
conversation's row lock for the whole turn, so two messages of one conversation never
interleave (the visitor's next message is still stored and acked meanwhile: storing takes no
conversation lock, see `message_insert_next_seq`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bots.models import Bot, Conversation, Message
from bots.selectors import bot_spec
from conversations.selectors import conversation_history
from conversations.services.sequencing import message_insert_next_seq
from engine.processor import TurnProcessor
from engine.types import LLM, BotSpec, ParseResult, Reply, Tracker
from inference_worker.errors import LLMError
from knowledge.selectors import knowledge_retriever_for
from nlu.services.parsing import nlu_parse

log = structlog.get_logger(__name__)
# Stored as the reply when the LLM failed (after retries, or mid-stream): honest, not the NLU
# fallback text ("I didn't understand"), which would blame the visitor.
REPLY_FAILED_TEXT = _("Sorry, I couldn't finish that answer just now. Please try again in a moment.")


class TurnEvents(Protocol):
    """Where a turn's live output goes (the channel layer in production, a list in tests)."""

    def typing(self, *, conversation_id: int, on: bool) -> None: ...
    def delta(self, *, conversation_id: int, reply_to: int, offset: int, text: str) -> None: ...
    def message(self, *, message: Message) -> None: ...
    def error(self, *, conversation_id: int, code: str, detail: str, reply_to: int) -> None: ...


NluParser = Callable[[Bot, str], ParseResult]


def _nlu_for(bot: Bot) -> Callable[[str], ParseResult]:
    def parse(text: str) -> ParseResult:
        if not bot.intents.exists():
            return ParseResult(text=text, intent=None, ranking=[], entities=[])
        return nlu_parse(bot=bot, text=text)

    return parse


@dataclasses.dataclass(frozen=True)
class TurnOptions:
    """Per-request overrides (the OpenAI-compatible API's temperature and max_tokens)."""

    temperature: float | None = None
    max_tokens: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TurnOptions:
        data = data or {}
        return cls(temperature=data.get("temperature"), max_tokens=data.get("max_tokens"))

    def apply(self, spec: BotSpec) -> BotSpec:
        changes: dict[str, Any] = {}
        if self.temperature is not None:
            changes["llm_temperature"] = float(self.temperature)
        if self.max_tokens is not None:
            changes["llm_max_tokens"] = int(self.max_tokens)
        return dataclasses.replace(spec, **changes) if changes else spec


def turn_run(
    *,
    user_message_id: int,
    events: TurnEvents,
    llm: LLM,
    nlu: Callable[[Bot], Callable[[str], ParseResult]] = _nlu_for,
    coalesce_ms: int = 40,
    options: TurnOptions | None = None,
) -> Message | None:
    """Answer one visitor message. Idempotent: a message that already has its reply is a no-op
    (Celery may deliver a turn twice: acks_late, a worker killed mid-turn)."""
    started = time.monotonic()
    with transaction.atomic():
        user_message = Message.objects.filter(pk=user_message_id, role=Message.Role.USER).first()
        if user_message is None:
            log.warning("turn_message_missing", message_id=user_message_id)
            return None
        # Lock: one turn per conversation at a time (Rasa's lock store, done with the row lock).
        # `of=("self",)`: FOR UPDATE on a join would also lock the bot's row and serialise every
        # conversation of the bot (bench/chat_latency.py measured exactly that before this).
        # `no_key=True`: FOR NO KEY UPDATE does not block the FOR KEY SHARE lock that inserting a
        # Message (FK to this row) takes, so the visitor's next message is stored and acked meanwhile.
        conversation = (
            Conversation.objects.select_for_update(of=("self",), no_key=True)
            .select_related("bot")
            .get(pk=user_message.conversation_id)
        )
        existing = Message.objects.filter(reply_to=user_message).first()
        if existing is not None:
            return existing
        bot = conversation.bot
        processor = TurnProcessor(nlu=nlu(bot), llm=llm, retriever=knowledge_retriever_for(bot))
        events.typing(conversation_id=conversation.pk, on=True)

        def on_delta(offset: int, text: str) -> None:
            events.delta(conversation_id=conversation.pk, reply_to=user_message.pk, offset=offset, text=text)

        try:
            outcome = processor.run(
                bot=(options or TurnOptions()).apply(bot_spec(bot=bot)),
                tracker=Tracker.from_json(conversation.tracker),
                history=conversation_history(conversation_id=conversation.pk, before_seq=user_message.seq),
                user_text=user_message.text,
                on_delta=on_delta,
                coalesce_ms=coalesce_ms,
                model=bot.llm_model or None,
            )
            reply, tracker = outcome.reply, outcome.tracker
            _user_message_annotate(user_message=user_message, parse=outcome.parse)
        except LLMError as exc:
            log.warning("turn_llm_failed", conversation_id=conversation.pk, error=str(exc), code=exc.code)
            reply = Reply(text=str(REPLY_FAILED_TEXT), action="llm_error")
            tracker = Tracker.from_json(conversation.tracker)
            conversation_id, reply_to = conversation.pk, user_message.pk
            transaction.on_commit(
                lambda: events.error(
                    conversation_id=conversation_id,
                    code="reply_failed",
                    reply_to=reply_to,
                    detail="The assistant could not finish this reply. Please try again.",
                )
            )
        stored = _reply_store(
            conversation=conversation,
            user_message=user_message,
            reply=reply,
            total_ms=int((time.monotonic() - started) * 1000),
        )
        conversation.tracker = tracker.to_json()
        conversation.last_activity_at = timezone.now()
        if reply.action == "handoff":  # the visitor accepted the offer of a person
            conversation.status = Conversation.Status.HANDOFF
        conversation.save(update_fields=["tracker", "last_activity_at", "status"])
        transaction.on_commit(lambda: events.message(message=stored))
    log.info(
        "turn_done",
        conversation_id=conversation.pk,
        action=reply.action,
        intent=reply.intent,
        ttft_ms=reply.time_to_first_token_ms,
        total_ms=stored.total_time_ms,
    )
    return stored


def _reply_store(*, conversation: Conversation, user_message: Message, reply: Reply, total_ms: int) -> Message:
    return message_insert_next_seq(
        conversation_id=conversation.pk,
        role=Message.Role.BOT,
        text=reply.text,
        reply_to=user_message,
        intent=reply.intent or "",
        confidence=reply.confidence,
        entities=reply.entities,
        action=reply.action,
        model=reply.model,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        time_to_first_token_ms=reply.time_to_first_token_ms,
        total_time_ms=total_ms,
        quick_replies=list(reply.quick_replies),
        citations=[{"title": c.title, "url": c.url} for c in reply.citations],
    )


def _user_message_annotate(*, user_message: Message, parse: ParseResult) -> None:
    """Keep the NLU result on the visitor's message too: analysts correct intents there."""
    top = parse.intent or (parse.ranking[0] if parse.ranking else None)
    Message.objects.filter(pk=user_message.pk).update(
        intent=parse.intent.name if parse.intent else "",
        confidence=round(top.confidence, 4) if top else None,
        entities=[e.as_dict() for e in parse.entities],
    )
