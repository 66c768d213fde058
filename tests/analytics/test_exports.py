"""Exports round-trip: parse the streamed CSV / JSONL back and compare with the database."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.http import StreamingHttpResponse

from analytics.exports import CONVERSATION_COLUMNS, MESSAGE_COLUMNS
from analytics.services import conversation_tag_add
from bots.models import Message
from tests.analytics.conftest import api_client_for
from tests.analytics.factories import ConversationFactory, turn

pytestmark = pytest.mark.django_db


def _body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")


def _csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_body(response))))


@pytest.fixture
def data(bot_a, admin_user):
    c1 = ConversationFactory(bot=bot_a, user_id="cust@example.com", csat=2)
    turn(
        c1,
        "My card is 4111 1111 1111 1111, mail me at a.b@example.com",
        "Thanks, noted.",
        intent="payment",
        prompt_tokens=10,
        completion_tokens=4,
        time_to_first_token_ms=50,
        total_time_ms=90,
    )
    turn(c1, "=cmd|' /C calc'!A0 and call +1 (555) 123-4567", "Sorry, I didn't get that.", action="fallback")
    Message.objects.create(conversation=c1, seq=5, role=Message.Role.USER, text="unanswered last words")
    conversation_tag_add(conversation=c1, name="billing", user=admin_user)
    c2 = ConversationFactory(bot=bot_a)
    turn(c2, "hi", "Hello 你好!", intent="greet", action="greet")
    return c1, c2


def test_messages_csv_round_trip_unmasked(data, admin_user) -> None:
    rows = _csv(api_client_for(admin_user).get("/api/v1/exports/messages.csv", {"mask": "false"}))
    expected = list(Message.objects.order_by("conversation_id", "seq"))
    assert [int(r["message_id"]) for r in rows] == [m.pk for m in expected]
    assert list(rows[0]) == MESSAGE_COLUMNS
    for row, m in zip(rows, expected, strict=True):
        text = row["text"][1:] if m.text.startswith("=") else row["text"]  # CSV-injection guard adds a quote
        assert (int(row["conversation_id"]), int(row["seq"]), row["role"], text, row["intent"], row["action"]) == (
            m.conversation_id,
            m.seq,
            m.role,
            m.text,
            m.intent,
            m.action,
        )
        assert json.loads(row["entities"]) == m.entities
    assert rows[0]["text"].startswith("My card is 4111 1111 1111 1111")
    assert rows[2]["text"].startswith("'=cmd")  # a spreadsheet will not run it
    assert rows[1]["time_to_first_token_ms"] == "50" and rows[1]["prompt_tokens"] == "10"


def test_messages_csv_masked(data, admin_user, analyst_a) -> None:
    for client, params in (
        (api_client_for(admin_user), {}),  # masked by default
        (api_client_for(analyst_a), {"mask": "false"}),
    ):  # no view_pii: mask=false ignored
        body = _body(client.get("/api/v1/exports/messages.csv", params))
        assert "4111" not in body and "a.b@example.com" not in body and "123-4567" not in body
        assert "[card]" in body and "[email]" in body and "[phone]" in body


def test_conversations_csv(data, admin_user) -> None:
    c1, c2 = data
    rows = _csv(api_client_for(admin_user).get("/api/v1/exports/conversations.csv", {"mask": "0"}))
    assert list(rows[0]) == CONVERSATION_COLUMNS
    by_id = {int(r["conversation_id"]): r for r in rows}
    assert set(by_id) == {c1.pk, c2.pk}
    assert by_id[c1.pk]["outcome"] == "fallback" and by_id[c2.pk]["outcome"] == "contained"
    assert by_id[c1.pk]["messages"] == "5" and by_id[c1.pk]["visitor_messages"] == "3"
    assert by_id[c1.pk]["tags"] == "billing" and by_id[c1.pk]["csat"] == "2"
    assert by_id[c1.pk]["user_id"] == "cust@example.com"
    masked = _csv(api_client_for(admin_user).get("/api/v1/exports/conversations.csv"))
    assert {r["user_id"] for r in masked} == {"[email]", ""}


def test_jsonl_openai_format(data, admin_user) -> None:
    c1, c2 = data
    body = _body(api_client_for(admin_user).get("/api/v1/exports/conversations.jsonl", {"mask": "0"}))
    lines = [json.loads(line) for line in body.splitlines()]
    assert len(lines) == 2
    for line, conv in zip(lines, (c1, c2), strict=True):
        msgs = list(conv.messages.order_by("seq"))
        while msgs[-1].role == Message.Role.USER:  # trailing unanswered visitor messages are dropped
            msgs.pop()
        assert line == {
            "messages": [{"role": "assistant" if m.role == "bot" else "user", "content": m.text} for m in msgs]
        }
    assert lines[1]["messages"][1]["content"] == "Hello 你好!"
    masked = _body(api_client_for(admin_user).get("/api/v1/exports/conversations.jsonl"))
    assert "4111" not in masked and "[card]" in masked


def test_export_applies_list_filters(data, admin_user, client) -> None:
    c1, _c2 = data
    rows = _csv(api_client_for(admin_user).get("/api/v1/exports/conversations.csv", {"outcome": "fallback"}))
    assert [int(r["conversation_id"]) for r in rows] == [c1.pk]
    client.force_login(admin_user)
    page_rows = _csv(client.get("/analytics/export/messages.csv", {"q": "hi"}))
    assert {r["text"] for r in page_rows} == {"hi", "Hello 你好!"}
