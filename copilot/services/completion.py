"""One completion for the copilot, read whole: the agent sees the finished brief or suggestion."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from engine.types import LLM, CompletionRequest


@dataclass(frozen=True, slots=True)
class Completion:
    text: str  # raw model output (the caller cleans it)
    model: str


def completion_read(*, llm: LLM, request: CompletionRequest, default_model: str) -> Completion:
    """Stream `request` to the end. The thread's database connection goes back to the pool first,
    as in a turn: nothing here reads the database while the model writes (inside an outer
    transaction, a test's, the connection is kept: closing it would abort that transaction).
    Raises the client's typed `LLMError`s unchanged."""
    if not connection.in_atomic_block:
        connection.close()
    stream = llm.stream(request)
    text = "".join(chunk.text for chunk in stream)  # drained to the end: usage arrives last
    usage = getattr(stream, "usage", None)
    return Completion(text=text, model=usage.model if usage is not None else (request.model or default_model))
