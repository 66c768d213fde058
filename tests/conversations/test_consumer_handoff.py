"""The widget socket during a handoff (issue #12): state in welcome and live, agent messages with
their author (live and replayed), visitor typing for the agents only, the offline form."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from bots.models import Conversation, Message, OfflineTicket
from conversations import frames
from conversations.services import handoff
from tests.conversations.conftest import next_frame, open_ws
from tests.factories import agent_on_duty
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_routing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "task_send", lambda *_: None)


async def _conversation_with_a_message(bot, origin: str, no_turns: list[int]) -> tuple[object, dict]:
    communicator = await open_ws(bot.public_key, origin)
    await ws.hello(communicator, v=2)
    await communicator.send_json_to({"type": "message", "client_id": "m1", "text": "hello"})
    ack = await ws.expect(communicator, "ack")
    return communicator, ack


async def test_handoff_state_is_live_and_in_the_welcome_after_a_reload(llm_bot, allowed_origin, no_turns) -> None:
    profile = await sync_to_async(agent_on_duty)(llm_bot, display_name="Alice")
    communicator, ack = await _conversation_with_a_message(llm_bot, allowed_origin, no_turns)
    conversation_id = ack["conversation_id"]

    await sync_to_async(handoff.handoff_request)(conversation_id=conversation_id, reason="test")
    queued = await ws.expect(communicator, "handoff")
    assert queued["status"] == "queued" and queued["position"] == 1 and queued["agent"] is None

    await sync_to_async(handoff.handoff_claim)(conversation_id=conversation_id, agent=profile.user)
    assigned = await ws.expect(communicator, "handoff")
    assert assigned["status"] == "assigned" and assigned["agent"] == {"name": "Alice", "avatar_url": ""}

    await sync_to_async(handoff.agent_message_send)(
        conversation_id=conversation_id, agent=profile.user, text="<b>Hi</b>, I'm Alice.", client_id="agent-1"
    )
    live = await ws.expect(communicator, "message")
    assert live["role"] == "agent" and live["author"]["name"] == "Alice" and live["text"] == "<b>Hi</b>, I'm Alice."
    await communicator.disconnect()

    # The visitor reloads: the state and the agent's message come back (replay by seq).
    again = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(again, v=2, visitor_token=ack["visitor_token"], last_seq=0)
    assert welcome["handoff"]["status"] == "assigned" and welcome["handoff"]["agent"]["name"] == "Alice"
    agent_messages = [m for m in welcome["messages"] if m["role"] == "agent"]
    assert [(m["id"], m["author"]["name"]) for m in agent_messages] == [(live["id"], "Alice")]
    await again.disconnect()


async def test_visitor_typing_reaches_the_conversation_group_but_not_the_visitor(
    llm_bot, allowed_origin, no_turns
) -> None:
    communicator, ack = await _conversation_with_a_message(llm_bot, allowed_origin, no_turns)
    layer = get_channel_layer()
    agent_page = await layer.new_channel()
    await layer.group_add(frames.conversation_group(ack["conversation_id"]), agent_page)
    await communicator.send_json_to({"type": "typing", "on": True})
    event = await layer.receive(agent_page)
    while event["frame"]["type"] != "typing":  # the visitor's message broadcast may come first
        event = await layer.receive(agent_page)
    assert event["frame"] == {"type": "typing", "role": "visitor", "on": True}
    assert await communicator.receive_nothing(timeout=0.3)  # not echoed to the visitor
    await communicator.disconnect()


async def test_the_offline_form_is_stored_once_and_checked(llm_bot, allowed_origin, no_turns) -> None:
    communicator, ack = await _conversation_with_a_message(llm_bot, allowed_origin, no_turns)
    form = {
        "type": "offline_ticket",
        "client_id": "t1",
        "name": "Ann",
        "email": "ann@example.com",
        "message": "Call me",
    }
    await communicator.send_json_to(form)
    assert await ws.expect(communicator, "offline_ticket_ack") == {"type": "offline_ticket_ack", "client_id": "t1"}
    await communicator.send_json_to(form)  # a resend
    await ws.expect(communicator, "offline_ticket_ack")
    tickets = [t async for t in OfflineTicket.objects.filter(bot=llm_bot)]
    assert [(t.email, t.message, t.conversation_id) for t in tickets] == [
        ("ann@example.com", "Call me", ack["conversation_id"])
    ]

    await communicator.send_json_to({**form, "client_id": "t2", "email": "not-an-address"})
    error = await next_frame(communicator)
    assert (error["type"], error["code"], error["client_id"]) == ("error", "bad_email", "t2")
    await communicator.send_json_to({**form, "client_id": "t3", "message": "   "})
    assert (await next_frame(communicator))["code"] == "empty_message"
    assert await OfflineTicket.objects.acount() == 1
    await communicator.disconnect()


async def test_the_offline_form_needs_a_conversation(llm_bot, allowed_origin) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator, v=2)
    await communicator.send_json_to(
        {"type": "offline_ticket", "client_id": "t1", "email": "ann@example.com", "message": "hi"}
    )
    assert (await next_frame(communicator))["code"] == "no_conversation"
    await communicator.disconnect()


async def test_a_new_conversation_welcome_says_the_bot_has_it(llm_bot, allowed_origin, no_turns) -> None:
    communicator, ack = await _conversation_with_a_message(llm_bot, allowed_origin, no_turns)
    await communicator.disconnect()
    again = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(again, v=2, visitor_token=ack["visitor_token"])
    assert welcome["handoff"] == {"status": "bot", "position": None, "expected_wait_s": None, "agent": None}
    assert await Message.objects.filter(conversation_id=ack["conversation_id"]).acount() == 1
    assert (await Conversation.objects.aget(pk=ack["conversation_id"])).status == "bot"
    await again.disconnect()
