"""Celery tasks of live conversations: thin, named after the service they call."""

from __future__ import annotations

from typing import Any

import structlog
from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from conversations.services import sweeps, turns
from conversations.services.messages import TURN_TASK
from inference_worker.client import get_llm_client
from inference_worker.publisher import get_turn_events

log = structlog.get_logger(__name__)
# A database restart or failover is seconds to a minute: retried every 5 s for about two minutes.
TURN_DATABASE_RETRIES = 24
TURN_DATABASE_RETRY_S = 5


@shared_task(bind=True, name=TURN_TASK, acks_late=True, ignore_result=True, max_retries=TURN_DATABASE_RETRIES)
def turn_run(self: Task, user_message_id: int, options: dict[str, Any] | None = None, owner: str = "") -> None:
    """Answer one visitor message. Safe to run twice (the service is idempotent).

    PostgreSQL unreachable (restarting, failing over) past the pool's wait: the turn is retried
    with the same lease owner, a log line instead of a traceback. Nothing was stored, so the retry
    answers the message once; the unanswered-message sweeper is the backstop after the last retry."""
    owner = owner or turns.turn_owner_new()
    try:
        turns.turn_run(
            user_message_id=user_message_id,
            events=get_turn_events(),
            llm=get_llm_client(),
            coalesce_ms=settings.STREAM_COALESCE_MS,
            options=turns.TurnOptions.from_json(options),
            owner=owner,
        )
    except (OperationalError, InterfaceError) as exc:
        log.warning(
            "turn_database_unavailable", message_id=user_message_id, attempt=self.request.retries + 1, error=str(exc)
        )
        retry_kwargs = {"user_message_id": user_message_id, "options": options, "owner": owner}
        raise self.retry(kwargs=retry_kwargs, countdown=TURN_DATABASE_RETRY_S, exc=exc) from None


@shared_task(name="conversations.unanswered_sweep", ignore_result=True, acks_late=False)
def unanswered_sweep() -> None:
    """Celery beat, every UNANSWERED_SWEEP_EVERY_S: turns lost with Redis's data are enqueued again."""
    sweeps.unanswered_sweep()
