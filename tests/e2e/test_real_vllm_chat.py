"""A real SmolLM2 reply from the real vLLM engine, streamed through the real WebSocket path:
consumer -> service -> Redis broker -> Celery worker -> vLLM -> channel layer -> consumer."""

from __future__ import annotations

import pytest

from bots.models import Message
from tests.support import ws

pytestmark = [pytest.mark.vllm, pytest.mark.django_db(transaction=True)]


async def test_real_vllm_reply_streams_through_websocket(llm_bot, allowed_origin, real_llm, celery_worker) -> None:
    llm_bot.llm_max_tokens = 48
    llm_bot.llm_temperature = 0.0
    await llm_bot.asave(update_fields=["llm_max_tokens", "llm_temperature"])

    communicator = await ws.connect(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to(
        {"type": "message", "client_id": ws.new_client_id(), "text": "What is the capital of France?"}
    )
    ack = await ws.expect(communicator, "ack")
    deltas, final = await ws.collect_reply(communicator, timeout=120)
    await communicator.disconnect()

    assert final["text"].strip(), "the model produced no text"
    assert len(deltas) >= 2, "a 48-token reply should arrive in several coalesced frames"
    assert "".join(d["text"] for d in deltas).rstrip() == final["text"]
    stored = await Message.objects.aget(pk=final["id"])
    assert stored.reply_to_id == ack["message_id"]
    assert stored.model == "SmolLM2-135M-Instruct"
    assert stored.action == "generate"
    assert 0 < stored.completion_tokens <= 48 and stored.prompt_tokens > 10
    assert 0 < stored.time_to_first_token_ms <= stored.total_time_ms
