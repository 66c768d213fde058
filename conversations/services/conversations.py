"""Writes on conversations: starting one (at hello for v1 clients, with the visitor's first message
for v2), CSAT and feedback, activity."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from bots.models import Bot, Conversation, Message
from conversations import selectors as conversation_selectors
from conversations.services import limits
from conversations.services.handoff import handoff_request
from conversations.services.messages import (
    ReceivedMessage,
    client_id_clean,
    user_message_receive,
    visitor_text_clean,
)
from conversations.services.webhook_events import (
    conversation_resolved_emit,
    conversation_started_emit,
    csat_submitted_emit,
    feedback_created_emit,
)
from conversations.visitor_tokens import visitor_id_new


def conversation_start(
    *,
    bot: Bot,
    channel: str = Conversation.Channel.WIDGET,
    visitor_id: str | None = None,
    user_id: str = "",
    locale: str = "",
) -> Conversation:
    conversation = Conversation.objects.create(
        bot=bot, channel=channel, visitor_id=visitor_id or visitor_id_new(), user_id=user_id, locale=locale[:16]
    )
    conversation_started_emit(conversation=conversation)
    return conversation


@transaction.atomic
def conversation_open_for_visitor(
    *, bot: Bot, visitor_id: str, user_id: str, locale: str, channel: str
) -> tuple[Conversation, bool]:
    """The visitor's conversation, created if it has none (True): protocol v1's start at hello, with
    the same per-visitor lock as the first message, so a visitor never gets two."""
    _visitor_lock(bot_id=bot.pk, visitor_id=visitor_id)
    conversation = conversation_selectors.conversation_of_visitor(bot=bot, visitor_id=visitor_id)
    if conversation is not None:
        return conversation, False
    return conversation_start(bot=bot, channel=channel, visitor_id=visitor_id, user_id=user_id, locale=locale), True


class ConversationThrottled(Exception):
    """A limit refused the first message: `starting` (new conversations per IP) or messages."""

    def __init__(self, *, retry_after: int, starting: bool) -> None:
        super().__init__(f"throttled for {retry_after} s")
        self.retry_after, self.starting = retry_after, starting


class ConversationForbidden(Exception):
    """The visitor's conversation exists and belongs to another verified user."""


@dataclass(frozen=True)
class FirstMessage:
    conversation: Conversation
    received: ReceivedMessage
    started: bool  # this call created the conversation row


def conversation_first_message_receive(
    *,
    bot: Bot,
    visitor_id: str,
    user_id: str,
    locale: str,
    channel: str,
    client_id: object,
    text: object,
    client_ip: str,
) -> FirstMessage:
    """A visitor's first message on a connection not bound to a conversation (protocol v2): open the
    visitor's conversation, creating the row if it has none, and store the message, in ONE transaction.

    Exactly one conversation per (bot, visitor_id): a transaction-scoped advisory lock on the pair
    serialises two sockets of one visitor (two tabs, or a resend on a new socket after a lost ack);
    the second finds the first's row and its message (same client_id: stored once). A refused message
    (MessageRejected, a limit, RateLimitUnavailable) rolls the new row back with it: no empty rows.

    Limits: a new row spends `conversation_start_throttle` (fails closed); the message spends
    `message_send_throttle` as every message does. Raises ConversationThrottled, ConversationForbidden
    (the row belongs to another verified user), MessageRejected, ratelimit.RateLimitUnavailable, and
    whatever `user_message_receive`'s enqueue raises after the commit.
    """
    client_id = client_id_clean(client_id)
    text = visitor_text_clean(text)  # refused before a lock, a limit or a row
    with transaction.atomic():
        _visitor_lock(bot_id=bot.pk, visitor_id=visitor_id)
        conversation = conversation_selectors.conversation_of_visitor(bot=bot, visitor_id=visitor_id)
        started = conversation is None
        if conversation is None:
            retry_after = limits.conversation_start_throttle(bot=bot, client_ip=client_ip)
            if retry_after is not None:
                raise ConversationThrottled(retry_after=retry_after, starting=True)
            conversation = conversation_start(
                bot=bot, channel=channel, visitor_id=visitor_id, user_id=user_id, locale=locale
            )
        elif conversation.user_id and conversation.user_id != user_id:
            raise ConversationForbidden("This conversation belongs to another user.")
        retry_after = limits.message_send_throttle(conversation=conversation, client_ip=client_ip)
        if retry_after is not None:
            raise ConversationThrottled(retry_after=retry_after, starting=False)
        # Nested: a savepoint; its turn is enqueued when this outer transaction commits.
        received = user_message_receive(conversation=conversation, client_id=client_id, text=text)
    return FirstMessage(conversation=conversation, received=received, started=started)


def _visitor_lock(*, bot_id: int, visitor_id: str) -> None:
    """pg_advisory_xact_lock on a 64-bit hash of (bot, visitor): held until the transaction ends,
    pins nothing afterwards. Conversation.visitor_id is not unique, so the lock is the arbiter."""
    digest = hashlib.blake2b(f"conversation-start:{bot_id}:{visitor_id}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


@transaction.atomic
def conversation_csat_record(*, conversation: Conversation, score: int) -> Conversation:
    """A rating ends a bot conversation (resolved), unless it is low enough to call a person
    (`Bot.handoff_csat_at_most`); a conversation people have stays theirs."""
    if not 1 <= score <= 5:
        raise ValueError("CSAT score must be 1..5")
    Conversation.objects.filter(pk=conversation.pk).update(csat=score)
    csat_submitted_emit(conversation=conversation, score=score)
    bot = conversation.bot
    status = Conversation.objects.values_list("status", flat=True).get(pk=conversation.pk)
    low = score <= bot.handoff_csat_at_most and status in (Conversation.Status.BOT, Conversation.Status.RESOLVED)
    if low and conversation_selectors.handoff_available(bot=bot):
        handoff_request(conversation_id=conversation.pk, reason=f"The visitor rated the chat {score}/5.")
    elif status == Conversation.Status.BOT:
        Conversation.objects.filter(pk=conversation.pk).update(
            ended_at=timezone.now(), status=Conversation.Status.RESOLVED
        )
        conversation_resolved_emit(
            conversation=conversation, actor=None, reason=f"The visitor rated the chat {score}/5."
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
    feedback_created_emit(conversation=conversation, message=message)
    if (
        rating == Message.Feedback.DOWN
        and _thumbs_down_streak(conversation)
        and conversation_selectors.handoff_available(bot=conversation.bot)
    ):
        streak = conversation.bot.handoff_thumbs_down_streak
        handoff_request(conversation_id=conversation.pk, reason=f"{streak} thumbs-down in a row.")
    return message


def _thumbs_down_streak(conversation: Conversation) -> bool:
    """The bot's last `handoff_thumbs_down_streak` rated replies are all thumbs-down (0: never)."""
    streak = conversation.bot.handoff_thumbs_down_streak
    if streak == 0:
        return False
    ratings = list(
        Message.objects.filter(conversation=conversation, role=Message.Role.BOT)
        .exclude(feedback="")
        .order_by("-seq")
        .values_list("feedback", flat=True)[:streak]
    )
    return len(ratings) == streak and all(r == Message.Feedback.DOWN for r in ratings)


def conversation_touch(*, conversation_id: int) -> None:
    Conversation.objects.filter(pk=conversation_id).update(last_activity_at=timezone.now())
