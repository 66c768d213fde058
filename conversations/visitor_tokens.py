"""Signed visitor tokens: a token names bot, conversation and visitor and opens that conversation only."""

from __future__ import annotations

from django.core import signing

from bots.models import Conversation

VISITOR_TOKEN_SALT = "chatplatform.visitor-token.v1"


def visitor_token_issue(*, conversation: Conversation) -> str:
    """A signed token naming bot, conversation and visitor: it opens that conversation and no other.

    Signed with a timestamp (signing.dumps): it opens the conversation for VISITOR_TOKEN_MAX_AGE_DAYS
    (bots.selectors). Every welcome issues a fresh one, so the lifetime slides while a visitor comes back."""
    return signing.dumps(
        {"b": conversation.bot_id, "c": conversation.pk, "v": conversation.visitor_id},
        salt=VISITOR_TOKEN_SALT,
        compress=True,
    )
