"""The Celery app. Configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")

app = Celery("chatplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each domain keeps its tasks next to the services they call (docs/architecture.md).
app.autodiscover_tasks(["conversations", "nlu", "knowledge"])


def task_send(name: str, *args: Any) -> None:
    """Enqueue a task by its registered name (routes from CELERY_TASK_ROUTES apply).

    Services call this instead of importing the task: tasks are entry points that import
    services, so a service importing a task would point the dependency the wrong way (and
    make an import cycle).
    """
    app.send_task(name, args=args)
