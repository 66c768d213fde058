"""emit_event: who gets an event, what it costs when nobody listens, and the stored payload."""

from __future__ import annotations

import jsonschema
import pytest
from django.db import transaction

from tests.factories import BotFactory
from tests.webhooks.conftest import endpoint_with_secret
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.schemas import SCHEMAS
from webhooks.services.events import emit_event

pytestmark = pytest.mark.django_db


def test_nobody_subscribed_stores_nothing_in_one_query(django_assert_num_queries, attempts_sent) -> None:
    bot, other = BotFactory(), BotFactory()
    endpoint_with_secret(url="https://hooks.example.com/a", bot=other)  # another bot's
    endpoint_with_secret(url="https://hooks.example.com/b", bot=bot, event_types=[EventType.CSAT_SUBMITTED])
    disabled, _ = endpoint_with_secret(url="https://hooks.example.com/c", bot=bot)
    WebhookEndpoint.objects.filter(pk=disabled.pk).update(enabled=False)

    with django_assert_num_queries(1):
        emit_event(event_type="message.created", bot_id=bot.pk, data={"message": {}}, conversation_id=1)

    assert not WebhookEvent.objects.exists() and not WebhookDelivery.objects.exists()
    assert attempts_sent == []


def test_the_bots_own_and_global_endpoints_get_one_delivery_each(
    django_capture_on_commit_callbacks, attempts_sent
) -> None:
    bot = BotFactory(slug="shop")
    own, _ = endpoint_with_secret(url="https://hooks.example.com/own", bot=bot, event_types=[EventType.CSAT_SUBMITTED])
    everything, _ = endpoint_with_secret(url="https://hooks.example.com/all")
    endpoint_with_secret(url="https://hooks.example.com/other", bot=BotFactory())

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        emit_event(
            event_type="csat.submitted", bot_id=bot.pk, data={"csat": {"score": 4, "comment": None}}, conversation_id=7
        )
        assert attempts_sent == []  # only after commit

    event = WebhookEvent.objects.get()
    assert event.id.startswith("evt_") and len(event.id) == 36
    payload = event.payload
    assert payload["type"] == "csat.submitted" and payload["timestamp"].endswith("Z")
    assert payload["data"] == {
        "bot": {"id": bot.pk, "slug": "shop"},
        "conversation": {"id": 7},
        "csat": {"score": 4, "comment": None},
    }
    jsonschema.validate(payload, SCHEMAS["csat.submitted"])
    deliveries = WebhookDelivery.objects.order_by("pk")
    assert {d.endpoint_id for d in deliveries} == {own.pk, everything.pk}
    assert all(d.status == "delivering" and d.attempts == 1 for d in deliveries)
    assert sorted(attempts_sent) == sorted((d.pk, 1) for d in deliveries)


def test_a_rolled_back_change_sends_no_event(attempts_sent) -> None:
    bot = BotFactory()
    endpoint_with_secret(url="https://hooks.example.com/all")
    with pytest.raises(RuntimeError), transaction.atomic():
        emit_event(event_type="conversation.started", bot_id=bot.pk, data={}, conversation_id=1)
        raise RuntimeError("the caller's change failed")
    assert not WebhookEvent.objects.exists()
    assert attempts_sent == []


def test_unknown_event_types_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        emit_event(event_type="conversation.exploded", bot_id=1, data={})
