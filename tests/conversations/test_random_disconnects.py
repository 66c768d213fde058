"""Random disconnects and resends (reliability matrix row 18), bounded: one visitor sends 24
messages over a connection that drops at random moments (before the ack, after it, in the middle of
the reply), and does what the widget does: reconnect with its token and last seen sequence number,
resend what was never acknowledged. The seed is fixed (and printed), so a failure replays exactly.

Checked against PostgreSQL and the final replay: every client id is stored exactly once, every
visitor message has exactly one reply, and the sequence numbers have no gaps.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from bots.models import Message
from tests.conversations.conftest import open_ws
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]

MESSAGES = 24
SEED = 20261203
DROP_BEFORE_ACK, DROP_MID_REPLY = 0.25, 0.3


async def _frames_until(communicator, done, timeout: float = 20) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while not done(seen):
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"waited {timeout} s; got {seen}"
        try:
            seen.append(await communicator.receive_json_from(timeout=remaining))
        except TimeoutError:
            raise AssertionError(f"waited {timeout} s; got {seen}") from None
    return seen


async def test_random_disconnects_and_resends_lose_and_double_nothing(
    llm_bot, allowed_origin, stub_llm, celery_worker, settings
) -> None:
    # 24 messages and their resends in seconds, not minutes: the quotas are not what is tested here.
    settings.CHAT_MESSAGES_PER_MINUTE = settings.CHAT_MESSAGES_PER_MINUTE_PER_IP = 10_000
    settings.CHAT_HELLOS_PER_MINUTE_PER_IP = settings.CHAT_FRAMES_PER_MINUTE = 10_000
    print(f"seed {SEED}")
    rng = random.Random(SEED)
    stub_llm.behaviour.first_token_delay = 0.05  # a reply takes long enough to be cut in the middle
    stub_llm.behaviour.chunk_delay = 0.02
    unacked: list[dict[str, Any]] = []
    acked: dict[str, int] = {}  # client id -> message id
    max_seq, next_index, token, conversation_id = 0, 0, None, None
    drops = {"before_ack": 0, "mid_reply": 0}

    for _round in range(200):
        if next_index == MESSAGES and not unacked:
            break
        communicator = await open_ws(llm_bot.public_key, allowed_origin)
        hello = {"visitor_token": token, "last_seq": max_seq} if token else {}
        welcome = await ws.hello(communicator, **hello)
        token, conversation_id = welcome["visitor_token"], welcome["conversation_id"]
        max_seq = max([max_seq, *(m["seq"] for m in welcome["messages"])])
        if next_index < MESSAGES:
            unacked.append({"type": "message", "client_id": f"m{next_index}", "text": f"question {next_index}"})
            next_index += 1
        for frame in unacked:  # the widget resends everything not acknowledged, in order
            await communicator.send_json_to(frame)
        if rng.random() < DROP_BEFORE_ACK:
            drops["before_ack"] += 1
            await communicator.disconnect()
            continue
        waiting = {f["client_id"] for f in unacked}

        def all_acked(seen: list[dict[str, Any]], waiting: set[str] = waiting) -> bool:
            return waiting <= {f.get("client_id") for f in seen if f["type"] == "ack"}

        frames = await _frames_until(communicator, all_acked)
        for ack in (f for f in frames if f["type"] == "ack"):
            assert acked.setdefault(ack["client_id"], ack["message_id"]) == ack["message_id"]  # same row on resend
        unacked = []
        if rng.random() < DROP_MID_REPLY:
            drops["mid_reply"] += 1
            await asyncio.sleep(rng.uniform(0, 0.15))
        else:
            await _frames_until(
                communicator, lambda seen: any(f["type"] == "message" and f["role"] == "bot" for f in seen)
            )
        await communicator.disconnect()
    assert next_index == MESSAGES and not unacked and len(acked) == MESSAGES
    assert drops["before_ack"] >= 3 and drops["mid_reply"] >= 3, drops  # the run did exercise both

    async def all_answered() -> bool:
        return await Message.objects.filter(conversation_id=conversation_id, role="bot").acount() >= MESSAGES

    deadline = asyncio.get_running_loop().time() + 60
    while not await all_answered():
        assert asyncio.get_running_loop().time() < deadline, "not every message was answered within 60 s"
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # a doubled turn would have stored its reply by now

    rows = [m async for m in Message.objects.filter(conversation_id=conversation_id).order_by("seq")]
    users = [m for m in rows if m.role == "user"]
    assert sorted(m.client_id for m in users) == sorted(acked) and len(users) == MESSAGES
    assert {m.client_id: m.pk for m in users} == acked
    replies = [m.reply_to_id for m in rows if m.role == "bot"]
    assert sorted(replies) == sorted(acked.values())  # one reply per message, none twice
    assert [m.seq for m in rows] == list(range(1, len(rows) + 1))  # no gaps

    final = await open_ws(llm_bot.public_key, allowed_origin)
    replay = await ws.hello(final, visitor_token=token, last_seq=0)
    assert [m["id"] for m in replay["messages"]] == [m.pk for m in rows]  # a returning visitor sees it all
    await final.disconnect()
