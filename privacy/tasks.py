"""The daily retention job (Celery beat: chatplatform/settings.py CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from privacy.services.retention import retention_apply


@shared_task(name="privacy.retention_sweep", ignore_result=True)
def retention_sweep() -> int:
    return sum(run.deleted.get("conversations", 0) for run in retention_apply())
