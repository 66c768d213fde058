"""Typed failures of the LLM call, so callers decide (retry, fallback text, error frame)."""

from __future__ import annotations

from engine.types import ContextOverflow


class LLMError(Exception):
    """Base class: the completion could not be produced."""

    code = "llm_error"


class LLMUnavailable(LLMError):
    """Could not connect, or the server answered 5xx/429: worth retrying before the first token."""

    code = "llm_unavailable"


class LLMTimeout(LLMError):
    """Connect, read or total time limit exceeded."""

    code = "llm_timeout"


class LLMBadResponse(LLMError):
    """The server answered something that is not an OpenAI-shaped completion (or a 4xx)."""

    code = "llm_bad_response"


class LLMStreamInterrupted(LLMError):
    """The stream broke after text was already sent to the visitor: not retried."""

    code = "llm_stream_interrupted"


class LLMContextOverflow(LLMBadResponse, ContextOverflow):
    """A 4xx saying the prompt exceeds the model's context: not retried as is, the processor trims
    the history and asks once more."""

    code = "llm_context_overflow"
