"""Parsing with a bot's best stored model, cached per worker process and swapped when a newer one is stored."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bots.models import Bot, NluModel
from chatplatform.metrics import NLU_PARSE
from engine.nlu import IntentParser
from engine.nlu_strategies import load_model
from engine.types import ParseResult
from inference_worker.embedder import worker_embedder
from nlu.selectors import entity_extractor_for_bot
from nlu.services.scheduling import nlu_retrain_enqueue
from nlu.services.training import nlu_model_train


@dataclass(frozen=True, slots=True)
class _LoadedModel:
    model_id: int
    data_version: int
    parser: IntentParser


_parsers: dict[int, _LoadedModel] = {}


_parsers_lock = threading.Lock()


_training_locks: dict[int, threading.Lock] = {}


def _training_lock(bot_id: int) -> threading.Lock:
    with _parsers_lock:
        return _training_locks.setdefault(bot_id, threading.Lock())


def nlu_parse(*, bot: Bot, text: str, threshold: float | None = None) -> ParseResult:
    """Intent (None below `bot.nlu_threshold`, or `threshold` when given), ranking and entities for
    one message.

    Uses the bot's best stored model; with none yet, trains one synchronously (once per process
    even when many threads ask at the same time).
    """
    with NLU_PARSE.labels(path="inprocess").time():
        parser = _parser_for(bot)
        return parser.parse(text, bot.nlu_threshold if threshold is None else threshold)


def nlu_parsers_preload() -> int:
    """Load the parser of every active bot that has a stored model (the NLU service at start-up, so
    no API client waits for a model load). Trains nothing. Returns how many were loaded."""
    bots = Bot.objects.filter(is_active=True, nlu_models__isnull=False).distinct()
    loaded = 0
    for bot in bots:
        _parser_for(bot)
        loaded += 1
    return loaded


def _best_model(bot: Bot) -> tuple[int, int] | None:
    """(model id, data version) of the model to serve: the newest data version, and within it the
    fine-tuned model over the frozen one ("finetune" sorts before "frozen")."""
    return (
        NluModel.objects.filter(bot=bot).order_by("-data_version", "strategy").values_list("id", "data_version").first()
    )


def _parser_for(bot: Bot) -> IntentParser:
    best = _best_model(bot)
    if best is not None and best[1] < bot.nlu_data_version:
        # Serve the previous model while the worker trains the new one (swapped in when stored).
        nlu_retrain_enqueue(bot_id=bot.pk, data_version=bot.nlu_data_version)
    cached = _parsers.get(bot.pk)
    if cached is not None and best is not None and cached.model_id == best[0]:
        return cached.parser
    if best is None:
        with _training_lock(bot.pk):
            best = _best_model(bot)
            if best is None:
                trained = nlu_model_train(bot=bot)
                best = (trained.pk, trained.data_version)
    model_id, data_version = best
    row = NluModel.objects.get(pk=model_id)
    parser = IntentParser(
        load_model(row.artifact, worker_embedder()), worker_embedder(), entity_extractor_for_bot(bot=bot)
    )
    with _parsers_lock:
        current = _parsers.get(bot.pk)
        # Never replace a newer model another thread installed meanwhile.
        if current is None or current.data_version <= data_version:
            _parsers[bot.pk] = _LoadedModel(model_id, data_version, parser)
    return parser


def nlu_cache_clear() -> None:
    """Forget loaded models (tests; a worker picks up new versions by itself)."""
    with _parsers_lock:
        _parsers.clear()
