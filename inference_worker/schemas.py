"""Wire shapes of vLLM's OpenAI-compatible Chat Completions API, apart from the client logic."""

from __future__ import annotations

from typing import Any

from engine.types import CompletionRequest
from inference_worker.errors import LLMBadResponse

MAX_STOP_SEQUENCES = 4


def chat_request_body(request: CompletionRequest, *, default_model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model or default_model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "stream": stream,
    }
    if request.stop:
        # The OpenAI API (and vLLM's validation) accepts at most 4 stop strings; the pipeline's
        # stream sanitizer still cuts at every one of its stop sequences.
        body["stop"] = list(request.stop)[:MAX_STOP_SEQUENCES]
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def delta_text(event: dict[str, Any]) -> str:
    """The text of one streamed chunk ('' for role-only, finish or usage-only chunks)."""
    choices = event.get("choices")
    if not isinstance(choices, list):
        raise LLMBadResponse(f"stream chunk without choices: {str(event)[:200]}")
    if not choices:
        return ""
    delta = choices[0].get("delta") or {}
    content = delta.get("content")
    return content if isinstance(content, str) else ""


def usage_counts(event: dict[str, Any]) -> tuple[int, int] | None:
    usage = event.get("usage")
    if not isinstance(usage, dict):
        return None
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
