"""Dialogue manager: forms, fallbacks, handoff, variations, step cap. Plain Python, no database."""

from __future__ import annotations

import random

import pytest

from engine.dialogue import HANDOFF_QUICK_REPLIES, decide
from engine.types import BotSpec, Entity, IntentScore, IntentSpec, ParseResult, ResponseVariant, SlotSpec, Tracker

BOOK = IntentSpec(
    name="book_table",
    response_mode="template",
    responses=(ResponseVariant("Booked for {party_size} on {date}. Confirmation to {email}."),),
    form_slots=(
        SlotSpec("party_size", "number", "How many people?"),
        SlotSpec("date", "date", "For which day?"),
        SlotSpec("email", "email", "What's your email?"),
    ),
)


def make_bot(**overrides) -> BotSpec:
    intents = {
        "greet": IntentSpec("greet", "template", responses=(ResponseVariant("Hello!", ("Hours", "Book")),)),
        "goodbye": IntentSpec(
            "goodbye",
            "template",
            responses=(ResponseVariant("Bye!"),),
            form_slots=(SlotSpec("x", "text", "Should not be asked"),),
        ),
        "hours": IntentSpec(
            "hours", "template", responses=tuple(ResponseVariant(f"Open 9-5 (v{i})") for i in range(5))
        ),
        "pricing": IntentSpec("pricing", "generate"),
        "book_table": BOOK,
        "complain": IntentSpec(
            "complain",
            "template",
            responses=(ResponseVariant("Noted: {issue}"),),
            form_slots=(SlotSpec("issue", "text", "What went wrong?"),),
        ),
    }
    fields = {
        "slug": "demo",
        "name": "Demo",
        "persona": "You help.",
        "greeting": "Hi!",
        "fallback_text": "Sorry?",
        "handoff_text": "Want a human?",
        "nlu_threshold": 0.5,
        "fallbacks_before_handoff": 2,
        "generate_when_out_of_scope": False,
        "llm_temperature": 0.3,
        "llm_max_tokens": 64,
        "intents": intents,
        "handoff_available": True,  # a person can come (tests below turn it off)
        "offline_form": True,  # the widget's channel
    }
    fields.update(overrides)
    return BotSpec(**fields)


def parse(text: str, intent: str | None = None, confidence: float = 0.9, entities: list[Entity] = ()) -> ParseResult:
    score = IntentScore(intent, confidence) if intent else None
    return ParseResult(text=text, intent=score, ranking=[score] if score else [], entities=list(entities))


def ent(kind: str, value, text: str | None = None) -> Entity:
    return Entity(
        entity=kind, value=value, start=0, end=len(text or str(value)), text=text or str(value), extractor="builtin"
    )


def test_template_intent_utters_variation_and_quick_replies():
    decision, tracker = decide(bot=make_bot(), tracker=Tracker(), parse=parse("hi", "greet"))
    assert decision.action == "utter_template"
    assert decision.template_text == "Hello!"
    assert decision.quick_replies == ("Hours", "Book")
    assert tracker.turn_count == 1
    assert tracker.last_intent == "greet"


def test_input_tracker_is_not_mutated():
    before = Tracker(slots={"a": 1}, consecutive_fallbacks=1)
    _, after = decide(bot=make_bot(), tracker=before, parse=parse("two", "book_table", entities=[ent("number", 2)]))
    assert before == Tracker(slots={"a": 1}, consecutive_fallbacks=1)
    assert after.slots == {"a": 1, "party_size": 2}
    assert after is not before


def test_variations_deterministic_with_seeded_rng():
    bot = make_bot()
    picks_a = [
        decide(bot=bot, tracker=Tracker(), parse=parse("hours?", "hours"), rng=random.Random(7))[0].template_text
        for _ in range(3)
    ]
    rng = random.Random(7)
    expected = f"Open 9-5 (v{rng.randrange(5)})"
    assert picks_a == [expected] * 3
    rng = random.Random(123)
    seq = [
        decide(bot=bot, tracker=Tracker(), parse=parse("hours?", "hours"), rng=rng)[0].template_text for _ in range(20)
    ]
    assert len(set(seq)) > 1  # the rng really drives the choice


def test_default_rng_is_deterministic_per_turn():
    bot = make_bot()
    a = decide(bot=bot, tracker=Tracker(turn_count=3), parse=parse("hours?", "hours"))[0]
    b = decide(bot=bot, tracker=Tracker(turn_count=3), parse=parse("hours?", "hours"))[0]
    assert a == b


def test_goodbye_ignores_form_slots():
    decision, tracker = decide(bot=make_bot(), tracker=Tracker(), parse=parse("bye", "goodbye"))
    assert decision.action == "utter_template" and decision.template_text == "Bye!"
    assert tracker.active_form is None


def test_greet_without_templates_uses_bot_greeting():
    bot = make_bot()
    bot.intents["greet"] = IntentSpec("greet", "template")
    decision, _ = decide(bot=bot, tracker=Tracker(), parse=parse("hello", "greet"))
    assert decision.action == "greet" and decision.template_text == "Hi!"


def test_generate_intent():
    decision, _ = decide(bot=make_bot(), tracker=Tracker(), parse=parse("how much?", "pricing"))
    assert decision.action == "generate" and decision.intent == "pricing"


def test_form_across_turns_fills_asks_and_completes():
    bot = make_bot()
    # Turn 1: the trigger already carries the party size.
    d1, t1 = decide(bot=bot, tracker=Tracker(), parse=parse("table for 4", "book_table", entities=[ent("number", 4)]))
    assert (d1.action, d1.slot, d1.template_text) == ("ask_slot", "date", "For which day?")
    assert t1.active_form == "book_table" and t1.requested_slot == "date"
    assert t1.slots == {"party_size": 4}
    # Turn 2: the answer fills the requested slot from a matching entity.
    d2, t2 = decide(bot=bot, tracker=t1, parse=parse("friday", None, entities=[ent("date", "2026-11-27", "friday")]))
    assert (d2.action, d2.slot, d2.template_text) == ("ask_slot", "email", "What's your email?")
    assert t2.slots["date"] == "2026-11-27"
    # Turn 3: the last slot completes the form and the template is chosen.
    d3, t3 = decide(bot=bot, tracker=t2, parse=parse("a@b.co", None, entities=[ent("email", "a@b.co")]))
    assert d3.action == "utter_template" and d3.intent == "book_table"
    assert d3.template_text == BOOK.responses[0].text
    assert t3.active_form is None and t3.requested_slot is None
    assert t3.slots == {"party_size": 4, "date": "2026-11-27", "email": "a@b.co"}
    assert t3.turn_count == 3


def test_form_answer_fills_several_slots_at_once():
    bot = make_bot()
    _, t1 = decide(bot=bot, tracker=Tracker(), parse=parse("book", "book_table"))
    assert t1.requested_slot == "party_size"
    d, t2 = decide(
        bot=bot, tracker=t1, parse=parse("3 people, x@y.z", None, entities=[ent("number", 3), ent("email", "x@y.z")])
    )
    assert d.slot == "date"
    assert t2.slots == {"party_size": 3, "email": "x@y.z"}


def test_text_slot_takes_whole_message():
    bot = make_bot()
    d1, t1 = decide(bot=bot, tracker=Tracker(), parse=parse("I want to complain", "complain"))
    assert d1.action == "ask_slot" and d1.slot == "issue"  # the trigger is not the answer
    d2, t2 = decide(bot=bot, tracker=t1, parse=parse("  The soup was cold  ", None))
    assert d2.action == "utter_template" and t2.slots["issue"] == "The soup was cold"


def test_invalid_slot_answer_reasks_and_counts_nothing():
    bot = make_bot()
    _, t1 = decide(
        bot=bot,
        tracker=Tracker(consecutive_fallbacks=1),
        parse=parse("book", "book_table", entities=[ent("number", 2)]),
    )
    # Not a date entity (a number is the wrong type): re-ask with the prompt.
    d2, t2 = decide(bot=bot, tracker=t1, parse=parse("dunno, 5?", None, entities=[ent("number", 5)]))
    assert (d2.action, d2.slot, d2.template_text) == ("ask_slot", "date", "For which day?")
    assert t2.active_form == "book_table" and t2.requested_slot == "date"
    assert "date" not in t2.slots
    assert t2.consecutive_fallbacks == t1.consecutive_fallbacks == 0
    assert t2.handoff_offered is False


def test_topic_change_mid_form_abandons_form_and_keeps_slots():
    bot = make_bot()
    _, t1 = decide(bot=bot, tracker=Tracker(), parse=parse("book for 2", "book_table", entities=[ent("number", 2)]))
    d2, t2 = decide(bot=bot, tracker=t1, parse=parse("when are you open?", "hours", 0.95))
    assert d2.action == "utter_template" and d2.intent == "hours"
    assert t2.active_form is None and t2.requested_slot is None
    assert t2.slots == {"party_size": 2}
    assert t2.last_intent == "hours"
    # Coming back to the form does not re-ask the kept slot.
    d3, t3 = decide(bot=bot, tracker=t2, parse=parse("book please", "book_table"))
    assert d3.slot == "date" and t3.active_form == "book_table"


def test_low_confidence_other_intent_does_not_abandon_form():
    bot = make_bot()
    _, t1 = decide(bot=bot, tracker=Tracker(), parse=parse("book for 2", "book_table", entities=[ent("number", 2)]))
    d2, t2 = decide(bot=bot, tracker=t1, parse=parse("open?", "hours", 0.3))
    assert d2.action == "ask_slot" and t2.active_form == "book_table"


def test_entity_answer_beats_intent_mid_form():
    bot = make_bot()
    _, t1 = decide(bot=bot, tracker=Tracker(), parse=parse("book for 2", "book_table", entities=[ent("number", 2)]))
    d2, t2 = decide(
        bot=bot, tracker=t1, parse=parse("friday, when do you open?", "hours", 0.9, entities=[ent("date", "fri")])
    )
    assert d2.slot == "email" and t2.active_form == "book_table" and t2.slots["date"] == "fri"


def test_out_of_scope_generates_when_enabled_and_counts_as_fallback():
    bot = make_bot(generate_when_out_of_scope=True, fallbacks_before_handoff=3)
    d, t = decide(bot=bot, tracker=Tracker(), parse=parse("what is the meaning of life", None))
    assert d.action == "generate" and d.intent is None
    assert t.consecutive_fallbacks == 1


def test_fallback_counting_offers_handoff_after_n():
    bot = make_bot(fallbacks_before_handoff=3)
    t = Tracker()
    actions = []
    for i in range(4):
        d, t = decide(bot=bot, tracker=t, parse=parse(f"gibberish {i}", None))
        actions.append(d.action)
        if d.action == "offer_handoff":
            assert d.template_text == "Want a human?"
            assert d.quick_replies == HANDOFF_QUICK_REPLIES == ("Talk to a person", "No thanks")
            assert t.handoff_offered is True
            assert t.consecutive_fallbacks == 3
    assert actions == ["fallback", "fallback", "offer_handoff", "fallback"]  # offered once, not every turn
    d, _ = decide(bot=bot, tracker=Tracker(), parse=parse("??", None))
    assert d.template_text == "Sorry?"


def test_recognised_intent_resets_fallback_counter():
    bot = make_bot(fallbacks_before_handoff=2)
    _, t = decide(bot=bot, tracker=Tracker(), parse=parse("???", None))
    assert t.consecutive_fallbacks == 1
    _, t = decide(bot=bot, tracker=t, parse=parse("hi", "greet"))
    assert t.consecutive_fallbacks == 0
    d, t = decide(bot=bot, tracker=t, parse=parse("???", None))
    assert d.action == "fallback" and t.consecutive_fallbacks == 1  # not yet the handoff


def test_handoff_accept_and_decline():
    bot = make_bot(fallbacks_before_handoff=1)
    d, t = decide(bot=bot, tracker=Tracker(), parse=parse("???", None))
    assert d.action == "offer_handoff"
    accept, ta = decide(bot=bot, tracker=t, parse=parse("talk to a person", None))
    assert accept.action == "handoff" and ta.handoff_offered is False and ta.consecutive_fallbacks == 0
    decline, td = decide(bot=bot, tracker=t, parse=parse("No thanks", None))
    assert decline.action == "utter_template" and td.consecutive_fallbacks == 0 and td.handoff_offered is False


def test_unknown_intent_name_is_out_of_scope():
    d, t = decide(bot=make_bot(), tracker=Tracker(), parse=parse("x", "deleted_intent"))
    assert d.action == "fallback" and t.consecutive_fallbacks == 1


def test_step_cap_turns_into_fallback():
    bot = make_bot()
    _, t1 = decide(bot=bot, tracker=Tracker(), parse=parse("book for 2", "book_table", entities=[ent("number", 2)]))
    # A topic change needs 3 steps (start -> form answer -> new intent); cap at 2.
    d, t2 = decide(bot=bot, tracker=t1, parse=parse("open?", "hours"), max_steps=2)
    assert d.action == "fallback" and d.template_text == "Sorry?"
    assert t2.active_form is None and t2.requested_slot is None
    assert t2.turn_count == t1.turn_count + 1
    assert t2.consecutive_fallbacks == 1
    assert t2.last_intent == "book_table"  # partial changes of the aborted turn are discarded
    # With the default cap the same turn is handled normally.
    d, _ = decide(bot=bot, tracker=t1, parse=parse("open?", "hours"))
    assert d.intent == "hours"


@pytest.mark.parametrize("removed", ["intent", "slot"])
def test_form_survives_admin_removing_its_intent_or_slot(removed):
    bot = make_bot()
    _, t1 = decide(bot=bot, tracker=Tracker(), parse=parse("book", "book_table"))
    if removed == "intent":
        del bot.intents["book_table"]
    else:
        bot.intents["book_table"] = IntentSpec(
            "book_table", "template", responses=BOOK.responses, form_slots=BOOK.form_slots[1:]
        )
    d, t2 = decide(bot=bot, tracker=t1, parse=parse("hi", "greet"))
    assert d.intent == "greet" and t2.active_form is None


def test_bot_without_intents_generates_and_never_offers_handoff() -> None:
    from engine.dialogue import decide
    from engine.types import BotSpec, ParseResult, Tracker

    bot = BotSpec(
        slug="llm",
        name="LLM",
        persona="p",
        greeting="",
        fallback_text="fb",
        handoff_text="person?",
        nlu_threshold=0.5,
        fallbacks_before_handoff=2,
        generate_when_out_of_scope=True,
        llm_temperature=0.2,
        llm_max_tokens=64,
        intents={},
    )
    tracker = Tracker()
    for text in ["one", "two", "three", "four"]:
        decision, tracker = decide(
            bot=bot, tracker=tracker, parse=ParseResult(text=text, intent=None, ranking=[], entities=[])
        )
        assert decision.action == "generate"
    assert tracker.consecutive_fallbacks == 0 and not tracker.handoff_offered
