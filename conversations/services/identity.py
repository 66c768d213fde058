"""Identity verification for logged-in customers (like Intercom/Chatwoot):
user_hash = hex HMAC-SHA256(bot secret, user_id), computed by the customer's backend."""

from __future__ import annotations

import hashlib
import hmac

from bots.models import Bot


def user_hash_expected(*, bot: Bot, user_id: str) -> str:
    return hmac.new(bot.secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_hash_valid(*, bot: Bot, user_id: object, user_hash: object) -> bool:
    if not isinstance(user_id, str) or not isinstance(user_hash, str) or not user_id or len(user_id) > 200:
        return False
    if not user_id.isprintable() or not user_hash.isascii():
        # No customer backend signs control characters or lone surrogates (which cannot even be
        # encoded to compute the HMAC); compare_digest needs ASCII strings.
        return False
    return hmac.compare_digest(user_hash_expected(bot=bot, user_id=user_id), user_hash.lower())
