"""Storing messages: idempotent on the client id, numbered per conversation, turn enqueued on commit."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from bots.models import Conversation, Message
from chatplatform.celery import task_send
from conversations.services.sequencing import message_insert_next_seq, violated_constraint
from conversations.services.webhook_events import message_created_emit
from engine.segmentation import index_tokens

# What `text_scrub` removes. Group 1 is the one thing kept: an emoji tag sequence (black flag, 2-6
# tag letters/digits, cancel tag: the England/Scotland/Wales flags). Every other tag character
# (U+E0000-E007F) goes: invisible in every renderer, and the known way to smuggle hidden ASCII
# instructions to the LLM. `_JUNK.sub(r"\1", text)` keeps group 1 and drops each other match.
_JUNK = re.compile(
    r"(\U0001F3F4[\U000E0030-\U000E0039\U000E0061-\U000E007A]{2,6}\U000E007F)"
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0/C1 controls other than tab, newline, CR
    r"\ud800-\udfff"  # lone surrogates (PostgreSQL and UTF-8 encoders refuse them)
    r"\ufdd0-\ufdef\ufffe\uffff"  # non-characters, and (next line) the last two of every other plane
    + "".join(f"\\U{(plane << 16) | 0xFFFE:08x}\\U{(plane << 16) | 0xFFFF:08x}" for plane in range(1, 17))
    + r"\u061c\u200e\u200f"  # bidi marks: Arabic letter mark, LRM, RLM
    r"\u202a-\u202e"  # bidi embeddings and overrides (RLO U+202E spoofs transcripts)
    r"\u2066-\u2069"  # bidi isolates
    r"\u206a-\u206f"  # deprecated format characters (symmetric swapping, digit shapes)
    r"\ufeff"  # byte order mark / zero-width no-break space (U+2060 is its replacement)
    r"\ufff9-\ufffb"  # interlinear annotation: hides text in some renderers
    r"\U000E0000-\U000E007F]"  # tag characters not in a flag sequence (group 1)
)
REENQUEUE_AFTER = timedelta(seconds=5)
TURN_TASK = "conversations.turn_run"


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
    """Drop control characters, lone surrogates, non-characters and invisible format characters; NFC;
    cap combining marks. For any visitor-supplied string that is stored or echoed.

    Removed (see `_JUNK`): bidi controls (U+202A-202E, U+2066-2069) and marks (U+200E, U+200F,
    U+061C): in a stored transcript they reorder what the analyst reads (an RLO makes "txt.exe" read
    "exe.txt"), and typed text needs none of them: the renderer's bidi algorithm already lays out
    Arabic/Hebrew from the letters themselves. Kept: ZWJ U+200D (emoji sequences, Indic conjuncts),
    ZWNJ U+200C (Persian), ZWSP U+200B (word breaks in Thai/Khmer), variation selectors (emoji style),
    skin-tone modifiers, regional-indicator and tag-sequence flags.

    U+2028/U+2029 (line/paragraph separator) become "\n": renderers disagree on them, the visitor
    meant a line break.

    Combining marks: at most 8 per base character (stacked "Zalgo" text is thousands of marks on one
    letter: it draws over neighbouring lines and bloats storage, 100k marks are 100k characters). No
    script needs more: Vietnamese stacks 2, Hebrew with points and cantillation 4, Tibetan stacks 5-6.
    Likewise one variation selector per character: a run of them means nothing to a renderer and is
    a way to hide bytes behind one emoji.
    """
    text = _JUNK.sub(r"\1", text)
    if text.isascii():
        return text  # nothing below applies to ASCII (the common case)
    text = unicodedata.normalize("NFC", text.replace("\u2028", "\n").replace("\u2029", "\n"))
    out: list[str] = []
    marks = 0  # combining marks since the last base character
    previous_vs = False
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] != "M":
            if category != "Cf":  # a ZWJ/ZWSP between marks must not restart the count
                marks, previous_vs = 0, False
            out.append(ch)
            continue
        is_vs = "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef"
        if marks >= 8 or (is_vs and previous_vs):
            continue
        marks += 1
        previous_vs = is_vs
        out.append(ch)
    return "".join(out)


def visitor_text_clean(text: Any) -> str:
    """Normalise what a visitor typed; reject what cannot be a message. Keeps the text, not HTML-escaped:
    escaping is the renderer's job (widget, admin templates)."""
    if not isinstance(text, str):
        raise MessageRejected("bad_frame", "text must be a string")
    cleaned = text_scrub(text).strip()
    if not cleaned:
        raise MessageRejected("empty_message", "The message is empty.")
    if len(cleaned) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise MessageRejected(
            "message_too_long", f"Messages are limited to {settings.CHAT_MAX_MESSAGE_CHARS} characters."
        )
    return cleaned


def client_id_clean(client_id: Any) -> str:
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64 or not client_id.isprintable():
        raise MessageRejected("bad_frame", "client_id must be a printable string of 1-64 characters")
    return client_id


def user_message_receive(
    *, conversation: Conversation, client_id: str, text: str, turn_options: dict[str, Any] | None = None
) -> ReceivedMessage:
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
            if (
                existing.created_at < timezone.now() - REENQUEUE_AFTER
                and not Message.objects.filter(reply_to=existing).exists()
            ):
                existing_id = existing.pk
                transaction.on_commit(lambda: turn_enqueue(user_message_id=existing_id, options=turn_options))
            return ReceivedMessage(message=existing, created=False)
        try:
            message = message_insert_next_seq(
                conversation_id=conversation.pk, role=Message.Role.USER, text=text, client_id=client_id
            )
        except IntegrityError as exc:
            if violated_constraint(exc) != "message_unique_client_id":
                raise
            # A concurrent retry of the same send won the insert.
            return ReceivedMessage(
                message=Message.objects.get(conversation=conversation, client_id=client_id), created=False
            )
        message_created_emit(bot_id=conversation.bot_id, message=message)
        transaction.on_commit(lambda: turn_enqueue(user_message_id=message.pk, options=turn_options))
    return ReceivedMessage(message=message, created=True)


def turn_enqueue(
    *, user_message_id: int, options: dict[str, Any] | None = None, countdown: float | None = None
) -> None:
    task_send(TURN_TASK, user_message_id, options or None, countdown=countdown)


@transaction.atomic
def conversation_history_import(*, conversation: Conversation, history: list[tuple[str, str]]) -> None:
    """Store earlier turns a stateless client (the OpenAI-compatible API) sends with each request,
    so the pipeline sees them as this conversation's history.

    The client wrote every turn, the "assistant" ones too, so each is cleaned like visitor text and
    bounded before anything is stored; raises MessageRejected (nothing stored) otherwise. At most
    API_MAX_HISTORY_MESSAGES turns; user turns up to CHAT_MAX_MESSAGE_CHARS, assistant turns up to
    API_MAX_ASSISTANT_MESSAGE_CHARS. An assistant turn that is empty once cleaned (a tool-call turn
    with no content) is dropped: there is nothing to show or to feed the model. The API validates
    the same way first, to answer with the offending message's index."""
    if len(history) > settings.API_MAX_HISTORY_MESSAGES:
        raise MessageRejected(
            "too_many_messages", f"At most {settings.API_MAX_HISTORY_MESSAGES} earlier messages are accepted."
        )
    rows: list[Message] = []
    for role, text in history:
        if role == "user":
            # "imported": the client already answered it; no turn ever answers an imported message.
            cleaned, stored_role, action = visitor_text_clean(text), Message.Role.USER, "imported"
        else:
            if not isinstance(text, str):
                raise MessageRejected("bad_frame", "text must be a string")
            cleaned, stored_role, action = text_scrub(text).strip(), Message.Role.BOT, "imported"
            if len(cleaned) > settings.API_MAX_ASSISTANT_MESSAGE_CHARS:
                raise MessageRejected(
                    "message_too_long",
                    f"Assistant messages are limited to {settings.API_MAX_ASSISTANT_MESSAGE_CHARS} characters.",
                )
            if not cleaned:
                continue
        rows.append(
            Message(
                conversation=conversation,
                seq=len(rows) + 1,
                role=stored_role,
                text=cleaned,
                action=action,
                search_tokens=index_tokens(cleaned),  # bulk_create skips Message.save(), which derives them
            )
        )
    if Message.objects.filter(conversation=conversation).exists():
        raise ValueError("history can only be imported into an empty conversation")
    Message.objects.bulk_create(rows)
