"""Asking the worker to retrain: after every change of a bot's training data, at most once per data version."""

from __future__ import annotations

import structlog
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from kombu.exceptions import OperationalError

from bots.models import Bot
from chatplatform.celery import task_send

log = structlog.get_logger(__name__)

NLU_PARSE_TASK = "nlu.nlu_parse"
NLU_TRAIN_TASK = "nlu.nlu_model_train_stages"


def nlu_training_data_changed(*, bot_id: int) -> None:
    """Bump the bot's NLU data version (F(): no lost update) and, after commit, retrain in the worker.

    Every writer of intents, phrases or entities calls this: the admin, the REST API, imports and
    accepted corrections. Until the new model is stored, parsing keeps using the previous one.
    """
    Bot.objects.filter(pk=bot_id).update(nlu_data_version=F("nlu_data_version") + 1)
    transaction.on_commit(lambda: nlu_retrain_enqueue(bot_id=bot_id))


def nlu_retrain_enqueue(*, bot_id: int, data_version: int | None = None) -> None:
    """Ask the worker to train; at most one request per bot and data version within 10 minutes."""
    if data_version is None:
        data_version = Bot.objects.values_list("nlu_data_version", flat=True).get(pk=bot_id)
    if not cache.add(f"nlu-retrain:{bot_id}:{data_version}", 1, timeout=600):
        return
    try:
        task_send(NLU_TRAIN_TASK, bot_id)
    except OperationalError:  # broker down: the data is committed; the next parse asks again
        cache.delete(f"nlu-retrain:{bot_id}:{data_version}")
        log.warning("nlu_retrain_enqueue_failed", bot_id=bot_id)
