"""Identity verification for logged-in customers (like Intercom/Chatwoot):
user_hash = hex HMAC-SHA256(bot secret, user_id), computed by the customer's backend.

With an expiry (like Intercom's JWT `exp`): user_hash = HMAC(bot secret, "<user_id>:<expires>"),
`expires` in Unix seconds; refused from that moment on, so a hash copied out of a page stops
working. Signing the expiry in means it cannot be moved later."""

from __future__ import annotations

import hashlib
import hmac
import time

from bots.models import Bot

# Far enough for any real expiry, small enough that a junk number is refused, not overflowed.
EXPIRES_MAX = 2**40


class IdentityExpired(ValueError):
    """The identity was signed with an expiry that has passed."""


def user_hash_expected(*, bot: Bot, user_id: str, expires: int | None = None) -> str:
    message = user_id if expires is None else f"{user_id}:{expires}"
    return hmac.new(bot.secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def user_hash_valid(
    *, bot: Bot, user_id: object, user_hash: object, expires: object = None, now: float | None = None
) -> bool:
    """Whether `user_hash` signs `user_id` (and `expires`, when sent). IdentityExpired for a valid
    signature whose expiry has passed, so the caller can say which."""
    if not isinstance(user_id, str) or not isinstance(user_hash, str) or not user_id or len(user_id) > 200:
        return False
    if expires is not None and (
        not isinstance(expires, int) or isinstance(expires, bool) or not 0 < expires < EXPIRES_MAX
    ):
        return False
    if not user_id.isprintable() or not user_hash.isascii():
        # No customer backend signs control characters or lone surrogates (which cannot even be
        # encoded to compute the HMAC); compare_digest needs ASCII strings.
        return False
    expected = user_hash_expected(bot=bot, user_id=user_id, expires=expires)
    if not hmac.compare_digest(expected, user_hash.lower()):
        return False
    if expires is not None and expires <= (time.time() if now is None else now):
        raise IdentityExpired(f"the identity expired at {expires}")
    return True
