"""A worker killed mid-turn loses nothing: the turn is redelivered (acks_late + visibility timeout)
to another worker, the visitor message is stored once and exactly one reply is stored and delivered."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from bots.models import Message
from tests.support import ws
from tests.support.processes import start_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST_REDELIVERY = {"TURN_SOFT_TIME_LIMIT": "8", "TURN_HARD_TIME_LIMIT": "10", "BROKER_VISIBILITY_MARGIN": "2"}


async def test_turn_of_a_killed_worker_is_answered_by_the_next_worker(
    llm_bot, allowed_origin, stub_llm, own_turn_queue, tmp_path
) -> None:
    stub_llm.behaviour.first_token_delay = 2.0
    stub_llm.behaviour.reply = "Answered after the first worker died."
    first = start_worker(log=tmp_path / "worker1.log", extra_env=FAST_REDELIVERY, queue=own_turn_queue)
    communicator = await ws.connect(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    try:
        await asyncio.sleep(3)  # let the worker connect to the broker
        await communicator.send_json_to({"type": "message", "client_id": "kill-me", "text": "Are you there?"})
        ack = await ws.expect(communicator, "ack")
        deadline = time.monotonic() + 20
        while not stub_llm.behaviour.requests:  # the turn is running inside the first worker
            assert time.monotonic() < deadline, (tmp_path / "worker1.log").read_text()[-3000:]
            await asyncio.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        await communicator.disconnect()  # the visitor leaves too, and comes back later

        stub_llm.behaviour.first_token_delay = 0.0
        second = start_worker(log=tmp_path / "worker2.log", extra_env=FAST_REDELIVERY, queue=own_turn_queue)
        try:
            again = await ws.connect(llm_bot.public_key, allowed_origin)
            await ws.hello(again, visitor_token=welcome["visitor_token"], last_seq=ack["seq"])
            _, final = await ws.collect_reply(again, timeout=60)
            assert final["text"] == "Answered after the first worker died."
            await again.disconnect()
        finally:
            second.terminate()
            second.wait(timeout=15)
    finally:
        if first.poll() is None:
            first.kill()
    assert await Message.objects.filter(client_id="kill-me").acount() == 1
    assert await Message.objects.filter(reply_to_id=ack["message_id"]).acount() == 1
    assert len(stub_llm.behaviour.requests) == 2  # the killed worker's attempt, then the redo
