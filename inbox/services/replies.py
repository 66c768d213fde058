"""An agent's reply to the visitor, with the inbox's extras: canned-reply shortcuts and the
copilot's record of what became of its suggestion; and the agent's asks of the copilot.

The message itself is `conversations.services.handoff.agent_message_send` (only the assigned agent;
numbered and delivered like a bot reply; a resent client id is stored once).
"""

from __future__ import annotations

from typing import Any

import structlog

from bots.models import Conversation, Message
from chatplatform.access.scoping import may_handle
from conversations.services.handoff import HandoffRefused, agent_message_send
from copilot.models import ReplySuggestion
from copilot.services import SuggestionRefused, suggestion_outcome_record, suggestion_request
from inbox.selectors import canned_reply_expand

log = structlog.get_logger(__name__)


def agent_reply_send(
    *, conversation_id: int, agent: Any, text: Any, client_id: str | None = None, suggestion_id: int | None = None
) -> Message:
    """Send the agent's reply. A text that is exactly a canned reply's shortcut ("/refund") sends
    that reply. With `suggestion_id` (the copilot suggestion the agent started from) its outcome is
    recorded: sent as is, or edited with the edit distance; an unknown suggestion is logged, not
    refused: the reply went out and matters more than the statistic."""
    if isinstance(text, str):
        bot_id = Conversation.objects.filter(pk=conversation_id).values_list("bot_id", flat=True).first()
        if bot_id is not None:
            text = canned_reply_expand(user=agent, bot_id=bot_id, text=text)
    message = agent_message_send(conversation_id=conversation_id, agent=agent, text=text, client_id=client_id)
    if suggestion_id is not None:
        try:
            suggestion_outcome_record(suggestion_id, "sent", message.text, conversation_id=conversation_id)
        except SuggestionRefused as exc:
            log.info("suggestion_outcome_refused", suggestion_id=suggestion_id, code=exc.code)
    return message


def suggestion_ask(*, conversation_id: int, agent: Any) -> None:
    """The agent asks the copilot for a (new) suggestion for the newest visitor message."""
    bot_id = Conversation.objects.filter(pk=conversation_id).values_list("bot_id", flat=True).first()
    if bot_id is None or not may_handle(agent, bot_id):
        raise HandoffRefused("not_found", "No such conversation in your inbox.")
    suggestion_request(conversation_id)


def suggestion_discard(*, suggestion_id: int, agent: Any) -> int:
    """The agent threw the suggestion away. Returns its conversation's id; `SuggestionRefused`
    (not_found) for a suggestion of a bot the agent does not handle."""
    found = (
        ReplySuggestion.objects.filter(pk=suggestion_id).values_list("conversation_id", "conversation__bot_id").first()
    )
    if found is None or not may_handle(agent, found[1]):
        raise SuggestionRefused("not_found", "No such suggestion.")
    suggestion_outcome_record(suggestion_id, "discarded", conversation_id=found[0])
    return found[0]
