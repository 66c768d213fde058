"""A form whose completion calls an HTTP action: what each outcome says and keeps (no Django)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.processor import TurnProcessor
from engine.types import (
    ActionRequest,
    ActionResult,
    BotSpec,
    CompletionRequest,
    Entity,
    IntentScore,
    IntentSpec,
    ParseResult,
    ResponseVariant,
    SlotSpec,
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
