"""Read marks: how far an agent has read a conversation (the unread counts of the inbox's lists)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from bots.models import Conversation
from chatplatform.access.scoping import may_handle
from conversations.selectors import conversation_last_seq
from conversations.services.handoff import HandoffRefused
from inbox.models import ReadMark


def read_mark(*, user: Any, conversation_id: int, seq: int) -> int:
    """The user has read up to `seq` (capped at the conversation's last message). A mark never moves
    back: an older tab reporting an older seq changes nothing. Returns the stored mark."""
    bot_id = Conversation.objects.filter(pk=conversation_id).values_list("bot_id", flat=True).first()
    if bot_id is None or not may_handle(user, bot_id):
        raise HandoffRefused("not_found", "No such conversation in your inbox.")
    seq = max(0, min(seq, conversation_last_seq(conversation_id=conversation_id)))
    marks = ReadMark.objects.filter(user=user, conversation_id=conversation_id)
    if not marks.filter(last_seq__lt=seq).update(last_seq=seq):
        try:
            with transaction.atomic():
                ReadMark.objects.create(user=user, conversation_id=conversation_id, last_seq=seq)
        except IntegrityError:  # it exists (already at or past seq), or a concurrent mark created it
            marks.filter(last_seq__lt=seq).update(last_seq=seq)
    return marks.values_list("last_seq", flat=True).first() or 0
