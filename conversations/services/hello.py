"""A widget's hello: who the visitor is, and which conversation the connection is bound to.

Zulip's check-then-do: `hello_identity_check` and `hello_conversation_check` only decide (and
raise HelloRefused with the protocol's error code), `hello_do` opens the conversation a token
names or starts a new one. The consumer throttles between the identity check and `hello_do`,
so a refused identity costs no throttle budget and a throttled hello touches no conversation.
"""

from __future__ import annotations

from dataclasses import dataclass

from bots.models import Bot, Conversation
from conversations import selectors as conversation_selectors
from conversations.services.conversations import conversation_start
from conversations.services.identity import user_hash_valid
from conversations.services.messages import text_scrub

MAX_LOCALE_CHARS = 16


class HelloRefused(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class HelloOpened:
    conversation: Conversation
    started: bool


def hello_identity_check(*, bot: Bot, user_id: object, user_hash: object) -> str:
    """The verified user id ("" for an anonymous visitor); HelloRefused if the identity does not hold."""
    verified = user_id is not None and user_hash_valid(bot=bot, user_id=user_id, user_hash=user_hash)
    if user_id is not None and not verified:
        raise HelloRefused("forbidden", "user_hash does not match user_id.")
    if bot.require_identity_verification and not verified:
        raise HelloRefused("identity_required", "This bot requires identity verification (user_id, user_hash).")
    return user_id if isinstance(user_id, str) and verified else ""


def hello_conversation_check(*, bot: Bot, token: str, user_id: str) -> Conversation:
    """The conversation `token` names, if `user_id` (verified, or "") may reopen it; else HelloRefused."""
    try:
        conversation = conversation_selectors.conversation_from_visitor_token(bot=bot, token=token)
    except conversation_selectors.VisitorTokenExpired as exc:
        # The code the protocol gives for an expired token: the widget forgets it and starts over.
        raise HelloRefused(
            "not_found",
            "The visitor token has expired; start a new conversation by sending hello without a token.",
        ) from exc
    except conversation_selectors.VisitorTokenInvalid as exc:
        raise HelloRefused(
            "forbidden",
            "The visitor token is not valid for this bot; start a new conversation by sending hello without a token.",
        ) from exc
    # A conversation opened with a verified identity belongs to that user: another user's
    # identity, or none (a token left behind after logout), does not reopen it.
    if conversation.user_id and conversation.user_id != user_id:
        raise HelloRefused("forbidden", "This conversation belongs to another user.")
    return conversation


def hello_do(*, bot: Bot, token: str | None, user_id: str, locale: str | None, channel: str) -> HelloOpened:
    """Open the conversation of `token` (checked by hello_conversation_check) or, without one, start one."""
    if token:
        return HelloOpened(conversation=hello_conversation_check(bot=bot, token=token, user_id=user_id), started=False)
    conversation = conversation_start(
        bot=bot, user_id=user_id, locale=text_scrub(locale or "")[:MAX_LOCALE_CHARS], channel=channel
    )
    return HelloOpened(conversation=conversation, started=True)
