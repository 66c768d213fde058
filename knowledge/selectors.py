"""Retrieval from a bot's knowledge base: hybrid search (pgvector cosine + PostgreSQL full text,
fused by reciprocal rank), the same for the bot's turns and the search API.

Why fuse ranks rather than scores: cosine similarities and ts_rank values live on unrelated
scales that differ per corpus; ranks do not, so the fusion needs no per-customer tuning. RRF_K=60
is the constant of the original paper (Cormack et al. 2009), not a value fitted to our data.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import QuerySet
from pgvector.django import CosineDistance

from bots.models import KNOWLEDGE_SEARCH_CONFIG, KNOWLEDGE_SEARCH_FIELDS, Bot, KnowledgeChunk, KnowledgeDocument
from chatplatform.metrics import RETRIEVAL
from engine.segmentation import query_words
from engine.types import KnowledgePassage
from inference_worker.embedder import worker_embedder

KNOWLEDGE_SEARCH_TASK = "knowledge.knowledge_search"
RRF_K = 60
CANDIDATES = 40  # per side, before fusion
MAX_QUERY_TERMS = 32


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    text: str
    title: str
    url: str
    heading_path: tuple[str, ...]
    score: float  # the fused score (higher is better)
    similarity: float  # cosine similarity to the query
    document_id: int | None
    document_external_id: str
    document_title: str
    faq_answer: str = ""  # a curated FAQ's answer, verbatim

    def as_dict(self) -> dict[str, Any]:
        return {
            "document": {
                "id": self.document_id,
                "external_id": self.document_external_id,
                "title": self.document_title,
                "url": self.url,
            },
            "chunk_id": self.chunk_id,
            "text": self.text,
            "heading_path": list(self.heading_path),
            "score": round(self.score, 6),
            "similarity": round(self.similarity, 4),
        }


def knowledge_search(*, bot: Bot, query: str, k: int = 10) -> list[SearchHit]:
    """The `k` best chunks for `query`, ranked by reciprocal-rank fusion of vector and full-text search."""
    with RETRIEVAL.time():  # the query's embedding and both searches
        vector = worker_embedder().encode([query])[0].tolist()
        chunks = searchable_chunks(bot)
        fused = rank_fuse(
            [vector_ranked(chunks, vector), full_text_ranked(chunks, query)],
            [bot.knowledge_vector_weight, bot.knowledge_full_text_weight],
        )
        best = sorted(fused, key=lambda pk: (-fused[pk], pk))[:k]
        rows = (
            KnowledgeChunk.objects.filter(pk__in=best)
            .select_related("document")
            .annotate(distance=CosineDistance("embedding", vector))
        )
        by_pk = {row.pk: row for row in rows}
    return [_hit(by_pk[pk], fused[pk]) for pk in best if pk in by_pk]


def searchable_chunks(bot: Bot) -> QuerySet[KnowledgeChunk]:
    return KnowledgeChunk.objects.filter(bot=bot, embedding__isnull=False)


def vector_ranked(chunks: QuerySet[KnowledgeChunk], vector: list[float]) -> list[int]:
    """Chunk ids, nearest to the query's embedding first (cosine; the HNSW index)."""
    return list(
        chunks.annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")
        .values_list("pk", flat=True)[:CANDIDATES]
    )


def rank_fuse(rankings: list[list[int]], weights: list[float] | None = None) -> dict[int, float]:
    """Reciprocal-rank fusion: each ranking adds weight / (RRF_K + rank) to the ids it holds."""
    fused: dict[int, float] = {}
    for index, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[index]
        for rank, pk in enumerate(ranking):
            fused[pk] = fused.get(pk, 0.0) + weight / (RRF_K + rank + 1)
    return fused


def knowledge_candidates(*, bot: Bot, text: str, k: int) -> list[KnowledgePassage]:
    """The `k` best passages for `text`, evidence or not: the turn decides what counts as evidence
    (bot.knowledge_min_similarity) and keeps all of them in the transcript with their scores."""
    return [_passage(hit) for hit in knowledge_search(bot=bot, query=text, k=k)]


def knowledge_retrieve(*, bot: Bot, text: str) -> list[KnowledgePassage]:
    """The passages a turn would put in front of the model: the bot's top k that are evidence."""
    candidates = knowledge_candidates(bot=bot, text=text, k=bot.knowledge_top_k * 2)
    return [p for p in candidates if p.similarity >= bot.knowledge_min_similarity][: bot.knowledge_top_k]


def knowledge_retriever_for(bot: Bot) -> Callable[[str], list[KnowledgePassage]] | None:
    """None for bots without a knowledge base, so their turns skip the query embedding."""
    if not KnowledgeChunk.objects.filter(bot=bot, embedding__isnull=False).exists():
        return None
    return lambda text: knowledge_candidates(bot=bot, text=text, k=bot.knowledge_top_k * 2)


def full_text_ranked(chunks: QuerySet[KnowledgeChunk], query: str) -> list[int]:
    """Chunks matching any of the query's words, best ts_rank first. Any word, not all: a
    visitor's question rarely repeats every word of the passage that answers it."""
    words = query_words(query, limit=MAX_QUERY_TERMS)  # Chinese segmented as the chunks were
    if not words:
        return []
    search = reduce(operator.or_, (SearchQuery(w, config=KNOWLEDGE_SEARCH_CONFIG) for w in words))
    vector = SearchVector(*KNOWLEDGE_SEARCH_FIELDS, config=KNOWLEDGE_SEARCH_CONFIG)  # the GIN index's expression
    return list(
        chunks.annotate(search_vector=vector)
        .filter(search_vector=search)
        .annotate(rank=SearchRank(vector, search))
        .order_by("-rank", "pk")
        .values_list("pk", flat=True)[:CANDIDATES]
    )


def _hit(row: KnowledgeChunk, score: float) -> SearchHit:
    document = row.document
    return SearchHit(
        chunk_id=row.pk,
        text=row.text,
        title=row.title,
        url=row.source_url,
        heading_path=tuple(row.heading_path),
        score=score,
        similarity=1.0 - float(getattr(row, "distance", 1.0)),
        document_id=document.pk if document is not None else None,
        document_external_id=document.external_id if document is not None else "",
        document_title=document.title if document is not None else row.title,
        faq_answer=_faq_answer(document),
    )


def _faq_answer(document: KnowledgeDocument | None) -> str:
    """A FAQ document's text is "question\n\nanswer"; the answer is what the bot may say verbatim."""
    if document is None or document.kind != KnowledgeDocument.Kind.FAQ:
        return ""
    _question, _sep, answer = document.text.partition("\n\n")
    return answer.strip()


def _passage(hit: SearchHit) -> KnowledgePassage:
    return KnowledgePassage(
        title=hit.title,
        url=hit.url,
        text=hit.text,
        chunk_id=hit.chunk_id,
        document_id=hit.document_id,
        similarity=hit.similarity,
        score=hit.score,
        faq_answer=hit.faq_answer,
    )
