"""The sentence embedder's single-text fast path (TorchScript trace) against the eager model."""

from __future__ import annotations

import numpy as np
import pytest

from engine.embeddings import SentenceEmbedder

TEXTS = ["hello", "where is my parcel, it should have arrived on friday", "ünïcödé 密码 🙂 " * 20]


@pytest.fixture(scope="module")
def eager() -> SentenceEmbedder:
    return SentenceEmbedder(cache_size=0, trace_single_texts=False)


def test_traced_single_texts_match_the_eager_model(embedder: SentenceEmbedder, eager: SentenceEmbedder) -> None:
    traced = SentenceEmbedder(cache_size=0)
    for text in TEXTS:
        assert np.allclose(traced.encode([text]), eager.encode([text]), atol=1e-5)
    assert [t is not None for t in traced._traced.values()] == [True]
    assert np.allclose(traced.encode(TEXTS), eager.encode(TEXTS), atol=1e-5)  # batches: eager


def test_a_failing_trace_falls_back_to_the_eager_model(
    monkeypatch: pytest.MonkeyPatch, eager: SentenceEmbedder
) -> None:
    import torch

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no TorchScript here")

    monkeypatch.setattr(torch.jit, "trace", broken)
    fallback = SentenceEmbedder(cache_size=0)
    assert np.allclose(fallback.encode(["hello there"]), eager.encode(["hello there"]), atol=1e-6)
    assert list(fallback._traced.values()) == [None]


def test_many_threads_can_encode_and_count_tokens_at_once(embedder) -> None:
    """The worker's threads share one tokenizer; its padding/truncation state used to race (a
    document being indexed while a turn parsed failed with 'Unable to create tensor')."""
    import threading

    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                texts = [f"thread {n} text {i} " + "word " * ((n * 7 + i * 3 + k) % 60) for k in range(3)]
                assert embedder.encode(texts).shape == (3, 384)
                assert embedder.count_tokens("long " * (200 + n)) >= 200
        except BaseException as error:  # collected and re-raised in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
