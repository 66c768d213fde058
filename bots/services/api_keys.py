"""API keys for the OpenAI-compatible and parse APIs: shown once, stored as a SHA-256 hash.

A key reaches the bots attached to it, or every active bot when `all_bots` is set; nothing else.
Every request made with a key counts against its per-minute quota (`API_REQUESTS_PER_MINUTE`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bots.models import ApiKey, Bot
from chatplatform.ratelimit import rate_limit_hit_strict

KEY_PREFIX = "cp_"
_LAST_USED_RESOLUTION = timedelta(minutes=1)
# Issued keys are ~50 ASCII characters; anything much longer, or not printable ASCII, is junk and
# is refused before it is hashed or reaches a query.
_MAX_RAW_KEY_CHARS = 128


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_issue(api_key: ApiKey) -> str:
    """Give an unsaved key its credentials; returns the raw key, which is not kept anywhere."""
    prefix = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key.prefix, api_key.key_hash = prefix, _hash(raw_key)
    return raw_key


@transaction.atomic
def api_key_create(*, name: str, bots: Iterable[Bot] = (), all_bots: bool = False) -> tuple[ApiKey, str]:
    """Returns the stored key and the raw key: show it once.

    Exactly one of `bots` (a scope) and `all_bots` must be given: a key with neither could do
    nothing, and one with both would be ambiguous about what deleting those bots means."""
    bots = list(bots)
    if bool(bots) == bool(all_bots):
        raise ValueError("give an API key either some bots or all_bots=True, not both and not neither")
    api_key = ApiKey(name=name, all_bots=all_bots)
    raw_key = api_key_issue(api_key)
    api_key.save()
    api_key.bots.set(bots)
    return api_key, raw_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    if (
        not raw_key.startswith(KEY_PREFIX)
        or len(raw_key) > _MAX_RAW_KEY_CHARS
        or not (raw_key.isascii() and raw_key.isprintable())
    ):
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
    """The active bots this key may use. An empty scope is no bot: "every bot" is only ever the
    explicit `all_bots` flag (issue #9: a key whose only bot was deactivated or deleted used to fall
    back to every active bot)."""
    if api_key.all_bots:
        return list(Bot.objects.filter(is_active=True).order_by("slug"))
    return list(api_key.bots.filter(is_active=True).order_by("slug"))


def api_key_bot(*, api_key: ApiKey, slug: str) -> Bot | None:
    return next((bot for bot in api_key_bots(api_key=api_key) if bot.slug == slug), None)


# What a refused caller is told to wait while Redis cannot count (a restart takes seconds).
QUOTA_UNAVAILABLE_RETRY_S = 5


def api_key_throttle(*, api_key: ApiKey) -> int | None:
    """Count one API request made with this key: None when allowed, else seconds until it may retry.

    One quota per key over every endpoint (chat completions, models, parse, handoff). Keyed by the
    key's random prefix, not its row id, so a recreated database never inherits an old key's count.
    Fails closed (RateLimitUnavailable) while Redis is unreachable: a key's requests spend LLM time
    and create rows, and an outage must not lift the quota for every script that holds a key."""
    return rate_limit_hit_strict(key=f"api:key:{api_key.prefix}", limit=settings.API_REQUESTS_PER_MINUTE)


def api_user_throttle(*, user_id: int) -> int | None:
    """As `api_key_throttle`, for a logged-in user calling the parse API with a token or a session."""
    return rate_limit_hit_strict(key=f"api:user:{user_id}", limit=settings.API_REQUESTS_PER_MINUTE)
