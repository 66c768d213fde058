"""The fine-tuned intent classifier (strategy "finetune") on a tiny synthetic bot."""

from __future__ import annotations

import numpy as np
import pytest

from engine.embeddings import SentenceEmbedder
from engine.nlu import IntentParser, TrainedIntentModel
from engine.nlu_finetune import FineTunedIntentModel
from engine.nlu_strategies import load_model, train_with_strategy
from tests.engine.test_nlu import EXAMPLES


@pytest.fixture(scope="module")
def model(embedder: SentenceEmbedder) -> FineTunedIntentModel:
    return train_with_strategy(EXAMPLES, embedder, strategy="finetune", epochs=1, batch_size=8, min_steps=20)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("what's the balance on my checking account", "check_balance"),
        ("get me a ticket to rome on friday", "book_flight"),
        ("my password doesn't work anymore, can you reset it", "reset_password"),
    ],
)
def test_ranks_the_right_intent_first(
    model: FineTunedIntentModel, embedder: SentenceEmbedder, text: str, intent: str
) -> None:
    result = IntentParser(model, embedder).parse(text, 0.0)
    assert result.intent is not None and result.intent.name == intent
    assert len(result.ranking) == 3 and result.ranking == sorted(result.ranking, key=lambda s: -s.confidence)
    assert model.parse(text, 0.0).intent == result.intent


def test_out_of_scope_scores_lower_than_in_scope(model: FineTunedIntentModel) -> None:
    inside = model.parse("how much money do i have in my account", 0.0).ranking[0].confidence
    outside = model.parse("what is the capital of mongolia", 0.0).ranking[0].confidence
    assert outside < inside
    assert model.parse("what is the capital of mongolia", 1.01).intent is None


def test_tuned_space_differs_from_frozen(model: FineTunedIntentModel, embedder: SentenceEmbedder) -> None:
    tuned = model.encode(["book a flight to paris"])
    frozen = embedder.encode(["book a flight to paris"])
    assert tuned.shape == (1, 384) and np.allclose(np.linalg.norm(tuned, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(tuned, frozen, atol=1e-3)
    assert model.metrics["strategy"] == "finetune" and model.metrics["steps"] >= 20


def test_round_trip_without_pickle(model: FineTunedIntentModel, embedder: SentenceEmbedder) -> None:
    data = model.to_bytes()
    restored = load_model(data, embedder)
    assert isinstance(restored, FineTunedIntentModel) and restored.intents == model.intents
    texts = ["reset my password please", "tell me a joke about penguins"]
    # fp16 layer weights: the scores move a little, the ranking does not.
    assert np.allclose(restored.scores(restored.encode(texts)), model.scores(model.encode(texts)), atol=2e-2)
    with pytest.raises(ValueError):
        TrainedIntentModel.from_bytes(data)


def test_unknown_strategy_is_rejected(embedder: SentenceEmbedder) -> None:
    with pytest.raises(ValueError, match="unknown NLU strategy"):
        train_with_strategy(EXAMPLES, embedder, strategy="magic")
