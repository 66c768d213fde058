"""NLU data import/export, classifier training and parsing for one bot.

Adapts ORM rows to the plain-Python pipeline (`engine.nlu`, `engine.entities`):

* `nlu_data_import` writes a parsed file (`nlu.formats.NluData`) in one transaction and bumps
  `Bot.nlu_data_version` when anything changed;
* `nlu_model_train` embeds only phrases without a stored embedding, fits the classifier and stores
  an `NluModel` for the data version it read; `nlu_model_train_stages` (the worker's retrain) first
  trains the `frozen` model (seconds), then, with NLU_TRAINING_STRATEGY=finetune and enough phrases,
  the `finetune` model (minutes; more accurate, see docs/benchmarks.md), which replaces it;
* `nlu_parse` parses with the bot's best model of its newest data version, kept in a per-process
  cache keyed by the model row and swapped atomically when a better or newer one appears.

Runs in the worker (the embedding model must never load in the web process).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import structlog
from django.conf import settings
from django.db.models import Count

from bots.models import EMBEDDING_DIMENSIONS, Bot, NluModel, TrainingPhrase
from engine.nlu import NluTrainingError, TrainingExample, train
from engine.nlu_strategies import train_with_strategy
from inference_worker.embedder import worker_embedder

log = structlog.get_logger(__name__)


class _TrainedModel(Protocol):
    """What `_store_model` needs of either model kind (frozen or fine-tuned)."""

    @property
    def metrics(self) -> Mapping[str, Any]: ...

    def to_bytes(self) -> bytes: ...


EMBEDDING_SAVE_BATCH = 1000


def nlu_embedder_warm_up() -> None:
    worker_embedder().warm_up()


def bots_missing_models() -> list[Bot]:
    """Active bots with intents whose current data version lacks a model it should have."""
    return [bot for bot in Bot.objects.filter(is_active=True, intents__isnull=False).distinct() if _missing_stages(bot)]


# --- import / export ---------------------------------------------------------------------------


# --- entities (selector-style read) ------------------------------------------------------------


# --- training ----------------------------------------------------------------------------------


def _finetune_wanted(bot: Bot) -> bool:
    """Fine-tuning is on (settings) and the bot has enough data for it to be worth minutes of CPU."""
    if settings.NLU_TRAINING_STRATEGY != NluModel.Strategy.FINETUNE:
        return False
    counts = TrainingPhrase.objects.filter(intent__bot=bot).aggregate(
        phrases=Count("id"), intents=Count("intent", distinct=True)
    )
    return counts["intents"] >= 2 and counts["phrases"] >= settings.NLU_FINETUNE_MIN_PHRASES


def _missing_stages(bot: Bot) -> list[str]:
    """The models the bot's current data version still lacks, in training order."""
    have = set(NluModel.objects.filter(bot=bot, data_version=bot.nlu_data_version).values_list("strategy", flat=True))
    wanted = [NluModel.Strategy.FROZEN] + ([NluModel.Strategy.FINETUNE] if _finetune_wanted(bot) else [])
    return [str(stage) for stage in wanted if stage not in have]


def nlu_model_train_stages(*, bot: Bot) -> list[NluModel]:
    """What the worker runs when training data changed: the frozen model first (serves within
    seconds), then the fine-tuned one if wanted. A stage is skipped when it exists for the current
    data version, and the fine-tuned stage is dropped when the data changed while the frozen one
    trained (that change queued its own retrain)."""
    bot.refresh_from_db(fields=["nlu_data_version"])
    stored: list[NluModel] = []
    for stage in _missing_stages(bot):
        if stored and Bot.objects.values_list("nlu_data_version", flat=True).get(pk=bot.pk) != stored[0].data_version:
            break
        stored.append(nlu_model_train(bot=bot, strategy=stage))
    return stored


def nlu_model_train(*, bot: Bot, strategy: str = NluModel.Strategy.FROZEN) -> NluModel:
    """Train (or retrain) one classifier for the bot's current data version and store it."""
    data_version = Bot.objects.values_list("nlu_data_version", flat=True).get(pk=bot.pk)
    started = time.perf_counter()
    rows = list(TrainingPhrase.objects.filter(intent__bot=bot).values_list("id", "text", "intent__name", "embedding"))
    if not rows:
        raise NluTrainingError(f"bot {bot.slug!r} has no training phrases")
    embedder = worker_embedder()
    if strategy != NluModel.Strategy.FROZEN:
        # Fine-tuned models embed with their own tuned layers; stored (frozen) embeddings do not apply.
        options = dict(getattr(settings, "NLU_FINETUNE_OPTIONS", None) or {})
        model = train_with_strategy(
            [TrainingExample(text, intent) for _, text, intent, _ in rows], embedder, strategy=strategy, **options
        )
        model.metrics.update({"train_seconds": round(time.perf_counter() - started, 3)})
        return _store_model(bot, data_version, strategy, model)
    embeddings = np.zeros((len(rows), embedder_dimensions()), dtype=np.float32)
    missing = [i for i, row in enumerate(rows) if row[3] is None]
    for i, row in enumerate(rows):
        if row[3] is not None:
            embeddings[i] = np.asarray(row[3], dtype=np.float32)
    if missing:
        fresh = embedder.encode([rows[i][1] for i in missing])
        embeddings[missing] = fresh
        _store_embeddings([rows[i][0] for i in missing], fresh)
    embedded_at = time.perf_counter()
    model = train([TrainingExample(text, intent) for _, text, intent, _ in rows], embedder, embeddings=embeddings)
    model.metrics.update(
        {
            "strategy": NluModel.Strategy.FROZEN,
            "embedded_now": len(missing),
            "embed_seconds": round(embedded_at - started, 3),
            "train_seconds": round(time.perf_counter() - started, 3),
        }
    )
    return _store_model(bot, data_version, NluModel.Strategy.FROZEN, model)


def _store_model(bot: Bot, data_version: int, strategy: str, model: _TrainedModel) -> NluModel:
    nlu_model, _ = NluModel.objects.update_or_create(
        bot=bot,
        data_version=data_version,
        strategy=strategy,
        defaults={"artifact": model.to_bytes(), "metrics": model.metrics},
    )
    _prune_old_models(bot)
    log.info(
        "nlu_model_stored",
        bot_id=bot.pk,
        data_version=data_version,
        strategy=strategy,
        train_seconds=model.metrics.get("train_seconds"),
    )
    return nlu_model


def _prune_old_models(bot: Bot) -> None:
    """Keep the models of the newest NLU_MODELS_KEPT data versions (a fine-tuned artifact is ~15 MB;
    older versions are only useful for comparing or rolling back recent changes)."""
    versions = list(
        NluModel.objects.filter(bot=bot)
        .order_by("-data_version")
        .values_list("data_version", flat=True)
        .distinct()[: settings.NLU_MODELS_KEPT]
    )
    if len(versions) == settings.NLU_MODELS_KEPT:
        NluModel.objects.filter(bot=bot, data_version__lt=versions[-1]).delete()


def embedder_dimensions() -> int:
    return EMBEDDING_DIMENSIONS


def _store_embeddings(phrase_ids: list[int], vectors: np.ndarray) -> None:
    phrases = [TrainingPhrase(id=pk, embedding=vector.tolist()) for pk, vector in zip(phrase_ids, vectors, strict=True)]
    # Phrases deleted by a concurrent import are simply not updated; nothing to clean up.
    TrainingPhrase.objects.bulk_update(phrases, ["embedding"], batch_size=EMBEDDING_SAVE_BATCH)


# --- parsing -----------------------------------------------------------------------------------
