"""Helpers shared by the management commands."""

from __future__ import annotations

from django.core.management.base import CommandError

from bots.models import Bot


def bot_for_command(slug: str) -> Bot:
    """The bot with this slug, or a CommandError that names it (no traceback for a typo)."""
    try:
        return Bot.objects.get(slug=slug)
    except Bot.DoesNotExist:
        raise CommandError(f"no bot with slug {slug!r}") from None
