"""The LLM calls the demo's order lookup as a tool in a real turn: widget -> NLU -> a generated reply
whose model (the stub, emitting OpenAI tool calls) asks for the pretend shop's live orders API."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from actions.models import HttpAction
from bots.models import Message
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


async def test_a_generated_reply_uses_the_orders_api_through_a_tool_call(
    demo_bot, demo_orders_api, allowed_origin, stub_llm, celery_worker, settings
) -> None:
    settings.VLLM_TOOL_CALLING = True
    await HttpAction.objects.filter(bot=demo_bot, name="order_lookup").aupdate(offered_to_llm=True)
    stub_llm.behaviour.tool_calls = [{"name": "order_lookup", "arguments": '{"order_number": "AC-12345"}'}]
    stub_llm.behaviour.reply = "Your order AC-12345 is on its way: it arrives by 4 December."
    communicator = await ws.connect(demo_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to(
        {"type": "message", "client_id": ws.new_client_id(), "text": "how long does shipping take for AC-12345"}
    )
    await ws.expect(communicator, "ack")
    _, final = await ws.collect_reply(communicator, timeout=60)
    await communicator.disconnect()

    assert final["text"] == stub_llm.behaviour.reply
    offered, answered = stub_llm.behaviour.requests
    assert [t["function"]["name"] for t in offered["tools"]] == ["order_lookup"]
    tool_message = answered["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_0"
    assert json.loads(tool_message["content"]) == {
        "status": "ok",
        "result": {
            "order_status": "shipped",
            "order_summary": "was shipped on 1 December and should arrive by 4 December",
        },
    }
    reply = await sync_to_async(lambda: Message.objects.get(conversation__bot=demo_bot, role="bot"))()
    (call,) = reply.action_calls
    assert (call["action"], call["status"], call["http_status"], call["via"]) == ("order_lookup", "ok", 200, "llm")


async def test_without_tool_calling_on_the_server_no_tools_are_sent(
    demo_bot, demo_orders_api, allowed_origin, stub_llm, celery_worker, settings
) -> None:
    settings.VLLM_TOOL_CALLING = False  # the default: vLLM would refuse "tools" it was not started for
    await HttpAction.objects.filter(bot=demo_bot, name="order_lookup").aupdate(offered_to_llm=True)
    stub_llm.behaviour.tool_calls = [{"name": "order_lookup", "arguments": '{"order_number": "AC-12345"}'}]
    communicator = await ws.connect(demo_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to(
        {"type": "message", "client_id": ws.new_client_id(), "text": "how long does shipping take"}
    )
    await ws.expect(communicator, "ack")
    _, final = await ws.collect_reply(communicator, timeout=60)
    await communicator.disconnect()
    assert final["text"] == stub_llm.behaviour.reply
    (request,) = stub_llm.behaviour.requests
    assert "tools" not in request
