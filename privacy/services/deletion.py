"""Deleting conversations and everything that names or quotes their visitor: the one path that
retention and erasure share, so neither can forget a table.

Cascades take the messages, events, notes, tags, briefs, reply suggestions and read marks. Rows that
outlive a conversation by design are deleted here: its offline tickets (SET_NULL otherwise), its
webhook events and deliveries (they hold message texts), and pending intent corrections quoting its
messages. Accepted corrections are training phrases an admin chose to keep; they stay.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from analytics.models import IntentSuggestion
from bots.models import Conversation, Message, OfflineTicket
from webhooks.models import WebhookDelivery, WebhookEvent


def conversations_count(conversations: QuerySet[Conversation]) -> dict[str, int]:
    """What `conversations_delete` would delete, by kind (a dry run)."""
    ids = conversations.values("pk")
    return {
        "conversations": conversations.count(),
        "messages": Message.objects.filter(conversation__in=ids).count(),
        "offline_tickets": OfflineTicket.objects.filter(conversation__in=ids).count(),
        "webhook_events": WebhookEvent.objects.filter(conversation_id__in=ids).count(),
        "pending_corrections": IntentSuggestion.objects.filter(
            message__conversation__in=ids, status=IntentSuggestion.Status.PENDING
        ).count(),
    }


@transaction.atomic
def conversations_delete(conversations: QuerySet[Conversation]) -> dict[str, int]:
    """Delete them and what quotes them; returns the rows deleted, by kind."""
    ids = list(conversations.values_list("pk", flat=True))  # fixed first: counts and deletes agree
    selected = Conversation.objects.filter(pk__in=ids)
    counts = conversations_count(selected)
    IntentSuggestion.objects.filter(message__conversation__in=ids, status=IntentSuggestion.Status.PENDING).delete()
    OfflineTicket.objects.filter(conversation__in=ids).delete()
    WebhookDelivery.objects.filter(conversation_id__in=ids).delete()
    WebhookEvent.objects.filter(conversation_id__in=ids).delete()
    selected.delete()
    return counts
