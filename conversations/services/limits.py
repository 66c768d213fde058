"""Chat rate limits: which counters a hello, a new conversation, a message or a rating spends (docs/protocol.md)."""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings

from bots.models import Bot, Conversation
from chatplatform.ratelimit import rate_limit_hit, rate_limit_hit_strict


def _bot_ip(*, bot: Bot, client_ip: str) -> str:
    return f"bot:{bot.pk}:ip:{client_ip[:64]}"


def _identity(*, conversation: Conversation, client_ip: str) -> str:
    """Who is sending, across conversations: the verified user when there is one, else the client's
    address on this bot. Keying by the conversation alone let every new hello start a fresh quota."""
    if conversation.user_id:
        # Hashed: user ids are the customer's strings (spaces, any script) and Redis keys stay short.
        digest = hashlib.sha256(conversation.user_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"bot:{conversation.bot_id}:user:{digest}"
    return f"bot:{conversation.bot_id}:ip:{client_ip[:64]}"


def hello_throttle(*, bot: Bot, client_ip: str) -> int | None:
    """Any hello (reopening costs a signature check, a query and a group join). Fails open: reopening
    an existing conversation creates nothing, and the connection's own budgets still bound it."""
    return rate_limit_hit(
        key=f"hello:{_bot_ip(bot=bot, client_ip=client_ip)}", limit=settings.CHAT_HELLOS_PER_MINUTE_PER_IP
    )


def conversation_start_throttle(*, bot: Bot, client_ip: str) -> int | None:
    """A hello without a token creates a conversation row. Fails closed (RateLimitUnavailable)."""
    return rate_limit_hit_strict(
        key=f"conversation:{_bot_ip(bot=bot, client_ip=client_ip)}", limit=settings.CHAT_CONVERSATIONS_PER_MINUTE_PER_IP
    )


def message_send_throttle(*, conversation: Conversation, client_ip: str) -> int | None:
    """A visitor message (a row and a turn of LLM time): per conversation, per identity (verified
    user, else IP + bot) and per IP over all bots. Fails closed (RateLimitUnavailable)."""
    return (
        rate_limit_hit_strict(key=f"messages:conversation:{conversation.pk}", limit=settings.CHAT_MESSAGES_PER_MINUTE)
        or rate_limit_hit_strict(
            key=f"messages:{_identity(conversation=conversation, client_ip=client_ip)}",
            limit=settings.CHAT_MESSAGES_PER_MINUTE_PER_IDENTITY,
        )
        # Unchanged key from before the per-identity limit: its counts carry over a deploy.
        or rate_limit_hit_strict(key=f"ip:{client_ip[:64]}", limit=settings.CHAT_MESSAGES_PER_MINUTE_PER_IP)
    )


def feedback_throttle(*, conversation: Conversation) -> int | None:
    """feedback and csat frames (each a database write), together, per conversation. Fails open."""
    return rate_limit_hit(key=f"feedback:conversation:{conversation.pk}", limit=settings.CHAT_FEEDBACK_PER_MINUTE)


class ConnectionBudget:
    """A fixed window counted in the consumer's memory: limits one socket without a Redis round trip
    per frame (and keeps working while Redis is down). The window starts at the first hit."""

    def __init__(self, *, limit: int, window_seconds: float = 60.0) -> None:
        self.limit, self.window_seconds = limit, window_seconds
        self._start = 0.0
        self._count = 0

    def hit(self) -> int | None:
        """Count one hit. None when allowed, else whole seconds until the window resets."""
        now = time.monotonic()
        if self._count == 0 or now - self._start >= self.window_seconds:
            self._start, self._count = now, 0
        self._count += 1
        if self._count > self.limit:
            return max(1, math.ceil(self.window_seconds - (now - self._start)))
        return None
