"""The dialogue's side of human handoff (issue #12): who asks, and no promise without a person."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from engine.dialogue import HANDOFF_QUICK_REPLIES_ZH, decide
from engine.human_request import asks_for_person
from engine.types import IntentSpec, ResponseVariant, Tracker
from tests.engine.test_dialogue import make_bot, parse

ASKS = [
    "I want to talk to a human",
    "Can I speak to a real person?",
    "connect me with an agent please",
    "human",
    "Agent!",
    "transfer me to a representative",
    "I need a live agent",
    "转人工",
    "我要人工客服",
    "能帮我联系客服吗",
    "有真人吗",
]
NOT_ASKS = [
    "what is your customer service phone number",
    "客服电话是多少",
    "人工智能是什么",
    "are you a real person?",
    "你是真人吗",
    "How much is shipping per person?",
    "I need an uber for 6 people",
    "the person who delivered was rude",
    "where is my order",
]


@pytest.mark.parametrize("text", ASKS)
def test_asking_for_a_person_is_recognised(text: str) -> None:
    assert asks_for_person(text)


@pytest.mark.parametrize("text", NOT_ASKS)
def test_mentioning_service_or_people_is_not_a_request(text: str) -> None:
    assert not asks_for_person(text)


def test_few_false_requests_on_a_public_intent_set_it_was_not_written_from() -> None:
    """CLINC150 (23,700 utterances, 150 intents, none of them "talk to a human") and CAIS (Chinese):
    what the patterns match there must stay rare and be real requests for a person."""
    clinc = Path(__file__).resolve().parents[3] / "shared" / "data" / "clinc150" / "data_full.json"
    if not clinc.exists():
        pytest.skip("the shared CLINC150 data is not on this machine")
    rows = [text for split in json.loads(clinc.read_text()).values() for text, _ in split]
    hits = [text for text in rows if asks_for_person(text)]
    assert len(hits) / len(rows) < 0.001
    assert all("talk to someone" in text or "real person" in text for text in hits)


def test_visitor_asking_for_a_person_hands_off_even_mid_form() -> None:
    bot = make_bot()
    _, in_form = decide(bot=bot, tracker=Tracker(), parse=parse("book a table", "book_table"))
    assert in_form.active_form == "book_table"
    decision, tracker = decide(bot=bot, tracker=in_form, parse=parse("let me talk to a human", None))
    assert decision.action == "handoff" and "person" in decision.handoff_reason
    assert tracker.active_form is None


def test_without_a_person_the_bot_says_so_and_never_offers_one() -> None:
    bot = make_bot(handoff_available=False, fallbacks_before_handoff=1)
    decision, _ = decide(bot=bot, tracker=Tracker(), parse=parse("talk to a person", None))
    assert decision.action == "handoff_offline"
    assert "connecting" not in (decision.template_text or "")
    # the fallback streak no longer offers what nobody can give
    d1, t1 = decide(bot=bot, tracker=Tracker(), parse=parse("???", None))
    d2, _ = decide(bot=bot, tracker=t1, parse=parse("???", None))
    assert {d1.action, d2.action} == {"fallback"}


def test_a_channel_without_the_offline_form_promises_nothing() -> None:
    bot = make_bot(handoff_available=False, offline_form=False)
    decision, _ = decide(bot=bot, tracker=Tracker(), parse=parse("talk to a person", None))
    assert decision.action == "handoff_offline"
    assert decision.template_text == "Sorry, I can't connect you with a person in this chat."


def test_an_intent_flagged_hands_off_queues_with_its_own_words() -> None:
    bot = make_bot()
    intents = dict(bot.intents)
    intents["billing_dispute"] = IntentSpec(
        "billing_dispute",
        "template",
        responses=(ResponseVariant("A billing specialist will join you."),),
        hands_off=True,
    )
    bot = dataclasses.replace(bot, intents=intents)
    decision, _ = decide(bot=bot, tracker=Tracker(), parse=parse("this charge is wrong", "billing_dispute"))
    assert decision.action == "handoff" and decision.intent == "billing_dispute"
    assert decision.template_text == "A billing specialist will join you."


def test_chinese_visitor_gets_chinese_handoff_words() -> None:
    bot = make_bot(fallbacks_before_handoff=1)
    offer, tracker = decide(bot=bot, tracker=Tracker(), parse=parse("？？？啊", None))
    assert offer.action == "offer_handoff" and offer.quick_replies == HANDOFF_QUICK_REPLIES_ZH
    accepted, _ = decide(bot=bot, tracker=tracker, parse=parse("转人工", None))
    assert accepted.action == "handoff" and "人工" in (accepted.template_text or "")
    offline, _ = decide(bot=make_bot(handoff_available=False), tracker=Tracker(), parse=parse("我要人工客服", None))
    assert offline.action == "handoff_offline" and "客服" in (offline.template_text or "")
