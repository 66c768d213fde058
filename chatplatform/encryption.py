"""Secrets at rest: values the platform must send later (action headers, webhook signing keys).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with the keys in
settings.SECRETS_ENCRYPTION_KEYS, newest first: the first key encrypts, every key decrypts, so a key
is rotated by putting the new one in front and re-saving. Without configured keys one is derived
from SECRET_KEY, so a development database stays readable across restarts; production sets its own.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "decrypt", "encrypt", "mask"]


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if keys:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    derived = hashlib.sha256(b"chatplatform secrets at rest\0" + secret_key.encode()).digest()
    return MultiFernet([Fernet(base64.urlsafe_b64encode(derived))])


def _current() -> MultiFernet:
    return _cipher(tuple(k.strip() for k in settings.SECRETS_ENCRYPTION_KEYS if k.strip()), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    """The token to store; empty stays empty (no secret configured)."""
    if not plaintext:
        return ""
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The secret back; raises InvalidToken when no configured key opens it."""
    if not token:
        return ""
    return _current().decrypt(token.encode()).decode()


def mask(plaintext: str) -> str:
    """What a screen may show of a secret after it was saved: its length class and last 4 chars."""
    if not plaintext:
        return ""
    return "•" * 8 + plaintext[-4:] if len(plaintext) > 12 else "•" * 8
