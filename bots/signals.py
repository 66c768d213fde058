"""Keeps the bot row's `updated_at` the stamp of its whole configuration.

The turn caches each bot's spec by that stamp (bots/selectors.py, `bot_spec`), so a change to an
intent, a response, a form slot or an action must move it, in the same transaction as the change.
Model signals cover every write that goes through `save()` or `delete()` (admin, API, services);
the few bulk writes (training-data imports) bump `nlu_data_version`, the stamp's other half.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

# Senders and models by label: the app registry resolves them once models are loaded, so the app
# config can connect the receivers at import (actions.HttpAction is an app that builds on this one).
_BOT_CONFIG_MODELS = ("bots.Intent", "actions.HttpAction")
_INTENT_CONFIG_MODELS = ("bots.ResponseTemplate", "bots.FormSlot")


def bot_config_touch(*, bot_id: int) -> None:
    """Mark the bot's configuration changed: every process's cached spec of it is now stale."""
    apps.get_model("bots", "Bot").objects.filter(pk=bot_id).update(updated_at=timezone.now())


def _bot_row_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    bot_config_touch(bot_id=instance.bot_id)


def _intent_row_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    intents = apps.get_model("bots", "Intent").objects
    bot_id = intents.filter(pk=instance.intent_id).values_list("bot_id", flat=True).first()
    if bot_id is not None:  # None: the intent itself is being deleted, which touches the bot
        bot_config_touch(bot_id=bot_id)


def connect() -> None:
    for sender in _BOT_CONFIG_MODELS:
        post_save.connect(_bot_row_changed, sender=sender, dispatch_uid=f"bot_config_touch_save_{sender}")
        post_delete.connect(_bot_row_changed, sender=sender, dispatch_uid=f"bot_config_touch_delete_{sender}")
    for sender in _INTENT_CONFIG_MODELS:
        post_save.connect(_intent_row_changed, sender=sender, dispatch_uid=f"bot_config_touch_save_{sender}")
        post_delete.connect(_intent_row_changed, sender=sender, dispatch_uid=f"bot_config_touch_delete_{sender}")
