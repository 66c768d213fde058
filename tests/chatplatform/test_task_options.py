"""Delivery options of the worker's tasks that the failure handling relies on."""

from __future__ import annotations

from django.conf import settings

from chatplatform.celery import app
from conversations.services.messages import TURN_TASK
from conversations.tasks import turn_run
from knowledge.services.changes import KNOWLEDGE_EMBED_TASK
from nlu.services.scheduling import NLU_PARSE_TASK, NLU_TRAIN_TASK
from nlu.tasks import nlu_model_train_stages


def test_turns_are_redelivered_if_their_worker_dies() -> None:
    assert turn_run.acks_late is True


def test_retraining_is_never_redelivered_while_it_runs_and_has_its_own_limits() -> None:
    # Fine-tuning outlasts the visibility timeout; a redelivery would start a duplicate.
    assert nlu_model_train_stages.acks_late is False
    assert nlu_model_train_stages.time_limit > settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert nlu_model_train_stages.time_limit > settings.TURN_HARD_TIME_LIMIT


def test_retraining_goes_to_the_configured_queue() -> None:
    route = app.amqp.router.route({}, NLU_TRAIN_TASK, args=(1,), kwargs={})
    assert route["queue"].name == settings.NLU_TRAINING_QUEUE


def test_every_task_name_the_services_send_is_registered() -> None:
    app.loader.import_default_modules()
    for name in (TURN_TASK, NLU_TRAIN_TASK, NLU_PARSE_TASK, KNOWLEDGE_EMBED_TASK):
        assert name in app.tasks, name
