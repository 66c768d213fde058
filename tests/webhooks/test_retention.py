"""The delivery log is kept WEBHOOK_LOG_KEEP_DAYS: older ended events go, pending ones stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.factories import BotFactory
from tests.webhooks.conftest import endpoint_with_secret
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from webhooks.services.events import emit_event
from webhooks.services.retention import webhook_log_prune

pytestmark = pytest.mark.django_db


def test_old_ended_events_are_pruned_and_open_ones_kept(settings, attempts_sent) -> None:
    settings.WEBHOOK_LOG_KEEP_DAYS = 30
    bot = BotFactory()
    endpoint_with_secret(url="https://hooks.example.com/in", bot=bot)
    for conversation_id in (1, 2, 3):
        with transaction.atomic():
            emit_event(event_type="conversation.started", bot_id=bot.pk, conversation_id=conversation_id, data={})
    old, pending_old, recent = WebhookEvent.objects.order_by("created_at")
    WebhookEvent.objects.filter(pk__in=[old.pk, pending_old.pk]).update(created_at=timezone.now() - timedelta(days=31))
    WebhookDelivery.objects.filter(event=old).update(status=WebhookDelivery.Status.SUCCEEDED)
    WebhookDelivery.objects.filter(event=recent).update(status=WebhookDelivery.Status.FAILED)
    WebhookAttempt.objects.create(
        delivery=WebhookDelivery.objects.get(event=old), number=1, attempted_at=timezone.now(), succeeded=True
    )

    assert webhook_log_prune() == 1
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {pending_old.pk, recent.pk}
    assert not WebhookAttempt.objects.exists()  # went with its delivery
