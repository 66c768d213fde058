"""Delivery options of the worker's tasks that the failure handling relies on."""

from __future__ import annotations

from django.conf import settings

from chatplatform.celery import app
from inference_worker.tasks import nlu_retrain, run_turn


def test_turns_are_redelivered_if_their_worker_dies() -> None:
    assert run_turn.acks_late is True


def test_retraining_is_never_redelivered_while_it_runs_and_has_its_own_limits() -> None:
    # Fine-tuning outlasts the visibility timeout; a redelivery would start a duplicate.
    assert nlu_retrain.acks_late is False
    assert nlu_retrain.time_limit > settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert nlu_retrain.time_limit > settings.TURN_HARD_TIME_LIMIT


def test_retraining_goes_to_the_configured_queue() -> None:
    route = app.amqp.router.route({}, "inference_worker.nlu_retrain", args=(1,), kwargs={})
    assert route["queue"].name == settings.NLU_TRAINING_QUEUE
