"""Writes on conversations: starting one and issuing the visitor token bound to it."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from bots.models import Bot, Conversation, Message


def conversation_start(
    *,
    bot: Bot,
    channel: str = Conversation.Channel.WIDGET,
    visitor_id: str | None = None,
    user_id: str = "",
    locale: str = "",
) -> Conversation:
    return Conversation.objects.create(
        bot=bot, channel=channel, visitor_id=visitor_id or secrets.token_hex(16), user_id=user_id, locale=locale[:16]
    )


def conversation_csat_record(*, conversation: Conversation, score: int) -> Conversation:
    if not 1 <= score <= 5:
        raise ValueError("CSAT score must be 1..5")
    Conversation.objects.filter(pk=conversation.pk).update(
        csat=score, ended_at=timezone.now(), status=Conversation.Status.CLOSED
    )
    conversation.refresh_from_db(fields=["csat", "ended_at", "status"])
    return conversation


@transaction.atomic
def message_feedback_record(*, conversation: Conversation, message_id: int, rating: str, comment: str = "") -> Message:
    if rating not in Message.Feedback.values:
        raise ValueError("rating must be 'up' or 'down'")
    message = Message.objects.select_for_update().get(pk=message_id, conversation=conversation, role=Message.Role.BOT)
    message.feedback = rating
    message.feedback_comment = comment[:1000]
    message.save(update_fields=["feedback", "feedback_comment"])
    return message


def conversation_touch(*, conversation_id: int) -> None:
    Conversation.objects.filter(pk=conversation_id).update(last_activity_at=timezone.now())
