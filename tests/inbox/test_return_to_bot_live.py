"""End to end through the real worker and the stub LLM (issue #12): a visitor's conversation is
queued, an agent claims it and answers, returns it to the bot, and the bot answers the visitor's
next message with the agent's turn in its history."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from bots.models import Conversation, Message
from conversations.services import handoff
from tests.inbox.conftest import act, expect, inbox_socket, role_user
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]

AGENT_TEXT = "Alice here: your order ships on Monday."


async def test_the_bot_answers_again_after_the_agent_returns_it(
    llm_bot, allowed_origin, stub_llm, celery_worker
) -> None:
    stub_llm.behaviour.reply = "Happy to help with anything else."
    agent = await sync_to_async(role_user)("agent", llm_bot, first_name="Alice")
    visitor = await ws.connect(llm_bot.public_key, allowed_origin)
    await ws.hello(visitor, v=2)
    await visitor.send_json_to({"type": "message", "client_id": ws.new_client_id(), "text": "Where is my order?"})
    conversation_id = (await ws.expect(visitor, "ack"))["conversation_id"]
    await ws.collect_reply(visitor)

    inbox = await inbox_socket(agent)
    await sync_to_async(handoff.handoff_request)(conversation_id=conversation_id, reason="asked for a person")
    await expect(
        inbox, "update", update={"kind": "handoff_requested", "conversation_id": conversation_id, "status": "queued"}
    )
    assert (await act(inbox, {"type": "claim", "conversation_id": conversation_id}))["type"] == "ack"
    await act(inbox, {"type": "reply", "conversation_id": conversation_id, "client_id": "a1", "text": AGENT_TEXT})
    assert (await ws.expect(visitor, "message"))["text"] == AGENT_TEXT

    assert (await act(inbox, {"type": "return_to_bot", "conversation_id": conversation_id}))["type"] == "ack"
    while (state := await ws.expect(visitor, "handoff"))["status"] != "bot":
        pass
    assert state == {"type": "handoff", "status": "bot", "position": None, "expected_wait_s": None, "agent": None}

    await visitor.send_json_to({"type": "message", "client_id": ws.new_client_id(), "text": "Which Monday?"})
    await ws.expect(visitor, "ack")
    _, final = await ws.collect_reply(visitor)
    assert final["role"] == "bot" and final["text"] == "Happy to help with anything else."

    # The turn's prompt had the agent's message as an assistant turn, before the new question.
    turn = next(r for r in reversed(stub_llm.behaviour.requests) if "Which Monday?" in json.dumps(r["messages"]))
    contents = [(m["role"], m["content"]) for m in turn["messages"]]
    assert ("assistant", AGENT_TEXT) in contents
    assert contents.index(("assistant", AGENT_TEXT)) < max(
        i for i, (_, c) in enumerate(contents) if "Which Monday?" in c
    )
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.status == "bot"
    roles = [m async for m in Message.objects.filter(conversation_id=conversation_id).values_list("role", flat=True)]
    assert roles == ["user", "bot", "agent", "user", "bot"]
    await asyncio.gather(visitor.disconnect(), inbox.disconnect())
