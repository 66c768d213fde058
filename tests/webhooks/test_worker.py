"""The real path: commit -> the attempt task on the broker -> the in-process Celery worker -> a
receiver on 127.0.0.1 that fails once; the beat sweep (called here) sends the retry."""

from __future__ import annotations

import time

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from tests.factories import BotFactory
from tests.webhooks.conftest import Receiver, endpoint_with_secret
from webhooks.models import WebhookDelivery
from webhooks.services.delivery import deliveries_due_dispatch
from webhooks.services.events import emit_event

pytestmark = pytest.mark.slow


def test_worker_delivers_retries_and_the_receiver_verifies(celery_worker, receiver: Receiver, settings) -> None:
    settings.WEBHOOK_RETRY_DELAYS_S = [0.5]
    bot = BotFactory()
    _, secret = endpoint_with_secret(url=receiver.url, bot=bot)
    receiver.statuses = [500]
    with transaction.atomic():
        emit_event(event_type="conversation.started", bot_id=bot.pk, conversation_id=42, data={})

    deadline = time.monotonic() + 30
    row = WebhookDelivery.objects.get()
    while time.monotonic() < deadline:
        deliveries_due_dispatch()  # what Celery beat runs every WEBHOOK_SWEEP_EVERY_S
        row.refresh_from_db()
        if row.status == WebhookDelivery.Status.SUCCEEDED:
            break
        time.sleep(0.2)
    assert row.status == WebhookDelivery.Status.SUCCEEDED and row.attempts == 2
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row.event_id
    payload = Webhook(secret).verify(second.body, second.headers)
    assert payload["type"] == "conversation.started" and payload["data"]["conversation"] == {"id": 42}
