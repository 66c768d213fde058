"""Retention: a bot with `retention_days` keeps a conversation that long after its last activity;
the daily job (privacy.retention_sweep) deletes older ones. A dry run counts first."""

from __future__ import annotations

from datetime import timedelta

import structlog
from django.db.models import QuerySet
from django.utils import timezone

from bots.models import Bot, Conversation
from privacy.models import RetentionRun

from .deletion import conversations_count, conversations_delete

log = structlog.get_logger(__name__)


def retention_expired(bot: Bot) -> QuerySet[Conversation]:
    """The bot's conversations past its retention period (none when it keeps them forever)."""
    if not bot.retention_days:
        return Conversation.objects.none()
    cutoff = timezone.now() - timedelta(days=bot.retention_days)
    return Conversation.objects.filter(bot=bot, last_activity_at__lt=cutoff)


def retention_apply(*, dry_run: bool = False) -> list[RetentionRun]:
    """One pass over every bot with a retention period; a record per bot."""
    runs = []
    for bot in Bot.objects.filter(retention_days__isnull=False).exclude(retention_days=0):
        expired = retention_expired(bot)
        cutoff = timezone.now() - timedelta(days=bot.retention_days or 0)
        deleted = conversations_count(expired) if dry_run else conversations_delete(expired)
        runs.append(
            RetentionRun.objects.create(
                bot=bot, keep_days=bot.retention_days or 0, cutoff=cutoff, dry_run=dry_run, deleted=deleted
            )
        )
        log.info("privacy_retention", bot=bot.slug, dry_run=dry_run, keep_days=bot.retention_days, **deleted)
    return runs
