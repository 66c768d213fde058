"""The end-to-end slice with the stub LLM: WebSocket -> service -> Celery -> LLM -> deltas -> stored reply."""

from __future__ import annotations

import pytest

from bots.models import Conversation, Message
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_message_is_acked_streamed_and_stored(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    stub_llm.behaviour.reply = "Our store ships worldwide within five business days."
    communicator = await ws.connect(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    assert welcome["conversation_id"] and welcome["visitor_token"] and welcome["messages"] == []

    client_id = ws.new_client_id()
    await communicator.send_json_to(
        {"type": "message", "client_id": client_id, "text": "Do you deliver to Iceland by boat?"}
    )
    ack = await ws.expect(communicator, "ack")
    assert ack["client_id"] == client_id and ack["seq"] == 1 and ack["duplicate"] is False

    deltas, final = await ws.collect_reply(communicator)
    assert final["text"] == stub_llm.behaviour.reply
    assert final["seq"] == 2 and final["reply_to"] == ack["message_id"]
    # Coalesced: fewer frames than the stub's chunks, and they add up to the reply.
    assert "".join(d["text"] for d in deltas) == final["text"]
    assert [d["offset"] for d in deltas] == sorted(d["offset"] for d in deltas)
    await communicator.disconnect()

    stored = await Message.objects.aget(pk=final["id"])
    assert stored.role == "bot" and stored.action == "generate" and stored.model == "stub-model"
    assert stored.completion_tokens and stored.prompt_tokens == 11
    assert stored.total_time_ms is not None and stored.time_to_first_token_ms is not None
    assert stub_llm.behaviour.requests[-1]["messages"][-1]["content"].endswith(
        "Do you deliver to Iceland by boat?"
    ) or "Do you deliver to Iceland by boat?" in str(stub_llm.behaviour.requests[-1]["messages"])


async def test_duplicate_client_id_is_stored_once(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    communicator = await ws.connect(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    client_id = ws.new_client_id()
    frame = {"type": "message", "client_id": client_id, "text": "Is anyone there?"}
    await communicator.send_json_to(frame)
    first = await ws.expect(communicator, "ack")
    await communicator.send_json_to(frame)
    second = await ws.expect(communicator, "ack")
    assert second["message_id"] == first["message_id"] and second["duplicate"] is True
    await ws.collect_reply(communicator)
    await communicator.disconnect()
    conversation = await Conversation.objects.aget(
        pk=(await Message.objects.aget(pk=first["message_id"])).conversation_id
    )
    assert await Message.objects.filter(conversation=conversation, role="user").acount() == 1
    assert await Message.objects.filter(conversation=conversation, role="bot").acount() == 1


async def test_reply_finished_while_away_is_replayed_on_reconnect(
    llm_bot, allowed_origin, stub_llm, celery_worker
) -> None:
    stub_llm.behaviour.first_token_delay = 0.5
    communicator = await ws.connect(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": ws.new_client_id(), "text": "Tell me a joke"})
    ack = await ws.expect(communicator, "ack")
    await communicator.disconnect()  # the visitor closes the tab mid-reply

    reply = None
    for _ in range(100):
        reply = await Message.objects.filter(reply_to_id=ack["message_id"]).afirst()
        if reply:
            break
        import asyncio

        await asyncio.sleep(0.1)
    assert reply is not None, "the worker did not finish the reply"

    again = await ws.connect(llm_bot.public_key, allowed_origin)
    welcome2 = await ws.hello(again, visitor_token=welcome["visitor_token"], last_seq=ack["seq"])
    assert welcome2["conversation_id"] == welcome["conversation_id"]
    assert [m["seq"] for m in welcome2["messages"]] == [reply.seq]
    assert welcome2["messages"][0]["text"] == stub_llm.behaviour.reply
    await again.disconnect()
