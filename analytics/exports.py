"""Streamed exports: CSV per message, CSV per conversation, JSONL for OpenAI chat fine-tuning.

Rows come from server-side cursors (`.iterator(chunk_size=...)`) and are written one at a time,
so memory stays flat however many messages match. PII masking uses analytics.pii.mask_pii.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import CharField, Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.http import StreamingHttpResponse
from django.utils import timezone

from analytics.invisible import json_escape_invisible, reveal_invisible
from analytics.models import ConversationTag
from analytics.pii import mask_pii, mask_value
from analytics.selectors import handed_off_exists, with_outcome
from bots.models import Conversation, Message

CHUNK_SIZE = 2000

MESSAGE_COLUMNS = [
    "conversation_id",
    "bot",
    "message_id",
    "seq",
    "role",
    "created_at",
    "text",
    "intent",
    "confidence",
    "entities",
    "language",
    "action",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "time_to_first_token_ms",
    "total_time_ms",
    "feedback",
    "feedback_comment",
    "reply_to",
    "author_id",
    "author",
]
CONVERSATION_COLUMNS = [
    "conversation_id",
    "bot",
    "started_at",
    "last_activity_at",
    "ended_at",
    "channel",
    "status",
    "locale",
    "user_id",
    "csat",
    "outcome",
    "messages",
    "visitor_messages",
    "first_visitor_message",
    "tags",
    "agent_messages",
    "handed_off",
    "assigned_agent",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """csv.writer target that hands back each line instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def csv_safe(value: str) -> str:
    """Text for a CSV cell: invisible/bidi controls revealed, formulas defused.

    Bidi controls (U+202E...) are written as `⟨U+202E⟩`, not raw: a CSV is read by people in a
    spreadsheet, where a raw override reorders the cell just as it would on the page (and a leading
    control could hide a formula from the check below). This loses the raw character on purpose, as
    the quote prefix below already does; the lossless copy is the JSONL export (escaped as \\u202e)
    and the API. Spreadsheets run cells starting with = + - @ as formulas (CSV injection): prefix a
    quote.
    """
    value = reveal_invisible(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def _iso(value: Any) -> str:
    return value.isoformat() if value else ""


def _messages(conversations: QuerySet[Conversation]) -> QuerySet[Message]:
    return Message.objects.filter(conversation__in=conversations.order_by().values("pk")).order_by(
        "conversation_id", "seq"
    )


def person_name_expression(prefix: str) -> Coalesce:
    """`analytics.selectors.person_name` in SQL, for the user behind the foreign key `prefix`: the
    agent's display name, else first + last name, else the login; NULL without a user."""
    full_name = Trim(Concat(f"{prefix}__first_name", Value(" "), f"{prefix}__last_name", output_field=CharField()))
    return Coalesce(
        NullIf(F(f"{prefix}__agent_profile__display_name"), Value("")),
        NullIf(full_name, Value("")),
        F(f"{prefix}__username"),
        output_field=CharField(),
    )


def message_rows(conversations: QuerySet[Conversation], *, mask: bool) -> Iterator[list[Any]]:
    m = mask_pii if mask else (lambda s: s)
    qs = (
        _messages(conversations)
        .annotate(bot_slug=F("conversation__bot__slug"), author_name=person_name_expression("author"))
        .values_list(
            "conversation_id",
            "bot_slug",
            "id",
            "seq",
            "role",
            "created_at",
            "text",
            "intent",
            "confidence",
            "entities",
            "language",
            "action",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "time_to_first_token_ms",
            "total_time_ms",
            "feedback",
            "feedback_comment",
            "reply_to_id",
            "author_id",
            "author_name",
        )
    )
    for (
        conv_id,
        bot,
        pk,
        seq,
        role,
        created,
        text,
        intent,
        conf,
        entities,
        language,
        action,
        model,
        pt,
        ct,
        ttft,
        total,
        feedback,
        comment,
        reply_to,
        author_id,
        author_name,
    ) in qs.iterator(chunk_size=CHUNK_SIZE):
        yield [
            conv_id,
            csv_safe(bot),
            pk,
            seq,
            role,
            _iso(created),
            csv_safe(m(text)),
            csv_safe(intent),
            "" if conf is None else conf,
            csv_safe(json.dumps(mask_value(entities) if mask else entities, ensure_ascii=False)),
            csv_safe(language),
            csv_safe(action),
            csv_safe(model),
            "" if pt is None else pt,
            "" if ct is None else ct,
            "" if ttft is None else ttft,
            "" if total is None else total,
            feedback,
            csv_safe(m(comment)),
            reply_to or "",
            author_id or "",
            csv_safe(author_name or ""),
        ]


def conversation_rows(conversations: QuerySet[Conversation], *, mask: bool) -> Iterator[list[Any]]:
    m = mask_pii if mask else (lambda s: s)
    per_conv = Message.objects.filter(conversation=OuterRef("pk")).order_by().values("conversation")
    qs = (
        with_outcome(conversations.order_by("started_at", "pk"))
        .annotate(
            bot_slug=F("bot__slug"),
            n_messages=Subquery(per_conv.annotate(n=Count("id")).values("n"), output_field=IntegerField()),
            n_visitor=Subquery(
                per_conv.filter(role=Message.Role.USER).annotate(n=Count("id")).values("n"), output_field=IntegerField()
            ),
            first_text=Subquery(
                Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.USER)
                .order_by("seq")
                .values("text")[:1]
            ),
            n_agent=Subquery(
                per_conv.filter(role=Message.Role.AGENT).annotate(n=Count("id")).values("n"),
                output_field=IntegerField(),
            ),
            handed_off=handed_off_exists(),
            agent_name=person_name_expression("assigned_agent"),
            tag_list=Subquery(
                ConversationTag.objects.filter(conversation=OuterRef("pk"))
                .order_by()
                .values("conversation")
                .annotate(t=StringAgg("tag__name", ";", order_by="tag__name"))
                .values("t")
            ),
        )
        .values_list(
            "pk",
            "bot_slug",
            "started_at",
            "last_activity_at",
            "ended_at",
            "channel",
            "status",
            "locale",
            "user_id",
            "csat",
            "outcome",
            "n_messages",
            "n_visitor",
            "first_text",
            "tag_list",
            "n_agent",
            "handed_off",
            "agent_name",
        )
    )
    for (
        pk,
        bot,
        started,
        last,
        ended,
        channel,
        status,
        locale,
        user_id,
        csat,
        outcome,
        n,
        nv,
        first,
        tags,
        n_agent,
        handed_off,
        agent_name,
    ) in qs.iterator(chunk_size=CHUNK_SIZE):
        yield [
            pk,
            csv_safe(bot),
            _iso(started),
            _iso(last),
            _iso(ended),
            channel,
            status,
            csv_safe(locale),
            csv_safe(m(user_id)),
            "" if csat is None else csat,
            outcome,
            n or 0,
            nv or 0,
            csv_safe(m(first or "")),
            csv_safe(tags or ""),
            n_agent or 0,
            "yes" if handed_off else "no",
            csv_safe(agent_name or ""),
        ]


# The chat format's optional `name` of a message (^[a-zA-Z0-9_-]{1,64}$): marks the turns a person
# wrote, so a training run can keep, weight or drop them. Never the agent's own name (personal data).
AGENT_TURN_NAME = "agent"


def _jsonl_turn(role: str, content: str) -> dict[str, str]:
    if role == Message.Role.BOT:
        return {"role": "assistant", "content": content}
    if role == Message.Role.AGENT:
        return {"role": "assistant", "content": content, "name": AGENT_TURN_NAME}
    return {"role": "user", "content": content}


def jsonl_lines(conversations: QuerySet[Conversation], *, mask: bool) -> Iterator[str]:
    """One line per conversation: {"messages": [{"role": "user"|"assistant", "content": ...}, ...]}.

    The bot's and the agents' messages are assistant turns; an agent's carries `"name": "agent"` (a key
    the OpenAI chat fine-tuning format accepts). Trailing visitor messages with no answer are dropped and
    conversations without any assistant turn are skipped: a fine-tuning example must end with the
    assistant's turn.
    """
    m = mask_pii if mask else (lambda s: s)
    qs = _messages(conversations).values_list("conversation_id", "role", "text")
    for _conv_id, rows in itertools.groupby(qs.iterator(chunk_size=CHUNK_SIZE), key=lambda r: r[0]):
        turns = [_jsonl_turn(role, m(text)) for _c, role, text in rows]
        while turns and turns[-1]["role"] != "assistant":
            turns.pop()
        if turns:
            # Raw text (a fine-tuning set must hold what was said), but invisible/bidi controls as
            # \uXXXX escapes: the same strings for a JSON parser, visible to anyone reading the file.
            yield json_escape_invisible(json.dumps({"messages": turns}, ensure_ascii=False)) + "\n"


def _csv_stream(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # BOM: Excel opens UTF-8 correctly
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


EXPORT_KINDS = ("messages.csv", "conversations.csv", "conversations.jsonl")


def export_response(*, kind: str, conversations: QuerySet[Conversation], mask: bool) -> StreamingHttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if kind == "messages.csv":
        body: Iterator[str] = _csv_stream(MESSAGE_COLUMNS, message_rows(conversations, mask=mask))
        content_type = "text/csv; charset=utf-8"
    elif kind == "conversations.csv":
        body = _csv_stream(CONVERSATION_COLUMNS, conversation_rows(conversations, mask=mask))
        content_type = "text/csv; charset=utf-8"
    elif kind == "conversations.jsonl":
        body = jsonl_lines(conversations, mask=mask)
        content_type = "application/jsonl; charset=utf-8"
    else:
        raise ValueError(kind)
    name, ext = kind.split(".")
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}{"-masked" if mask else ""}.{ext}"'
    response["X-Accel-Buffering"] = "no"  # nginx: pass chunks through as they come
    response["Cache-Control"] = "no-store"
    return response
