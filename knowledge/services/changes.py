"""Reacting to edits of a bot's knowledge passages: embed them in the worker after commit."""

from __future__ import annotations

from django.db import transaction

from chatplatform.celery import task_send

KNOWLEDGE_EMBED_TASK = "knowledge.knowledge_embed_pending"


def knowledge_changed(*, bot_id: int) -> None:
    """After a passage is added or edited: embed it in the worker once the write is committed."""
    transaction.on_commit(lambda: task_send(KNOWLEDGE_EMBED_TASK, bot_id))
