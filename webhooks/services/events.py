"""Emitting an event: the one entry point every domain calls where its state changes.

`emit_event` runs inside the caller's transaction, so an event exists exactly when the change it
reports was committed. It stores the event and one delivery per subscribed endpoint, and after
commit hands the first attempts to the worker (webhooks/services/delivery.py). With nobody
subscribed it costs one indexed query and stores nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from bots.models import Bot
from webhooks.models import EventType, WebhookDelivery, WebhookEvent
from webhooks.selectors import endpoints_subscribed
from webhooks.services.delivery import deliveries_claim

EVENT_TYPES = frozenset(EventType.values)


def emit_event(*, event_type: str, bot_id: int, data: dict[str, Any], conversation_id: int | None = None) -> None:
    """Queue `event_type` for every enabled endpoint of the bot (and every global one) that takes it.

    `data` holds the event's own fields; `bot` ({id, slug}) and `conversation` ({id}) are added
    unless the caller gave them. Call it inside the transaction that makes the change."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    endpoint_ids = list(endpoints_subscribed(bot_id=bot_id, event_type=event_type).values_list("pk", flat=True))
    if not endpoint_ids:
        return
    now = timezone.now()
    envelope_data: dict[str, Any] = {}
    if "bot" not in data:
        slug = Bot.objects.values_list("slug", flat=True).get(pk=bot_id)
        envelope_data["bot"] = {"id": bot_id, "slug": slug}
    if conversation_id is not None and "conversation" not in data:
        envelope_data["conversation"] = {"id": conversation_id}
    envelope_data.update(data)
    body = json.dumps(
        {"type": event_type, "timestamp": _iso(now), "data": envelope_data},
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            type=event_type, bot_id=bot_id, conversation_id=conversation_id, body=body, created_at=now
        )
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                event=event,
                endpoint_id=endpoint_id,
                conversation_id=conversation_id,
                retry_from=now,
                next_attempt_at=now,
            )
            for endpoint_id in endpoint_ids
        )
        deliveries_claim(deliveries, now=now)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
