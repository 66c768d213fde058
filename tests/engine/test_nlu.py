"""The intent classifier on a tiny synthetic bot, with the real MiniLM embedder."""

from __future__ import annotations

import numpy as np
import pytest

from engine.embeddings import SentenceEmbedder
from engine.entities import EntityExtractor, LookupEntityDef
from engine.nlu import IntentParser, NluTrainingError, TrainedIntentModel, parse, train

EXAMPLES = [
    *[
        (t, "check_balance")
        for t in (
            "how much money is in my account",
            "what is my balance",
            "show my account balance",
            "how much do i have in checking",
            "tell me my savings balance",
        )
    ],
    *[
        (t, "book_flight")
        for t in (
            "book a flight to paris",
            "i need a plane ticket to london",
            "reserve a flight for tomorrow",
            "find me flights to new york",
            "i want to fly to berlin next week",
        )
    ],
    *[
        (t, "reset_password")
        for t in (
            "i forgot my password",
            "reset my password please",
            "how do i change my password",
            "i can't log in, password lost",
            "help me recover my login password",
        )
    ],
]
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def model(embedder: SentenceEmbedder) -> TrainedIntentModel:
    return train(EXAMPLES, embedder)


def test_embedder_returns_normalised_float32_and_caches(embedder: SentenceEmbedder) -> None:
    vectors = embedder.encode(["hello there", "a rather different sentence", "hello there"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[2])
    hits = embedder.cache_info["hits"]
    embedder.encode(["hello there"])
    assert embedder.cache_info["hits"] == hits + 1


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("what's the balance on my checking account", "check_balance"),
        ("get me a ticket to rome on friday", "book_flight"),
        ("my password doesn't work anymore, can you reset it", "reset_password"),
    ],
)
def test_ranks_the_right_intent_first(
    model: TrainedIntentModel, embedder: SentenceEmbedder, text: str, intent: str
) -> None:
    result = parse(text, THRESHOLD, model=model, embedder=embedder)
    assert result.intent is not None and result.intent.name == intent
    assert [s.name for s in result.ranking][0] == intent
    assert len(result.ranking) == 3
    assert result.ranking == sorted(result.ranking, key=lambda s: -s.confidence)


@pytest.mark.parametrize("text", ["what is the capital of mongolia", "tell me a joke about penguins"])
def test_out_of_scope_falls_below_threshold(model: TrainedIntentModel, embedder: SentenceEmbedder, text: str) -> None:
    result = parse(text, THRESHOLD, model=model, embedder=embedder)
    assert result.intent is None
    assert result.ranking and result.ranking[0].confidence < THRESHOLD
    assert result.as_rasa_dict()["intent"]["name"] is None


def test_round_trips_through_bytes_without_pickle(model: TrainedIntentModel, embedder: SentenceEmbedder) -> None:
    blob = model.to_bytes()
    restored = TrainedIntentModel.from_bytes(blob)
    query = embedder.encode(["reserve a flight to madrid"])
    assert restored.intents == model.intents
    assert np.allclose(restored.scores(query), model.scores(query), atol=1e-3)
    with pytest.raises(ValueError):
        TrainedIntentModel.from_bytes(b"not an artifact")


def test_parser_adds_entities(model: TrainedIntentModel, embedder: SentenceEmbedder) -> None:
    extractor = EntityExtractor(lookup_entities=[LookupEntityDef("city", {"Paris": ["city of light"]})])
    result = IntentParser(model, embedder, extractor).parse("book a flight to the city of light", THRESHOLD)
    assert result.intent is not None and result.intent.name == "book_flight"
    assert [(e.entity, e.value) for e in result.entities] == [("city", "Paris")]


def test_single_intent_and_empty_data(embedder: SentenceEmbedder) -> None:
    only = train([("hello", "greet"), ("hi there", "greet")], embedder)
    assert parse("hey hello", 0.5, model=only, embedder=embedder).intent.name == "greet"  # type: ignore[union-attr]
    with pytest.raises(NluTrainingError):
        train([], embedder)
