"""Answer the visitor messages whose turn was lost.

A turn waits in Redis from the message's commit until a worker answers it. If Redis loses its data
(a restart without persistence, a failover, an eviction) the queued turns go with it, and nothing
would ever answer those messages: the widget resends only what the server never acknowledged. The
sweeper reads PostgreSQL, the durable copy, for visitor messages the bot still owes a reply and
that are older than UNANSWERED_SWEEP_AFTER_S (by then a healthy turn has answered, or holds the
conversation's lease and is excluded), and enqueues their turns again. `turn_run` is idempotent
under the conversation's lease, so a turn that was only slow still produces exactly one reply.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from bots.models import Conversation
from chatplatform import metrics
from conversations.selectors import messages_owed_a_reply
from conversations.services.messages import turn_enqueue

log = structlog.get_logger(__name__)

SWEEP_BATCH = 200  # conversations per run; the next run takes the rest
_SWEPT_KEY = "unanswered-sweep:{}"


def unanswered_sweep(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """Enqueue again the turn of each conversation's oldest visitor message the bot still owes a
    reply (widget conversations the bot has, lease free); returns those messages' ids. A message
    is enqueued at most once per UNANSWERED_SWEEP_AFTER_S, so an overloaded queue (turns merely
    late) gets one extra turn per message, not one per run."""
    now = now or timezone.now()
    after_s = settings.UNANSWERED_SWEEP_AFTER_S
    candidates = list(
        messages_owed_a_reply()
        .filter(
            created_at__lte=now - timedelta(seconds=after_s),
            created_at__gte=now - timedelta(seconds=settings.UNANSWERED_SWEEP_WITHIN_S),
            conversation__channel=Conversation.Channel.WIDGET,
            # The bot's, or resolved and written to again (its turn reopens it); not while people have it.
            conversation__status__in=(Conversation.Status.BOT, Conversation.Status.RESOLVED),
        )
        .exclude(Q(conversation__turn_lease_until__gt=now))  # a live turn is answering it
        .order_by("conversation_id", "seq")
        .distinct("conversation_id")  # the lease holder answers the rest, oldest first
        .values_list("pk", flat=True)[:limit]
    )
    swept = []
    try:
        for message_id in candidates:
            if cache.add(_SWEPT_KEY.format(message_id), 1, timeout=after_s):
                turn_enqueue(user_message_id=message_id)
                swept.append(message_id)
    except (OperationalError, RedisError, OSError) as exc:  # Redis down: nothing can be enqueued; the next run retries
        log.warning("unanswered_sweep_broker_unavailable", error=repr(exc), swept=len(swept))
    if swept:
        metrics.UNANSWERED_SWEPT.inc(len(swept))
        log.warning("unanswered_swept", count=len(swept), message_ids=swept[:20])
    return swept
