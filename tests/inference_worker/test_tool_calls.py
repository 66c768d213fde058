"""Tool calling on the wire: tools offered with tool_choice auto, streamed calls joined from their
fragments, and the follow-up request carrying the calls and their results."""

from __future__ import annotations

import dataclasses

from engine.types import ChatMessage, CompletionRequest, ToolCall, ToolSpec
from inference_worker.client import get_llm_client, reset_llm_client

LOOKUP = ToolSpec(
    name="order_lookup",
    description="Look up an order's status by its number.",
    parameters={"type": "object", "properties": {"order_number": {"type": "string"}}, "required": ["order_number"]},
)
REQUEST = CompletionRequest(
    messages=[ChatMessage(role="user", content="where is AC-12345?")], max_tokens=40, temperature=0.0, tools=(LOOKUP,)
)


def test_streamed_tool_calls_are_joined_and_the_results_go_back(stub_llm) -> None:
    stub_llm.behaviour.tool_calls = [
        {"name": "order_lookup", "arguments": '{"order_number": "AC-12345"}'},
        {"name": "order_lookup", "arguments": '{"order_number": "AC-10001"}'},
    ]
    client = get_llm_client()
    result = client.stream(REQUEST)
    assert "".join(c.text for c in result) == ""
    assert result.tool_calls == [
        ToolCall(id="call_0", name="order_lookup", arguments='{"order_number": "AC-12345"}'),
        ToolCall(id="call_1", name="order_lookup", arguments='{"order_number": "AC-10001"}'),
    ]
    (body,) = stub_llm.behaviour.requests
    assert body["tool_choice"] == "auto"
    assert body["tools"] == [{"type": "function", "function": dataclasses.asdict(LOOKUP)}]

    follow_up = dataclasses.replace(
        REQUEST,
        messages=[
            *REQUEST.messages,
            ChatMessage(role="assistant", content="", tool_calls=tuple(result.tool_calls)),
            ChatMessage(role="tool", content='{"status": "ok"}', tool_call_id="call_0"),
        ],
    )
    text = "".join(c.text for c in client.stream(follow_up))
    assert text == stub_llm.behaviour.reply  # a tool result is last: the stub answers in text
    sent = stub_llm.behaviour.requests[-1]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "order_lookup", "arguments": '{"order_number": "AC-12345"}'},
            },
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "order_lookup", "arguments": '{"order_number": "AC-10001"}'},
            },
        ],
    }
    assert sent[2] == {"role": "tool", "content": '{"status": "ok"}', "tool_call_id": "call_0"}
    reset_llm_client()


def test_no_tools_no_tool_fields(stub_llm) -> None:
    client = get_llm_client()
    result = client.stream(dataclasses.replace(REQUEST, tools=()))
    assert "".join(c.text for c in result) == stub_llm.behaviour.reply and result.tool_calls == []
    assert "tools" not in stub_llm.behaviour.requests[0] and "tool_choice" not in stub_llm.behaviour.requests[0]
    reset_llm_client()
