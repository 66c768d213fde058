"""Protocol v2 (issue #11, item 4): a hello opens no conversation row; the visitor's first message
creates it (once, however often or from however many sockets it is sent), its token comes back in
the ack and resumes the conversation. Also the open-socket gauge (inc on accept, dec once on close).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import pytest
from django.core import signing
from django.db import connection
from prometheus_client import REGISTRY

from bots.models import Conversation, Message
from conversations.services.conversations import conversation_first_message_receive
from conversations.services.identity import user_hash_expected
from conversations.visitor_tokens import VISITOR_TOKEN_SALT
from tests.conversations.conftest import (
    assert_alive,
    communicator_for,
    expect_closed,
    expect_error,
    next_frame,
    open_ws,
    send_raw,
)
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]


async def hello2(communicator, **fields: Any) -> dict[str, Any]:
    return await ws.hello(communicator, v=2, **fields)


async def send(communicator, client_id: str, text: str = "Where is my parcel?") -> dict[str, Any]:
    await communicator.send_json_to({"type": "message", "client_id": client_id, "text": text})
    return await next_frame(communicator)


def claims(token: str) -> dict[str, Any]:
    return signing.loads(token, salt=VISITOR_TOKEN_SALT)


def sockets_open() -> float:
    value = REGISTRY.get_sample_value("chatplatform_websockets_open")
    assert value is not None
    return value


async def test_hello_then_disconnect_creates_no_row(llm_bot, allowed_origin, no_turns) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await hello2(communicator, locale="en")
    assert welcome["v"] == 2
    assert (welcome["conversation_id"], welcome["last_seq"], welcome["messages"]) == (None, 0, [])
    assert welcome["bot"]["name"] == llm_bot.name
    # The token names the visitor only (no conversation yet).
    token = claims(welcome["visitor_token"])
    assert token["b"] == llm_bot.pk and token["c"] is None and len(token["v"]) == 32
    await communicator.disconnect()
    # A reload with that token: still nothing, the same visitor.
    again = await open_ws(llm_bot.public_key, allowed_origin)
    back = await hello2(again, visitor_token=welcome["visitor_token"])
    assert back["conversation_id"] is None and claims(back["visitor_token"])["v"] == token["v"]
    await again.disconnect()
    assert await Conversation.objects.acount() == 0 and no_turns == []


async def test_frames_before_the_first_message(llm_bot, allowed_origin, no_turns) -> None:
    """typing is dropped, resume replays nothing, feedback and csat get `no_conversation`."""
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await hello2(communicator)
    await communicator.send_json_to({"type": "typing", "on": True})
    await communicator.send_json_to({"type": "resume", "last_seq": 0})
    await assert_alive(communicator)  # the next frame is the pong: nothing answered typing/resume
    await communicator.send_json_to({"type": "feedback", "message_id": 1, "rating": "up"})
    await expect_error(communicator, "no_conversation")
    await communicator.send_json_to({"type": "csat", "score": 5})
    await expect_error(communicator, "no_conversation")
    await communicator.disconnect()
    assert await Conversation.objects.acount() == 0


async def test_first_message_creates_one_conversation_and_returns_its_token(llm_bot, allowed_origin, no_turns) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await hello2(communicator, locale="fr-CA")
    visitor_id = claims(welcome["visitor_token"])["v"]
    ack = await send(communicator, "first")
    assert ack["type"] == "ack" and (ack["seq"], ack["duplicate"]) == (1, False)
    conversation = await Conversation.objects.aget()
    assert ack["conversation_id"] == conversation.pk
    assert claims(ack["visitor_token"]) == {"b": llm_bot.pk, "c": conversation.pk, "v": visitor_id}
    assert (conversation.visitor_id, conversation.locale, conversation.channel) == (visitor_id, "fr-CA", "widget")
    # The same frame again (a resend): stored once, the same conversation.
    again = await send(communicator, "first")
    assert (again["type"], again["message_id"], again["duplicate"]) == ("ack", ack["message_id"], True)
    # Later messages are ordinary: no token in their ack.
    second = await send(communicator, "second")
    assert second["seq"] == 2 and "visitor_token" not in second
    await communicator.disconnect()
    assert await Conversation.objects.acount() == 1
    assert await Message.objects.filter(conversation=conversation).acount() == 2
    assert len(no_turns) == 2


async def test_refused_first_message_creates_nothing(llm_bot, allowed_origin, no_turns) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await hello2(communicator)
    error = await send(communicator, "empty", text="   \x00 ")
    assert (error["code"], error["client_id"]) == ("empty_message", "empty")
    await communicator.send_json_to({"type": "message", "client_id": 12, "text": "hi"})
    await expect_error(communicator, "bad_frame")
    await communicator.disconnect()
    assert await Conversation.objects.acount() == 0


async def test_token_from_the_ack_resumes_on_a_new_socket(llm_bot, allowed_origin, no_turns) -> None:
    first = await open_ws(llm_bot.public_key, allowed_origin)
    await hello2(first)
    ack = await send(first, "m1")
    await first.disconnect()
    second = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await hello2(second, visitor_token=ack["visitor_token"], last_seq=0)
    assert (welcome["conversation_id"], welcome["last_seq"]) == (ack["conversation_id"], 1)
    assert [m["client_id"] for m in welcome["messages"]] == ["m1"]
    assert (await send(second, "m2"))["seq"] == 2
    await second.disconnect()
    assert await Conversation.objects.acount() == 1


async def test_first_message_resent_on_a_new_socket_after_a_lost_ack(llm_bot, allowed_origin, no_turns) -> None:
    """The socket died before the ack: the widget kept the welcome's (visitor) token and resends."""
    first = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await hello2(first)
    ack = await send(first, "lost-ack")
    await first.disconnect()
    second = await open_ws(llm_bot.public_key, allowed_origin)
    back = await hello2(second, visitor_token=welcome["visitor_token"], last_seq=0)
    assert back["conversation_id"] == ack["conversation_id"]
    assert claims(back["visitor_token"])["c"] == ack["conversation_id"]
    again = await send(second, "lost-ack")
    assert (again["message_id"], again["duplicate"]) == (ack["message_id"], True)
    await second.disconnect()
    assert await Conversation.objects.acount() == 1 and await Message.objects.acount() == 1
    assert len(no_turns) == 1


@pytest.mark.parametrize("same_client_id", [True, False], ids=["same-client-id", "distinct-client-ids"])
async def test_two_sockets_racing_the_first_message(llm_bot, allowed_origin, no_turns, same_client_id) -> None:
    """Two tabs of one visitor (same token, no conversation yet) send at the same moment."""
    opener = await open_ws(llm_bot.public_key, allowed_origin)
    token = (await hello2(opener))["visitor_token"]
    await opener.disconnect()
    sockets = [await open_ws(llm_bot.public_key, allowed_origin) for _ in range(4)]
    for communicator in sockets:
        assert (await hello2(communicator, visitor_token=token))["conversation_id"] is None
    client_ids = ["race"] * 4 if same_client_id else [f"race-{i}" for i in range(4)]
    acks = await asyncio.gather(*(send(c, cid) for c, cid in zip(sockets, client_ids, strict=True)))
    for communicator in sockets:
        await communicator.disconnect()
    assert all(a["type"] == "ack" for a in acks), acks
    conversation = await Conversation.objects.aget()
    assert {a["conversation_id"] for a in acks} == {conversation.pk}
    if same_client_id:
        assert len({a["message_id"] for a in acks}) == 1 and sum(not a["duplicate"] for a in acks) == 1
        assert len(no_turns) == 1
    else:
        assert sorted(a["seq"] for a in acks) == [1, 2, 3, 4]
        assert len(no_turns) == 4
    assert await Message.objects.acount() == (1 if same_client_id else 4)


async def test_verified_identity_is_written_to_the_row(llm_bot, allowed_origin, no_turns) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await hello2(communicator, user_id="alice", user_hash=user_hash_expected(bot=llm_bot, user_id="alice"))
    assert welcome["conversation_id"] is None
    ack = await send(communicator, "a1")
    await communicator.disconnect()
    assert (await Conversation.objects.aget(pk=ack["conversation_id"])).user_id == "alice"
    # Her tokens (the visitor one too) do not open it for someone else.
    for token in (ack["visitor_token"], welcome["visitor_token"]):
        other = await open_ws(llm_bot.public_key, allowed_origin)
        await other.send_json_to({"type": "hello", "v": 2, "visitor_token": token})
        await expect_error(other, "forbidden")
        await other.disconnect()


async def test_conversation_limit_applies_at_the_first_message_not_at_hello(
    llm_bot, allowed_origin, no_turns, settings, frozen_rate_window
) -> None:
    settings.CHAT_CONVERSATIONS_PER_MINUTE_PER_IP = 1
    ip = "198.51.100.77"
    sockets = [await open_ws(llm_bot.public_key, allowed_origin, client_ip=ip) for _ in range(3)]
    for communicator in sockets:
        await hello2(communicator)  # page views: no conversation, no limit spent
    assert (await send(sockets[0], "a"))["type"] == "ack"
    error = await send(sockets[1], "b")
    assert (error["code"], error["client_id"]) == ("rate_limited", "b") and 1 <= error["retry_after"] <= 60
    # The first socket's conversation exists: its next message is not a new conversation.
    assert (await send(sockets[0], "a2"))["type"] == "ack"
    for communicator in sockets:
        await communicator.disconnect()
    assert await Conversation.objects.acount() == 1


async def test_first_message_while_redis_limits_are_down_stores_nothing(
    llm_bot, allowed_origin, no_turns, dead_cache
) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await hello2(communicator)  # fails open: a v2 hello creates nothing
    error = await send(communicator, "x")
    assert (error["code"], error["client_id"], error["retry_after"]) == ("unavailable", "x", 5)
    await communicator.disconnect()
    assert await Conversation.objects.acount() == 0 and no_turns == []


async def test_v1_hello_still_starts_a_conversation(llm_bot, allowed_origin, no_turns) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)  # v 1
    assert welcome["v"] == 1 and welcome["conversation_id"] == (await Conversation.objects.aget()).pk
    ack = await send(communicator, "v1")
    assert "visitor_token" not in ack
    await communicator.disconnect()


async def test_reply_reaches_the_socket_that_created_the_conversation(
    llm_bot, allowed_origin, stub_llm, celery_worker
) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await hello2(communicator)
    ack = await send(communicator, "hello-bot", text="hello")
    _, final = await ws.collect_reply(communicator)
    assert final["reply_to"] == ack["message_id"] and final["seq"] == 2
    await communicator.disconnect()


async def test_open_socket_gauge(llm_bot, allowed_origin, no_turns) -> None:
    before = sockets_open()
    refused = communicator_for(llm_bot.public_key, "https://evil.example")
    connected, _ = await refused.connect(timeout=10)
    assert not connected and sockets_open() == before
    first = await open_ws(llm_bot.public_key, allowed_origin)
    second = await open_ws(llm_bot.public_key, allowed_origin)
    assert sockets_open() == before + 2
    await first.disconnect()
    assert sockets_open() == before + 1
    # Closed by the server (a frame far over the limit), then the client's disconnect: one decrement.
    await hello2(second)
    await send_raw(second, "x" * (5 * 16384))
    await expect_closed(second, 1009)
    await second.disconnect()
    assert sockets_open() == before


@pytest.mark.parametrize("same_client_id", [True, False], ids=["same-client-id", "distinct-client-ids"])
def test_first_message_race_across_processes(llm_bot, no_turns, same_client_id) -> None:
    """What two web processes do (the consumer's own calls share one thread per process): threads with
    their own database connections store the first message of one visitor at the same moment."""
    n = 8
    barrier = Barrier(n)

    def first_message(i: int) -> tuple[int, int]:
        try:
            barrier.wait(timeout=10)
            first = conversation_first_message_receive(
                bot=llm_bot,
                visitor_id="v" * 32,
                user_id="",
                locale="en",
                channel="widget",
                client_id="same" if same_client_id else f"c{i}",
                text="hi",
                client_ip=f"10.200.0.{i}",
            )
            return first.conversation.pk, first.received.message.pk
        finally:
            connection.close()

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(first_message, range(n)))
    assert Conversation.objects.count() == 1
    assert {conversation for conversation, _ in results} == {Conversation.objects.get().pk}
    assert Message.objects.count() == (1 if same_client_id else n)
    assert len({message for _, message in results}) == (1 if same_client_id else n)
