"""Fixed-window rate limits kept in Redis (the Django cache), shared by every web process."""

from __future__ import annotations

import time

import structlog
from django.core.cache import cache
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


def rate_limit_hit(*, key: str, limit: int, window_seconds: int = 60) -> int | None:
    """Count one hit. Returns None when allowed, else the seconds until the window resets.

    Fails open while Redis is unreachable: a restart of the cache must not stop every visitor
    from chatting (nor crash the socket); the outage is logged."""
    try:
        return _hit(key=key, limit=limit, window_seconds=window_seconds)
    except (RedisError, OSError) as exc:
        log.warning("rate_limit_unavailable", key=key, error=repr(exc))
        return None


def _hit(*, key: str, limit: int, window_seconds: int) -> int | None:
    window = int(time.time() // window_seconds)
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
        return window_seconds - int(time.time() % window_seconds)
    return None
