"""Embedding a bot's knowledge passages (in the worker: the web process never runs the model)."""

from __future__ import annotations

from django.db import transaction

from bots.models import KnowledgeChunk
from inference_worker.embedder import worker_embedder


def knowledge_embed_pending(*, bot_id: int) -> int:
    """Embed the bot's passages that have no embedding yet; returns how many."""
    pending = list(KnowledgeChunk.objects.filter(bot_id=bot_id, embedding__isnull=True).only("id", "title", "text"))
    if not pending:
        return 0
    vectors = worker_embedder().encode([f"{c.title}\n{c.text}" for c in pending])
    with transaction.atomic():
        for chunk, vector in zip(pending, vectors, strict=True):
            KnowledgeChunk.objects.filter(pk=chunk.pk).update(embedding=vector.tolist())
    return len(pending)
