"""Rate limits: fixed windows kept in Redis (the Django cache, shared by every web process), the
chat's limit policy built on them, and per-connection budgets kept in the consumer's memory.

What happens while Redis is unreachable depends on what the limit guards (docs/protocol.md):
- `rate_limit_hit` fails open (logged): for limits whose frames cost little and are bounded anyway
  by the connection's in-memory frame budget (hello with a token, feedback, csat). A cache restart
  must not stop those.
- `rate_limit_hit_strict` raises `RateLimitUnavailable`: for the limits that guard creating rows
  and enqueueing turns (new conversations, visitor messages). Failing open there would let one
  script create conversations and spend LLM time without any bound for as long as Redis is down
  (issue #17); the consumer answers `unavailable` and keeps the socket.
"""

from __future__ import annotations

import time

import structlog
from django.core.cache import cache
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


class RateLimitUnavailable(Exception):
    """The limit could not be checked (Redis unreachable) and the caller must not go ahead."""


def _now() -> float:
    # A seam for tests: fixed windows are aligned to the clock, and a test that straddles a window
    # boundary would see its count reset.
    return time.time()


def rate_limit_hit(*, key: str, limit: int, window_seconds: int = 60) -> int | None:
    """Count one hit. Returns None when allowed, else the seconds until the window resets.

    Fails open while Redis is unreachable: a restart of the cache must not stop every visitor
    from chatting (nor crash the socket); the outage is logged."""
    try:
        return _hit(key=key, limit=limit, window_seconds=window_seconds)
    except (RedisError, OSError) as exc:
        log.warning("rate_limit_unavailable", key=key, error=repr(exc), fail="open")
        return None


def rate_limit_hit_strict(*, key: str, limit: int, window_seconds: int = 60) -> int | None:
    """As `rate_limit_hit`, but fails closed: raises RateLimitUnavailable while Redis is unreachable."""
    try:
        return _hit(key=key, limit=limit, window_seconds=window_seconds)
    except (RedisError, OSError) as exc:
        log.warning("rate_limit_unavailable", key=key, error=repr(exc), fail="closed")
        raise RateLimitUnavailable(key) from exc


def _hit(*, key: str, limit: int, window_seconds: int) -> int | None:
    now = _now()
    window = int(now // window_seconds)
    cache_key = f"ratelimit:{key}:{window}"
    if cache.add(cache_key, 1, timeout=window_seconds + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.add(cache_key, 1, timeout=window_seconds + 1)
            count = 1
    if count > limit:
        return max(1, window_seconds - int(now % window_seconds))
    return None


# -- the chat's policy (settings: docs/protocol.md, "Limits") ---------------------------------------
