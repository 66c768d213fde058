"""The handoff brief: the LLM's summary of a conversation for the agent who takes it over.

Requested when a conversation is queued (the inbox's routing task calls `brief_request`), written
in the worker (`copilot.brief_write`), published to the conversation's inbox group after commit.
Only the summary is stored; the structured facts next to it are read live (`copilot.selectors`).
A brief that already covers the newest message is not written again (the routing runs at every
queueing: a conversation returned to the bot and queued again without a new message keeps its
brief). If the LLM is down nothing is stored and the open inbox pages get an assist error.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.db import transaction

from bots.models import Conversation, Message
from chatplatform.celery import task_send
from copilot.models import HandoffBrief
from copilot.prompts import Speaker, TranscriptLine, brief_prompt
from copilot.publishing import assist_publish
from copilot.selectors import brief_for, brief_latest
from copilot.services.completion import completion_read
from engine.nlg import DEFAULT_STOP, clean_generated
from engine.types import LLM, CompletionRequest
from inference_worker.errors import LLMError

log = structlog.get_logger(__name__)

BRIEF_TASK = "copilot.brief_write"
BRIEF_MAX_TOKENS = 200
BRIEF_TEMPERATURE = 0.2  # a summary, not a conversation: little variety wanted
BRIEF_MESSAGES = 60  # newest messages read; the prompt keeps those that fit its budget

_SPEAKERS: dict[str, Speaker] = {Message.Role.USER: "Visitor", Message.Role.BOT: "Bot", Message.Role.AGENT: "Agent"}


def brief_request(conversation_id: int) -> None:
    """Have the worker write the conversation's brief, once the caller's transaction commits."""
    transaction.on_commit(lambda: task_send(BRIEF_TASK, conversation_id))


def brief_write(*, conversation_id: int, llm: LLM) -> HandoffBrief | None:
    """Write, store and publish the brief. Returns the brief that covers the conversation now (the
    existing one when nothing was said since), or None: no conversation or no message yet, or the
    LLM failed or said nothing (then an assist error is published and nothing is stored)."""
    conversation = Conversation.objects.select_related("bot").filter(pk=conversation_id).first()
    if conversation is None:
        log.warning("brief_conversation_missing", conversation_id=conversation_id)
        return None
    rows = list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("-seq")
        .values_list("seq", "role", "text")[:BRIEF_MESSAGES]
    )
    if not rows:
        return None
    rows.reverse()
    for_seq = rows[-1][0]
    existing = brief_latest(conversation_id=conversation_id)
    if existing is not None and existing.for_seq >= for_seq:
        return existing
    bot = conversation.bot
    request = CompletionRequest(
        messages=brief_prompt(
            lines=[TranscriptLine(speaker=_SPEAKERS[role], text=text) for _, role, text in rows if role in _SPEAKERS],
            locale=conversation.locale,
        ),
        max_tokens=BRIEF_MAX_TOKENS,
        temperature=BRIEF_TEMPERATURE,
        stop=DEFAULT_STOP,
        model=bot.llm_model or None,
        affinity_key=str(conversation_id),  # the conversation's backend: its prefix cache is warm
    )
    try:
        completion = completion_read(llm=llm, request=request, default_model=settings.VLLM_MODEL)
    except LLMError as exc:
        log.warning("brief_llm_failed", conversation_id=conversation_id, error=str(exc), code=exc.code)
        assist_publish(conversation_id=conversation_id, update=_error(conversation_id, "unavailable"))
        return None
    summary = clean_generated(completion.text, stop=DEFAULT_STOP, labels=("summary", "assistant"))
    if not summary:
        log.warning("brief_empty", conversation_id=conversation_id)
        assist_publish(conversation_id=conversation_id, update=_error(conversation_id, "empty"))
        return None
    with transaction.atomic():
        brief = HandoffBrief.objects.create(
            conversation_id=conversation_id, summary=summary, model=completion.model, for_seq=for_seq
        )
        transaction.on_commit(lambda: _brief_publish(conversation_id=conversation_id))
    log.info("brief_written", conversation_id=conversation_id, for_seq=for_seq, chars=len(summary))
    return brief


def _brief_publish(*, conversation_id: int) -> None:
    update = brief_for(conversation_id)
    if update is not None:
        assist_publish(conversation_id=conversation_id, update=update)


def _error(conversation_id: int, error: str) -> dict[str, object]:
    return {"kind": "brief", "conversation_id": conversation_id, "error": error}
