"""Signed visitor tokens: a token names bot and visitor, and the conversation once there is one.

Two kinds, one salt and one lifetime (docs/protocol.md, "Identifiers"):
- a conversation token `{"b": bot, "c": conversation, "v": visitor}` opens that conversation only;
- a visitor token before the conversation exists (protocol v2) `{"b": bot, "c": null, "v": visitor}`:
  a hello without a token gets one, the conversation is created at the visitor's first message with
  this visitor id, and a reload (or a resent first message on a new socket) speaks for the same
  visitor, so it opens that conversation instead of starting a second one.
"""

from __future__ import annotations

import secrets

from django.core import signing

from bots.models import Conversation

VISITOR_TOKEN_SALT = "chatplatform.visitor-token.v1"


def visitor_id_new() -> str:
    """A fresh visitor id: 128 random bits, the same shape `conversation_start` gives a visitor."""
    return secrets.token_hex(16)


def visitor_token_issue(*, conversation: Conversation) -> str:
    """A signed token naming bot, conversation and visitor: it opens that conversation and no other.

    Signed with a timestamp (signing.dumps): it opens the conversation for VISITOR_TOKEN_MAX_AGE_DAYS
    (bots.selectors). Every welcome issues a fresh one, so the lifetime slides while a visitor comes back."""
    return signing.dumps(
        {"b": conversation.bot_id, "c": conversation.pk, "v": conversation.visitor_id},
        salt=VISITOR_TOKEN_SALT,
        compress=True,
    )


def visitor_token_issue_pending(*, bot_id: int, visitor_id: str) -> str:
    """A signed token for a visitor who has no conversation yet (`"c": null`); same lifetime."""
    return signing.dumps({"b": bot_id, "c": None, "v": visitor_id}, salt=VISITOR_TOKEN_SALT, compress=True)
