"""Celery tasks of outgoing webhooks: thin, named after the service they call."""

from __future__ import annotations

from celery import shared_task

from webhooks.services import delivery
from webhooks.services.delivery import ATTEMPT_TASK
from webhooks.services.retention import webhook_log_prune


@shared_task(name=ATTEMPT_TASK, ignore_result=True, acks_late=True)
def delivery_attempt(delivery_id: int, attempt: int) -> None:
    """One attempt of one delivery. A duplicate (same delivery and attempt number) is a no-op."""
    delivery.delivery_attempt(delivery_id=delivery_id, attempt=attempt)


@shared_task(name="webhooks.deliveries_due_dispatch", ignore_result=True, acks_late=False)
def deliveries_due_dispatch() -> None:
    """Celery beat, every WEBHOOK_SWEEP_EVERY_S: claim and send the deliveries that are due."""
    delivery.deliveries_due_dispatch()


@shared_task(name="webhooks.log_prune", ignore_result=True, acks_late=False)
def log_prune() -> None:
    """Celery beat, daily: forget ended deliveries older than WEBHOOK_LOG_KEEP_DAYS."""
    webhook_log_prune()
