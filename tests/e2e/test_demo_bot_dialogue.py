"""The demo bot through the whole stack: real NLU (embeddings in the worker), templates, a form over
several turns, a topic change mid-form, a question its help center answers (grounded, through the
LLM) and one it does not (declined, a person offered), then the handoff."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from bots.models import Conversation, KnowledgeDocument, Message
from bots.services.demo import demo_help_center_ensure
from tests.factories import agent_on_duty
from tests.support import ws
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


async def say(communicator, text: str) -> dict:
    await communicator.send_json_to({"type": "message", "client_id": ws.new_client_id(), "text": text})
    await ws.expect(communicator, "ack")
    _, final = await ws.collect_reply(communicator, timeout=60)
    return final


async def test_templates_form_topic_change_and_handoff(
    demo_bot, allowed_origin, stub_llm, celery_worker, demo_orders_api
) -> None:
    stub_llm.behaviour.reply = "Clean it with lukewarm water and dry it fully before storing [1]."
    await sync_to_async(agent_on_duty)(demo_bot)  # a person can come, so the bot may offer one
    communicator = await ws.connect(demo_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)

    greeting = await say(communicator, "hello there")
    assert greeting["text"].startswith("Hi! I'm the Acme assistant")
    assert "Track my order" in greeting["quick_replies"]

    ask = await say(communicator, "where is my order?")
    assert "order number" in ask["text"]
    # Topic change mid-form: a confident other intent is answered; the form is dropped.
    hours = await say(communicator, "what are your opening hours")
    assert "Monday to Saturday" in hours["text"]
    await say(communicator, "track my order")
    done = await say(communicator, "it's AC-12345")
    # The shop's orders API answered (a signed request; the API refuses unsigned ones).
    assert done["text"] == "Order AC-12345 was shipped on 1 December and should arrive by 4 December."
    unknown_order = await say(communicator, "where is my order AC-99999")
    assert unknown_order["text"].startswith("I can't find order AC-99999.")
    calls = await sync_to_async(
        lambda: [m.action_calls for m in Message.objects.filter(conversation__bot=demo_bot).exclude(action_calls=[])]
    )()
    assert [(c[0]["status"], c[0]["http_status"], c[0]["arguments"]) for c in calls] == [
        ("ok", 200, {"order_number": "AC-12345"}),
        ("not_found", 404, {"order_number": "AC-99999"}),
    ]
    assert calls[0][0]["response"]["status"] == "shipped"

    # The help center (Markdown pages and FAQs), imported as `seed_demo` does; the worker embeds it.
    await sync_to_async(demo_help_center_ensure)(bot=demo_bot)
    await sync_to_async(wait_until)(
        lambda: (
            KnowledgeDocument.objects.filter(bot=demo_bot).exists()
            and not KnowledgeDocument.objects.filter(bot=demo_bot).exclude(status="ready").exists()
        ),
        what="the demo help center ready",
        timeout=120,
    )
    # No intent, but the help pages answer it: a grounded reply from the LLM, with that page offered.
    grounded = await say(communicator, "how should I clean and dry my tent?")
    assert grounded["text"] == stub_llm.behaviour.reply
    assert "lukewarm water" in str(stub_llm.behaviour.requests[-1]["messages"])
    asked = len(stub_llm.behaviour.requests)
    # Nothing answers it: the bot says so without asking the LLM, and offers the person on duty.
    unknown = await say(communicator, "what's the airspeed velocity of an unladen swallow")
    assert unknown["text"] == "Sorry, I don't have information about that."
    assert unknown["quick_replies"] == ["Talk to a person", "No thanks"]
    assert len(stub_llm.behaviour.requests) == asked
    accepted = await say(communicator, unknown["quick_replies"][0])
    assert "connecting you with a person" in accepted["text"]
    await communicator.disconnect()

    conversation = await Conversation.objects.aget(pk=welcome["conversation_id"])
    actions = [
        a
        async for a in Message.objects.filter(conversation=conversation, role="bot")
        .order_by("seq")
        .values_list("action", flat=True)
    ]
    assert actions == [
        "utter_template",
        "ask_slot",
        "utter_template",
        "ask_slot",
        "action",
        "action_not_found",
        "generate",
        "no_knowledge",
        "handoff",
    ]
    assert conversation.status in ("queued", "assigned")  # the router may already have given it to the agent
    intents = [
        i
        async for i in Message.objects.filter(conversation=conversation, role="user")
        .order_by("seq")
        .values_list("intent", flat=True)
    ]
    assert intents[:3] == ["greet", "track_order", "opening_hours"]
    # The number the shop did not know is forgotten, so asking again asks for it again.
    assert "order_number" not in conversation.tracker["slots"]


async def test_the_demo_help_center_answers_a_curated_faq_verbatim(demo_bot, allowed_origin, stub_llm, celery_worker):
    await sync_to_async(demo_help_center_ensure)(bot=demo_bot)
    # Every page ready, not only the FAQs: nothing may still be indexing when the test's data is flushed.
    await sync_to_async(wait_until)(
        lambda: not KnowledgeDocument.objects.filter(bot=demo_bot).exclude(status="ready").exists(),
        what="the demo help center ready",
        timeout=120,
    )
    communicator = await ws.connect(demo_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    final = await say(communicator, "When will my card be charged?")
    await communicator.disconnect()
    assert final["text"] == "When your order ships, not when you place it."
    assert final["citations"] == [{"title": "When will my card be charged?", "url": ""}]
    assert stub_llm.behaviour.requests == []
