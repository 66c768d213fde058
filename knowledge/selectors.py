"""Retrieval from a bot's knowledge base (pgvector cosine similarity)."""

from __future__ import annotations

from collections.abc import Callable

from pgvector.django import CosineDistance

from bots.models import Bot, KnowledgeChunk
from chatplatform.metrics import RETRIEVAL
from engine.types import KnowledgePassage
from inference_worker.embedder import worker_embedder

TOP_K = 3


# all-MiniLM-L6-v2 cosine similarity below which a passage is noise rather than evidence.
MIN_SIMILARITY = 0.35


def knowledge_retrieve(*, bot: Bot, text: str, k: int = TOP_K) -> list[KnowledgePassage]:
    with RETRIEVAL.time():  # the query's embedding and the similarity search
        query = worker_embedder().encode([text])[0].tolist()
        rows = (
            KnowledgeChunk.objects.filter(bot=bot, embedding__isnull=False)
            .annotate(distance=CosineDistance("embedding", query))
            .order_by("distance")[:k]
        )
        return [
            KnowledgePassage(title=r.title, url=r.source_url, text=r.text)
            for r in rows
            if 1 - r.distance >= MIN_SIMILARITY
        ]


def knowledge_retriever_for(bot: Bot) -> Callable[[str], list[KnowledgePassage]] | None:
    """None for bots without a knowledge base, so their turns skip the query embedding."""
    if not KnowledgeChunk.objects.filter(bot=bot, embedding__isnull=False).exists():
        return None
    return lambda text: knowledge_retrieve(bot=bot, text=text)
