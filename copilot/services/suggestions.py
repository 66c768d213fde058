"""Reply suggestions: what the bot would answer to the newest visitor message, for the agent to
send, edit or discard.

Requested when a visitor message arrives while an agent has the conversation (the task
`copilot.suggestion_write` sent by name with (conversation_id,), or `suggestion_request(id,
again=False)`) and when the agent asks (`suggestion_request(id)`). The prompt is the bot's own
(`engine.nlg.build_prompt`): its persona, its knowledge passages for the visitor's message, the
conversation history with the agents' turns as the assistant's; every string in it has been through
`untrusted_text` and the per-turn data sits inside the context markers. The output is cleaned like
a bot reply (`clean_generated`: role labels and stop sequences cut; plain text kept as text, never
HTML-escaped or interpreted: the inbox renders it as text, like the widget).

Once per visitor message: a message that has a suggestion gets no second one unless the agent asks
(then the earlier pending one counts as discarded: the agent did not take it). Two tasks racing for
one message both ask the LLM, but the visitor message's row is locked while storing, so only the
first is kept. If the LLM is down nothing is stored and the inbox gets an assist error.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.db import transaction

from bots.models import Conversation, Message
from bots.selectors import bot_spec
from chatplatform.celery import task_send
from conversations.selectors import conversation_history
from copilot.editing import levenshtein_distance
from copilot.models import ReplySuggestion
from copilot.publishing import assist_publish
from copilot.selectors import suggestion_dict, visitor_message_newest
from copilot.services.completion import completion_read
from engine.nlg import DEFAULT_STOP, build_prompt, clean_generated
from engine.types import LLM, CompletionRequest, IntentScore, ParseResult, Tracker
from inference_worker.errors import LLMError
from knowledge.selectors import knowledge_retriever_for

log = structlog.get_logger(__name__)

SUGGESTION_TASK = "copilot.suggestion_write"  # args: (conversation_id, again=False)
Outcome = ReplySuggestion.Outcome


class SuggestionRefused(Exception):
    """An outcome that cannot be recorded (nothing changed). Codes: not_found, bad_frame."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def suggestion_request(conversation_id: int, *, again: bool = True) -> None:
    """Have the worker suggest a reply to the newest visitor message, once the caller's transaction
    commits. `again` (the default: the agent asked): even if that message has a suggestion already;
    `again=False` (a visitor message arrived): only if it has none."""
    transaction.on_commit(lambda: task_send(SUGGESTION_TASK, conversation_id, again))


def suggestion_write(*, conversation_id: int, llm: LLM, again: bool = False) -> ReplySuggestion | None:
    """Write, store and publish a suggestion for the newest visitor message. Without `again`, a
    message that has one already keeps it (returned, nothing published). None: no conversation or
    visitor message, or the LLM failed or said nothing (an assist error is published)."""
    conversation = Conversation.objects.select_related("bot").filter(pk=conversation_id).first()
    if conversation is None:
        log.warning("suggestion_conversation_missing", conversation_id=conversation_id)
        return None
    visitor_message = visitor_message_newest(conversation_id=conversation_id)
    if visitor_message is None:
        return None
    if not again:
        existing = ReplySuggestion.objects.filter(for_message=visitor_message).order_by("-created_at").first()
        if existing is not None:
            return existing
    bot = conversation.bot
    retriever = knowledge_retriever_for(bot)
    knowledge = list(retriever(visitor_message.text)) if retriever is not None else []
    spec = bot_spec(bot=bot)
    messages = build_prompt(
        bot=spec,
        history=conversation_history(conversation_id=conversation_id, before_seq=visitor_message.seq),
        user_text=visitor_message.text,
        parse=_stored_parse(visitor_message),
        tracker=Tracker.from_json(conversation.tracker),
        knowledge=knowledge,
    )
    request = CompletionRequest(
        messages=messages,
        max_tokens=spec.llm_max_tokens,
        temperature=spec.llm_temperature,
        stop=DEFAULT_STOP,
        model=bot.llm_model or None,
        affinity_key=str(conversation_id),  # the conversation's backend: the turns' prefix is cached there
    )
    try:
        completion = completion_read(llm=llm, request=request, default_model=settings.VLLM_MODEL)
    except LLMError as exc:
        log.warning("suggestion_llm_failed", conversation_id=conversation_id, error=str(exc), code=exc.code)
        assist_publish(conversation_id=conversation_id, update=_error(conversation_id, "unavailable"))
        return None
    text = clean_generated(completion.text, stop=DEFAULT_STOP, labels=("assistant", "bot", bot.name))
    if not text:
        log.warning("suggestion_empty", conversation_id=conversation_id)
        assist_publish(conversation_id=conversation_id, update=_error(conversation_id, "empty"))
        return None
    return _suggestion_store(visitor_message=visitor_message, text=text, model=completion.model, again=again)


def _suggestion_store(*, visitor_message: Message, text: str, model: str, again: bool) -> ReplySuggestion | None:
    with transaction.atomic():
        # FOR NO KEY UPDATE: serialises the suggestions of this message without blocking the reply
        # or annotation writes on it (they take FOR KEY SHARE / update non-key columns elsewhere).
        locked = Message.objects.select_for_update(no_key=True).filter(pk=visitor_message.pk).first()
        if locked is None:  # deleted meanwhile (the conversation was erased)
            return None
        earlier = ReplySuggestion.objects.filter(for_message=visitor_message)
        if not again:
            first = earlier.order_by("created_at").first()
            if first is not None:  # another task stored one while we waited for the LLM
                return first
        else:
            earlier.filter(outcome=Outcome.PENDING).update(outcome=Outcome.DISCARDED)
        suggestion = ReplySuggestion.objects.create(
            conversation_id=visitor_message.conversation_id, for_message=visitor_message, text=text, model=model
        )
        update = suggestion_dict(suggestion)
        conversation_id = visitor_message.conversation_id
        transaction.on_commit(lambda: assist_publish(conversation_id=conversation_id, update=update))
    log.info("suggestion_written", conversation_id=conversation_id, message_id=visitor_message.pk, chars=len(text))
    return suggestion


def _stored_parse(message: Message) -> ParseResult | None:
    """The NLU result stored on the message, for the prompt's "Detected intent" line."""
    if not message.intent:
        return None
    confidence = message.confidence if message.confidence is not None else 0.0
    intent = IntentScore(name=message.intent, confidence=confidence)
    return ParseResult(text=message.text, intent=intent, ranking=[intent], entities=[])


def _error(conversation_id: int, error: str) -> dict[str, object]:
    return {"kind": "suggestion", "conversation_id": conversation_id, "error": error}


def suggestion_outcome_record(
    suggestion_id: int, outcome: str, sent_text: str = "", *, conversation_id: int | None = None
) -> ReplySuggestion:
    """What the agent did with a suggestion: "sent", "edited" (both with the text they sent; the
    stored outcome follows the text: identical is sent with distance 0, different is edited with the
    character Levenshtein distance) or "discarded". `conversation_id`, when given, must be the
    suggestion's (the inbox passes the open conversation). The first outcome stays: a second call
    returns the suggestion unchanged. Raises `SuggestionRefused`."""
    if outcome not in (Outcome.SENT, Outcome.EDITED, Outcome.DISCARDED):
        raise SuggestionRefused("bad_frame", "outcome must be sent, edited or discarded")
    if not isinstance(sent_text, str):
        raise SuggestionRefused("bad_frame", "sent_text must be a string")
    with transaction.atomic():
        rows = ReplySuggestion.objects.select_for_update().filter(pk=suggestion_id)
        if conversation_id is not None:
            rows = rows.filter(conversation_id=conversation_id)
        suggestion = rows.first()
        if suggestion is None:
            raise SuggestionRefused("not_found", "no such suggestion")
        if suggestion.outcome != Outcome.PENDING:
            return suggestion
        if outcome == Outcome.DISCARDED:
            suggestion.outcome = Outcome.DISCARDED
        else:
            sent = sent_text.strip() or (suggestion.text if outcome == Outcome.SENT else "")
            if not sent:
                raise SuggestionRefused("bad_frame", "an edited suggestion needs the text that was sent")
            distance = levenshtein_distance(suggestion.text.strip(), sent)
            suggestion.edit_distance = distance
            suggestion.outcome = Outcome.SENT if distance == 0 else Outcome.EDITED
            suggestion.sent_text = "" if distance == 0 else sent
        suggestion.save(update_fields=["outcome", "sent_text", "edit_distance"])
    return suggestion
