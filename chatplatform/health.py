"""Operations endpoints: GET /healthz and GET /metrics.

/healthz reports database, Redis, worker and vLLM separately (503 if any is down). Anonymous
callers (load balancers, the launcher, anyone on the internet) get `ok`/`error` per check only;
why a check failed (exception text: host names, ports, model names) goes to the log, and to staff
users and callers holding the metrics token.

/metrics is the Prometheus export (django-prometheus' HTTP and database metrics and the platform's own,
chatplatform.metrics), aggregated over every process that writes to PROMETHEUS_MULTIPROC_DIR, for a
scraper that sends the metrics token or comes from an allowlisted address (docs/observability.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import structlog
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from chatplatform.celery import app
from chatplatform.metrics import metrics_exposition
from chatplatform.middleware import client_ip, ip_in, parse_ip

log = structlog.get_logger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    import redis

    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
    return "ok"


def _check_worker() -> str:
    # A fresh broker connection, not the pool's: a pooled one may be stale after a Redis restart.
    with app.connection_for_write() as connection:
        replies = app.control.ping(timeout=2.0, limit=1, connection=connection)  # returns at the first answer
    if not replies:
        raise RuntimeError("no Celery worker answered within 2 s")
    return f"ok ({len(replies)} worker{'s' if len(replies) != 1 else ''})"


def _check_vllm() -> str:
    """Healthy while any backend of VLLM_BASE_URLS serves the model (turns fail over to it);
    the detail names the backends that do not."""
    # One entry is VLLM_BASE_URL itself (the default), which tests and the launcher override alone.
    base_urls = settings.VLLM_BASE_URLS if len(settings.VLLM_BASE_URLS) > 1 else [settings.VLLM_BASE_URL]
    failures: list[str] = []
    for base_url in base_urls:
        try:
            response = httpx.get(
                f"{base_url}/models",
                timeout=2.0,
                headers={"Authorization": f"Bearer {settings.VLLM_API_KEY}"} if settings.VLLM_API_KEY else {},
            )
            response.raise_for_status()
            served = [m["id"] for m in response.json().get("data", [])]
            if settings.VLLM_MODEL not in served:
                raise RuntimeError(f"model {settings.VLLM_MODEL!r} not served (serving {served})")
        except (httpx.HTTPError, ValueError, KeyError, RuntimeError) as exc:
            failures.append(f"{base_url}: {type(exc).__name__}: {exc}")
    if len(failures) == len(base_urls):
        raise RuntimeError("; ".join(failures))
    return "ok" if not failures else f"degraded: {'; '.join(failures)}"


CHECKS: dict[str, Callable[[], str]] = {
    "database": _check_database,
    "redis": _check_redis,
    "worker": _check_worker,
    "vllm": _check_vllm,
}


def has_metrics_token(request: HttpRequest) -> bool:
    """`Authorization: Bearer <METRICS_TOKEN>`, compared in constant time; never true without a token."""
    token: str = settings.METRICS_TOKEN
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and constant_time_compare(value.strip(), token)


def _may_see_details(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff) or has_metrics_token(request)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            results[name] = {"status": "ok", "detail": check()}
        except Exception as exc:  # noqa: BLE001 - a health check reports every failure as data
            detail = f"{type(exc).__name__}: {exc}"[:300]
            results[name] = {"status": "error", "detail": detail}
            log.warning("healthz_check_failed", check=name, error=detail)
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    healthy = all(r["status"] == "ok" for r in results.values())
    if not _may_see_details(request):
        results = {name: {"status": result["status"]} for name, result in results.items()}
    return JsonResponse({"status": "ok" if healthy else "error", "checks": results}, status=200 if healthy else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus export, for the metrics token or an allowlisted client address only.

    With PROMETHEUS_MULTIPROC_DIR set, every process's metrics (web, Celery worker and its children,
    NLU service) summed from that directory; else this process's registry. The turn queue's depth is
    read from the broker now (a broker error leaves it out and sets chatplatform_broker_up 0).

    The address is REMOTE_ADDR unless TRUSTED_PROXIES is set (chatplatform.middleware.client_ip).
    Behind a reverse proxy on the same machine every request comes from 127.0.0.1: there, use the
    token, set TRUSTED_PROXIES, or block /metrics at the proxy (docs/operations.md).
    """
    address = client_ip(request)
    if has_metrics_token(request) or ip_in(parse_ip(address or ""), settings.METRICS_ALLOWED_IPS):
        return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
    log.warning("metrics_refused", client=address, token_sent=bool(request.headers.get("Authorization")))
    response = HttpResponse(
        "Forbidden: /metrics needs the metrics token or an allowlisted address.\n",
        status=403,
        content_type="text/plain",
    )
    if settings.METRICS_TOKEN:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response
