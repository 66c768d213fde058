"""A circuit breaker per action, in Redis (shared by every worker process).

After FAILURES_TO_OPEN failures in a row (connection errors, timeouts, 5xx) the action is not
called for OPEN_SECONDS: a dead order system gets a rest instead of one request per visitor, and
visitors get the honest answer at once instead of after a timeout. The first call after that is
the probe: success closes the breaker, failure opens it again. Redis unreachable: the breaker
counts nothing and stays closed (the limits in front of it already fail closed).
"""

from __future__ import annotations

import structlog
from django.core.cache import cache
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

FAILURES_TO_OPEN = 5
OPEN_SECONDS = 30
FAILURE_MEMORY_SECONDS = 300


def _keys(action_id: int) -> tuple[str, str]:
    return f"action-breaker:{action_id}:failures", f"action-breaker:{action_id}:open"


def breaker_is_open(action_id: int) -> bool:
    try:
        return bool(cache.get(_keys(action_id)[1]))
    except (RedisError, OSError):
        return False


def breaker_record(action_id: int, *, ok: bool) -> None:
    failures_key, open_key = _keys(action_id)
    try:
        if ok:
            cache.delete(failures_key)
            return
        cache.add(failures_key, 0, timeout=FAILURE_MEMORY_SECONDS)
        failures = cache.incr(failures_key)
        if failures >= FAILURES_TO_OPEN:
            cache.set(open_key, 1, timeout=OPEN_SECONDS)
            cache.delete(failures_key)
            log.warning("action_circuit_open", action_id=action_id, seconds=OPEN_SECONDS)
    except (RedisError, OSError, ValueError) as error:
        log.warning("action_circuit_unavailable", action_id=action_id, error=repr(error))
