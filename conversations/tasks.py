"""Celery tasks of live conversations: thin, named after the service they call."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from conversations.services import sweeps, turns
from conversations.services.messages import TURN_TASK
from inference_worker.client import get_llm_client
from inference_worker.publisher import get_turn_events


@shared_task(name=TURN_TASK, acks_late=True, ignore_result=True)
def turn_run(user_message_id: int, options: dict[str, Any] | None = None) -> None:
    """Answer one visitor message. Safe to run twice (the service is idempotent)."""
    turns.turn_run(
        user_message_id=user_message_id,
        events=get_turn_events(),
        llm=get_llm_client(),
        coalesce_ms=settings.STREAM_COALESCE_MS,
        options=turns.TurnOptions.from_json(options),
    )


@shared_task(name="conversations.unanswered_sweep", ignore_result=True, acks_late=False)
def unanswered_sweep() -> None:
    """Celery beat, every UNANSWERED_SWEEP_EVERY_S: turns lost with Redis's data are enqueued again."""
    sweeps.unanswered_sweep()
