"""Intent classification on sentence embeddings, with out-of-scope detection.

Model (chosen by measurement on CLINC150, see docs/benchmarks.md "NLU on CLINC150"):

* a multinomial logistic regression on the L2-normalised MiniLM embedding gives the class
  probabilities p_i;
* every training phrase embedding is kept, and s_i = the cosine similarity of the message to the
  nearest training phrase of intent i (a 1-NN "does this look like anything we were taught" score);
* confidence_i = sqrt(p_i * max(s_i, 0)), the geometric mean of the two.

For bots with enough phrases per intent the regression also sees sparse word/character n-gram
TF-IDF features (`engine.nlu_ngrams`), which keep the exact words that separate close intents.

Out-of-scope examples: phrases of the reserved intent `out_of_scope` (Rasa's convention) are trained
like any intent, so the model learns what the bot does NOT handle; when it wins, the parse says
"no intent" (it stays visible in the ranking for analysts). With CLINC150's 100 out-of-scope
training phrases this lifts out-of-scope recall by ~2-5 points at the same in-scope accuracy.

Why the product: the softmax alone is over-confident far from the training data (an out-of-scope
message still has *some* nearest class and a peaked softmax), and the similarity alone ranks intents
worse than the classifier. On CLINC150 the combination separates out-of-scope messages clearly better
than either at the same in-scope accuracy (measured; the table is in the benchmark doc). It needs
no out-of-scope examples at training time, so a bot's own phrases are enough.

Serialisation is numpy `.npz` plus a JSON header (no pickle: artifacts live in the database, and
unpickling a tampered row would run code).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.chinese_text import contains_han
from engine.entities import EntityExtractor
from engine.nlu_ngrams import NgramFeaturizer, use_ngrams_for
from engine.types import Embedder, Entity, IntentModel, IntentScore, ParseResult

ARTIFACT_FORMAT = "chatplatform-nlu/1"
# Default regularisation: C=10 was best on CLINC150 val among 1/3/10/30/100 (embedding only);
# with the n-gram block C=20 beat 10 and 30.
DEFAULT_C = 10.0
NGRAM_C = 20.0
# Phrases of this intent teach the bot what is out of its scope; it never becomes the parsed intent.
OUT_OF_SCOPE_INTENT = "out_of_scope"
MAX_RANKING = 10


class NluTrainingError(ValueError):
    """Training data cannot produce a classifier (e.g. no examples)."""


@dataclass(frozen=True, slots=True)
class TrainingExample:
    text: str
    intent: str


@dataclass(slots=True)
class TrainedIntentModel:
    intents: list[str]
    weights: np.ndarray  # (d, k) float32
    bias: np.ndarray  # (k,) float32
    example_embeddings: np.ndarray  # (n, d) float32, L2-normalised
    example_labels: np.ndarray  # (n,) int32, index into intents
    metrics: dict[str, Any] = field(default_factory=dict)
    featurizer: NgramFeaturizer | None = None
    ngram_weights: np.ndarray | None = None  # (featurizer.dimensions, k) float32
    _starts: np.ndarray | None = field(default=None, repr=False, compare=False)

    # --- inference ----------------------------------------------------------------------------

    def scores(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Confidence per intent, shape (m, k), in [0, 1]. `texts` (aligned with `embeddings`) are
        needed when the model has an n-gram block."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if len(self.intents) == 1:
            # One intent: nothing to discriminate against; similarity alone decides scope.
            probabilities = np.ones((len(embeddings), 1), dtype=np.float32)
        else:
            logits = embeddings @ self.weights + self.bias
            if self.featurizer is not None and self.ngram_weights is not None:
                if texts is None:
                    raise ValueError("this model has n-gram features: pass the texts")
                logits = logits + self.featurizer.project(list(texts), self.ngram_weights)
            logits -= logits.max(axis=1, keepdims=True)
            exp = np.exp(logits)
            probabilities = exp / exp.sum(axis=1, keepdims=True)
        similarity = embeddings @ self.example_embeddings.T  # (m, n)
        # Examples are stored grouped by intent, so the per-intent max is one reduceat call.
        nearest = np.maximum.reduceat(similarity, self._segment_starts(), axis=1)
        return np.sqrt(probabilities * np.clip(nearest, 0.0, 1.0))

    def _segment_starts(self) -> np.ndarray:
        if self._starts is None:
            self._starts = np.searchsorted(self.example_labels, np.arange(len(self.intents)))
        return self._starts

    def __post_init__(self) -> None:
        # Group examples by intent (stable), which scores() relies on; every intent has one or more.
        order = np.argsort(self.example_labels, kind="stable")
        self.example_labels = self.example_labels[order]
        self.example_embeddings = np.ascontiguousarray(self.example_embeddings[order], dtype=np.float32)
        self._starts = None
        counts = np.bincount(self.example_labels, minlength=len(self.intents))
        if len(counts) != len(self.intents) or (counts == 0).any():
            raise ValueError("every intent needs at least one example embedding")

    def rank(self, embedding: np.ndarray, *, text: str | None = None, limit: int = MAX_RANKING) -> list[IntentScore]:
        confidence = self.scores(embedding.reshape(1, -1), None if text is None else [text])[0]
        order = np.argsort(-confidence)[:limit]
        return [IntentScore(self.intents[i], round(float(confidence[i]), 6)) for i in order]

    # --- serialisation ------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        header = {"format": ARTIFACT_FORMAT, "intents": self.intents, "metrics": self.metrics}
        ngrams: dict[str, Any] = {}  # Any: numpy's stubs type **kwargs of savez_compressed as its bool flag
        if self.featurizer is not None and self.ngram_weights is not None:
            ngrams = {**self.featurizer.to_arrays(), "ngram_weights": self.ngram_weights.astype(np.float16)}
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
            example_embeddings=self.example_embeddings.astype(np.float16),  # halves the row; cosine barely moves
            example_labels=self.example_labels.astype(np.int32),
            **ngrams,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> TrainedIntentModel:
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as arrays:
            header = json.loads(arrays["header"].tobytes().decode("utf-8"))
            if header.get("format") != ARTIFACT_FORMAT:
                raise ValueError(f"unknown NLU artifact format {header.get('format')!r}")
            return cls(
                intents=list(header["intents"]),
                weights=arrays["weights"].astype(np.float32),
                bias=arrays["bias"].astype(np.float32),
                example_embeddings=arrays["example_embeddings"].astype(np.float32),
                example_labels=arrays["example_labels"].astype(np.int32),
                metrics=dict(header.get("metrics") or {}),
                featurizer=NgramFeaturizer.from_arrays(arrays),
                ngram_weights=arrays["ngram_weights"].astype(np.float32) if "ngram_weights" in arrays else None,
            )


def train(
    examples: Sequence[TrainingExample | tuple[str, str]],
    embedder: Embedder,
    *,
    embeddings: np.ndarray | None = None,
    c: float | None = None,
    ngrams: bool | None = None,
) -> TrainedIntentModel:
    """Fit a classifier. `embeddings` (aligned with `examples`) skips encoding, e.g. when the
    service already stored them on the training phrases. `ngrams`: add the n-gram block (default:
    when the bot has enough phrases per intent, see `engine.nlu_ngrams`)."""
    pairs = [e if isinstance(e, TrainingExample) else TrainingExample(*e) for e in examples]
    if not pairs:
        raise NluTrainingError("no training examples")
    started = time.perf_counter()
    if embeddings is None:
        embeddings = np.asarray(embedder.encode([p.text for p in pairs]), dtype=np.float32)
    embedded_at = time.perf_counter()
    intents = sorted({p.intent for p in pairs})
    index = {name: i for i, name in enumerate(intents)}
    labels = np.array([index[p.intent] for p in pairs], dtype=np.int32)
    if ngrams is None:
        han_share = sum(1 for p in pairs if contains_han(p.text)) / len(pairs)
        ngrams = use_ngrams_for(len(pairs), len(intents), han_share=han_share)
    featurizer = NgramFeaturizer.fit([p.text for p in pairs]) if ngrams and len(intents) > 1 else None
    if c is None:
        c = NGRAM_C if featurizer is not None else DEFAULT_C
    sparse_features = featurizer.transform([p.text for p in pairs]) if featurizer is not None else None
    weights, bias = _fit_softmax(embeddings, labels, len(intents), c, sparse_features)
    finished = time.perf_counter()
    dense = embeddings.shape[1]
    return TrainedIntentModel(
        intents=intents,
        weights=np.ascontiguousarray(weights[:dense]),
        bias=bias,
        example_embeddings=embeddings.astype(np.float32),
        example_labels=labels,
        metrics={
            "examples": len(pairs),
            "intents": len(intents),
            "ngram_features": featurizer.dimensions if featurizer else 0,
            "embed_seconds": round(embedded_at - started, 3),
            "fit_seconds": round(finished - embedded_at, 3),
        },
        featurizer=featurizer,
        ngram_weights=np.ascontiguousarray(weights[dense:]) if featurizer is not None else None,
    )


def _fit_softmax(
    x: np.ndarray, y: np.ndarray, classes: int, c: float, sparse_features: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (features, classes) and bias; with `sparse_features`, their rows follow the dense ones."""
    width = x.shape[1] + (sparse_features.shape[1] if sparse_features is not None else 0)
    if classes == 1:
        return np.zeros((width, 1), dtype=np.float32), np.zeros(1, dtype=np.float32)
    from sklearn.linear_model import LogisticRegression

    if sparse_features is not None:
        import scipy.sparse as sparse

        x = sparse.hstack([sparse.csr_matrix(x), sparse_features], format="csr")
    model = LogisticRegression(C=c, max_iter=500 if sparse_features is not None else 300)
    model.fit(x, y)
    if classes == 2:
        # sklearn fits one logit for two classes; spread it as (-z/2, z/2) so softmax gives the same p.
        coef = model.coef_[0] / 2
        weights = np.stack([-coef, coef], axis=1)
        bias = np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
        return weights.astype(np.float32), bias.astype(np.float32)
    return model.coef_.T.astype(np.float32), model.intercept_.astype(np.float32)


class IntentParser:
    """Parses one message: intent (None below threshold), ranking and entities. Thread-safe."""

    def __init__(self, model: IntentModel, embedder: Embedder, extractor: EntityExtractor | None = None) -> None:
        self.model = model
        self.embedder = embedder
        self.extractor = extractor or EntityExtractor()

    def parse(self, text: str, threshold: float) -> ParseResult:
        return parse(text, threshold, model=self.model, embedder=self.embedder, extractor=self.extractor)


def parse(
    text: str,
    threshold: float,
    *,
    model: IntentModel,
    embedder: Embedder,
    extractor: EntityExtractor | None = None,
) -> ParseResult:
    entities: list[Entity] = extractor.extract(text) if extractor is not None else []
    if not text.strip():
        return ParseResult(text=text, intent=None, ranking=[], entities=entities)
    # A fine-tuned model (engine.nlu_finetune) has its own embedding space and encoder.
    encode = getattr(model, "encode", None) or embedder.encode
    embedding = np.asarray(encode([text]), dtype=np.float32)[0]
    ranking = model.rank(embedding, text=text)
    top = ranking[0] if ranking and ranking[0].confidence >= threshold else None
    if top is not None and top.name == OUT_OF_SCOPE_INTENT:
        top = None
    return ParseResult(text=text, intent=top, ranking=ranking, entities=entities)
