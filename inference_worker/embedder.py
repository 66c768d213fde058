"""The worker process's sentence embedder (NLU and retrieval), configured from settings."""

from __future__ import annotations

from django.conf import settings

from engine.embeddings import SentenceEmbedder, shared_embedder


def worker_embedder() -> SentenceEmbedder:
    return shared_embedder(settings.EMBEDDING_MODEL_PATH or None, torch_threads=settings.NLU_TORCH_THREADS)
