"""Sparse word and character n-gram features for the intent classifier.

Why next to the sentence embedding: the embedding captures meaning but blurs the exact words that
separate close intents ("transfer" vs "transactions", "freeze my card" vs "report card lost"); TF-IDF
n-grams keep them. Concatenated with the embedding in one logistic regression they lift CLINC150 top-1
from 96.4 % to 96.8 % on the fine-tuned encoder (95.4 -> 96.2 % on the frozen one), measured in
docs/benchmarks.md. With only a handful of phrases per intent they overfit instead (10-shot: -1.1 pt),
so `use_ngrams_for` switches them on only for bots with enough phrases per intent, or whose phrases
are largely Chinese: the shipped encoder (all-MiniLM-L6-v2) has an English vocabulary that maps most
Han characters to [UNK], so on the embedding alone two Chinese phrases of one length look alike.
Measured on CAIS (docs/benchmarks.md, "NLU on small Chinese bots"), n-grams win at every size.

Serialisation is plain arrays (vocabulary as JSON, idf as floats): artifacts live in the database and
are never unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

# Weight of each n-gram block relative to the (unit-norm) embedding: 0.7 beat 0.5 and 1.0 on val.
NGRAM_WEIGHT = 0.7
# Vocabulary cap per analyser: bounds the artifact (coefficients are vocabulary x intents) at no
# measured accuracy cost (8,000 vs. unbounded ~50,000 on CLINC150: within 0.1 pt).
MAX_FEATURES = 8000
# Measured: +0.4 pt top-1 at 100 phrases per intent, -1.1 pt at 10. Switch on in between.
MIN_PHRASES_PER_INTENT = 40
# Share of training phrases with Han characters above which the n-grams are on at any size.
MIN_HAN_SHARE = 0.2

_ANALYSERS: dict[str, dict[str, Any]] = {
    "char": {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2},
    "word": {"analyzer": "word", "ngram_range": (1, 2), "min_df": 1},
}


def use_ngrams_for(example_count: int, intent_count: int, *, han_share: float = 0.0) -> bool:
    if intent_count <= 0:
        return False
    return example_count / intent_count >= MIN_PHRASES_PER_INTENT or han_share >= MIN_HAN_SHARE


class NgramFeaturizer:
    """Two TF-IDF vectorisers (character 2-5-grams within words, word 1-2-grams), each L2-normalised
    and scaled by `weight`, stacked side by side."""

    def __init__(self, vectorisers: dict[str, Any], weight: float = NGRAM_WEIGHT) -> None:
        self._vectorisers = vectorisers
        self.weight = weight
        # For `row`: each block's analyser (sklearn's own tokenisation), vocabulary, idf and column offset.
        self._blocks: list[tuple[Any, dict[str, int], np.ndarray, int]] = []
        offset = 0
        for vectoriser in vectorisers.values():
            if vectoriser is not None:
                self._blocks.append(
                    (vectoriser.build_analyzer(), vectoriser.vocabulary_, vectoriser.idf_.astype(np.float32), offset)
                )
                offset += len(vectoriser.vocabulary_)

    @classmethod
    def fit(
        cls, texts: Sequence[str], *, weight: float = NGRAM_WEIGHT, max_features: int = MAX_FEATURES
    ) -> NgramFeaturizer:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorisers = {}
        for name, options in _ANALYSERS.items():
            min_df = options["min_df"] if len(texts) >= 10 * options["min_df"] else 1
            vectoriser = TfidfVectorizer(sublinear_tf=True, max_features=max_features, **{**options, "min_df": min_df})
            try:
                vectoriser.fit(texts)
            except ValueError:  # no n-gram survived (e.g. only emoji): this block stays empty
                vectoriser = None
            vectorisers[name] = vectoriser
        return cls(vectorisers, weight)

    @property
    def dimensions(self) -> int:
        return sum(len(v.vocabulary_) for v in self._vectorisers.values() if v is not None)

    def transform(self, texts: Sequence[str]) -> Any:
        """A scipy CSR matrix (len(texts), dimensions)."""
        import scipy.sparse as sparse

        blocks = [v.transform(texts) * self.weight for v in self._vectorisers.values() if v is not None]
        if not blocks:
            return sparse.csr_matrix((len(texts), 0), dtype=np.float32)
        return sparse.hstack(blocks, format="csr", dtype=np.float32)

    def project(self, texts: Sequence[str], weights: np.ndarray) -> np.ndarray:
        """`transform(texts) @ weights`, shape (len(texts), weights.shape[1]). A parse is one message:
        that case takes `row`, which skips scipy."""
        if len(texts) == 1:
            columns, values = self.row(texts[0])
            return (values @ weights[columns]).reshape(1, -1)
        return np.asarray(self.transform(texts) @ weights)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """One text's non-zero (column indices, values): the same numbers as `transform([text])`
        (sublinear tf x idf, L2 per block, x weight) without building scipy matrices, which is
        most of the cost for a single message (~0.9 ms -> ~0.1 ms)."""
        indices: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for analyse, vocabulary, idf, offset in self._blocks:
            counts: dict[int, int] = {}
            for term in analyse(text):
                column = vocabulary.get(term)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            if not counts:
                continue
            columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            block = (np.log(tf) + 1.0) * idf[columns]
            block *= self.weight / np.linalg.norm(block)
            indices.append(columns + offset)
            values.append(block)
        if not indices:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(indices), np.concatenate(values)

    # --- serialisation --------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {"ngram_weight": np.array([self.weight], dtype=np.float32)}
        for name, vectoriser in self._vectorisers.items():
            if vectoriser is None:
                continue
            vocabulary = sorted(vectoriser.vocabulary_, key=vectoriser.vocabulary_.__getitem__)
            arrays[f"ngram_vocabulary:{name}"] = np.frombuffer(json.dumps(vocabulary).encode("utf-8"), dtype=np.uint8)
            arrays[f"ngram_idf:{name}"] = vectoriser.idf_.astype(np.float32)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Any) -> NgramFeaturizer | None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if "ngram_weight" not in arrays:
            return None
        vectorisers: dict[str, Any] = {}
        for name, options in _ANALYSERS.items():
            key = f"ngram_vocabulary:{name}"
            if key not in arrays:
                vectorisers[name] = None
                continue
            vocabulary = json.loads(arrays[key].tobytes().decode("utf-8"))
            vectoriser = TfidfVectorizer(
                sublinear_tf=True,
                analyzer=options["analyzer"],
                ngram_range=options["ngram_range"],
                vocabulary={term: i for i, term in enumerate(vocabulary)},
            )
            vectoriser.idf_ = arrays[f"ngram_idf:{name}"].astype(np.float64)
            vectorisers[name] = vectoriser
        return cls(vectorisers, float(arrays["ngram_weight"][0]))
