"""Retention: a bot with `retention_days` keeps a conversation that long after its last activity;
the daily job (privacy.retention_sweep) deletes older ones. A dry run counts first."""

from __future__ import annotations

from datetime import timedelta

import structlog
from django.utils import timezone

from bots.models import Bot, Conversation
from privacy.models import RetentionRun

from .deletion import conversations_count, conversations_delete

log = structlog.get_logger(__name__)


def retention_apply(*, dry_run: bool = False) -> list[RetentionRun]:
    """One pass over every bot with a retention period; a record per bot."""
    runs = []
    for bot in Bot.objects.filter(retention_days__isnull=False).exclude(retention_days=0):
        keep_days = bot.retention_days or 0  # never 0 here: the query keeps bots with a period
        cutoff = timezone.now() - timedelta(days=keep_days)
        expired = Conversation.objects.filter(bot=bot, last_activity_at__lt=cutoff)
        deleted = conversations_count(expired) if dry_run else conversations_delete(expired)
        runs.append(
            RetentionRun.objects.create(bot=bot, keep_days=keep_days, cutoff=cutoff, dry_run=dry_run, deleted=deleted)
        )
        log.info("privacy_retention", bot=bot.slug, dry_run=dry_run, keep_days=keep_days, **deleted)
    return runs
