"""Faults: a dead, flaky, slow or dying LLM; hostile text both ways; Redis restarting under us.

The stub LLM's behaviour knobs (tests/support/stub_llm.py) inject the faults; the real Celery
worker, channel layer and consumer handle them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from kombu.transport import redis as kombu_redis

from bots.models import Message
from chatplatform.launcher.embedded import free_port
from conversations.services.turns import REPLY_FAILED_TEXT
from inference_worker.client import reset_llm_client
from tests.conversations.conftest import assert_alive, open_ws
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]

XSS = '<script>alert(1)</script> <img src=x onerror=alert(1)> "quotes" & ampersands'


def _called_from(function_name: str) -> bool:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == function_name:
            return True
        frame = frame.f_back
    return False


async def frames_until_bot_message(communicator: WebsocketCommunicator, timeout: float = 30) -> list[dict[str, Any]]:
    """Every frame up to and including the bot's final message (errors included, unlike ws.collect_reply)."""
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no bot message within {timeout} s; got {seen}"
        frame = await communicator.receive_json_from(timeout=remaining)
        seen.append(frame)
        if frame["type"] == "message" and frame["role"] == "bot":
            return seen


async def test_dead_llm_stores_message_reports_reply_failed_and_survives(
    llm_bot, allowed_origin, stub_llm, celery_worker, settings
) -> None:
    settings.VLLM_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    settings.VLLM_CONNECT_TIMEOUT = 0.5
    reset_llm_client()
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": "Is the LLM there?"})
    ack = await ws.expect(communicator, "ack")
    seen = await frames_until_bot_message(communicator)
    errors = [f for f in seen if f["type"] == "error"]
    assert len(errors) == 1 and errors[0]["code"] == "reply_failed" and errors[0]["reply_to"] == ack["message_id"]
    final = seen[-1]
    assert final["reply_to"] == ack["message_id"] and final["text"] == str(REPLY_FAILED_TEXT)
    assert not [f for f in seen if f["type"] == "delta"]  # nothing half-said

    visitor = await Message.objects.aget(pk=ack["message_id"])
    assert visitor.text == "Is the LLM there?"
    stored = await Message.objects.aget(pk=final["id"])
    assert stored.action == "llm_error" and stored.reply_to_id == visitor.pk
    await assert_alive(communicator)

    # The LLM comes back: the next message is answered normally on the same connection.
    settings.VLLM_BASE_URL = stub_llm.base_url
    reset_llm_client()
    await communicator.send_json_to({"type": "message", "client_id": "c2", "text": "And now?"})
    await ws.expect(communicator, "ack")
    _, final2 = await ws.collect_reply(communicator)
    assert final2["text"] == stub_llm.behaviour.reply
    await communicator.disconnect()


async def test_llm_503_twice_then_ok_is_retried_invisibly(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    stub_llm.behaviour.fail_times = 2
    stub_llm.behaviour.fail_status = 503
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": "flaky upstream"})
    await ws.expect(communicator, "ack")
    deltas, final = await ws.collect_reply(communicator)  # raises on an error frame
    assert final["text"] == stub_llm.behaviour.reply == "".join(d["text"] for d in deltas)
    assert [d["offset"] for d in deltas][0] == 0 and sum(d["offset"] == 0 for d in deltas) == 1
    assert len(stub_llm.behaviour.requests) == 3
    assert (await Message.objects.aget(pk=final["id"])).action == "generate"
    await communicator.disconnect()


def _prompt_chars(request: dict[str, Any]) -> int:
    return sum(len(str(m.get("content") or "")) for m in request["messages"])


async def test_a_prompt_over_the_models_context_is_retried_once_with_less_history(
    llm_bot, allowed_origin, stub_llm, celery_worker
) -> None:
    long_question = "Tell me about parcels. " * 130  # ~3,000 characters: in the history, not in a trimmed one
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "c1", "text": long_question})
    await ws.expect(communicator, "ack")
    await ws.collect_reply(communicator)
    (first,) = stub_llm.behaviour.requests
    # The model's "context": the first prompt without the long question, plus room for a short turn.
    stub_llm.behaviour.max_prompt_chars = _prompt_chars(first) - len(long_question.strip()) + 600
    stub_llm.behaviour.requests.clear()

    await communicator.send_json_to({"type": "message", "client_id": "c2", "text": "And the price?"})
    await ws.expect(communicator, "ack")
    _, final = await ws.collect_reply(communicator)  # raises on an error frame

    refused, trimmed = stub_llm.behaviour.requests
    assert _prompt_chars(refused) > stub_llm.behaviour.max_prompt_chars >= _prompt_chars(trimmed)
    assert "parcels" in json.dumps(refused) and "parcels" not in json.dumps(trimmed)
    assert final["text"] == stub_llm.behaviour.reply
    assert (await Message.objects.aget(pk=final["id"])).action == "generate"

    # A prompt that cannot fit at all: refused twice, then the honest failure, not a loop.
    stub_llm.behaviour.max_prompt_chars = 1
    stub_llm.behaviour.requests.clear()
    await communicator.send_json_to({"type": "message", "client_id": "c3", "text": "Still there?"})
    await ws.expect(communicator, "ack")
    seen = await frames_until_bot_message(communicator)
    assert seen[-1]["text"] == str(REPLY_FAILED_TEXT) and len(stub_llm.behaviour.requests) == 2
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_llm_4xx_is_not_retried(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    stub_llm.behaviour.fail_times = 5
    stub_llm.behaviour.fail_status = 400
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": "bad request upstream"})
    await ws.expect(communicator, "ack")
    seen = await frames_until_bot_message(communicator)
    assert [f["code"] for f in seen if f["type"] == "error"] == ["reply_failed"]
    assert len(stub_llm.behaviour.requests) == 1
    await communicator.disconnect()


async def _mid_stream_death(llm_bot, allowed_origin, stub_llm):
    stub_llm.behaviour.reply = "The first part arrives, and then the model server falls over completely."
    stub_llm.behaviour.chunk_size = 5
    stub_llm.behaviour.chunk_delay = 0.06  # > the coalescing window: the first part is really sent
    stub_llm.behaviour.die_after_chunks = 4
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": "talk to me"})
    ack = await ws.expect(communicator, "ack")
    seen = await frames_until_bot_message(communicator)
    return communicator, ack, seen


async def test_llm_dies_mid_stream(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    communicator, ack, seen = await _mid_stream_death(llm_bot, allowed_origin, stub_llm)
    deltas = [f for f in seen if f["type"] == "delta"]
    streamed = "".join(d["text"] for d in deltas)
    assert streamed and stub_llm.behaviour.reply.startswith(streamed)  # no repeated text: not retried
    assert [d["offset"] for d in deltas].count(0) == 1
    assert len(stub_llm.behaviour.requests) == 1
    final = seen[-1]
    assert final["reply_to"] == ack["message_id"]
    await asyncio.sleep(0.3)
    assert await Message.objects.filter(reply_to_id=ack["message_id"]).acount() == 1
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_llm_dying_mid_stream_is_reported_not_stored_as_a_reply(
    llm_bot, allowed_origin, stub_llm, celery_worker
) -> None:
    communicator, ack, seen = await _mid_stream_death(llm_bot, allowed_origin, stub_llm)
    await communicator.disconnect()
    assert [f["code"] for f in seen if f["type"] == "error"] == ["reply_failed"]
    assert (await Message.objects.aget(pk=seen[-1]["id"])).action == "llm_error"


async def test_slow_first_token_still_arrives(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    stub_llm.behaviour.first_token_delay = 1.5
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": "take your time"})
    await ws.expect(communicator, "ack")
    assert (await ws.expect(communicator, "typing"))["on"] is True  # the visitor sees "typing" meanwhile
    await assert_alive(communicator)  # the socket is responsive while the worker waits
    _, final = await ws.collect_reply(communicator)
    assert final["text"] == stub_llm.behaviour.reply
    stored = await Message.objects.aget(pk=final["id"])
    assert stored.time_to_first_token_ms >= 1400
    await communicator.disconnect()


async def test_html_is_plain_text_both_ways(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    stub_llm.behaviour.reply = XSS
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": XSS})
    ack = await ws.expect(communicator, "ack")
    deltas, final = await ws.collect_reply(communicator)
    # Stored verbatim, sent verbatim as a JSON string: no escaping on the server (the widget inserts
    # text as text; escaping here would show "&lt;" to visitors and double-escape in the admin).
    assert (await Message.objects.aget(pk=ack["message_id"])).text == XSS
    assert (await Message.objects.aget(pk=final["id"])).text == XSS
    assert final["text"] == XSS and "".join(d["text"] for d in deltas) == XSS
    await communicator.disconnect()
    again = await open_ws(llm_bot.public_key, allowed_origin)
    back = await ws.hello(again, visitor_token=welcome["visitor_token"])
    assert [m["text"] for m in back["messages"]] == [XSS, XSS]
    await again.disconnect()


async def test_redis_restart_between_messages(
    llm_bot, allowed_origin, stub_llm, celery_worker, embedded_services
) -> None:
    """Redis (broker, channel layer, rate-limit cache) restarts with its data gone, group memberships
    included. What the visitor experiences: nothing. The open socket keeps working (redis-py
    reconnects), the consumer re-joins its conversation group when the visitor next sends (or pings),
    the worker's broker connection recovers by itself, and the next message is answered live.
    """
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "before", "text": "first question"})
    await ws.expect(communicator, "ack")
    await ws.collect_reply(communicator)
    await asyncio.sleep(0.5)  # let the worker ack the finished task (a lost ack is another test)

    embedded_services.restart_redis()

    await assert_alive(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "after", "text": "second question"})
    ack = await ws.expect(communicator, "ack", timeout=15)
    assert ack["seq"] == 3
    _, final = await ws.collect_reply(communicator, timeout=40)
    assert final["reply_to"] == ack["message_id"] and final["text"]
    await communicator.disconnect()


async def test_redis_restart_then_reconnect(
    llm_bot, allowed_origin, stub_llm, celery_worker, embedded_services
) -> None:
    """A visitor who was away while Redis restarted reconnects into the same conversation."""
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "before", "text": "first question"})
    await ws.expect(communicator, "ack")
    await ws.collect_reply(communicator)
    await communicator.disconnect()
    await asyncio.sleep(0.5)

    embedded_services.restart_redis()

    again = await open_ws(llm_bot.public_key, allowed_origin)
    back = await ws.hello(again, visitor_token=welcome["visitor_token"], last_seq=0)
    assert back["conversation_id"] == welcome["conversation_id"] and [m["seq"] for m in back["messages"]] == [1, 2]
    await again.send_json_to({"type": "message", "client_id": "after", "text": "second question"})
    ack = await ws.expect(again, "ack", timeout=15)
    _, final = await ws.collect_reply(again, timeout=40)
    assert final["reply_to"] == ack["message_id"]
    await again.disconnect()


async def test_a_failed_cleanup_of_the_lost_broker_connection_does_not_stop_the_worker(
    llm_bot, allowed_origin, stub_llm, celery_worker, embedded_services, monkeypatch
) -> None:
    """Closing a kombu channel that Redis dropped mid-BRPOP can raise AttributeError instead of a
    connection error (chatplatform/worker_consumer.py); Celery's own consumer calls that
    unrecoverable and stops consuming for good. Inject exactly that failure on the worker's cleanup
    of the lost connection: the next message must still be answered."""
    real_close = kombu_redis.Channel.close
    injected: list[object] = []

    def close_failing_once(channel: kombu_redis.Channel) -> None:
        cleanup = _called_from("on_connection_error_after_connected")
        try:
            real_close(channel)
        except AttributeError:
            if cleanup:  # kombu's own bug struck first: the same fault, not injected but real
                injected.append(channel)
            raise
        if cleanup and not injected:
            injected.append(channel)
            raise AttributeError("'NoneType' object has no attribute 'hostname'")

    monkeypatch.setattr(kombu_redis.Channel, "close", close_failing_once)
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)

    embedded_services.restart_redis()

    await assert_alive(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "after", "text": "are you there?"})
    ack = await ws.expect(communicator, "ack", timeout=15)
    _, final = await ws.collect_reply(communicator, timeout=40)
    assert injected, "the worker never closed its lost connection's channel: the fault was not injected"
    assert final["reply_to"] == ack["message_id"] and final["text"]
    await communicator.disconnect()
