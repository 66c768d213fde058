"""The n-gram block of the intent classifier and out-of-scope training phrases, with the real embedder."""

from __future__ import annotations

import numpy as np
import pytest

from engine.embeddings import SentenceEmbedder
from engine.nlu import OUT_OF_SCOPE_INTENT, TrainedIntentModel, parse, train
from engine.nlu_ngrams import MIN_PHRASES_PER_INTENT, NgramFeaturizer, use_ngrams_for
from engine.nlu_strategies import load_model
from tests.engine.test_nlu import EXAMPLES

OUT_OF_SCOPE = [
    (t, OUT_OF_SCOPE_INTENT)
    for t in (
        "what is the capital of mongolia",
        "tell me a joke",
        "how tall is mount everest",
        "who won the football game yesterday",
        "what's the weather like on mars",
    )
]


@pytest.fixture(scope="module")
def ngram_model(embedder: SentenceEmbedder) -> TrainedIntentModel:
    return train(EXAMPLES, embedder, ngrams=True)


def test_ngram_block_is_used_only_with_enough_phrases_per_intent() -> None:
    assert not use_ngrams_for(10 * 150, 150)
    assert use_ngrams_for(MIN_PHRASES_PER_INTENT * 3, 3)
    assert not use_ngrams_for(0, 0)
    # Chinese phrases: the encoder cannot read them, so at any size.
    assert use_ngrams_for(10 * 7, 7, han_share=1.0)
    assert not use_ngrams_for(10 * 7, 7, han_share=0.1)


def test_ngram_model_needs_texts_and_ranks_correctly(
    ngram_model: TrainedIntentModel, embedder: SentenceEmbedder
) -> None:
    assert ngram_model.featurizer is not None and ngram_model.metrics["ngram_features"] > 0
    with pytest.raises(ValueError, match="pass the texts"):
        ngram_model.scores(embedder.encode(["reset my password"]))
    result = parse("please reset the password on my login", 0.3, model=ngram_model, embedder=embedder)
    assert result.intent is not None and result.intent.name == "reset_password"


def test_ngram_model_round_trips_without_pickle(ngram_model: TrainedIntentModel, embedder: SentenceEmbedder) -> None:
    texts = ["book me a flight to rome", "what's my balance", "zzz qqq"]
    restored = load_model(ngram_model.to_bytes(), embedder)
    before = ngram_model.scores(embedder.encode(texts), texts)
    after = restored.scores(embedder.encode(texts), texts)
    assert np.allclose(before, after, atol=2e-3)  # weights are stored as float16


def test_featurizer_survives_texts_without_any_word() -> None:
    featurizer = NgramFeaturizer.fit(["🙂", "👍 !"])  # no word token: the word block stays empty
    dimensions = featurizer.dimensions
    assert featurizer.transform(["anything 🙂"]).shape == (1, dimensions)
    restored = NgramFeaturizer.from_arrays(featurizer.to_arrays())
    assert restored is not None and restored.dimensions == dimensions


def test_out_of_scope_phrases_make_a_winning_out_of_scope_intent_mean_no_intent(embedder: SentenceEmbedder) -> None:
    model = train([*EXAMPLES, *OUT_OF_SCOPE], embedder)
    result = parse("who won the basketball match last night", 0.0, model=model, embedder=embedder)
    assert result.ranking[0].name == OUT_OF_SCOPE_INTENT
    assert result.intent is None  # even at threshold 0: the bot was taught this is not its business
    in_scope = parse("reset my password please", 0.0, model=model, embedder=embedder)
    assert in_scope.intent is not None and in_scope.intent.name == "reset_password"


@pytest.mark.parametrize(
    "text", ["please reset my password", "Book a FLIGHT to Paris!! ✈️", "zzz qqq", "", "ünïcödé 密码"]
)
def test_single_text_row_equals_the_sparse_transform(ngram_model: TrainedIntentModel, text: str) -> None:
    featurizer = ngram_model.featurizer
    assert featurizer is not None
    expected = featurizer.transform([text]).toarray()[0]
    columns, values = featurizer.row(text)
    actual = np.zeros_like(expected)
    actual[columns] = values
    assert np.allclose(actual, expected, atol=1e-6)
