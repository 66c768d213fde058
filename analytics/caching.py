"""A short-lived cache for the aggregate pages (metrics, unrecognised queue).

Aggregating every message of 100k conversations takes about a second on a small machine however the
SQL is written, and analysts reload the dashboard and flip between filters. Results are cached for
`ANALYTICS_CACHE_SECONDS` (default 60; 0 turns caching off) under a key made of:

- the SQL and parameters of the scoped, filtered conversation queryset (so the user's bots and every
  URL filter are part of the key: two users with different bots never share an entry);
- the highest conversation, message, tag, conversation event and reply suggestion ids: a new
  conversation, message, tag, handoff transition or copilot suggestion shows at once;
- the highest id and the count of bot assignments: a revoked (or new) assignment takes effect at once.
  The key's SQL names the user but not their bots (a subquery), so without this an analyst taken off
  a bot would keep seeing its cached aggregates until the timeout. Any insert raises the max, any
  delete lowers the count, so the pair changes on every change of that append-only-id table.

- the highest erasure receipt and retention run ids: deleted conversations vanish at once.

Edits of existing rows (a thumbs rating, a CSAT score, a suggestion's outcome) show after at most
the timeout. If the cache backend is down the value is computed as if there were no cache.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, QuerySet
from django.utils import timezone, translation

from analytics.models import BotAssignment, ConversationTag, MessageTag
from bots.models import Conversation, ConversationEvent, Message
from copilot.models import ReplySuggestion
from privacy.models import ErasureReceipt, RetentionRun

T = TypeVar("T")
log = logging.getLogger(__name__)


def cache_seconds() -> int:
    return int(getattr(settings, "ANALYTICS_CACHE_SECONDS", 60))


def _data_version() -> tuple[Any, ...]:
    # Each is one step down a primary-key index: microseconds.
    return (
        Conversation.objects.aggregate(m=Max("pk"))["m"],
        Message.objects.aggregate(m=Max("pk"))["m"],
        ConversationTag.objects.aggregate(m=Max("pk"))["m"],
        MessageTag.objects.aggregate(m=Max("pk"))["m"],
        ConversationEvent.objects.aggregate(m=Max("pk"))["m"],
        ReplySuggestion.objects.aggregate(m=Max("pk"))["m"],
        tuple(BotAssignment.objects.aggregate(m=Max("pk"), n=Count("pk")).values()),
        # An erasure or a retention run deletes conversations: no cached page may still show them.
        ErasureReceipt.objects.aggregate(m=Max("pk"))["m"],
        RetentionRun.objects.aggregate(m=Max("pk"))["m"],
    )


def cache_key(kind: str, conversations: QuerySet[Conversation], *extra: Any) -> str:
    sql, params = conversations.order_by().values("pk").query.sql_with_params()
    raw = repr(
        (kind, sql, params, extra, _data_version(), timezone.get_current_timezone_name(), translation.get_language())
    )
    return f"analytics:{kind}:{hashlib.sha256(raw.encode()).hexdigest()}"


def cached(kind: str, conversations: QuerySet[Conversation], compute: Callable[[], T], *extra: Any) -> T:
    seconds = cache_seconds()
    if seconds <= 0:
        return compute()
    key = cache_key(kind, conversations, *extra)
    try:
        hit = cache.get(key)
    except Exception:
        log.warning("analytics cache unavailable", exc_info=True)
        return compute()
    if hit is not None:
        return hit
    value = compute()
    try:
        cache.set(key, value, seconds)
    except Exception:
        log.warning("analytics cache unavailable", exc_info=True)
    return value
