"""Nothing lost, nothing doubled: client ids, sequence numbers, replay and reconnects mid-reply."""

from __future__ import annotations

import asyncio

import pytest

from bots.models import Message
from tests.conversations.conftest import next_frame, open_ws, wait_for
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_duplicate_client_id_across_reconnect(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    """The widget resends an unacked message after a reconnect: stored and answered once."""
    first = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(first)
    frame = {"type": "message", "client_id": "resend-me", "text": "Where is my parcel?"}
    await first.send_json_to(frame)
    ack = await ws.expect(first, "ack")
    await first.disconnect()  # the ack was "lost": the client does not know it arrived

    again = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(again, visitor_token=welcome["visitor_token"], last_seq=0)
    await again.send_json_to(frame)
    ack2 = await ws.expect(again, "ack")
    assert (ack2["message_id"], ack2["seq"], ack2["duplicate"]) == (ack["message_id"], ack["seq"], True)
    reply = await wait_for(lambda: Message.objects.filter(reply_to_id=ack["message_id"]).afirst())
    await asyncio.sleep(0.3)  # a second (wrong) turn would have stored its reply by now
    assert await Message.objects.filter(conversation_id=welcome["conversation_id"]).acount() == 2
    assert await Message.objects.filter(reply_to_id=ack["message_id"]).acount() == 1
    assert reply.seq == 2
    await again.disconnect()


async def test_concurrent_duplicates_from_two_connections(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    """Two tabs (or a retry racing the original) send the same client id at the same moment."""
    first = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(first)
    second = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(second, visitor_token=welcome["visitor_token"])
    frame = {"type": "message", "client_id": "same-id", "text": "Double click!"}
    await asyncio.gather(first.send_json_to(frame), second.send_json_to(frame), first.send_json_to(frame))
    acks = await asyncio.gather(ws.expect(first, "ack"), ws.expect(second, "ack"))
    acks.append(await ws.expect(first, "ack"))
    assert len({a["message_id"] for a in acks}) == 1
    assert sorted(a["duplicate"] for a in acks) == [False, True, True]
    # Both tabs see the one reply, live.
    (_, final1), (_, final2) = await asyncio.gather(ws.collect_reply(first), ws.collect_reply(second))
    assert final1["id"] == final2["id"] and final1["reply_to"] == acks[0]["message_id"]
    await asyncio.sleep(0.3)
    assert await Message.objects.filter(conversation_id=welcome["conversation_id"], role="user").acount() == 1
    assert await Message.objects.filter(conversation_id=welcome["conversation_id"], role="bot").acount() == 1
    await first.disconnect()
    await second.disconnect()


async def test_concurrent_distinct_messages_get_distinct_seqs(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    tabs = []
    first = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(first)
    tabs.append(first)
    for _ in range(2):
        tab = await open_ws(llm_bot.public_key, allowed_origin)
        await ws.hello(tab, visitor_token=welcome["visitor_token"])
        tabs.append(tab)
    await asyncio.gather(
        *(
            tab.send_json_to({"type": "message", "client_id": f"t{i}", "text": f"from tab {i}"})
            for i, tab in enumerate(tabs)
        )
    )
    await asyncio.gather(*(ws.expect(tab, "ack") for tab in tabs))

    async def all_answered() -> bool:
        return await Message.objects.filter(conversation_id=welcome["conversation_id"], role="bot").acount() == 3

    await wait_for(all_answered, timeout=30)
    rows = [m async for m in Message.objects.filter(conversation_id=welcome["conversation_id"]).order_by("seq")]
    assert [m.seq for m in rows] == [1, 2, 3, 4, 5, 6]
    users = {m.pk: m for m in rows if m.role == "user"}
    assert sorted(m.text for m in users.values()) == ["from tab 0", "from tab 1", "from tab 2"]
    assert sorted(m.reply_to_id for m in rows if m.role == "bot") == sorted(users)
    for tab in tabs:
        await tab.disconnect()


async def test_replay_after_every_last_seq(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    for i in range(3):
        await communicator.send_json_to({"type": "message", "client_id": f"c{i}", "text": f"question {i}"})
        await ws.expect(communicator, "ack")
        await ws.collect_reply(communicator)
    await communicator.disconnect()
    expected = [
        (m.role, m.text, m.pk)
        async for m in Message.objects.filter(conversation_id=welcome["conversation_id"]).order_by("seq")
    ]
    assert [r for r, _, _ in expected] == ["user", "bot"] * 3
    assert [t for r, t, _ in expected if r == "user"] == ["question 0", "question 1", "question 2"]
    for last_seq in range(8):
        again = await open_ws(llm_bot.public_key, allowed_origin)
        back = await ws.hello(again, visitor_token=welcome["visitor_token"], last_seq=last_seq)
        assert back["last_seq"] == 6
        assert [m["seq"] for m in back["messages"]] == list(range(last_seq + 1, 7))
        assert [(m["role"], m["text"], m["id"]) for m in back["messages"]] == expected[last_seq:]
        # The explicit resume frame says the same.
        await again.send_json_to({"type": "resume", "last_seq": last_seq})
        await again.send_json_to({"type": "ping"})
        replay = []
        while (frame := await next_frame(again))["type"] != "pong":
            replay.append(frame)
        assert replay == back["messages"]
        await again.disconnect()


async def test_reconnect_mid_reply_gets_the_final_message(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    stub_llm.behaviour.reply = (
        "A fairly long answer that streams in many small pieces so we can leave midway. " * 3
    ).strip()
    stub_llm.behaviour.chunk_size = 4
    stub_llm.behaviour.chunk_delay = 0.02
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "m", "text": "Tell me everything"})
    ack = await ws.expect(communicator, "ack")
    first_delta = await ws.expect(communicator, "delta")
    assert first_delta["offset"] == 0
    await communicator.disconnect()  # the network drops after the first delta

    again = await open_ws(llm_bot.public_key, allowed_origin)
    back = await ws.hello(again, visitor_token=welcome["visitor_token"], last_seq=ack["seq"])
    if back["messages"]:  # the reply finished while we were away
        finals = [m for m in back["messages"] if m["role"] == "bot"]
    else:  # still streaming: the rest arrives live on the new connection
        _, final = await ws.collect_reply(again)
        finals = [final]
    assert len(finals) == 1 and finals[0]["reply_to"] == ack["message_id"]
    assert finals[0]["text"] == stub_llm.behaviour.reply
    # Nothing arrives twice: a resume now replays that same one message, by seq.
    await again.send_json_to({"type": "resume", "last_seq": ack["seq"]})
    replay = await ws.expect(again, "message")
    assert replay["seq"] == finals[0]["seq"]
    await again.disconnect()
    assert await Message.objects.filter(reply_to_id=ack["message_id"]).acount() == 1


async def test_reply_is_live_on_every_open_tab(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    first = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(first)
    second = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(second, visitor_token=welcome["visitor_token"])
    await first.send_json_to({"type": "message", "client_id": "m", "text": "hi"})
    await ws.expect(first, "ack")
    (_, a), (_, b) = await asyncio.gather(ws.collect_reply(first), ws.collect_reply(second))
    assert a == b
    await first.disconnect()
    await second.disconnect()


async def test_next_message_is_acked_while_a_turn_runs(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    stub_llm.behaviour.first_token_delay = 3.0
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "a", "text": "first"})
    await ws.expect(communicator, "ack")
    await ws.expect(communicator, "typing")  # the turn runs and holds the conversation lock
    await communicator.send_json_to({"type": "message", "client_id": "b", "text": "second, while waiting"})
    try:
        ack = await ws.expect(communicator, "ack", timeout=1.5)
        assert ack["client_id"] == "b"
    finally:
        await ws.collect_reply(communicator, timeout=20)
        await communicator.disconnect()


async def test_a_second_tab_sees_the_visitors_message_and_the_reply_live(
    llm_bot, allowed_origin, stub_llm, celery_worker
) -> None:
    first = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(first)
    second = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(second, visitor_token=welcome["visitor_token"])
    await first.send_json_to({"type": "message", "client_id": "tab-1", "text": "Typed in tab one"})
    ack = await ws.expect(first, "ack")
    mirrored = await ws.expect(second, "message")
    assert mirrored["role"] == "user" and mirrored["id"] == ack["message_id"] and mirrored["client_id"] == "tab-1"
    _, final = await ws.collect_reply(second)
    assert final["reply_to"] == ack["message_id"]
    await first.disconnect()
    await second.disconnect()
