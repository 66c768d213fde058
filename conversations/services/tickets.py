"""The offline form: what a visitor leaves when nobody can come (outside business hours, no one on duty)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from bots.models import Bot, Conversation, ConversationEvent, OfflineTicket
from conversations.services.messages import MessageRejected, client_id_clean, text_scrub, visitor_text_clean
from inference_worker.publisher import get_turn_events

NAME_MAX_CHARS = 120


def offline_ticket_leave(
    *,
    bot: Bot,
    visitor_id: str,
    conversation: Conversation | None,
    client_id: str,
    name: str,
    email: str,
    message: str,
) -> OfflineTicket:
    """Store the ticket once per client_id (a resend returns the stored one); the inbox shows it."""
    client_id = client_id_clean(client_id)
    name = text_scrub(name if isinstance(name, str) else "").strip()
    if len(name) > NAME_MAX_CHARS:
        raise MessageRejected("bad_frame", f"name is limited to {NAME_MAX_CHARS} characters.")
    email = (email if isinstance(email, str) else "").strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise MessageRejected("bad_email", "Enter a valid e-mail address.") from exc
    text = visitor_text_clean(message)
    with transaction.atomic():
        existing = OfflineTicket.objects.filter(bot=bot, visitor_id=visitor_id, client_id=client_id).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                ticket = OfflineTicket.objects.create(
                    bot=bot,
                    conversation=conversation,
                    visitor_id=visitor_id,
                    client_id=client_id,
                    name=name,
                    email=email,
                    message=text,
                )
        except IntegrityError:  # a concurrent resend won
            return OfflineTicket.objects.get(bot=bot, visitor_id=visitor_id, client_id=client_id)
        if conversation is not None:
            ConversationEvent.objects.create(
                conversation=conversation,
                kind=ConversationEvent.Kind.OFFLINE_TICKET,
                from_status=conversation.status,
                to_status=conversation.status,
                reason="The visitor left a message for the team.",
            )
        bot_id, ticket_id = bot.pk, ticket.pk
        transaction.on_commit(
            lambda: get_turn_events().inbox(bot_id=bot_id, payload={"kind": "offline_ticket", "ticket_id": ticket_id}),
            robust=True,
        )
    return ticket
