"""Storing messages: idempotent on the client id, numbered per conversation, turn enqueued on commit."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from bots.models import Conversation, Message

# C0/C1 control characters other than tab and newline, plus lone surrogates and non-characters.
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_SEQ_RETRIES = 8
REENQUEUE_AFTER = timedelta(seconds=5)


class MessageRejected(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ReceivedMessage:
    message: Message
    created: bool


def text_scrub(text: str) -> str:
    """Drop control characters, lone surrogates and non-characters; NFC. For any visitor-supplied
    string that is stored or echoed (PostgreSQL and UTF-8 encoders refuse NUL and lone surrogates)."""
    return unicodedata.normalize("NFC", _JUNK.sub("", text))


def visitor_text_clean(text: Any) -> str:
    """Normalise what a visitor typed; reject what cannot be a message. Keeps the text, not HTML-escaped:
    escaping is the renderer's job (widget, admin templates)."""
    if not isinstance(text, str):
        raise MessageRejected("bad_frame", "text must be a string")
    cleaned = text_scrub(text).strip()
    if not cleaned:
        raise MessageRejected("empty_message", "The message is empty.")
    if len(cleaned) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise MessageRejected("message_too_long",
                              f"Messages are limited to {settings.CHAT_MAX_MESSAGE_CHARS} characters.")
    return cleaned


def client_id_clean(client_id: Any) -> str:
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64 or not client_id.isprintable():
        raise MessageRejected("bad_frame", "client_id must be a printable string of 1-64 characters")
    return client_id


def message_insert_next_seq(*, conversation_id: int, **fields: Any) -> Message:
    """Insert with seq = max + 1. Web (visitor messages) and worker (replies) race on the same
    conversation without a shared lock; the unique (conversation, seq) constraint arbitrates and the
    loser retries with the next number."""
    for _ in range(_SEQ_RETRIES):
        current = Message.objects.filter(conversation_id=conversation_id).aggregate(m=Max("seq"))["m"] or 0
        try:
            with transaction.atomic():
                return Message.objects.create(conversation_id=conversation_id, seq=current + 1, **fields)
        except IntegrityError as exc:
            if _violated_constraint(exc) != "message_unique_seq":
                raise
    raise RuntimeError(f"could not allocate a sequence number in conversation {conversation_id}")


def _violated_constraint(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def user_message_receive(*, conversation: Conversation, client_id: str, text: str,
                         turn_options: dict[str, Any] | None = None) -> ReceivedMessage:
    """Store a visitor message exactly once per (conversation, client_id) and, on commit, enqueue its turn.

    A retried send (same client_id) returns the stored message and enqueues nothing, unless the
    message is still unanswered after REENQUEUE_AFTER: then its turn is enqueued again, because
    the first enqueue may have been lost (broker down at commit time, or a Redis restart that
    dropped the queue). That is safe: `turn_run` is idempotent under the conversation lock.
    """
    client_id = client_id_clean(client_id)
    text = visitor_text_clean(text)
    with transaction.atomic():
        existing = Message.objects.filter(conversation=conversation, client_id=client_id).first()
        if existing is not None:
            if (existing.created_at < timezone.now() - REENQUEUE_AFTER
                    and not Message.objects.filter(reply_to=existing).exists()):
                existing_id = existing.pk
                transaction.on_commit(lambda: turn_enqueue(user_message_id=existing_id, options=turn_options))
            return ReceivedMessage(message=existing, created=False)
        try:
            message = message_insert_next_seq(conversation_id=conversation.pk, role=Message.Role.USER,
                                              text=text, client_id=client_id)
        except IntegrityError as exc:
            if _violated_constraint(exc) != "message_unique_client_id":
                raise
            # A concurrent retry of the same send won the insert.
            return ReceivedMessage(message=Message.objects.get(conversation=conversation, client_id=client_id),
                                   created=False)
        transaction.on_commit(lambda: turn_enqueue(user_message_id=message.pk, options=turn_options))
    return ReceivedMessage(message=message, created=True)


def turn_enqueue(*, user_message_id: int, options: dict[str, Any] | None = None) -> None:
    from inference_worker.tasks import run_turn

    run_turn.delay(user_message_id, options or None)


@transaction.atomic
def conversation_history_import(*, conversation: Conversation, history: list[tuple[str, str]]) -> None:
    """Store earlier turns a stateless client (the OpenAI-compatible API) sends with each request,
    so the pipeline sees them as this conversation's history."""
    if Message.objects.filter(conversation=conversation).exists():
        raise ValueError("history can only be imported into an empty conversation")
    Message.objects.bulk_create(
        Message(conversation=conversation, seq=index, role=Message.Role.USER if role == "user" else Message.Role.BOT,
                text=visitor_text_clean(text) if role == "user" else text, action="imported" if role != "user" else "")
        for index, (role, text) in enumerate(history, start=1))
