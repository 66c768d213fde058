"""The visitor's languages: the one the platform writes its own texts in, the one each message is
written in, and whether a generated reply must be told to use it."""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils import translation

from bots.models import Bot, Conversation
from engine.language import language_codes_check, language_detect, language_name
from engine.types import ChatMessage

# Undecided messages ("ok", "12345") take the language of the visitor's recent messages.
RECENT_USER_MESSAGES = 3


@functools.cache
def _checked(codes: tuple[str, ...]) -> tuple[str, ...]:
    return language_codes_check(codes)


def _codes() -> tuple[str, ...]:
    return _checked(tuple(settings.LANGUAGE_DETECTION_LANGUAGES))


def message_language(text: str, history: list[ChatMessage]) -> str:
    """The ISO 639-1 code of the visitor's message, or of their last few messages when this one is
    too short to tell; "" when neither says."""
    if not settings.LANGUAGE_DETECTION_LANGUAGES:
        return ""
    found = language_detect(text, codes=_codes())
    if found:
        return found
    recent = [m.content for m in history if m.role == "user"][-RECENT_USER_MESSAGES:]
    return language_detect("\n".join(recent), codes=_codes()) if recent else ""


def reply_language(bot: Bot, code: str) -> str:
    """The language a generated reply is asked to use, by name; "" when the prompt's own language
    already is the visitor's (the bot's language, or the platform's default for "auto")."""
    if not code:
        return ""
    prompt_language = bot.language if bot.language != Bot.Language.AUTO else settings.LANGUAGE_CODE
    if prompt_language.split("-")[0].lower() == code:
        return ""
    return language_name(code)


def visitor_language(conversation: Conversation) -> str:
    """The language of a text the platform writes to the visitor itself (no request, no active language):
    the bot's language, or with "auto" the visitor's browser locale (zh-CN -> zh-hans), else the default."""
    language = conversation.bot.language
    if language and language != Bot.Language.AUTO:
        return language
    try:
        return translation.get_supported_language_variant((conversation.locale or "").lower())
    except LookupError:
        return settings.LANGUAGE_CODE
