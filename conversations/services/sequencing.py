"""Sequence numbers per conversation: the unique (conversation, seq) constraint arbitrates races."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from bots.models import Message

_SEQ_RETRIES = 8


def message_insert_next_seq(*, conversation_id: int, **fields: Any) -> Message:
    """Insert with seq = max + 1. Web (visitor messages) and worker (replies) race on the same
    conversation without a shared lock; the unique (conversation, seq) constraint arbitrates and the
    loser retries with the next number."""
    for _ in range(_SEQ_RETRIES):
        current = Message.objects.filter(conversation_id=conversation_id).aggregate(m=Max("seq"))["m"] or 0
        try:
            with transaction.atomic():
                return Message.objects.create(conversation_id=conversation_id, seq=current + 1, **fields)
        except IntegrityError as exc:
            if violated_constraint(exc) != "message_unique_seq":
                raise
    raise RuntimeError(f"could not allocate a sequence number in conversation {conversation_id}")


def violated_constraint(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)
