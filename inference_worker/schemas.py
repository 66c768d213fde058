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
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)

from engine.types import CompletionRequest

MAX_STOP_SEQUENCES = 4


def chat_messages(request: CompletionRequest) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = []
    for m in request.messages:
        if m.role == "system":
            messages.append(ChatCompletionSystemMessageParam(role="system", content=m.content))
        elif m.role == "assistant":
            messages.append(ChatCompletionAssistantMessageParam(role="assistant", content=m.content))
        else:
            messages.append(ChatCompletionUserMessageParam(role="user", content=m.content))
    return messages


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
