"""GET /healthz: database, Redis, worker and vLLM reported separately; 503 if any is down."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    import redis

    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
    return "ok"


def _check_worker() -> str:
    from chatplatform.celery import app

    # A fresh broker connection, not the pool's: a pooled one may be stale after a Redis restart.
    with app.connection_for_write() as connection:
        replies = app.control.ping(timeout=2.0, limit=1, connection=connection)  # returns at the first answer
    if not replies:
        raise RuntimeError("no Celery worker answered within 2 s")
    return f"ok ({len(replies)} worker{'s' if len(replies) != 1 else ''})"


def _check_vllm() -> str:
    response = httpx.get(f"{settings.VLLM_BASE_URL}/models", timeout=2.0,
                         headers={"Authorization": f"Bearer {settings.VLLM_API_KEY}"} if settings.VLLM_API_KEY else {})
    response.raise_for_status()
    served = [m["id"] for m in response.json().get("data", [])]
    if settings.VLLM_MODEL not in served:
        raise RuntimeError(f"model {settings.VLLM_MODEL!r} not served (serving {served})")
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {
    "database": _check_database,
    "redis": _check_redis,
    "worker": _check_worker,
    "vllm": _check_vllm,
}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            results[name] = {"status": "ok", "detail": check()}
        except Exception as exc:  # noqa: BLE001 - a health check reports every failure as data
            results[name] = {"status": "error", "detail": f"{type(exc).__name__}: {exc}"[:300]}
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    healthy = all(r["status"] == "ok" for r in results.values())
    return JsonResponse({"status": "ok" if healthy else "error", "checks": results}, status=200 if healthy else 503)
