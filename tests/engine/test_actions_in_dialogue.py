"""A form whose completion calls an HTTP action: what each outcome says and keeps (no Django)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.processor import MAX_TOOL_STEPS, TurnProcessor
from engine.types import (
    ActionRequest,
    ActionResult,
    BotSpec,
    ChatMessage,
    CompletionChunk,
    CompletionRequest,
    CompletionUsage,
    Entity,
    IntentScore,
    IntentSpec,
    ParseResult,
    ResponseVariant,
    SlotSpec,
    ToolCall,
    ToolSpec,
    Tracker,
)

TRACK = IntentSpec(
    name="track_order",
    response_mode="template",
    responses=(ResponseVariant(text="(the template must not be used)"),),
    form_slots=(SlotSpec(name="order_number", entity="order_number", prompt="Your order number?"),),
    action="order_lookup",
)
BOT = BotSpec(
    slug="shop",
    name="Shop",
    persona="",
    greeting="Hi",
    fallback_text="Sorry?",
    handoff_text="Shall I get a person?",
    nlu_threshold=0.5,
    fallbacks_before_handoff=3,
    generate_when_out_of_scope=False,
    llm_temperature=0.2,
    llm_max_tokens=64,
    intents={"track_order": TRACK},
)


class NoLLM:
    def stream(self, request: CompletionRequest) -> Any:
        raise AssertionError("an action's answer needs no LLM")


def _nlu(text: str) -> ParseResult:
    entities = [Entity("order_number", w, 0, len(w), w, "regex") for w in text.split() if w.startswith("AC-")]
    return ParseResult(text=text, intent=IntentScore("track_order", 0.9), ranking=[], entities=entities)


def _turn(result: ActionResult | None, text: str = "where is AC-12345", *, bot: BotSpec = BOT, tracker=None):
    seen: list[ActionRequest] = []

    def act(request: ActionRequest) -> ActionResult:
        seen.append(request)
        assert result is not None
        return result

    processor = TurnProcessor(nlu=_nlu, llm=NoLLM(), act=act if result is not None else None)
    deltas: list[str] = []
    outcome = processor.run(
        bot=bot, tracker=tracker or Tracker(), history=[], user_text=text, on_delta=lambda o, d: deltas.append(d)
    )
    return outcome, seen, deltas


def test_success_answers_with_the_mapped_slots() -> None:
    ok = ActionResult(
        status="ok",
        slots={"order_status": "shipped"},
        template="Order {order_number} is {order_status}.",
        trace={"action": "order_lookup", "status": "ok"},
    )
    outcome, seen, deltas = _turn(ok)
    assert seen == [ActionRequest(name="order_lookup", intent="track_order", slots={"order_number": "AC-12345"})]
    assert outcome.reply.text == "Order AC-12345 is shipped." == "".join(deltas)
    assert outcome.reply.action == "action" and outcome.reply.action_calls == (
        {"action": "order_lookup", "status": "ok"},
    )
    assert outcome.tracker.slots == {"order_number": "AC-12345", "order_status": "shipped"}


def test_the_form_asks_first_and_calls_once_complete() -> None:
    outcome, seen, _ = _turn(ActionResult(status="ok", template="done"), text="track my order")
    assert outcome.reply.action == "ask_slot" and seen == []
    outcome, seen, _ = _turn(
        ActionResult(status="ok", template="done {order_number}"), text="AC-1", tracker=outcome.tracker
    )
    assert outcome.reply.text == "done AC-1" and len(seen) == 1


def test_not_found_says_so_and_forgets_the_wrong_number() -> None:
    outcome, _, _ = _turn(ActionResult(status="not_found", template="No order {order_number}."))
    assert outcome.reply.text == "No order AC-12345." and outcome.reply.action == "action_not_found"
    assert "order_number" not in outcome.tracker.slots


def test_failure_is_honest_and_offers_a_person_who_can_come() -> None:
    bot = replace(BOT, handoff_available=True)
    outcome, _, _ = _turn(ActionResult(status="failed"), bot=bot)
    assert outcome.reply.text.startswith("Sorry, I couldn't reach our system just now")
    assert outcome.reply.quick_replies == ("Talk to a person", "No thanks")
    assert outcome.tracker.handoff_offered
    # Nobody can come: no offer of one.
    outcome, _, _ = _turn(ActionResult(status="failed"))
    assert outcome.reply.quick_replies == ()


def test_chinese_visitors_get_the_default_texts_in_chinese() -> None:
    outcome, _, _ = _turn(ActionResult(status="identity_required"), text="查询订单 AC-12345")
    assert outcome.reply.text.startswith("为了您的账户安全") and outcome.reply.action == "action_identity_required"


def test_without_a_runner_nothing_is_invented() -> None:
    outcome, _, _ = _turn(None)
    assert outcome.reply.action == "action_failed" and "(the template" not in outcome.reply.text
    assert outcome.reply.action_calls[0]["error"] == "unavailable"


# --- the LLM calling actions as tools ---------------------------------------------------------


class ToolCallingLLM:
    """Calls `calls` while tools are offered and the last message is not a tool result; then says
    `answer`. Records every request."""

    def __init__(self, calls: list[ToolCall], answer: str, *, always_call: bool = False) -> None:
        self.calls, self.answer, self.always_call = calls, answer, always_call
        self.requests: list[CompletionRequest] = []

    def stream(self, request: CompletionRequest) -> Any:
        self.requests.append(request)
        calling = bool(request.tools) and (self.always_call or request.messages[-1].role != "tool")
        llm = self

        class Stream:
            usage = CompletionUsage(prompt_tokens=10, completion_tokens=3, model="m")
            tool_calls = list(llm.calls) if calling else []

            def __iter__(self) -> Any:
                return iter([] if calling else [CompletionChunk(text=llm.answer)])

        return Stream()


LOOKUP_TOOL = ToolSpec(name="order_lookup", description="Look up an order", parameters={"type": "object"})
GENERATE_BOT = replace(
    BOT,
    tools=(LOOKUP_TOOL,),
    intents={"shipping": IntentSpec(name="shipping", response_mode="generate")},
)


def _nlu_shipping(text: str) -> ParseResult:
    return ParseResult(text=text, intent=IntentScore("shipping", 0.9), ranking=[], entities=[])


def _generate_turn(llm: ToolCallingLLM, act) -> Any:
    processor = TurnProcessor(nlu=_nlu_shipping, llm=llm, act=act)
    tracker = Tracker(slots={"email": "a@b.example"})
    return processor.run(
        bot=GENERATE_BOT, tracker=tracker, history=[], user_text="has AC-1 shipped?", on_delta=lambda o, d: None
    )


def test_the_llm_calls_an_action_and_answers_with_its_result() -> None:
    seen: list[ActionRequest] = []

    def act(request: ActionRequest) -> ActionResult:
        seen.append(request)
        return ActionResult(
            status="ok", slots={"order_status": "shipped"}, trace={"action": request.name, "status": "ok"}
        )

    llm = ToolCallingLLM(
        [ToolCall(id="c1", name="order_lookup", arguments='{"order_number": "AC-1"}')], "It has shipped."
    )
    outcome = _generate_turn(llm, act)
    assert outcome.reply.text == "It has shipped." and outcome.reply.action == "generate"
    assert seen == [
        ActionRequest(name="order_lookup", intent="shipping", slots={"email": "a@b.example", "order_number": "AC-1"})
    ]
    first, second = llm.requests
    assert first.tools == (LOOKUP_TOOL,)
    assert second.messages[-2].tool_calls[0].name == "order_lookup"
    assert second.messages[-1] == ChatMessage(
        role="tool", content='{"status": "ok", "result": {"order_status": "shipped"}}', tool_call_id="c1"
    )
    assert outcome.reply.action_calls == ({"action": "order_lookup", "status": "ok", "via": "llm"},)
    assert outcome.reply.prompt_tokens == 20 and outcome.reply.completion_tokens == 6  # both steps


def test_tool_rounds_are_capped_and_bad_arguments_are_refused() -> None:
    calls: list[ActionRequest] = []

    def act(request: ActionRequest) -> ActionResult:
        calls.append(request)
        return ActionResult(status="failed", trace={"action": request.name, "status": "failed"})

    llm = ToolCallingLLM(
        [ToolCall(id="c1", name="order_lookup", arguments="{}"), ToolCall(id="c2", name="x", arguments="[not json")],
        "I couldn't check that.",
        always_call=True,
    )
    outcome = _generate_turn(llm, act)
    assert len(llm.requests) == MAX_TOOL_STEPS + 1 and llm.requests[-1].tools == ()
    assert outcome.reply.text == "I couldn't check that."
    assert len(calls) == MAX_TOOL_STEPS  # the call with unparsable arguments never reaches the runner
    assert sum(t.get("error") == "bad arguments" for t in outcome.reply.action_calls) == MAX_TOOL_STEPS


def test_no_runner_no_tools_offered() -> None:
    llm = ToolCallingLLM([ToolCall(id="c1", name="order_lookup", arguments="{}")], "Plain answer.")
    processor = TurnProcessor(nlu=_nlu_shipping, llm=llm)
    outcome = processor.run(bot=GENERATE_BOT, tracker=Tracker(), history=[], user_text="hi", on_delta=lambda o, d: None)
    assert outcome.reply.text == "Plain answer." and llm.requests[0].tools == ()


WAITING = {"pending": {"action": "account_details", "intent": "account", "nonce": "n", "digest": "d", "tries": 0}}


def test_a_code_typed_while_an_action_waits_for_one_goes_to_that_action_not_the_nlu() -> None:
    confirmed = {"confirmed": {"user_id": "u", "until": 1.0}}
    ok = ActionResult(
        status="ok", template="Your address is {address}.", slots={"address": "12 Birch Lane"}, step_up=confirmed
    )

    def no_nlu(text: str) -> ParseResult:
        raise AssertionError("a code is not a sentence to understand")

    seen: list[ActionRequest] = []
    processor = TurnProcessor(nlu=no_nlu, llm=NoLLM(), act=lambda r: seen.append(r) or ok)
    tracker = Tracker(step_up=WAITING, turn_count=4)
    outcome = processor.run(bot=BOT, tracker=tracker, history=[], user_text="１２３ ４５６", on_delta=lambda o, d: None)
    (request,) = seen
    assert (request.name, request.intent, request.code, request.step_up) == (
        "account_details",
        "account",
        "123456",
        WAITING,
    )
    assert outcome.reply.text == "Your address is 12 Birch Lane."
    assert outcome.tracker.step_up == confirmed and outcome.tracker.turn_count == 5


def test_other_messages_while_a_code_waits_are_understood_as_usual_and_the_wait_is_kept() -> None:
    outcome, seen, _ = _turn(
        ActionResult(status="ok", template="Order {order_number}."), tracker=Tracker(step_up=WAITING)
    )
    (request,) = seen
    assert request.name == "order_lookup" and request.code == "" and request.step_up == WAITING
    assert outcome.tracker.step_up == WAITING


def test_the_code_outcomes_have_honest_defaults_in_both_languages() -> None:
    sent = ActionResult(status="code_sent", step_up=WAITING)
    outcome, _, _ = _turn(sent)
    assert outcome.reply.action == "action_code_sent" and "one-time code" in outcome.reply.text
    assert outcome.tracker.step_up == WAITING
    outcome, _, _ = _turn(ActionResult(status="code_wrong"), text="查询订单 AC-12345")
    assert outcome.reply.text.startswith("验证码不正确")


def test_a_tool_call_that_needs_a_code_leaves_the_conversation_waiting_for_it() -> None:
    def act(request: ActionRequest) -> ActionResult:
        return ActionResult(status="code_sent", step_up=WAITING, trace={"action": request.name, "status": "code_sent"})

    llm = ToolCallingLLM([ToolCall(id="c1", name="order_lookup", arguments="{}")], "Please type the code we sent.")
    outcome = _generate_turn(llm, act)
    assert outcome.tracker.step_up == WAITING  # so the code typed next goes to that action
    assert '"status": "code_sent"' in llm.requests[1].messages[-1].content
