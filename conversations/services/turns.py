"""The one turn service: every entry point (widget, OpenAI-compatible API, admin console) ends here.

`turn_run` answers stored visitor messages: NLU -> dialogue -> NLG through the plain-Python
`TurnProcessor`, each reply stored once, events published after commit. A turn holds nothing while
the LLM streams:

1. **Claim** (short transaction): lock the conversation row for a moment, take its turn lease
   (`Conversation.turn_lease_owner/until`) and read the tracker.
2. **Answer** (no transaction; the database connection goes back to the pool before the first
   request to the LLM): NLU, dialogue, retrieval, the streamed completion.
3. **Store** (short transaction): the reply (unique per visitor message: a second answer to one
   message cannot be stored), the tracker unless it changed meanwhile (an edit made during the
   stream wins over the turn's copy, counted as a conflict), and either the next unanswered
   message of the conversation (the lease is kept and renewed) or the lease released.

Order: a conversation has one lease, so two of its messages are never answered at once, and the
lease holder answers the conversation's unanswered messages oldest first. A turn whose message
arrives while another turn holds the lease does nothing: the holder finds that message in its
store step (both steps lock the row, so one of them always sees the other's effect). Exactly once:
a redelivered turn finds its reply and stops; a turn whose worker died leaves a lease that
expires after TURN_LEASE_SECONDS, and the redelivered turn (or the conversation's next one) takes
over. The visitor's next message is still stored and acked meanwhile: storing takes no lease.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

import structlog
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from actions.selectors import turn_actions
from bots.models import Bot, Conversation, Message
from bots.selectors import bot_spec
from chatplatform import metrics
from conversations.language import message_language, reply_language, visitor_language
from conversations.selectors import conversation_history, handoff_available, messages_owed_a_reply
from conversations.services import messages
from conversations.services.handoff import (
    handoff_offline_notify,
    handoff_reopen_by_visitor,
    handoff_request,
    visitor_message_for_agent_notify,
)
from conversations.services.sequencing import message_insert_next_seq
from conversations.services.webhook_events import action_failed_emit, message_created_emit
from engine.processor import TurnProcessor
from engine.types import LLM, BotSpec, CompletionRequest, CompletionStream, ParseResult, Reply, Tracker
from inference_worker.errors import LLMError
from inference_worker.tokenizer import worker_token_counter
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
        if not bot_spec(bot=bot).intents:  # cached with the bot's configuration: no query a turn
            return ParseResult(text=text, intent=None, ranking=[], entities=[])
        return nlu_parse(bot=bot, text=text)

    return parse


@dataclasses.dataclass(frozen=True)
class TurnOptions:
    """Per-request overrides (the OpenAI-compatible API's temperature and max_tokens). They apply to
    the message they were sent with; other messages a turn answers use the bot's settings."""

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


# Visitor messages the bot does not answer: history imported through the API, and messages written
# while a person has the conversation (queued or assigned).
LEASE_CHECK_MARGIN_S = 1.0
_WITH_PEOPLE = (Conversation.Status.QUEUED, Conversation.Status.ASSIGNED)


@dataclasses.dataclass(frozen=True)
class _Busy:
    """Another turn holds the conversation's lease until `seconds_left` from now."""

    seconds_left: float


@dataclasses.dataclass(frozen=True)
class _ForAgent:
    """The conversation is with people: the message is theirs to answer (the bot only annotates it)."""

    message: Message


@dataclasses.dataclass
class _Claim:
    """What the claim (or the previous store) read: the message to answer and the state it saw."""

    conversation: Conversation
    message: Message
    tracker_seen: dict[str, Any]
    owner: str


class _ReleasesConnectionLLM:
    """Hands the thread's database connection back to the pool before waiting on the LLM.

    Everything before the completion (NLU, retrieval, the bot's settings) may read the database;
    nothing during it does. Inside an outer transaction (a test's) the connection is kept: closing
    it would abort that transaction."""

    def __init__(self, llm: LLM) -> None:
        self._llm = llm

    def stream(self, request: CompletionRequest) -> CompletionStream:
        if not connection.in_atomic_block:
            connection.close()
        return self._llm.stream(request)


def turn_run(
    *,
    user_message_id: int,
    events: TurnEvents,
    llm: LLM,
    nlu: Callable[[Bot], Callable[[str], ParseResult]] = _nlu_for,
    coalesce_ms: int = 40,
    options: TurnOptions | None = None,
    owner: str | None = None,
) -> Message | None:
    """Answer a visitor message (and any the conversation received meanwhile). Returns the reply to
    `user_message_id`, or None when another turn holds the conversation and will answer it. Safe to
    run twice (Celery may deliver a turn twice: acks_late, a worker killed mid-turn).

    `owner` names the lease: a retry of a turn the database failed passes its first attempt's
    owner, so it takes its own lease back at once instead of waiting for it to expire."""
    owner = owner or turn_owner_new()
    claim_or_reply = _turn_claim(user_message_id=user_message_id, owner=owner)
    if isinstance(claim_or_reply, _ForAgent):
        _for_agent_annotate(message=claim_or_reply.message, nlu=nlu)
        return None
    if isinstance(claim_or_reply, _Busy):
        # The holder answers this message in its store step, unless its worker died: a redelivery
        # can arrive before a dead holder's lease expires, so look again just after it would have.
        # A live holder renews the lease and answers; the check-back then finds the reply and stops.
        messages.turn_enqueue(
            user_message_id=user_message_id, countdown=claim_or_reply.seconds_left + LEASE_CHECK_MARGIN_S
        )
        return None
    if not isinstance(claim_or_reply, _Claim):
        if claim_or_reply is not None:
            metrics.TURNS.labels(action=claim_or_reply.action or "none", outcome="duplicate").inc()
        return claim_or_reply
    claim: _Claim | None = claim_or_reply
    answer: Message | None = None
    try:
        while claim is not None:
            own = claim.message.pk == user_message_id
            stored, claim = _turn_answer(
                claim=claim,
                events=events,
                llm=llm,
                nlu=nlu,
                coalesce_ms=coalesce_ms,
                options=(options or TurnOptions()) if own else TurnOptions(),
            )
            if own:
                answer = stored
    finally:
        if claim is not None:  # an exception left the lease held: give it back now, not at expiry
            _lease_release_if_reachable(conversation_id=claim.conversation.pk, owner=owner)
    if answer is None:  # the lease holder changed hands under us and the other turn answered it
        answer = Message.objects.filter(reply_to_id=user_message_id).first()
    return answer


def _turn_claim(*, user_message_id: int, owner: str) -> _Claim | _ForAgent | _Busy | Message | None:
    """Step 1: the reply if the message is answered already; None if the message is gone or another
    live turn holds the conversation (it will answer this message too); `_ForAgent` if people have
    the conversation; else the lease, taken."""
    with transaction.atomic():
        user_message = Message.objects.filter(pk=user_message_id, role=Message.Role.USER).first()
        if user_message is None:
            log.warning("turn_message_missing", message_id=user_message_id)
            return None
        # `of=("self",)`: FOR UPDATE on a join would also lock the bot's row and serialise every
        # conversation of the bot. `no_key=True`: FOR NO KEY UPDATE does not block the FOR KEY
        # SHARE lock that inserting a Message (FK to this row) takes, so visitors are never blocked.
        conversation = (
            Conversation.objects.select_for_update(of=("self",), no_key=True)
            .select_related("bot")
            .get(pk=user_message.conversation_id)
        )
        existing = Message.objects.filter(reply_to=user_message).first()
        if existing is not None:
            return existing
        if user_message.action == "for_agent":
            return None  # a redelivered turn of a message the agents have
        if conversation.status in _WITH_PEOPLE:
            _pending_hand_to_agents(conversation=conversation)
            user_message.action = "for_agent"
            return _ForAgent(message=user_message)
        if conversation.status == Conversation.Status.RESOLVED:
            handoff_reopen_by_visitor(conversation=conversation)
        now = timezone.now()
        held_by_another = conversation.turn_lease_owner not in ("", owner)
        if held_by_another and conversation.turn_lease_until and conversation.turn_lease_until > now:
            log.info("turn_queued_behind_lease", conversation_id=conversation.pk, message_id=user_message_id)
            return _Busy(seconds_left=(conversation.turn_lease_until - now).total_seconds())
        if held_by_another:
            log.warning("turn_lease_expired_taking_over", conversation_id=conversation.pk)
            metrics.TURN_CONFLICTS.labels(kind="lease_expired").inc()
        first = _pending_first(conversation_id=conversation.pk) or user_message
        _lease_take(conversation=conversation, owner=owner, now=now)
        return _Claim(conversation=conversation, message=first, tracker_seen=conversation.tracker, owner=owner)


def _turn_answer(
    *,
    claim: _Claim,
    events: TurnEvents,
    llm: LLM,
    nlu: Callable[[Bot], Callable[[str], ParseResult]],
    coalesce_ms: int,
    options: TurnOptions,
) -> tuple[Message, _Claim | None]:
    """Step 2 (no transaction, no connection while streaming), then step 3."""
    started = time.monotonic()
    conversation, user_message = claim.conversation, claim.message
    queue_wait_s = max(0.0, (timezone.now() - user_message.created_at).total_seconds())
    metrics.TURN_QUEUE_WAIT.observe(queue_wait_s)
    bot = conversation.bot
    events.typing(conversation_id=conversation.pk, on=True)

    def on_delta(offset: int, text: str) -> None:
        events.delta(conversation_id=conversation.pk, reply_to=user_message.pk, offset=offset, text=text)

    failed: LLMError | None = None
    language = ""
    metrics.TURNS_IN_FLIGHT.inc()
    try:
        act, tools = turn_actions(conversation)
        processor = TurnProcessor(
            nlu=nlu(bot),
            llm=_ReleasesConnectionLLM(llm),
            retriever=knowledge_retriever_for(bot),
            act=act,
            count_tokens=worker_token_counter(),
        )
        # People and the offline form are reached through the widget; an API client or the admin's
        # test console gets no queue it could never see answered.
        widget = conversation.channel == Conversation.Channel.WIDGET
        history = conversation_history(conversation_id=conversation.pk, before_seq=user_message.seq)
        language = message_language(user_message.text, history)
        spec = dataclasses.replace(
            bot_spec(bot=bot),
            handoff_available=widget and handoff_available(bot=bot),
            offline_form=widget,
            tools=tools if settings.VLLM_TOOL_CALLING else (),
            reply_language=reply_language(bot, language),
        )
        outcome = processor.run(
            bot=options.apply(spec),
            tracker=Tracker.from_json(claim.tracker_seen),
            history=history,
            user_text=user_message.text,
            on_delta=on_delta,
            coalesce_ms=coalesce_ms,
            model=bot.llm_model or None,
            affinity_key=str(conversation.pk),
        )
        reply, tracker, parse = outcome.reply, outcome.tracker.to_json(), outcome.parse
    except LLMError as exc:
        log.warning("turn_llm_failed", conversation_id=conversation.pk, error=str(exc), code=exc.code)
        failed = exc
        with translation.override(visitor_language(conversation)):
            failed_text = str(REPLY_FAILED_TEXT)
        reply, tracker, parse = Reply(text=failed_text, action="llm_error"), claim.tracker_seen, None
    finally:
        metrics.TURNS_IN_FLIGHT.dec()
    total_s = time.monotonic() - started
    stored, next_claim = _turn_store(
        claim=claim, reply=reply, tracker=tracker, parse=parse, language=language, total_s=total_s
    )
    # Events after commit (immediate here: the store step's transaction is the outermost one).
    if failed is not None and stored.action == "llm_error":
        conversation_id, reply_to = conversation.pk, user_message.pk
        transaction.on_commit(
            lambda: events.error(
                conversation_id=conversation_id,
                code="reply_failed",
                reply_to=reply_to,
                detail="The assistant could not finish this reply. Please try again.",
            )
        )
    transaction.on_commit(lambda: events.message(message=stored))
    _turn_observe(reply=reply, failed=failed, total_s=total_s)
    log.info(
        "turn_done",
        conversation_id=conversation.pk,
        action=reply.action,
        intent=reply.intent,
        queue_wait_ms=round(queue_wait_s * 1000),
        ttft_ms=reply.time_to_first_token_ms,
        total_ms=stored.total_time_ms,
    )
    return stored, next_claim


def _turn_store(
    *,
    claim: _Claim,
    reply: Reply,
    tracker: dict[str, Any],
    parse: ParseResult | None,
    language: str,
    total_s: float,
) -> tuple[Message, _Claim | None]:
    """Step 3: store the reply and the tracker, then claim the next unanswered message or release."""
    user_message = claim.message
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",), no_key=True)
            .select_related("bot")
            .get(pk=claim.conversation.pk)
        )
        holds_lease = conversation.turn_lease_owner == claim.owner
        if not holds_lease:  # our lease expired and another turn took over
            log.warning("turn_lease_lost", conversation_id=conversation.pk, message_id=user_message.pk)
            metrics.TURN_CONFLICTS.labels(kind="lease_lost").inc()
        fields = ["last_activity_at"]
        try:
            stored = _reply_store(
                conversation=conversation, user_message=user_message, reply=reply, total_ms=int(total_s * 1000)
            )
        except IntegrityError:
            # Another turn answered this message meanwhile (the reply is unique per visitor message):
            # theirs is the reply; ours was never stored, and neither is our tracker.
            stored = Message.objects.get(reply_to=user_message)
            metrics.TURN_CONFLICTS.labels(kind="answered_elsewhere").inc()
        else:
            message_created_emit(bot_id=conversation.bot_id, message=stored)
            action_failed_emit(conversation=conversation, message=stored)
            _user_message_annotate(user_message=user_message, parse=parse, language=language)
            if conversation.tracker == claim.tracker_seen:
                conversation.tracker = tracker
                fields.append("tracker")
            else:  # edited during the stream (an operator, an agent): the newer, deliberate edit wins
                log.warning("turn_tracker_changed_meanwhile", conversation_id=conversation.pk)
                metrics.TURN_CONFLICTS.labels(kind="tracker_changed").inc()
            if reply.action == "handoff":  # queued for a person, committed with the reply that says so
                conversation.status = handoff_request(
                    conversation_id=conversation.pk, reason=reply.handoff_reason or "The bot handed over."
                ).status
            elif reply.action == "handoff_offline" and conversation.channel == Conversation.Channel.WIDGET:
                handoff_offline_notify(conversation_id=conversation.pk)
        conversation.last_activity_at = timezone.now()
        next_claim: _Claim | None = None
        if holds_lease and conversation.status in _WITH_PEOPLE:
            # People took the conversation while the bot was answering: the rest is theirs.
            _pending_hand_to_agents(conversation=conversation)
            conversation.turn_lease_owner, conversation.turn_lease_until = "", None
            fields += ["turn_lease_owner", "turn_lease_until"]
        elif holds_lease:
            following = _pending_first(conversation_id=conversation.pk)
            if following is not None:
                _lease_take(conversation=conversation, owner=claim.owner, now=timezone.now(), save=False)
                next_claim = _Claim(
                    conversation=conversation, message=following, tracker_seen=conversation.tracker, owner=claim.owner
                )
            else:
                conversation.turn_lease_owner, conversation.turn_lease_until = "", None
            fields += ["turn_lease_owner", "turn_lease_until"]
        conversation.save(update_fields=fields)
    return stored, next_claim


def _pending(*, conversation_id: int) -> Any:
    return messages_owed_a_reply().filter(conversation_id=conversation_id)


def _pending_first(*, conversation_id: int) -> Message | None:
    """The conversation's oldest visitor message the bot still owes a reply."""
    return _pending(conversation_id=conversation_id).order_by("seq").first()


def _pending_hand_to_agents(*, conversation: Conversation) -> None:
    """Mark every unanswered visitor message as the agents': when the bot gets the conversation back
    it answers what comes next, not what a person already dealt with."""
    ids = list(_pending(conversation_id=conversation.pk).values_list("pk", flat=True))
    if ids:
        Message.objects.filter(pk__in=ids).update(action="for_agent")
        visitor_message_for_agent_notify(conversation=conversation)


def _for_agent_annotate(*, message: Message, nlu: Callable[[Bot], Callable[[str], ParseResult]]) -> None:
    """While people have the conversation the bot stays quiet but still reads along: the NLU result
    on each visitor message is shown to the agent (and corrected by analysts like any other)."""
    conversation = Conversation.objects.select_related("bot").get(pk=message.conversation_id)
    _user_message_annotate(user_message=message, parse=nlu(conversation.bot)(message.text), language=None)


def _lease_take(*, conversation: Conversation, owner: str, now: Any, save: bool = True) -> None:
    conversation.turn_lease_owner = owner
    conversation.turn_lease_until = now + timedelta(seconds=settings.TURN_LEASE_SECONDS)
    if save:
        conversation.save(update_fields=["turn_lease_owner", "turn_lease_until"])


def turn_owner_new() -> str:
    return secrets.token_hex(8)


def _lease_release(*, conversation_id: int, owner: str) -> None:
    Conversation.objects.filter(pk=conversation_id, turn_lease_owner=owner).update(
        turn_lease_owner="", turn_lease_until=None
    )


def _lease_release_if_reachable(*, conversation_id: int, owner: str) -> None:
    """Release after a failure. If the failure was the database itself, the release cannot reach it
    either: the lease then ends at expiry, or when this turn's retry (same owner) takes it back. The
    turn's own error is the one to report, not a second one from here."""
    try:
        _lease_release(conversation_id=conversation_id, owner=owner)
    except (OperationalError, InterfaceError) as exc:
        log.warning("turn_lease_release_failed", conversation_id=conversation_id, error=str(exc))


def _turn_observe(*, reply: Reply, failed: LLMError | None, total_s: float) -> None:
    metrics.TURNS.labels(action=reply.action or "none", outcome=failed.code if failed else "ok").inc()
    metrics.TURN_DURATION.observe(total_s)
    if reply.time_to_first_token_ms is not None:
        metrics.TURN_TTFT.observe(reply.time_to_first_token_ms / 1000)
    if reply.action == "generate" and reply.completion_tokens and reply.time_to_first_token_ms is not None:
        streaming_s = total_s - reply.time_to_first_token_ms / 1000
        if streaming_s > 0:
            metrics.LLM_TOKENS_PER_SECOND.observe(reply.completion_tokens / streaming_s)


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
        retrieval=list(reply.retrieval),
        action_calls=list(reply.action_calls),
    )


def _user_message_annotate(*, user_message: Message, parse: ParseResult | None, language: str | None) -> None:
    """Keep the NLU result (analysts correct intents there) and the detected language on the
    visitor's message. None: not known this turn (the LLM failed before the NLU ran; a message the
    agents have, whose language the bot did not look at), so nothing is written."""
    fields: dict[str, Any] = {}
    if parse is not None:
        top = parse.intent or (parse.ranking[0] if parse.ranking else None)
        fields.update(
            intent=parse.intent.name if parse.intent else "",
            confidence=round(top.confidence, 4) if top else None,
            entities=[e.as_dict() for e in parse.entities],
        )
    if language is not None:
        fields["language"] = language
    if fields:
        Message.objects.filter(pk=user_message.pk).update(**fields)
