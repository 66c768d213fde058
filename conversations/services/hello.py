"""A widget's hello: who the visitor is, and which conversation (if any yet) the connection is bound to.

Zulip's check-then-do: `hello_identity_check` and `hello_visitor_check` only decide (and raise
HelloRefused with the protocol's error code), `hello_do` resolves the visitor a token names and,
for a protocol v1 client only, starts a conversation at once. A v2 hello without a token creates
nothing: the connection gets a fresh visitor id, and the conversation row is created with the
visitor's first message (`services.conversations.conversation_first_message_receive`). The consumer
throttles between the identity check and `hello_do`, so a refused identity costs no throttle budget
and a throttled hello touches no conversation.
"""

from __future__ import annotations

from dataclasses import dataclass

from bots.models import Bot, Conversation
from conversations import selectors as conversation_selectors
from conversations.services.conversations import conversation_open_for_visitor
from conversations.services.identity import IdentityExpired, user_hash_valid
from conversations.services.messages import text_scrub
from conversations.visitor_tokens import visitor_id_new

MAX_LOCALE_CHARS = 16


class HelloRefused(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class HelloOpened:
    """What the connection is bound to: always a visitor, a conversation once one exists."""

    visitor_id: str
    conversation: Conversation | None
    started: bool  # this hello created the conversation row (v1 only)
    locale: str  # cleaned; written to the row when it is created later


def hello_identity_check(*, bot: Bot, user_id: object, user_hash: object, user_hash_expires: object = None) -> str:
    """The verified user id ("" for an anonymous visitor); HelloRefused if the identity does not hold."""
    try:
        verified = user_id is not None and user_hash_valid(
            bot=bot, user_id=user_id, user_hash=user_hash, expires=user_hash_expires
        )
    except IdentityExpired as exc:
        raise HelloRefused("forbidden", "user_hash has expired: sign the identity again.") from exc
    if user_id is not None and not verified:
        raise HelloRefused("forbidden", "user_hash does not match user_id.")
    if bot.require_identity_verification and not verified:
        raise HelloRefused("identity_required", "This bot requires identity verification (user_id, user_hash).")
    return user_id if isinstance(user_id, str) and verified else ""


def hello_visitor_check(*, bot: Bot, token: str, user_id: str) -> conversation_selectors.TokenVisitor:
    """The visitor (and conversation) `token` names, if `user_id` (verified, or "") may reopen it;
    else HelloRefused."""
    try:
        visitor = conversation_selectors.visitor_from_token(bot=bot, token=token)
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
    conversation = visitor.conversation
    if conversation is not None and conversation.user_id and conversation.user_id != user_id:
        raise HelloRefused("forbidden", "This conversation belongs to another user.")
    return visitor


def hello_do(
    *, bot: Bot, token: str | None, user_id: str, locale: str | None, channel: str, start: bool = False
) -> HelloOpened:
    """Resolve the visitor of `token` (checked by hello_visitor_check) or, without one, a new visitor.

    `start` (protocol v1): a visitor without a conversation gets one now, as v1 promises a
    `conversation_id` in every welcome. Without it (v2) nothing is written."""
    cleaned_locale = text_scrub(locale or "")[:MAX_LOCALE_CHARS]
    if token:
        visitor = hello_visitor_check(bot=bot, token=token, user_id=user_id)
        visitor_id, conversation = visitor.visitor_id, visitor.conversation
    else:
        visitor_id, conversation = visitor_id_new(), None
    if conversation is not None or not start:
        return HelloOpened(visitor_id=visitor_id, conversation=conversation, started=False, locale=cleaned_locale)
    conversation, started = conversation_open_for_visitor(
        bot=bot, visitor_id=visitor_id, user_id=user_id, locale=cleaned_locale, channel=channel
    )
    return HelloOpened(visitor_id=visitor_id, conversation=conversation, started=started, locale=cleaned_locale)
