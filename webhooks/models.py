"""Endpoints (where to send), events (what happened, stored once) and deliveries (event x endpoint,
with their attempt log). docs/webhooks.md describes the wire format."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bots.models import Bot
from chatplatform.outbound_http import validate_outbound_url


class EventType(models.TextChoices):
    CONVERSATION_STARTED = "conversation.started", _("A conversation started")
    MESSAGE_CREATED = "message.created", _("A message was stored (visitor, bot or agent)")
    HANDOFF_REQUESTED = "handoff.requested", _("A conversation was queued for a person")
    CONVERSATION_ASSIGNED = "conversation.assigned", _("An agent got a conversation")
    CONVERSATION_RESOLVED = "conversation.resolved", _("A conversation was resolved")
    FEEDBACK_CREATED = "feedback.created", _("A visitor rated a bot reply")
    CSAT_SUBMITTED = "csat.submitted", _("A visitor rated the conversation")
    ACTION_FAILED = "action.failed", _("An HTTP action failed")


def event_id_new() -> str:
    """The event's id, sent as `webhook-id`: the same on every attempt, so receivers can dedupe."""
    return f"evt_{uuid.uuid4().hex}"


class WebhookEndpoint(models.Model):
    """A URL that receives events: one bot's, or every bot's when `bot` is empty."""

    bot = models.ForeignKey(
        Bot,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        help_text=_("Empty: events of every bot."),
    )
    url = models.URLField(
        max_length=1000,
        validators=[validate_outbound_url],
        help_text=_("https://... that accepts a POST of JSON; private and loopback addresses are refused."),
    )
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(
        models.CharField(max_length=40, choices=EventType.choices),
        default=list,
        blank=True,
        help_text=_("Empty: every event type."),
    )
    # Standard Webhooks secret (whsec_...), encrypted at rest (chatplatform/encryption.py).
    secret_encrypted = models.TextField(default="", editable=False)
    # After a rotation the old secret also signs until `previous_secret_expires_at`, so a receiver
    # can switch without dropping deliveries (the signature header carries both).
    previous_secret_encrypted = models.TextField(default="", blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # emit_event's one query: the enabled endpoints of a bot, and the global ones.
            models.Index(fields=["bot"], condition=Q(enabled=True), name="webhook_endpoint_enabled"),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """One emitted event, stored only when some endpoint wanted it. `body` is the exact JSON that
    is signed and sent on every attempt."""

    id = models.CharField(primary_key=True, max_length=40, default=event_id_new, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="webhook_events")
    conversation_id = models.BigIntegerField(null=True, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    @property
    def payload(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body)
        return result


class WebhookDelivery(models.Model):
    """One event to one endpoint. `pending` waits for `next_attempt_at` (or for an earlier delivery
    of the same conversation to the same endpoint); `delivering` has an attempt queued or in flight,
    and `next_attempt_at` is then its lease: past it, the attempt counts as lost and is made again."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERING = "delivering", _("Delivering")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # Copied from the event: the ordering rule looks it up per endpoint.
    conversation_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text=_("Attempts since the event (or the last resend)."))
    retry_from = models.DateTimeField(help_text=_("Retries stop a day after this (the event, or a resend)."))
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_response_excerpt = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-pk"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "delivering"]),
                name="webhook_delivery_due",
            ),
            models.Index(
                fields=["endpoint", "conversation_id", "id"],
                condition=Q(status__in=["pending", "delivering"]),
                name="webhook_delivery_in_line",
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: what the receiver answered (or why nothing was sent)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["attempted_at", "pk"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
