"""Celery tasks of the knowledge base: thin, named after the service they call."""

from __future__ import annotations

from celery import shared_task

from knowledge.services import embedding
from knowledge.services.changes import KNOWLEDGE_EMBED_TASK


@shared_task(name=KNOWLEDGE_EMBED_TASK, ignore_result=True)
def knowledge_embed_pending(bot_id: int) -> None:
    """Embed the bot's new or edited knowledge passages (the web process never runs the model)."""
    embedding.knowledge_embed_pending(bot_id=bot_id)
