"""One embedder for the whole session: loading MiniLM costs ~1 s, encoding is cheap after that."""

from __future__ import annotations

import os

import pytest

from bots.pipeline.embeddings import SentenceEmbedder


@pytest.fixture(scope="session")
def embedder() -> SentenceEmbedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceEmbedder()
