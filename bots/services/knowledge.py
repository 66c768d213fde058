"""The knowledge base: passages embedded once (in the worker) and retrieved by cosine similarity
with pgvector for generated replies, which cite them."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from pgvector.django import CosineDistance

from bots.models import Bot, KnowledgeChunk
from bots.pipeline.types import KnowledgePassage

TOP_K = 3
# all-MiniLM-L6-v2 cosine similarity below which a passage is noise rather than evidence.
MIN_SIMILARITY = 0.35


def knowledge_embed_pending(*, bot_id: int) -> int:
    """Embed the bot's passages that have no embedding yet. Runs in the worker; returns how many."""
    from bots.services.nlu import _embedder

    pending = list(KnowledgeChunk.objects.filter(bot_id=bot_id, embedding__isnull=True).only("id", "title", "text"))
    if not pending:
        return 0
    vectors = _embedder().encode([f"{c.title}\n{c.text}" for c in pending])
    with transaction.atomic():
        for chunk, vector in zip(pending, vectors, strict=True):
            KnowledgeChunk.objects.filter(pk=chunk.pk).update(embedding=vector.tolist())
    return len(pending)


def knowledge_changed(*, bot_id: int) -> None:
    """After a passage is added or edited: embed it in the worker once the write is committed."""
    from inference_worker.tasks import knowledge_embed

    transaction.on_commit(lambda: knowledge_embed.delay(bot_id))


def knowledge_retrieve(*, bot: Bot, text: str, k: int = TOP_K) -> list[KnowledgePassage]:
    from bots.services.nlu import _embedder

    query = _embedder().encode([text])[0].tolist()
    rows = (KnowledgeChunk.objects.filter(bot=bot, embedding__isnull=False)
            .annotate(distance=CosineDistance("embedding", query)).order_by("distance")[:k])
    return [KnowledgePassage(title=r.title, url=r.source_url, text=r.text) for r in rows
            if 1 - r.distance >= MIN_SIMILARITY]


def knowledge_retriever_for(bot: Bot) -> Callable[[str], list[KnowledgePassage]] | None:
    """None for bots without a knowledge base, so their turns skip the query embedding."""
    if not KnowledgeChunk.objects.filter(bot=bot, embedding__isnull=False).exists():
        return None
    return lambda text: knowledge_retrieve(bot=bot, text=text)
