"""Dialogue manager: one visitor message + the tracker in, one decision + a new tracker out.

`decide` is a pure function (no I/O, the input tracker is never mutated). It runs a tiny rule
machine: each step either returns a `Decision` or hands over to another step (a form answer that
turns out to be a topic change hands over to the new intent, a recognised form intent hands over
to "continue the form", ...). Steps are capped per turn (`MAX_STEPS_PER_TURN`) so a rule loop,
present or future, can never spin a worker: hitting the cap yields the bot's fallback.

Semantics worth knowing (Rasa-like):
- Slots live on the tracker for the whole conversation. An abandoned form keeps what it collected,
  and a form only asks for slots that are still empty, so coming back to it does not re-ask.
  Values given in the message that (re)starts a form overwrite older ones.
- While a form is active, a `text` slot takes the whole message, so it cannot be "topic changed"
  away from; typed slots (email, phone, number, date, time, or a bot entity) only take an entity of
  that type, and a message that fills nothing but is confidently another intent abandons the form.
- An out-of-scope message (no intent above the threshold) counts as a fallback even when the LLM
  answers it; `fallbacks_before_handoff` in a row offers a person. Any recognised intent resets the
  count. An invalid form answer re-asks and counts toward nothing.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable

from .human_request import asks_for_person
from .types import (
    NO_KNOWLEDGE_TEXT,
    ActionName,
    ActionResult,
    BotSpec,
    Decision,
    Entity,
    IntentSpec,
    ParseResult,
    SlotSpec,
    Tracker,
)

MAX_STEPS_PER_TURN = 10

# Quick replies of the handoff offer. The accept label is matched back (case-insensitively) when
# the visitor clicks it, so the dialogue manager, not the NLU model, recognises the answer.
HANDOFF_ACCEPT = "Talk to a person"
HANDOFF_DECLINE = "No thanks"
HANDOFF_QUICK_REPLIES = (HANDOFF_ACCEPT, HANDOFF_DECLINE)
HANDOFF_QUICK_REPLIES_ZH = ("转人工", "不用了")
# The bot's own words around a handoff, English and Chinese (picked by the visitor's message).
HANDOFF_ACCEPTED_TEXT = "Okay, I'm connecting you with a person. Please stay in this chat."
HANDOFF_DECLINED_TEXT = "No problem. What else can I help you with?"
HANDOFF_OFFLINE_TEXT = (
    "No one from the team is available right now. Leave your e-mail and a message and we'll get back to you."
)
HANDOFF_UNSUPPORTED_TEXT = "Sorry, I can't connect you with a person in this chat."
_ZH = {
    HANDOFF_ACCEPTED_TEXT: "好的，正在为您转接人工客服，请留在此对话中。",
    HANDOFF_DECLINED_TEXT: "好的。还有什么可以帮您？",
    HANDOFF_OFFLINE_TEXT: "目前没有客服在线。请留下您的邮箱和留言，我们会尽快回复您。",
    HANDOFF_UNSUPPORTED_TEXT: "抱歉，在此对话中无法为您转接人工客服。",
}

TEXT_SLOT = "text"  # slot entity that takes the visitor's whole message
# Intents that answer without collecting anything, whatever slots an admin attached to them.
NO_SLOT_INTENTS = frozenset({"greet", "goodbye"})

_Step = Callable[["_Turn"], "Decision | _Step"]


def decide(
    *,
    bot: BotSpec,
    tracker: Tracker,
    parse: ParseResult,
    rng: random.Random | None = None,
    max_steps: int = MAX_STEPS_PER_TURN,
) -> tuple[Decision, Tracker]:
    """Decide the bot's next action for one visitor message.

    `rng` picks response variations. Without one, a generator seeded from the bot, the turn number
    and the text is used, so a retried turn (Celery acks_late) picks the same variation.
    """
    new = _copy_tracker(tracker)
    new.turn_count += 1
    if rng is None:
        rng = random.Random(f"{bot.slug}\x00{new.turn_count}\x00{parse.text}")
    turn = _Turn(bot=bot, tracker=new, parse=parse, rng=rng)

    step: _Step = _start
    for _ in range(max_steps):
        result = step(turn)
        if isinstance(result, Decision):
            return result, turn.tracker
        step = result

    # Rule loop: throw away this turn's partial state changes, clear the form (the likely culprit)
    # and answer with the fallback, which counts like any other fallback.
    safe = _copy_tracker(tracker)
    safe.turn_count += 1
    safe.active_form = None
    safe.requested_slot = None
    safe.consecutive_fallbacks += 1
    return Decision(action="fallback", template_text=bot.fallback_text), safe


# --- internals ---------------------------------------------------------------------------------


class _Turn:
    __slots__ = ("bot", "tracker", "parse", "rng", "intent_to_handle")

    def __init__(self, *, bot: BotSpec, tracker: Tracker, parse: ParseResult, rng: random.Random) -> None:
        self.bot = bot
        self.tracker = tracker
        self.parse = parse
        self.rng = rng
        self.intent_to_handle: str | None = None


def _copy_tracker(tracker: Tracker) -> Tracker:
    return Tracker(
        slots=copy.deepcopy(tracker.slots),
        active_form=tracker.active_form,
        requested_slot=tracker.requested_slot,
        last_intent=tracker.last_intent,
        consecutive_fallbacks=tracker.consecutive_fallbacks,
        handoff_offered=tracker.handoff_offered,
        turn_count=tracker.turn_count,
        step_up=copy.deepcopy(tracker.step_up),
    )


def _confident_intent(turn: _Turn) -> str | None:
    """The recognised intent's name, if it is above the threshold and the bot still has it."""
    intent = turn.parse.intent
    if intent is None or intent.confidence < turn.bot.nlu_threshold:
        return None
    return intent.name if intent.name in turn.bot.intents else None


def _form_slots(spec: IntentSpec) -> tuple[SlotSpec, ...]:
    return () if spec.name in NO_SLOT_INTENTS else spec.form_slots


def _speaks_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _say(turn: _Turn, english: str) -> str:
    return _ZH[english] if _speaks_chinese(turn.parse.text) else english


def _handoff(turn: _Turn, *, reason: str, intent: str | None = None, text: str | None = None) -> Decision:
    """Hand over to a person if one can come now; otherwise say so and offer the offline form."""
    t = turn.tracker
    t.handoff_offered = False
    t.consecutive_fallbacks = 0
    t.active_form = None
    t.requested_slot = None
    if not turn.bot.handoff_available:
        return Decision(
            action="handoff_offline",
            intent=intent,
            template_text=_say(turn, HANDOFF_OFFLINE_TEXT if turn.bot.offline_form else HANDOFF_UNSUPPORTED_TEXT),
            handoff_reason=reason,
        )
    return Decision(
        action="handoff",
        intent=intent,
        template_text=text or _say(turn, HANDOFF_ACCEPTED_TEXT),
        handoff_reason=reason,
    )


def _start(turn: _Turn) -> Decision | _Step:
    t = turn.tracker
    if t.handoff_offered:
        answer = turn.parse.text.strip().casefold()
        if answer in (HANDOFF_ACCEPT.casefold(), HANDOFF_QUICK_REPLIES_ZH[0]):
            return _handoff(turn, reason=f"Accepted the offer of a person after {t.consecutive_fallbacks} fallbacks.")
        if answer in (HANDOFF_DECLINE.casefold(), HANDOFF_QUICK_REPLIES_ZH[1]):
            t.handoff_offered = False
            t.consecutive_fallbacks = 0
            return Decision(action="utter_template", template_text=_say(turn, HANDOFF_DECLINED_TEXT))
    if asks_for_person(turn.parse.text):
        return _handoff(turn, reason="The visitor asked for a person.")
    if t.active_form is not None:
        return _form_answer
    turn.intent_to_handle = _confident_intent(turn)
    return _handle_intent


def _form_answer(turn: _Turn) -> Decision | _Step:
    t = turn.tracker
    spec = turn.bot.intents.get(t.active_form or "")
    slots = _form_slots(spec) if spec is not None else ()
    requested = next((s for s in slots if s.name == t.requested_slot), None)
    if spec is None or requested is None:
        # The admin removed the intent or the slot since the form started: drop the form quietly.
        t.active_form = None
        t.requested_slot = None
        turn.intent_to_handle = _confident_intent(turn)
        return _handle_intent

    used: set[int] = set()
    value = _value_for(requested, turn.parse, used)
    if value is not None:
        t.slots[requested.name] = value
        # A visitor who answers several questions in one message should not be asked them again.
        for slot in slots:
            if slot is not requested and _is_empty(t.slots.get(slot.name)) and slot.entity != TEXT_SLOT:
                other = _value_for(slot, turn.parse, used)
                if other is not None:
                    t.slots[slot.name] = other
        t.consecutive_fallbacks = 0
        turn.intent_to_handle = spec.name
        return _continue_form

    other_intent = _confident_intent(turn)
    if other_intent is not None and other_intent != spec.name:
        t.active_form = None  # topic change: abandon the form, keep its slots
        t.requested_slot = None
        turn.intent_to_handle = other_intent
        return _handle_intent

    # Invalid answer (or the form's own intent restated): ask again, count nothing.
    return Decision(action="ask_slot", intent=spec.name, slot=requested.name, template_text=requested.prompt)


def _handle_intent(turn: _Turn) -> Decision | _Step:
    name = turn.intent_to_handle
    spec = turn.bot.intents.get(name) if name is not None else None
    if spec is None:
        return _out_of_scope
    t = turn.tracker
    t.last_intent = spec.name
    t.consecutive_fallbacks = 0
    t.handoff_offered = False  # the conversation moved on; a later streak may offer again
    if spec.hands_off:
        text = spec.responses[turn.rng.randrange(len(spec.responses))].text if spec.responses else None
        return _handoff(turn, reason=f"Intent {spec.name} hands off.", intent=spec.name, text=text)

    slots = _form_slots(spec)
    if slots:
        t.active_form = spec.name
        t.requested_slot = None
        used: set[int] = set()
        for slot in slots:
            if slot.entity == TEXT_SLOT:
                continue  # the triggering message is not the answer to a free-text question
            value = _value_for(slot, turn.parse, used)
            if value is not None:
                t.slots[slot.name] = value
        return _continue_form
    return _respond(turn, spec)


def _continue_form(turn: _Turn) -> Decision | _Step:
    t = turn.tracker
    spec = turn.bot.intents[turn.intent_to_handle or ""]
    for slot in _form_slots(spec):
        if _is_empty(t.slots.get(slot.name)):
            t.active_form = spec.name
            t.requested_slot = slot.name
            return Decision(action="ask_slot", intent=spec.name, slot=slot.name, template_text=slot.prompt)
    t.active_form = None
    t.requested_slot = None
    return _respond(turn, spec)


def _respond(turn: _Turn, spec: IntentSpec) -> Decision:
    if spec.action:
        return Decision(action="call_action", intent=spec.name)
    if spec.response_mode == "generate":
        return Decision(action="generate", intent=spec.name)
    if spec.responses:
        variant = spec.responses[turn.rng.randrange(len(spec.responses))]
        return Decision(
            action="utter_template", intent=spec.name, template_text=variant.text, quick_replies=variant.quick_replies
        )
    if spec.name == "greet" and turn.bot.greeting:
        return Decision(action="greet", intent=spec.name, template_text=turn.bot.greeting)
    # A template intent without templates is a configuration gap: answer as best we can.
    if turn.bot.generate_when_out_of_scope:
        return Decision(action="generate", intent=spec.name)
    return Decision(action="fallback", intent=spec.name, template_text=turn.bot.fallback_text)


def _out_of_scope(turn: _Turn) -> Decision:
    t = turn.tracker
    bot = turn.bot
    if not bot.intents and bot.generate_when_out_of_scope:
        # A pure LLM bot (no intents): every message is "out of scope" by construction, so counting
        # them as fallbacks would offer a person every few messages for no reason.
        return Decision(action="generate")
    t.consecutive_fallbacks += 1
    # A person is only offered when one can come: no promise the product cannot keep.
    if t.consecutive_fallbacks >= bot.fallbacks_before_handoff and not t.handoff_offered and bot.handoff_available:
        t.handoff_offered = True
        replies = HANDOFF_QUICK_REPLIES_ZH if _speaks_chinese(turn.parse.text) else HANDOFF_QUICK_REPLIES
        return Decision(action="offer_handoff", template_text=bot.handoff_text, quick_replies=replies)
    if bot.generate_when_out_of_scope:
        return Decision(action="generate")
    return Decision(action="fallback", template_text=bot.fallback_text)


def _value_for(slot: SlotSpec, parse: ParseResult, used: set[int]) -> object | None:
    """The value that fills `slot` from this message, or None. Marks the entity used."""
    if slot.entity == TEXT_SLOT:
        text = parse.text.strip()
        return text or None
    for i, entity in enumerate(parse.entities):
        if i not in used and _matches(entity, slot) and not _is_empty(entity.value):
            used.add(i)
            return entity.value
    return None


def _matches(entity: Entity, slot: SlotSpec) -> bool:
    # Builtins (email, phone, number, date, time) and bot entities alike: only an entity of the
    # slot's type is a valid answer, which is the validation.
    return entity.entity == slot.entity


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- after retrieval ---------------------------------------------------------------------------
# The processor retrieves only for out-of-scope messages, after `decide`; these two adjust what
# `decide` concluded once the knowledge base has had its say.

NO_KNOWLEDGE_TEXT_ZH = "抱歉，我没有这方面的信息。"


def answered_from_knowledge(*, before: Tracker, after: Tracker) -> Tracker:
    """The knowledge base answers the message (a curated FAQ, or evidence for the LLM): an answer,
    not a fallback, so it neither counts towards nor makes an offer of a person."""
    tracker = _copy_tracker(after)
    tracker.consecutive_fallbacks = 0
    tracker.handoff_offered = before.handoff_offered
    return tracker


def decline_without_knowledge(*, bot: BotSpec, tracker: Tracker, text: str) -> tuple[Decision, Tracker]:
    """Nothing in the knowledge base answers: say so instead of letting the LLM invent, and offer
    a person when one can come now (the visitor's "Talk to a person" is then understood)."""
    new = _copy_tracker(tracker)
    chinese = _speaks_chinese(text)
    words = bot.no_answer_text
    if chinese and words == NO_KNOWLEDGE_TEXT:  # the default wording has a Chinese version
        words = NO_KNOWLEDGE_TEXT_ZH
    replies: tuple[str, ...] = ()
    if bot.handoff_available and not new.handoff_offered:
        new.handoff_offered = True
        replies = HANDOFF_QUICK_REPLIES_ZH if chinese else HANDOFF_QUICK_REPLIES
    return Decision(action="no_knowledge", template_text=words, quick_replies=replies), new


# --- after an action ---------------------------------------------------------------------------
# The processor calls the intent's HTTP action when `decide` says "call_action"; this turns what
# came back into the reply. Every failure is said plainly: never a made-up status.

ACTION_DEFAULT_TEXTS = {
    "not_found": "I couldn't find anything for that. Please check the details and try again.",
    "failed": "Sorry, I couldn't reach our system just now, so I can't look that up. Please try again in a few minutes.",
    "identity_required": "For your security I can only look that up once you're signed in on our website.",
    "limited": "I've looked that up too often in a short time. Please try again a little later.",
    "code_sent": "To keep your account safe I've sent you a one-time code. Please type it here to continue.",
    "code_wrong": "That code doesn't match. Please check it and type it again.",
    "code_expired": "That code has expired or was tried too many times. Ask me again and I'll send a new one.",
}
_ACTION_DEFAULT_TEXTS_ZH = {
    "not_found": "没有找到相关信息，请核对后再试。",
    "failed": "抱歉，暂时无法连接我们的系统，现在查不到。请过几分钟再试。",
    "identity_required": "为了您的账户安全，请先在网站上登录，我才能为您查询。",
    "limited": "查询过于频繁，请稍后再试。",
    "code_sent": "为了您的账户安全，我已向您发送了一次性验证码，请在此输入验证码以继续。",
    "code_wrong": "验证码不正确，请核对后重新输入。",
    "code_expired": "验证码已过期或尝试次数过多。请重新提出请求，我会再发送一个新的验证码。",
}


_ACTION_REPLIES: dict[str, ActionName] = {
    "not_found": "action_not_found",
    "failed": "action_failed",
    "identity_required": "action_identity_required",
    "limited": "action_limited",
    "code_sent": "action_code_sent",
    "code_wrong": "action_code_wrong",
    "code_expired": "action_code_expired",
}


def code_turn(tracker: Tracker) -> Tracker:
    """The tracker of a turn whose message is a one-time code: a turn like any other, nothing decided."""
    new = _copy_tracker(tracker)
    new.turn_count += 1
    return new


def after_action(
    *, bot: BotSpec, tracker: Tracker, intent: str, result: ActionResult, text: str
) -> tuple[Decision, Tracker, dict[str, object]]:
    """(the reply's decision, the tracker to keep, the slots its template is rendered with)."""
    new = _copy_tracker(tracker)
    new.slots.update(result.slots)
    if result.step_up is not None:
        new.step_up = dict(result.step_up)
    render_slots = dict(new.slots)
    if result.status == "ok":
        return Decision(action="action", intent=intent, template_text=result.template), new, render_slots
    chinese = _speaks_chinese(text)
    words = result.template or (_ACTION_DEFAULT_TEXTS_ZH if chinese else ACTION_DEFAULT_TEXTS)[result.status]
    if result.status == "not_found":
        # The details were wrong: forget them, so asking again asks for them again.
        spec = bot.intents.get(intent)
        for slot in _form_slots(spec) if spec else ():
            new.slots.pop(slot.name, None)
    replies: tuple[str, ...] = ()
    if result.status == "failed" and bot.handoff_available and not new.handoff_offered:
        # We could not do what was asked: a person may be able to.
        new.handoff_offered = True
        replies = HANDOFF_QUICK_REPLIES_ZH if chinese else HANDOFF_QUICK_REPLIES
    return (
        Decision(action=_ACTION_REPLIES[result.status], intent=intent, template_text=words, quick_replies=replies),
        new,
        render_slots,
    )
