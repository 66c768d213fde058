"""Offline messages in the inbox: an agent marks one done once they have answered it (by e-mail)."""

from __future__ import annotations

from typing import Any

import structlog
from django.db import transaction

from bots.models import OfflineTicket
from chatplatform.access.scoping import bots_handled_by
from conversations.services.handoff import HandoffRefused
from inference_worker.publisher import get_turn_events

log = structlog.get_logger(__name__)


def ticket_done(*, user: Any, ticket_id: int) -> OfflineTicket:
    """Mark an open ticket of one of the user's bots done; every inbox of the bot drops it. A
    ticket of another bot is "not found", like one that does not exist; done twice is no error."""
    with transaction.atomic():
        ticket = OfflineTicket.objects.select_for_update().filter(pk=ticket_id, bot__in=bots_handled_by(user)).first()
        if ticket is None:
            raise HandoffRefused("not_found", "No such offline message in your inbox.")
        if ticket.status != OfflineTicket.Status.DONE:
            ticket.status = OfflineTicket.Status.DONE
            ticket.save(update_fields=["status"])
            bot_id, payload = ticket.bot_id, {"kind": "ticket_done", "ticket_id": ticket.pk}
            transaction.on_commit(lambda: get_turn_events().inbox(bot_id=bot_id, payload=payload), robust=True)
            log.info("offline_ticket_done", ticket_id=ticket.pk, bot_id=bot_id, agent_id=getattr(user, "pk", None))
    return ticket
