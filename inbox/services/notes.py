"""Private notes on a conversation: for the agents (and analysts), never sent to the visitor."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from bots.models import Conversation
from chatplatform.access.scoping import may_handle
from conversations.services.handoff import HandoffRefused
from conversations.services.messages import visitor_text_clean
from inbox.models import AgentNote
from inference_worker.publisher import get_turn_events


def note_add(*, conversation_id: int, author: Any, text: Any) -> AgentNote:
    """Store a note by someone who handles the conversation's bot and, after commit, tell the inbox
    pages (an update on the bot's inbox group; a page with the conversation open shows the note).
    Text is cleaned like a visitor's (`visitor_text_clean`: the same junk and length rules);
    `MessageRejected` for an empty or oversized one."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        raise HandoffRefused("not_found", "No such conversation.")
    if not may_handle(author, conversation.bot_id):
        raise HandoffRefused("not_allowed", "This agent does not answer this bot's visitors.")
    cleaned = visitor_text_clean(text)
    bot_id = conversation.bot_id
    with transaction.atomic():
        note = AgentNote.objects.create(conversation=conversation, author=author, text=cleaned)
        payload = {"kind": "note", "conversation_id": conversation.pk, "note_id": note.pk}
        transaction.on_commit(lambda: get_turn_events().inbox(bot_id=bot_id, payload=payload), robust=True)
    return note
