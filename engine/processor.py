"""The turn processor: NLU -> dialogue manager -> NLG for one visitor message.

Plain Python with injected parts (like Rasa's `MessageProcessor`): the NLU callable, the LLM
client, the knowledge retriever, the clock and the random generator come in through the
constructor, so the Django turn service adapts ORM rows and the tests pass fakes. No database, no
channel layer here: deltas leave through the `on_delta(offset, text)` callback.

Errors: the LLM client's typed exceptions propagate unchanged. The caller knows whether a delta
was already sent (it owns `on_delta`) and so whether a retry is still invisible to the visitor.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .coalescing import DeltaCoalescer
from .dialogue import (
    MAX_STEPS_PER_TURN,
    after_action,
    answered_from_knowledge,
    code_turn,
    decide,
    decline_without_knowledge,
)
from .nlg import (
    DEFAULT_HISTORY_BUDGET_TOKENS,
    DEFAULT_STOP,
    StreamSanitizer,
    TokenCounter,
    build_prompt,
    citations_for,
    estimate_tokens,
    render_template,
)
from .one_time_code import code_waiting_action, typed_code
from .retrieval_query import retrieval_query
from .types import (
    LLM,
    ActionRequest,
    ActionResult,
    ActionRunner,
    BotSpec,
    ChatMessage,
    Citation,
    CompletionRequest,
    CompletionUsage,
    ContextOverflow,
    Decision,
    KnowledgePassage,
    ParseResult,
    Reply,
    ToolCall,
    Tracker,
    TurnOutcome,
)

# Rounds of tool calls in one reply before the model must answer with what it has.
MAX_TOOL_STEPS = 3
# A prompt the model's context refused is sent once more with this fraction of the history budget.
OVERFLOW_HISTORY_DIVISOR = 4

NluFn = Callable[[str], ParseResult]
Retriever = Callable[[str], list[KnowledgePassage]]
DeltaSink = Callable[[int, str], None]


class TurnProcessor:
    def __init__(
        self,
        nlu: NluFn,
        llm: LLM,
        retriever: Retriever | None = None,
        act: ActionRunner | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        *,
        history_budget_tokens: int = DEFAULT_HISTORY_BUDGET_TOKENS,
        count_tokens: TokenCounter = estimate_tokens,
        stop: tuple[str, ...] = DEFAULT_STOP,
        max_steps: int = MAX_STEPS_PER_TURN,
    ) -> None:
        self.nlu = nlu
        self.llm = llm
        self.retriever = retriever
        self.act = act
        self.clock = clock
        # None: `decide` seeds per turn from (bot, turn number, text), so a retried turn repeats itself.
        self.rng = rng
        self.history_budget_tokens = history_budget_tokens
        # The served model's tokenizer in the worker: the history budget is in that model's tokens.
        self.count_tokens = count_tokens
        self.stop = stop
        self.max_steps = max_steps

    def run(
        self,
        *,
        bot: BotSpec,
        tracker: Tracker,
        history: list[ChatMessage],
        user_text: str,
        on_delta: DeltaSink,
        coalesce_ms: int = 40,
        model: str | None = None,
        affinity_key: str = "",
    ) -> TurnOutcome:
        """Run one turn. `history` = the conversation before this message, oldest first.

        Template-like replies (templates, slot prompts, fallback, handoff) are sent whole as one
        `on_delta(0, text)` call, so clients handle every reply the same way. Generated replies are
        streamed, coalesced to one `on_delta` per `coalesce_ms`. Either way the concatenated deltas
        equal `reply.text`. `model` is the bot's model name for vLLM (None: the server's default);
        `affinity_key` keeps one conversation on one vLLM backend (its prefix cache stays warm).
        """
        started = self.clock()
        waiting = code_waiting_action(tracker) if self.act is not None else None
        code = typed_code(user_text) if waiting else ""
        if waiting and code:
            # The one-time code an action asked for: it goes to that action, not to the NLU.
            action, intent = waiting
            request = ActionRequest(
                name=action, intent=intent, slots=dict(tracker.slots), step_up=tracker.step_up, code=code
            )
            no_parse = ParseResult(text=user_text, intent=None, ranking=[], entities=[])
            base_code: dict[str, Any] = {"intent": None, "confidence": None, "entities": []}
            return self._call_action(
                bot=bot,
                request=request,
                tracker=code_turn(tracker),
                parse=no_parse,
                on_delta=on_delta,
                started=started,
                base=base_code,
            )
        parse = self.nlu(user_text)
        decision, new_tracker = decide(bot=bot, tracker=tracker, parse=parse, rng=self.rng, max_steps=self.max_steps)
        top = parse.ranking[0].confidence if parse.ranking else (parse.intent.confidence if parse.intent else None)
        base = {
            "intent": parse.intent.name if parse.intent else None,
            "confidence": top,
            "entities": [e.as_dict() for e in parse.entities],
        }
        if decision.action == "call_action":
            intent = decision.intent or ""
            request = ActionRequest(
                name=bot.intents[intent].action or "",
                intent=intent,
                slots=dict(new_tracker.slots),
                step_up=new_tracker.step_up,
            )
            return self._call_action(
                bot=bot,
                request=request,
                tracker=new_tracker,
                parse=parse,
                on_delta=on_delta,
                started=started,
                base=base,
            )
        retrieved: list[KnowledgePassage] = []
        evidence: list[KnowledgePassage] = []
        if self.retriever is not None and (decision.action == "generate" or _out_of_scope(decision)):
            retrieved = list(self.retriever(retrieval_query(user_text, history)))
            evidence = [p for p in retrieved if p.similarity >= bot.knowledge_min_similarity][: bot.knowledge_top_k]
        trace = tuple(p.as_trace(used=p in evidence) for p in retrieved)
        if _out_of_scope(decision) and evidence:
            faq = evidence[0]
            if faq.faq_answer and faq.similarity >= bot.faq_min_similarity:
                # A curated answer to this very question: exact, instant, and no LLM call.
                reply = self._whole(text=faq.faq_answer, action="faq", on_delta=on_delta, started=started, base=base)
                tracker = answered_from_knowledge(before=tracker, after=new_tracker)
                citation = Citation(title=faq.title, url=faq.url)
                return TurnOutcome(
                    reply=replace(reply, citations=(citation,), retrieval=trace), tracker=tracker, parse=parse
                )
            if decision.action == "offer_handoff" and bot.generate_when_out_of_scope:
                # A streak of misunderstood messages, but this one the documents answer: answer it.
                decision = Decision(action="generate")
            if decision.action == "generate":
                new_tracker = answered_from_knowledge(before=tracker, after=new_tracker)
        if (
            self.retriever is not None
            and decision.action == "generate"
            and decision.intent is None
            and not evidence
            and not bot.answer_without_knowledge
        ):
            # No grounding, no invention: the LLM is not asked to answer from nothing.
            decision, new_tracker = decline_without_knowledge(bot=bot, tracker=new_tracker, text=user_text)
        if decision.action == "generate":
            reply = self._generate(
                bot=bot,
                tracker=new_tracker,
                history=history,
                user_text=user_text,
                parse=parse,
                knowledge=evidence,
                on_delta=on_delta,
                coalesce_ms=coalesce_ms,
                model=model,
                started=started,
                base=base,
                affinity_key=affinity_key,
            )
        else:
            reply = self._template(
                bot=bot, decision=decision, tracker=new_tracker, on_delta=on_delta, started=started, base=base
            )
        return TurnOutcome(reply=replace(reply, retrieval=trace), tracker=new_tracker, parse=parse)

    def _call_action(
        self,
        *,
        bot: BotSpec,
        request: ActionRequest,
        tracker: Tracker,
        parse: ParseResult,
        on_delta: DeltaSink,
        started: float,
        base: dict[str, Any],
    ) -> TurnOutcome:
        """The intent's HTTP action answers: its result becomes slots and the reply."""
        if self.act is None:  # no runner wired (a benchmark, the parse API): say so, invent nothing
            trace = {"action": request.name, "status": "failed", "error": "unavailable"}
            result = ActionResult(status="failed", trace=trace)
        else:
            result = self.act(request)
        decision, tracker, slots = after_action(
            bot=bot, tracker=tracker, intent=request.intent, result=result, text=parse.text
        )
        reply = self._template(
            bot=bot, decision=decision, tracker=tracker, on_delta=on_delta, started=started, base=base, slots=slots
        )
        return TurnOutcome(reply=replace(reply, action_calls=(result.trace,)), tracker=tracker, parse=parse)

    def _elapsed_ms(self, since: float) -> int:
        return max(0, round((self.clock() - since) * 1000))

    def _template(
        self,
        *,
        bot: BotSpec,
        decision: Decision,
        tracker: Tracker,
        on_delta: DeltaSink,
        started: float,
        base: dict[str, Any],
        slots: dict[str, Any] | None = None,
    ) -> Reply:
        text = render_template(decision.template_text or "", tracker.slots if slots is None else slots).strip()
        if not text:  # an empty template must not become an empty bot message
            text = bot.fallback_text
        reply = self._whole(text=text, action=decision.action, on_delta=on_delta, started=started, base=base)
        return replace(reply, quick_replies=decision.quick_replies, handoff_reason=decision.handoff_reason)

    def _whole(self, *, text: str, action: str, on_delta: DeltaSink, started: float, base: dict[str, Any]) -> Reply:
        """A reply known in full before it is sent: one delta with all of it."""
        first = self._elapsed_ms(started)
        on_delta(0, text)
        return Reply(
            text=text,
            action=action,
            time_to_first_token_ms=first,
            total_time_ms=self._elapsed_ms(started),
            **base,
        )

    def _generate(
        self,
        *,
        bot: BotSpec,
        tracker: Tracker,
        history: list[ChatMessage],
        user_text: str,
        parse: ParseResult,
        knowledge: list[KnowledgePassage],
        on_delta: DeltaSink,
        coalesce_ms: int,
        model: str | None,
        started: float,
        base: dict[str, Any],
        affinity_key: str,
    ) -> Reply:
        def prompt(history_budget_tokens: int) -> list[ChatMessage]:
            return build_prompt(
                bot=bot,
                history=history,
                user_text=user_text,
                parse=parse,
                tracker=tracker,
                knowledge=knowledge,
                history_budget_tokens=history_budget_tokens,
                count_tokens=self.count_tokens,
            )

        messages = prompt(self.history_budget_tokens)
        trimmed = False
        first_delta_at: list[float] = []

        def emit(offset: int, text: str) -> None:
            if not first_delta_at:
                first_delta_at.append(self.clock())
            on_delta(offset, text)

        coalescer = DeltaCoalescer(emit, window_ms=coalesce_ms, clock=self.clock)
        sanitizer = StreamSanitizer(stop=self.stop, labels=("assistant", "bot", bot.name))
        tools = bot.tools if self.act is not None else ()
        action_calls: list[dict[str, Any]] = []
        usages: list[Any] = []
        step = 0
        while step <= MAX_TOOL_STEPS:
            request = CompletionRequest(
                messages=messages,
                max_tokens=bot.llm_max_tokens,
                temperature=bot.llm_temperature,
                stop=self.stop,
                model=model or None,
                affinity_key=affinity_key,
                # The last step offers no tools, so the model has to answer with what it has.
                tools=tools if step < MAX_TOOL_STEPS else (),
            )
            stream = self.llm.stream(request)
            try:
                # Drain the stream even after a stop sequence: usage (token counts) arrives at its end.
                for chunk in stream:
                    coalescer.feed(sanitizer.feed(chunk.text))
            except ContextOverflow:
                # The server refused the prompt before answering (so nothing reached the visitor):
                # once, with a quarter of the history; a second refusal is the caller's failure.
                if trimmed or step > 0 or first_delta_at or sanitizer.text:
                    raise
                trimmed = True
                messages = prompt(self.history_budget_tokens // OVERFLOW_HISTORY_DIVISOR)
                continue
            usages.append(getattr(stream, "usage", None))
            calls: list[ToolCall] = list(getattr(stream, "tool_calls", None) or []) if request.tools else []
            if not calls:
                break
            messages = [*messages, *self._tool_round(calls, tracker=tracker, parse=parse, traces=action_calls)]
            step += 1
        coalescer.feed(sanitizer.finish())
        coalescer.finish()

        text = sanitizer.text
        action = "generate"
        if not text:
            # The model said nothing usable; the visitor still gets an answer. Not an LLM error.
            text = bot.fallback_text
            action = "fallback"
            emit(0, text)
        usage = _usage_sum(usages)
        total_ms = self._elapsed_ms(started)
        ttft_ms = max(0, round((first_delta_at[0] - started) * 1000)) if first_delta_at else total_ms
        return Reply(
            text=text,
            action=action,
            citations=citations_for(knowledge, text) if action == "generate" else (),
            model=usage.model if usage is not None else (model or ""),
            prompt_tokens=usage.prompt_tokens if usage is not None else None,
            completion_tokens=usage.completion_tokens if usage is not None else None,
            time_to_first_token_ms=ttft_ms,
            total_time_ms=total_ms,
            action_calls=tuple(action_calls),
            **base,
        )

    def _tool_round(
        self, calls: list[ToolCall], *, tracker: Tracker, parse: ParseResult, traces: list[dict[str, Any]]
    ) -> list[ChatMessage]:
        """Run the model's tool calls through the action runner (the same identity gate, limits
        and checks as a form's action); the messages that give it the results."""
        assert self.act is not None
        out = [ChatMessage(role="assistant", content="", tool_calls=tuple(calls))]
        for call in calls:
            try:
                arguments = json.loads(call.arguments or "{}")
            except json.JSONDecodeError:
                arguments = None
            if not isinstance(arguments, dict):
                content = json.dumps({"status": "failed", "error": "the arguments are not a JSON object"})
                traces.append({"action": call.name, "status": "failed", "error": "bad arguments", "via": "llm"})
            else:
                # The model's arguments fill the action's slots; what the conversation already knows
                # fills the rest. The verified identity is the runner's, never an argument.
                name = parse.intent.name if parse.intent else ""
                slots = {**tracker.slots, **{str(k): v for k, v in arguments.items()}}
                result = self.act(ActionRequest(name=call.name, intent=name, slots=slots, step_up=tracker.step_up))
                if result.step_up is not None:
                    # A code was sent (or a step-up confirmed): the turn's own tracker keeps it, so
                    # the code the visitor types next goes to this action.
                    tracker.step_up = dict(result.step_up)
                traces.append({**result.trace, "via": "llm"})
                content = json.dumps({"status": result.status, "result": result.slots}, ensure_ascii=False)
            out.append(ChatMessage(role="tool", content=content, tool_call_id=call.id))
        return out


def _usage_sum(usages: list[Any]) -> Any:
    """One usage for the reply: the tokens of every step, the model of the last."""
    known = [u for u in usages if u is not None]
    if len(known) <= 1:
        return known[0] if known else None
    return CompletionUsage(
        prompt_tokens=sum(u.prompt_tokens for u in known),
        completion_tokens=sum(u.completion_tokens for u in known),
        model=known[-1].model,
    )


def _out_of_scope(decision: Decision) -> bool:
    """No intent answers the message: where the knowledge base speaks (or declines)."""
    return decision.intent is None and decision.action in ("generate", "fallback", "offer_handoff")
