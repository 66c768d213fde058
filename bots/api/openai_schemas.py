"""Request validation and response shapes of the OpenAI-compatible Chat Completions API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bots.models import Message


class OpenAIError(Exception):
    """Rendered as OpenAI's error object: {"error": {"message", "type", "code", "param"}}."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


@dataclass(frozen=True)
class ChatCompletionRequest:
    model: str
    history: list[tuple[str, str]]  # earlier (role, text) turns, role "user" or "assistant"
    user_text: str
    stream: bool
    temperature: float | None
    max_tokens: int | None
    include_usage: bool


def _content_text(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}] as newer clients send
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if len(parts) == len(content):
            return "".join(parts)
    raise OpenAIError(400, f"messages[{index}].content must be a string or text parts", param=f"messages.{index}.content")


def parse_chat_request(body: Any) -> ChatCompletionRequest:
    if not isinstance(body, dict):
        raise OpenAIError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise OpenAIError(400, "'model' is required: the bot's slug.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OpenAIError(400, "'messages' must be a non-empty list.", param="messages")
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "developer",
                                                                         "tool"):
            raise OpenAIError(400, f"messages[{index}] needs a valid role.", param=f"messages.{index}.role")
        if message["role"] in ("system", "developer", "tool"):
            continue  # the bot's persona is the system prompt; a client cannot replace it
        turns.append((message["role"], _content_text(message.get("content"), index)))
    if not turns or turns[-1][0] != "user":
        raise OpenAIError(400, "The last message must come from the user.", param="messages")
    temperature = body.get("temperature")
    if temperature is not None and (not isinstance(temperature, (int, float)) or isinstance(temperature, bool)
                                    or not 0 <= temperature <= 2):
        raise OpenAIError(400, "'temperature' must be a number from 0 to 2.", param="temperature")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or not 1 <= max_tokens <= 4096):
        raise OpenAIError(400, "'max_tokens' must be an integer from 1 to 4096.", param="max_tokens")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise OpenAIError(400, "'stream' must be a boolean.", param="stream")
    stream_options = body.get("stream_options") or {}
    return ChatCompletionRequest(
        model=model, history=turns[:-1], user_text=turns[-1][1], stream=stream,
        temperature=float(temperature) if temperature is not None else None, max_tokens=max_tokens,
        include_usage=bool(isinstance(stream_options, dict) and stream_options.get("include_usage")))


def completion_id(user_message_id: int) -> str:
    return f"chatcmpl-cp{user_message_id}"


def usage(reply: Message) -> dict[str, int]:
    prompt, completion = reply.prompt_tokens or 0, reply.completion_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_body(*, reply: Message, model: str) -> dict[str, Any]:
    return {
        "id": completion_id(reply.reply_to_id or reply.pk), "object": "chat.completion",
        "created": int(reply.created_at.timestamp()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": usage(reply),
        "chatplatform": _turn_details(reply),
    }


def chunk_body(*, user_message_id: int, model: str, delta: dict[str, Any], finish_reason: str | None = None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": completion_id(user_message_id), "object": "chat.completion.chunk", "created": int(time.time()),
        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if extra:
        body.update(extra)
    return body


def usage_chunk_body(*, reply: Message, model: str) -> dict[str, Any]:
    return {"id": completion_id(reply.reply_to_id or reply.pk), "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model, "choices": [], "usage": usage(reply)}


def _turn_details(reply: Message) -> dict[str, Any]:
    """What the pipeline decided, for clients that want more than OpenAI's fields."""
    return {"conversation_id": reply.conversation_id, "intent": reply.intent or None, "confidence": reply.confidence,
            "entities": reply.entities, "action": reply.action, "quick_replies": list(reply.quick_replies),
            "citations": reply.citations, "time_to_first_token_ms": reply.time_to_first_token_ms,
            "total_time_ms": reply.total_time_ms}


def model_entry(slug: str, created: int) -> dict[str, Any]:
    return {"id": slug, "object": "model", "created": created, "owned_by": "chatplatform"}
