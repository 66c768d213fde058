"""Celery tasks: thin. Pass ids, call a service, let the service own the logic."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from bots.services.turns import TurnOptions, turn_run
from inference_worker.client import get_llm_client
from inference_worker.publisher import get_turn_events

NLU_TRAIN_SOFT_TIME_LIMIT = 3600


@shared_task(name="inference_worker.run_turn", acks_late=True, ignore_result=True)
def run_turn(user_message_id: int, options: dict[str, Any] | None = None) -> None:
    """Answer one visitor message. Safe to run twice (the service is idempotent)."""
    turn_run(user_message_id=user_message_id, events=get_turn_events(), llm=get_llm_client(),
             coalesce_ms=settings.STREAM_COALESCE_MS, options=TurnOptions.from_json(options))


@shared_task(name="inference_worker.parse_text", ignore_result=False, acks_late=False)
def parse_text(bot_id: int, text: str) -> dict[str, Any]:
    """NLU for the parse endpoint: the embedding model lives in the worker, never in the web process."""
    from bots.models import Bot
    from bots.services.nlu import nlu_parse

    return nlu_parse(bot=Bot.objects.get(pk=bot_id), text=text).as_rasa_dict()


# Not acks_late: fine-tuning outlasts the broker's visibility timeout, and a redelivered message would
# start a second copy while the first still runs. A retrain lost with its worker is not lost work:
# every worker start re-queues the stages a bot's current data version still lacks (nlu_warm_up).
# The turn time limits do not apply either.
@shared_task(name="inference_worker.nlu_retrain", ignore_result=True, acks_late=False,
             soft_time_limit=NLU_TRAIN_SOFT_TIME_LIMIT, time_limit=NLU_TRAIN_SOFT_TIME_LIMIT + 60)
def nlu_retrain(bot_id: int) -> None:
    """Train the bot's classifiers for its current data version (after imports, admin edits or
    accepted corrections): the frozen model at once, then the fine-tuned one when enabled."""
    from bots.models import Bot
    from bots.services.nlu import nlu_model_train_stages

    nlu_model_train_stages(bot=Bot.objects.get(pk=bot_id))


@shared_task(name="inference_worker.knowledge_embed", ignore_result=True)
def knowledge_embed(bot_id: int) -> None:
    """Embed the bot's new or edited knowledge passages (the web process never runs the model)."""
    from bots.services.knowledge import knowledge_embed_pending

    knowledge_embed_pending(bot_id=bot_id)


@worker_ready.connect
def _warm_up_nlu(**_: Any) -> None:
    """Load the embedding model when the worker starts, in the background, so the first visitor
    of a bot with intents does not wait for it (~2 s on a small CPU)."""
    import threading

    from bots.services.nlu import nlu_warm_up

    threading.Thread(target=nlu_warm_up, name="nlu-warm-up", daemon=True).start()
