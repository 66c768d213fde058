"""API keys for the OpenAI-compatible API: shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from bots.models import ApiKey, Bot

KEY_PREFIX = "cp_"
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_issue(api_key: ApiKey) -> str:
    """Give an unsaved key its credentials; returns the raw key, which is not kept anywhere."""
    prefix = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key.prefix, api_key.key_hash = prefix, _hash(raw_key)
    return raw_key


@transaction.atomic
def api_key_create(*, name: str, bots: Iterable[Bot] = ()) -> tuple[ApiKey, str]:
    """Returns the stored key and the raw key: show it once."""
    api_key = ApiKey(name=name)
    raw_key = api_key_issue(api_key)
    api_key.save()
    api_key.bots.set(list(bots))
    return api_key, raw_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    if not raw_key.startswith(KEY_PREFIX):
        return None
    api_key = ApiKey.objects.filter(key_hash=_hash(raw_key), is_active=True).first()
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_RESOLUTION:
        # At most one write a minute per key, not one per request.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


def api_key_bots(*, api_key: ApiKey) -> list[Bot]:
    scoped = list(api_key.bots.filter(is_active=True))
    return scoped or list(Bot.objects.filter(is_active=True))


def api_key_bot(*, api_key: ApiKey, slug: str) -> Bot | None:
    return next((bot for bot in api_key_bots(api_key=api_key) if bot.slug == slug), None)
