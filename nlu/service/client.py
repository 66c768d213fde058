"""The web process's side of the NLU service: one pooled keep-alive client and the parse call.

The parse API (nlu/api/views.py) calls `nlu_service_parse`; it answers the parse's JSON or raises
`NluServiceBotMissing` / `NluServiceUnavailable`, which the view turns into 404 / 503.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import structlog
from django.conf import settings

from chatplatform.metrics import NLU_PARSE

log = structlog.get_logger(__name__)

TOKEN_HEADER = "X-NLU-Service-Token"
# The NLU service answers a parse in ~10 ms: short timeouts, so a dead or stuck service is a quick
# 503. (A bot's very first parse, which trains its model in the service, may outlast the read
# timeout: that caller gets a 503 and its retry the trained model.)
NLU_SERVICE_TIMEOUT = httpx.Timeout(5.0, connect=1.0, pool=2.0)

_client: httpx.Client | None = None
_client_lock = threading.Lock()


class NluServiceUnavailable(Exception):
    """Down, stuck, refusing our token, or answering something unreadable: worth a retry later."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NluServiceBotMissing(Exception):
    """The service does not know the bot (deleted between the caller's lookup and the parse)."""


def nlu_service_client() -> httpx.Client:
    """One pooled keep-alive client per web process (thread-safe). Idle connections are closed
    before the service's keep-alive (75 s) ends, so a request never lands on a closing one."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(
                timeout=NLU_SERVICE_TIMEOUT,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30.0),
                transport=httpx.HTTPTransport(retries=1),  # connect errors only
            )
        return _client


def reset_nlu_service_client() -> None:
    """Close the pooled client (tests; a new one is made on the next parse)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


def nlu_service_parse(*, bot_id: int, text: str) -> dict[str, Any]:
    url = f"{settings.NLU_SERVICE_URL}/parse"
    headers = {TOKEN_HEADER: settings.NLU_SERVICE_TOKEN} if settings.NLU_SERVICE_TOKEN else {}
    started = time.perf_counter()
    try:
        answer = _post_once_more_on_a_reset(url, {"bot_id": bot_id, "text": text}, headers)
    except httpx.TimeoutException as exc:
        log.warning("nlu_service_timeout", url=url)
        raise NluServiceUnavailable("The NLU service did not answer in time; retry shortly.") from exc
    except httpx.HTTPError as exc:
        log.warning("nlu_service_unreachable", url=url, error=str(exc))
        raise NluServiceUnavailable("The NLU service is unreachable; retry shortly.") from exc
    finally:
        NLU_PARSE.labels(path="service").observe(time.perf_counter() - started)
    if answer.status_code == httpx.codes.OK:
        try:
            result: dict[str, Any] = answer.json()
        except ValueError as exc:
            log.error("nlu_service_bad_json", url=url, body=answer.text[:500])
            raise NluServiceUnavailable("The NLU service sent an unreadable answer; retry shortly.") from exc
        return result
    if answer.status_code == httpx.codes.NOT_FOUND:
        raise NluServiceBotMissing
    # 401 (token mismatch), 400 (a request the caller should never build), 5xx: an operator's problem.
    log.error("nlu_service_error", url=url, status=answer.status_code, body=answer.text[:500])
    raise NluServiceUnavailable("The NLU service could not parse this text; retry shortly.")


def _post_once_more_on_a_reset(url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    client = nlu_service_client()
    try:
        return client.post(url, json=body, headers=headers, timeout=NLU_SERVICE_TIMEOUT)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        # A kept-alive connection the service closed or reset just then (a restart): the parse is a
        # read, so it is sent once more on a fresh connection.
        return client.post(url, json=body, headers=headers, timeout=NLU_SERVICE_TIMEOUT)
