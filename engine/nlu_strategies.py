"""Intent models by training strategy: `frozen` (engine.nlu) or `finetune` (engine.nlu_finetune).

The one module that knows both kinds, so neither imports the other's dispatcher: the fine-tuned
model builds on the frozen one (its classifier head), never the other way round.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import nlu_finetune
from engine.nlu import ARTIFACT_FORMAT, TrainedIntentModel, TrainingExample, train
from engine.nlu_finetune import FineTuneConfig, train_finetuned
from engine.types import Embedder, IntentModel

STRATEGIES = ("frozen", "finetune")
DEFAULT_STRATEGY = "frozen"


def train_with_strategy(
    examples: Sequence[TrainingExample | tuple[str, str]],
    embedder: Embedder,
    *,
    strategy: str = DEFAULT_STRATEGY,
    embeddings: np.ndarray | None = None,
    **options: Any,
) -> IntentModel:
    """`frozen`: `train` above (fast; default). `finetune`: `engine.nlu_finetune.train_finetuned`
    (tunes the encoder's top layers; needs a `SentenceEmbedder`; options go to its `FineTuneConfig`)."""
    if strategy == "frozen":
        return train(examples, embedder, embeddings=embeddings, **options)
    if strategy == "finetune":
        return train_finetuned(examples, embedder, FineTuneConfig(**options))  # type: ignore[arg-type]
    raise ValueError(f"unknown NLU strategy {strategy!r}; expected one of {STRATEGIES}")


def load_model(data: bytes | memoryview, embedder: Embedder | None = None) -> IntentModel:
    """Deserialise either artifact kind (the JSON header names the format)."""
    with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as arrays:
        fmt = json.loads(arrays["header"].tobytes().decode("utf-8")).get("format")
    if fmt == ARTIFACT_FORMAT:
        return TrainedIntentModel.from_bytes(data)
    if fmt == nlu_finetune.ARTIFACT_FORMAT:
        return nlu_finetune.FineTunedIntentModel.from_bytes(data, embedder)  # type: ignore[arg-type]
    raise ValueError(f"unknown NLU artifact format {fmt!r}")
