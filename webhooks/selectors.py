"""Reads for webhooks: who subscribes to an event, and the delivery log."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from webhooks.models import WebhookDelivery, WebhookEndpoint


def endpoints_subscribed(*, bot_id: int, event_type: str) -> QuerySet[WebhookEndpoint]:
    """Enabled endpoints of the bot, and global ones, that take this event type (none listed: all)."""
    return WebhookEndpoint.objects.filter(
        Q(bot_id=bot_id) | Q(bot__isnull=True),
        Q(event_types=[]) | Q(event_types__contains=[event_type]),
        enabled=True,
    )


def deliveries_of_endpoint(*, endpoint_id: int) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint_id=endpoint_id).select_related("event").order_by("-pk")
