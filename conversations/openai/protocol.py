"""Request validation and response shapes of the OpenAI-compatible Chat Completions API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from bots.models import Message
from bots.services.api_keys import QUOTA_UNAVAILABLE_RETRY_S
from conversations.services.messages import MessageRejected, text_scrub, visitor_text_clean


class OpenAIError(Exception):
    """Rendered as OpenAI's error object: {"error": {"message", "type", "code", "param"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}

    @classmethod
    def rate_limited(cls, retry_after: int) -> OpenAIError:
        # OpenAI's own 429: type "requests", code "rate_limit_exceeded"; the official client raises
        # RateLimitError and, with retries on, waits for Retry-After.
        return cls(
            429,
            f"Rate limit reached for this API key: {settings.API_REQUESTS_PER_MINUTE} requests per "
            f"minute. Try again in {retry_after} s.",
            type_="requests",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(retry_after)},
        )

    @classmethod
    def quota_unavailable(cls) -> OpenAIError:
        # A 503 the official client retries (with max_retries) after Retry-After, as for an overload.
        return cls(
            503,
            "The request quota cannot be checked just now. Try again shortly.",
            type_="server_error",
            code="quota_unavailable",
            headers={"Retry-After": str(QUOTA_UNAVAILABLE_RETRY_S)},
        )

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


_ROLES = ("system", "user", "assistant", "developer", "tool")
_IGNORED_ROLES = ("system", "developer", "tool")  # the bot's persona is the system prompt; a client cannot replace it
_MAX_MODEL_CHARS = 200


def _content_text(content: Any, index: int, *, role: str) -> str:
    """A message's text: a string, or a list of text parts (as newer clients send). An assistant turn
    may have no content (a tool-call turn): that is empty text, dropped from the stored history."""
    param = f"messages.{index}.content"
    if content is None and role == "assistant":
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}]
        if all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
            return "".join(p["text"] for p in content)
        raise OpenAIError(
            400,
            f"messages[{index}].content may only hold text parts "
            '({"type": "text", "text": "..."}): this model reads text only.',
            param=param,
        )
    raise OpenAIError(400, f"messages[{index}].content must be a string or a list of text parts.", param=param)


def _turn_clean(role: str, text: str, index: int) -> str:
    """Clean one turn exactly as `conversation_history_import` / `user_message_receive` will before
    storing it (so nothing is created for a request that would be refused), and say which message
    is wrong. Assistant turns come from the client too: scrubbed like visitor text, bounded."""
    param = f"messages.{index}.content"
    if role == "user":
        try:
            return visitor_text_clean(text)
        except MessageRejected as exc:
            raise OpenAIError(400, f"messages[{index}]: {exc.detail}", code=exc.code, param=param) from exc
    cleaned = text_scrub(text).strip()
    if len(cleaned) > settings.API_MAX_ASSISTANT_MESSAGE_CHARS:
        raise OpenAIError(
            400,
            f"messages[{index}]: assistant messages are limited to "
            f"{settings.API_MAX_ASSISTANT_MESSAGE_CHARS} characters.",
            code="message_too_long",
            param=param,
        )
    return cleaned


def parse_chat_request(body: Any) -> ChatCompletionRequest:
    """Validate and clean a whole request before anything is stored. Raises OpenAIError (400)."""
    if not isinstance(body, dict):
        raise OpenAIError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise OpenAIError(400, "'model' is required: the bot's slug.", param="model")
    if len(model) > _MAX_MODEL_CHARS:
        raise OpenAIError(400, "'model' is too long: it is a bot's slug.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OpenAIError(400, "'messages' must be a non-empty list.", param="messages")
    # Count before cleaning anything: a 1,200-turn history is refused without scrubbing 1,200 turns.
    if (
        sum(1 for m in messages if not (isinstance(m, dict) and m.get("role") in _IGNORED_ROLES)) - 1
        > settings.API_MAX_HISTORY_MESSAGES
    ):
        raise OpenAIError(
            400,
            f"At most {settings.API_MAX_HISTORY_MESSAGES} earlier user and assistant messages "
            "are accepted: send the most recent ones.",
            code="too_many_messages",
            param="messages",
        )
    turns: list[tuple[str, str]] = []
    last_role = None
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in _ROLES:
            raise OpenAIError(
                400,
                f"messages[{index}] must be an object with a role: one of {', '.join(_ROLES)}.",
                param=f"messages.{index}.role",
            )
        if role in _IGNORED_ROLES:
            continue
        last_role = role
        text = _turn_clean(role, _content_text(message.get("content"), index, role=role), index)
        if text:  # only an assistant turn can be empty here: nothing to show or feed the model
            turns.append((role, text))
    if last_role != "user":
        raise OpenAIError(400, "The last message must come from the user.", param="messages")
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not 0 <= temperature <= 2
    ):
        raise OpenAIError(400, "'temperature' must be a number from 0 to 2.", param="temperature")
    max_tokens_param = "max_tokens" if body.get("max_tokens") is not None else "max_completion_tokens"
    max_tokens = body.get(max_tokens_param)
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= 4096
    ):
        raise OpenAIError(400, f"'{max_tokens_param}' must be an integer from 1 to 4096.", param=max_tokens_param)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise OpenAIError(400, "'stream' must be a boolean.", param="stream")
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise OpenAIError(400, "'stream_options' must be an object.", param="stream_options")
    include_usage = (stream_options or {}).get("include_usage") or False
    if not isinstance(include_usage, bool):
        raise OpenAIError(
            400, "'stream_options.include_usage' must be a boolean.", param="stream_options.include_usage"
        )
    return ChatCompletionRequest(
        model=model,
        history=turns[:-1],
        user_text=turns[-1][1],
        stream=stream,
        temperature=float(temperature) if temperature is not None else None,
        max_tokens=max_tokens,
        include_usage=include_usage,
    )


def completion_id(user_message_id: int) -> str:
    return f"chatcmpl-cp{user_message_id}"


def usage(reply: Message) -> dict[str, int]:
    prompt, completion = reply.prompt_tokens or 0, reply.completion_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion_body(*, reply: Message, model: str) -> dict[str, Any]:
    return {
        "id": completion_id(reply.reply_to_id or reply.pk),
        "object": "chat.completion",
        "created": int(reply.created_at.timestamp()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage(reply),
        "chatplatform": _turn_details(reply),
    }


def chunk_body(
    *,
    user_message_id: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": completion_id(user_message_id),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if extra:
        body.update(extra)
    return body


def usage_chunk_body(*, reply: Message, model: str) -> dict[str, Any]:
    return {
        "id": completion_id(reply.reply_to_id or reply.pk),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [],
        "usage": usage(reply),
    }


def _turn_details(reply: Message) -> dict[str, Any]:
    """What the pipeline decided, for clients that want more than OpenAI's fields."""
    return {
        "conversation_id": reply.conversation_id,
        "intent": reply.intent or None,
        "confidence": reply.confidence,
        "entities": reply.entities,
        "action": reply.action,
        "quick_replies": list(reply.quick_replies),
        "citations": reply.citations,
        "time_to_first_token_ms": reply.time_to_first_token_ms,
        "total_time_ms": reply.total_time_ms,
    }


def model_entry(slug: str, created: int) -> dict[str, Any]:
    return {"id": slug, "object": "model", "created": created, "owned_by": "chatplatform"}
