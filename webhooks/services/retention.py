"""How long the delivery log is kept: events older than WEBHOOK_LOG_KEEP_DAYS whose every delivery
has ended (succeeded or failed for good) are deleted with their deliveries and attempts. A delivery
still pending keeps its event, however old (it is retried until its window closes)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from webhooks.models import WebhookDelivery, WebhookEvent

ENDED = (WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.FAILED)
BATCH = 1000


def webhook_log_prune(*, now: datetime | None = None) -> int:
    """Delete the ended events past their keeping time, in batches; returns how many events went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_LOG_KEEP_DAYS)
    open_delivery = WebhookDelivery.objects.filter(event=OuterRef("pk")).exclude(status__in=ENDED)
    removed = 0
    while True:
        ids = list(
            WebhookEvent.objects.filter(created_at__lt=cutoff)
            .exclude(Exists(open_delivery))
            .values_list("pk", flat=True)[:BATCH]
        )
        if not ids:
            return removed
        WebhookEvent.objects.filter(pk__in=ids).delete()
        removed += len(ids)
