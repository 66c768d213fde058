"""The Celery app. Configuration comes from Django settings (CELERY_* names).

Metrics (docs/observability.md): with PROMETHEUS_MULTIPROC_DIR set, the worker and its pool's
children write their metrics there (the web's /metrics sums them); a child or worker that exits
drops its live gauges. With WORKER_METRICS_PORT set (e.g. 9100), the worker's main process also
serves them itself on that port (one Kubernetes pod = one scrape target).
"""

from __future__ import annotations

import os
from typing import Any

import environ
import structlog
from celery import Celery
from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown
from prometheus_client import start_http_server

from chatplatform.metrics import metrics_registry, process_dead_mark

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")

app = Celery("chatplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's consumer, except that tidying up a connection Redis dropped can never stop the worker.
app.conf.worker_consumer = "chatplatform.worker_consumer:BrokerLossTolerantConsumer"
# Each domain keeps its tasks next to the services they call (docs/architecture.md).
app.autodiscover_tasks(["conversations", "nlu", "knowledge", "inbox", "copilot", "webhooks"])


def task_send(name: str, *args: Any, countdown: float | None = None) -> None:
    """Enqueue a task by its registered name (routes from CELERY_TASK_ROUTES apply).

    Services call this instead of importing the task: tasks are entry points that import
    services, so a service importing a task would point the dependency the wrong way (and
    make an import cycle).
    """
    app.send_task(name, args=args, countdown=countdown)


log = structlog.get_logger(__name__)
# Read here, not in settings.py: only `celery worker` uses them, when it is ready.
_env = environ.Env()


@worker_ready.connect
def _worker_metrics_serve(**_: Any) -> None:
    """Serve this worker's metrics (all its pool's processes in multiprocess mode) on
    WORKER_METRICS_PORT from the main process; off when unset. No token on this port: expose it to
    the scraper's network only (a NetworkPolicy in Kubernetes, docs/observability.md)."""
    port = _env.int("WORKER_METRICS_PORT", default=0)
    if not port:
        return
    addr = _env.str("WORKER_METRICS_ADDR", default="0.0.0.0")
    start_http_server(port, addr=addr, registry=metrics_registry())
    log.info("worker_metrics_serving", port=port, addr=addr)


@worker_process_shutdown.connect
def _worker_child_metrics_dead(pid: int | None = None, **_: Any) -> None:
    """A prefork child exits (max-tasks-per-child, scale down, shutdown): drop its live gauges."""
    process_dead_mark(pid or os.getpid())


@worker_shutdown.connect
def _worker_metrics_dead(**_: Any) -> None:
    process_dead_mark(os.getpid())
