"""Celery tasks of the knowledge base: thin, named after the service they call."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from bots.models import Bot
from inference_worker.embedder import worker_embedder
from knowledge import selectors
from knowledge.selectors import KNOWLEDGE_SEARCH_TASK
from knowledge.services import documents, embedding
from knowledge.services.changes import KNOWLEDGE_EMBED_TASK
from knowledge.services.documents import KNOWLEDGE_DOCUMENT_TASK


@shared_task(name=KNOWLEDGE_EMBED_TASK, ignore_result=True)
def knowledge_embed_pending(bot_id: int) -> None:
    """Embed the bot's new or edited knowledge passages (the web process never runs the model)."""
    embedding.knowledge_embed_pending(bot_id=bot_id)


@shared_task(name=KNOWLEDGE_DOCUMENT_TASK, ignore_result=True, acks_late=True)
def document_process(document_id: int) -> None:
    """Parse, chunk and embed an uploaded document (a redelivered task finds it done and stops)."""
    documents.document_process(document_id=document_id, embedder=worker_embedder())


@shared_task(name=KNOWLEDGE_SEARCH_TASK, ignore_result=False)
def knowledge_search(bot_id: int, query: str, k: int) -> list[dict[str, Any]]:
    """The search API's query, run where the embedding model is (the web process loads none)."""
    bot = Bot.objects.get(pk=bot_id)
    return [hit.as_dict() for hit in selectors.knowledge_search(bot=bot, query=query, k=k)]
