"""Erasure on request: one visitor's (widget visitor id) or one customer's (verified id) data on one
bot, deleted, with a receipt that proves it without naming them."""

from __future__ import annotations

import hashlib
from typing import Any

import structlog
from django.db import transaction

from bots.models import Bot, Conversation, OfflineTicket
from privacy.models import ErasureReceipt

from .deletion import conversations_delete

log = structlog.get_logger(__name__)


def subject_digest(subject_id: str) -> str:
    return hashlib.sha256(subject_id.encode()).hexdigest()


@transaction.atomic
def subject_erase(*, bot: Bot, kind: str, subject_id: str, requested_by: Any, via: str) -> ErasureReceipt:
    """Delete every conversation of the subject on this bot (and what quotes them); for a visitor id
    also the offline tickets it left without a conversation. Returns the stored receipt."""
    if kind not in ErasureReceipt.Subject.values or not subject_id:
        raise ValueError("Give a visitor_id or a user_id.")
    conversations = Conversation.objects.filter(bot=bot, **{kind: subject_id})
    deleted = conversations_delete(conversations)
    if kind == ErasureReceipt.Subject.VISITOR:
        loose, _ = OfflineTicket.objects.filter(bot=bot, visitor_id=subject_id).delete()
        deleted["offline_tickets"] += loose
    receipt = ErasureReceipt.objects.create(
        bot=bot,
        subject_kind=kind,
        subject_digest=subject_digest(subject_id),
        deleted=deleted,
        requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
        via=via,
    )
    log.info("privacy_erased", bot=bot.slug, kind=kind, receipt=receipt.pk, **deleted)
    return receipt
