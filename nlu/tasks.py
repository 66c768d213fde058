"""Celery tasks of the NLU: thin, named after the service they call."""

from __future__ import annotations

import threading
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from bots.models import Bot
from nlu.services import parsing, training
from nlu.services.scheduling import NLU_PARSE_TASK, NLU_TRAIN_TASK, nlu_retrain_enqueue

NLU_TRAIN_SOFT_TIME_LIMIT = 3600


@shared_task(name=NLU_PARSE_TASK, ignore_result=False, acks_late=False)
def nlu_parse(bot_id: int, text: str) -> dict[str, Any]:
    """NLU for the parse endpoint: the embedding model lives in the worker, never in the web process."""
    return parsing.nlu_parse(bot=Bot.objects.get(pk=bot_id), text=text).as_rasa_dict()


# Not acks_late: fine-tuning outlasts the broker's visibility timeout, and a redelivered message would
# start a second copy while the first still runs. A retrain lost with its worker is not lost work:
# every worker start re-queues the stages a bot's current data version still lacks (nlu_warm_up).
# The turn time limits do not apply either.
@shared_task(
    name=NLU_TRAIN_TASK,
    ignore_result=True,
    acks_late=False,
    soft_time_limit=NLU_TRAIN_SOFT_TIME_LIMIT,
    time_limit=NLU_TRAIN_SOFT_TIME_LIMIT + 60,
)
def nlu_model_train_stages(bot_id: int) -> None:
    """Train the bot's classifiers for its current data version (after imports, admin edits or
    accepted corrections): the frozen model at once, then the fine-tuned one when enabled."""
    training.nlu_model_train_stages(bot=Bot.objects.get(pk=bot_id))


def nlu_warm_up() -> None:
    """At worker start: load the embedding model, and train bots whose model is missing or stale
    (a fresh install, an import while no worker ran), so visitors never wait for either."""
    training.nlu_embedder_warm_up()
    for bot in training.bots_missing_models():
        nlu_retrain_enqueue(bot_id=bot.pk, data_version=bot.nlu_data_version)


@worker_ready.connect
def _warm_up_nlu(**_: Any) -> None:
    """In the background, so the first visitor of a bot with intents does not wait (~2 s on a small CPU)."""
    threading.Thread(target=nlu_warm_up, name="nlu-warm-up", daemon=True).start()
