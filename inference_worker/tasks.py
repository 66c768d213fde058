"""Celery tasks: thin. Pass ids, call a service, let the service own the logic."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from bots.services.turns import turn_run
from inference_worker.client import get_llm_client
from inference_worker.publisher import get_turn_events


@shared_task(name="inference_worker.run_turn", acks_late=True, ignore_result=True)
def run_turn(user_message_id: int) -> None:
    """Answer one visitor message. Safe to run twice (the service is idempotent)."""
    turn_run(user_message_id=user_message_id, events=get_turn_events(), llm=get_llm_client(),
             coalesce_ms=settings.STREAM_COALESCE_MS)
