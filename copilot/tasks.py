"""Celery tasks of the copilot: thin, named after the service they call."""

from __future__ import annotations

from celery import shared_task

from copilot.services import briefs, suggestions
from inference_worker.client import get_llm_client


@shared_task(name=briefs.BRIEF_TASK, ignore_result=True)
def brief_write(conversation_id: int) -> None:
    """Summarise the conversation for the agents (sent by the inbox's routing when it is queued)."""
    briefs.brief_write(conversation_id=conversation_id, llm=get_llm_client())


@shared_task(name=suggestions.SUGGESTION_TASK, ignore_result=True)
def suggestion_write(conversation_id: int, again: bool = False) -> None:
    """Suggest a reply to the newest visitor message; `again`: the agent asked, even if one exists."""
    suggestions.suggestion_write(conversation_id=conversation_id, llm=get_llm_client(), again=again)
