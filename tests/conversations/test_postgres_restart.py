"""PostgreSQL stopped and started again under a live chat (reliability matrix row 5): a message sent
while the database is down gets a clear `unavailable` error (no ack, no traceback, the socket stays),
and the widget's resend after the restart is stored and answered once. A restart while a reply
streams delays its store (a short one) or fails it and the turn is retried (a long one): either
way the visitor gets exactly one reply and one is stored."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from bots.models import Message
from tests.conversations.conftest import assert_alive, next_frame, open_ws
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgres_outage(embedded_services):
    if embedded_services.postgres is None:
        pytest.skip("PostgreSQL is external in this run; only the embedded one is restarted")
    stopped: list[bool] = []

    def stop() -> None:
        embedded_services.postgres_stop()
        stopped.append(True)

    def start() -> None:
        embedded_services.postgres_start()
        stopped.clear()
        connections.close_all()  # this thread's connection died with the server

    yield stop, start
    if stopped:  # never leave the session without its database
        start()
    connections.close_all()  # the test thread's connection died too (the flush after the test uses it)


async def test_a_message_sent_while_postgres_is_down_is_refused_cleanly_and_the_resend_is_stored_once(
    llm_bot, allowed_origin, stub_llm, celery_worker, postgres_outage, caplog
) -> None:
    stop, start = postgres_outage
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "before", "text": "First question"})
    await ws.expect(communicator, "ack")
    await ws.collect_reply(communicator)

    await sync_to_async(stop)()
    frame = {"type": "message", "client_id": "during", "text": "Sent while the database restarts"}
    await communicator.send_json_to(frame)
    # The pool tries to reconnect for DATABASE_POOL_TIMEOUT (20 s) before giving up on the frame.
    error = await next_frame(communicator, timeout=40)
    assert error["type"] == "error" and error["code"] == "unavailable", error
    assert error["client_id"] == "during" and error["retry_after"] > 0
    await assert_alive(communicator)
    assert any("ws_database_unavailable" in str(r.msg) for r in caplog.records)
    assert not [r for r in caplog.records if r.exc_info]  # a log line, not a traceback

    await sync_to_async(start)()
    await communicator.send_json_to(frame)  # the widget's resend after retry_after
    ack = await ws.expect(communicator, "ack", timeout=15)
    assert ack["client_id"] == "during" and ack["duplicate"] is False  # it had not been stored
    _, reply = await ws.collect_reply(communicator)
    assert reply["reply_to"] == ack["message_id"]
    await communicator.send_json_to(frame)
    assert (await ws.expect(communicator, "ack"))["duplicate"] is True
    await asyncio.sleep(0.3)

    rows = [m async for m in Message.objects.filter(conversation_id=welcome["conversation_id"]).order_by("seq")]
    assert [(m.role, m.client_id) for m in rows if m.role == "user"] == [("user", "before"), ("user", "during")]
    assert sorted(m.reply_to_id for m in rows if m.role == "bot") == sorted(m.pk for m in rows if m.role == "user")
    assert [m.seq for m in rows] == list(range(1, len(rows) + 1))
    await communicator.disconnect()


async def _reply_while_postgres_restarts(
    bot, origin: str, stub_llm, postgres_outage, *, down_for_s: float
) -> tuple[dict, dict, list[dict]]:
    """A visitor message whose reply is streaming (the first delta: the claim is done and the
    connection is back in the pool) when PostgreSQL stops; the stream ends about 3 s later, so the
    store step meets a stopped server, which starts again `down_for_s` after it stopped.
    Returns the welcome, the ack and every frame up to the final reply."""
    stop, start = postgres_outage
    stub_llm.behaviour.chunk_delay = 0.5
    communicator = await open_ws(bot.public_key, origin)
    welcome = await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "mid-turn", "text": "Where is my parcel?"})
    ack = await ws.expect(communicator, "ack")
    frames = [await ws.expect(communicator, "delta")]
    await sync_to_async(stop)()
    await asyncio.sleep(down_for_s)
    await sync_to_async(start)()
    while not (frames[-1]["type"] == "message" and frames[-1]["role"] == "bot"):
        frames.append(await next_frame(communicator, timeout=90))
    await communicator.disconnect()
    return welcome, ack, frames


async def _stored_once(welcome: dict, ack: dict) -> None:
    rows = [m async for m in Message.objects.filter(conversation_id=welcome["conversation_id"]).order_by("seq")]
    assert [(m.role, m.client_id) for m in rows] == [("user", "mid-turn"), ("bot", None)]
    assert rows[1].reply_to_id == ack["message_id"] and rows[1].action != "llm_error"


async def test_postgres_restarting_while_a_reply_streams_delays_the_store_and_loses_nothing(
    llm_bot, allowed_origin, stub_llm, celery_worker, postgres_outage, caplog
) -> None:
    # Shorter than the pool's wait for a connection (DATABASE_POOL_TIMEOUT, 20 s): the store step
    # waits for the server and goes through; nothing fails.
    welcome, ack, frames = await _reply_while_postgres_restarts(
        llm_bot, allowed_origin, stub_llm, postgres_outage, down_for_s=3
    )
    assert not [f for f in frames if f["type"] == "error"]
    assert frames[-1]["reply_to"] == ack["message_id"] and frames[-1]["text"] == stub_llm.behaviour.reply
    await _stored_once(welcome, ack)
    assert len(stub_llm.behaviour.requests) == 1
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_turn_whose_store_outlives_the_pools_wait_is_retried_and_answered_once(
    llm_bot, allowed_origin, stub_llm, celery_worker, postgres_outage, caplog
) -> None:
    # Longer than the pool's wait: the store step fails, the task is retried with the same lease
    # owner (so it need not wait for its own lease to expire) and answers once PostgreSQL is back.
    welcome, ack, frames = await _reply_while_postgres_restarts(
        llm_bot, allowed_origin, stub_llm, postgres_outage, down_for_s=25
    )
    finals = [f for f in frames if f["type"] == "message" and f["role"] == "bot"]
    assert len(finals) == 1 and finals[0]["reply_to"] == ack["message_id"]
    assert finals[0]["text"] == stub_llm.behaviour.reply
    await _stored_once(welcome, ack)
    assert len(stub_llm.behaviour.requests) == 2  # the first answer was never stored; the retry's was
    assert any("turn_database_unavailable" in str(r.msg) for r in caplog.records)
    assert not [r for r in caplog.records if r.exc_info]  # log lines, not tracebacks
