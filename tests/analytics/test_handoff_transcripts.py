"""Handed-off conversations for analysts: the transcript page, the filters, the REST API and the exports."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.http import StreamingHttpResponse

from analytics.exports import AGENT_TURN_NAME, CONVERSATION_COLUMNS, MESSAGE_COLUMNS
from bots.models import AgentProfile, AgentTeam, Conversation, ConversationEvent, Message
from conversations.services import handoff
from inbox.models import AgentNote
from tests.analytics.conftest import api_client_for
from tests.analytics.factories import ConversationFactory, UserFactory, turn

pytestmark = pytest.mark.django_db

Status = Conversation.Status


def _body(response: Any) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")


def _csv(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_body(response))))


@pytest.fixture
def agent(bot_a):
    user = UserFactory(username="alice", first_name="Alice", role="agent")
    AgentProfile.objects.create(user=user, display_name="Alice from Support", presence="online")
    team = AgentTeam.objects.create(name="Support A")
    team.bots.add(bot_a)
    team.members.add(user)
    return user


@pytest.fixture
def handed(bot_a, agent):
    """A conversation through the real services: requested (the visitor asked), claimed, answered by
    the agent, a private note, returned to the bot, the bot answers again."""
    conv = ConversationFactory(bot=bot_a, user_id="cust-7")
    turn(conv, "I want a person, my mail is jo@example.com", "Connecting you.", intent="human", action="handoff")
    handoff.handoff_request(conversation_id=conv.pk, reason="The visitor asked for a person (jo@example.com).")
    handoff.handoff_claim(conversation_id=conv.pk, agent=agent)
    handoff.agent_message_send(conversation_id=conv.pk, agent=agent, text="Hi, Alice here. How can I help?")
    AgentNote.objects.create(conversation=conv, author=agent, text="VIP customer, call back at 555-123-4567")
    handoff.handoff_return_to_bot(conversation_id=conv.pk, actor=agent)
    turn(conv, "thanks, and your opening hours?", "9 to 5.", intent="hours")
    conv.refresh_from_db()
    return conv


@pytest.fixture
def bot_only(bot_a):
    conv = ConversationFactory(bot=bot_a, status=Status.RESOLVED, csat=5)
    turn(conv, "hi", "Hello!", intent="greet", action="greet")
    return conv


def test_services_left_the_expected_events(handed) -> None:
    kinds = list(handed.events.order_by("created_at", "id").values_list("kind", flat=True))
    assert kinds == ["handoff_requested", "assigned", "returned_to_bot"]
    assert handed.status == Status.BOT


def test_transcript_page_shows_agent_turns_events_and_private_notes_in_order(handed, admin_user, client) -> None:
    client.force_login(admin_user)
    html = client.get(f"/analytics/conversations/{handed.pk}/").content.decode()
    # The agent's message with its author; each event with who and why; the note marked private.
    assert "Agent: <bdi>Alice from Support</bdi>" in html
    assert "Hi, Alice here. How can I help?" in html
    assert "Handoff requested" in html and "Returned to the bot" in html
    assert "The visitor asked for a person (jo@example.com)." in html  # admins see raw text
    assert "the visitor, the bot or the router" in html  # the request had no staff actor
    assert "Private agent note" in html and "VIP customer" in html
    # Time order: request (after the first turn) < assignment < the agent's reply < the note < the return
    # < the bot's later answer.
    positions = [
        html.index(marker)
        for marker in (
            "Connecting you.",
            "Handoff requested",
            ">Assigned<",
            "Hi, Alice here.",
            "VIP customer",
            "Returned to the bot",
            "9 to 5.",
        )
    ]
    assert positions == sorted(positions)


def test_transcript_page_masks_reasons_and_notes_for_analysts(handed, analyst_a, client) -> None:
    client.force_login(analyst_a)
    html = client.get(f"/analytics/conversations/{handed.pk}/").content.decode()
    assert "jo@example.com" not in html and "555-123-4567" not in html
    assert "[email]" in html and "[phone]" in html
    assert "Alice from Support" in html


def test_status_and_handed_off_filters(handed, bot_only, bot_a, analyst_a, client) -> None:
    queued = ConversationFactory(bot=bot_a)
    turn(queued, "help!", "One moment.", intent="human", action="handoff")
    handoff.handoff_request(conversation_id=queued.pk, reason="asked")
    api = api_client_for(analyst_a)

    def ids(**params: str) -> set[int]:
        response = api.get("/api/v1/conversations/", params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(handed_off="yes") == {handed.pk, queued.pk}
    assert ids(handed_off="no") == {bot_only.pk}
    assert ids(status="bot") == {handed.pk}
    assert ids(status="queued") == {queued.pk}
    assert ids(status="resolved") == {bot_only.pk}
    assert ids(status="assigned") == set()
    assert ids(status="queued", handed_off="no") == set()
    assert api.get("/api/v1/conversations/", {"status": "open"}).status_code == 400  # the old names are gone
    client.force_login(analyst_a)
    html = client.get("/analytics/conversations/", {"handed_off": "yes"}).content.decode()
    assert f"/analytics/conversations/{queued.pk}/" in html and f"/analytics/conversations/{bot_only.pk}/" not in html
    assert "Waiting for a person" in html  # the status column
    assert 'name="status"' in html and 'name="handed_off"' in html  # both in the filter form


def test_api_gives_agent_messages_with_author_and_the_events(handed, agent, admin_user) -> None:
    api = api_client_for(admin_user)
    data = api.get(f"/api/v1/conversations/{handed.pk}/").json()
    by_role: dict[str, list[dict[str, Any]]] = {}
    for m in data["messages"]:
        by_role.setdefault(m["role"], []).append(m)
    assert [m["text"] for m in by_role["agent"]] == ["Hi, Alice here. How can I help?"]
    assert by_role["agent"][0]["author"] == {"id": agent.pk, "name": "Alice from Support"}
    assert all(m["author"] is None for m in by_role["user"] + by_role["bot"])
    assert [e["kind"] for e in data["events"]] == ["handoff_requested", "assigned", "returned_to_bot"]
    requested, assigned, returned = data["events"]
    assert requested["actor"] is None and requested["from_status"] == "bot" and requested["to_status"] == "queued"
    assert requested["team"]["name"] == "Support A"
    assert requested["reason"] == "The visitor asked for a person (jo@example.com)."
    assert assigned["agent"] == {"id": agent.pk, "name": "Alice from Support"}
    assert returned["actor"] == {"id": agent.pk, "name": "Alice from Support"}
    assert [n["text"] for n in data["agent_notes"]] == ["VIP customer, call back at 555-123-4567"]
    assert data["status"] == "bot" and data["assigned_agent"] is None and data["team"]["name"] == "Support A"
    # The messages and events endpoints agree with the detail.
    messages = api.get(f"/api/v1/conversations/{handed.pk}/messages/").json()["results"]
    assert [m["author"] for m in messages] == [m["author"] for m in data["messages"]]
    assert api.get(f"/api/v1/conversations/{handed.pk}/events/").json() == data["events"]
    masked = api.get(f"/api/v1/conversations/{handed.pk}/events/", {"mask": "1"}).json()
    assert masked[0]["reason"] == "The visitor asked for a person ([email])."
    notes = api.get(f"/api/v1/conversations/{handed.pk}/agent-notes/", {"mask": "1"}).json()
    assert notes[0]["text"] == "VIP customer, call back at [phone]" and notes[0]["author"]["id"] == agent.pk


def test_api_lists_the_assigned_agent(bot_a, agent, analyst_a) -> None:
    conv = ConversationFactory(bot=bot_a)
    turn(conv, "a person please", "Sure.", intent="human", action="handoff")
    handoff.handoff_request(conversation_id=conv.pk, reason="asked")
    handoff.handoff_claim(conversation_id=conv.pk, agent=agent)
    rows = api_client_for(analyst_a).get("/api/v1/conversations/", {"status": "assigned"}).json()["results"]
    assert [(r["id"], r["assigned_agent"]) for r in rows] == [(conv.pk, {"id": agent.pk, "name": "Alice from Support"})]
    assert rows[0]["queued_at"] is not None and rows[0]["priority"] == 0


def test_other_bots_events_stay_hidden(handed, analyst_b) -> None:
    api = api_client_for(analyst_b)
    assert api.get(f"/api/v1/conversations/{handed.pk}/events/").status_code == 404
    assert api.get(f"/api/v1/conversations/{handed.pk}/agent-notes/").status_code == 404


def test_messages_csv_has_agent_role_and_author(handed, bot_only, agent, admin_user) -> None:
    rows = _csv(api_client_for(admin_user).get("/api/v1/exports/messages.csv", {"mask": "0"}))
    assert list(rows[0]) == MESSAGE_COLUMNS
    agent_rows = [r for r in rows if r["role"] == "agent"]
    assert [(r["text"], r["author"], r["author_id"]) for r in agent_rows] == [
        ("Hi, Alice here. How can I help?", "Alice from Support", str(agent.pk))
    ]
    assert agent_rows[0]["reply_to"] == ""
    assert {r["author"] for r in rows if r["role"] != "agent"} == {""}


def test_author_name_falls_back_to_full_name_then_login(bot_a, admin_user) -> None:
    named = UserFactory(username="bob", first_name="Bob", last_name="Stone")
    login_only = UserFactory(username="carol")
    conv = ConversationFactory(bot=bot_a)
    turn(conv, "hi", "Hello!")
    Message.objects.create(conversation=conv, seq=3, role=Message.Role.AGENT, text="one", author=named)
    Message.objects.create(conversation=conv, seq=4, role=Message.Role.AGENT, text="two", author=login_only)
    rows = _csv(api_client_for(admin_user).get("/api/v1/exports/messages.csv"))
    assert [r["author"] for r in rows if r["role"] == "agent"] == ["Bob Stone", "carol"]
    api = [
        m["author"]["name"]
        for m in api_client_for(admin_user).get(f"/api/v1/conversations/{conv.pk}/").json()["messages"]
        if m["author"]
    ]
    assert api == ["Bob Stone", "carol"]


def test_conversations_csv_counts_agent_messages(handed, bot_only, admin_user) -> None:
    rows = {
        int(r["conversation_id"]): r for r in _csv(api_client_for(admin_user).get("/api/v1/exports/conversations.csv"))
    }
    assert list(next(iter(rows.values()))) == CONVERSATION_COLUMNS
    assert (rows[handed.pk]["agent_messages"], rows[handed.pk]["handed_off"], rows[handed.pk]["status"]) == (
        "1",
        "yes",
        "bot",
    )
    assert rows[handed.pk]["assigned_agent"] == ""  # back with the bot
    assert (rows[bot_only.pk]["agent_messages"], rows[bot_only.pk]["handed_off"]) == ("0", "no")


def test_jsonl_exports_agent_turns_as_marked_assistant_turns(handed, agent, admin_user) -> None:
    # A conversation that ends with the agent's turn (no bot reply after it) is an example too.
    conv = ConversationFactory(bot=handed.bot)
    Message.objects.create(
        conversation=conv, seq=1, role=Message.Role.USER, text="is anyone there?", action="for_agent"
    )
    Message.objects.create(conversation=conv, seq=2, role=Message.Role.AGENT, text="Yes, I'm here.", author=agent)
    Message.objects.create(conversation=conv, seq=3, role=Message.Role.USER, text="ok", action="for_agent")
    body = _body(api_client_for(admin_user).get("/api/v1/exports/conversations.jsonl", {"mask": "0"}))
    lines = [json.loads(line) for line in body.splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["messages"] == [
        {"role": "user", "content": "I want a person, my mail is jo@example.com"},
        {"role": "assistant", "content": "Connecting you."},
        {"role": "assistant", "content": "Hi, Alice here. How can I help?", "name": AGENT_TURN_NAME},
        {"role": "user", "content": "thanks, and your opening hours?"},
        {"role": "assistant", "content": "9 to 5."},
    ]
    assert second["messages"] == [
        {"role": "user", "content": "is anyone there?"},
        {"role": "assistant", "content": "Yes, I'm here.", "name": "agent"},
    ]
    # Valid for the OpenAI chat fine-tuning format: only known keys, a name that matches its pattern,
    # and each example ends with an assistant turn.
    for line in lines:
        for message in line["messages"]:
            assert set(message) <= {"role", "content", "name", "weight"}
            assert message["role"] in ("user", "assistant")
        assert line["messages"][-1]["role"] == "assistant"


def test_handoff_rate_counts_events_not_only_offers(handed, bot_only, admin_user) -> None:
    # The lead's outcome change: a handoff_requested event makes the outcome "handoff" (issue #12).
    data = api_client_for(admin_user).get("/api/v1/conversations/", {"outcome": "handoff"}).json()
    assert [row["id"] for row in data["results"]] == [handed.pk]
    assert ConversationEvent.objects.filter(conversation=handed, kind="handoff_requested").count() == 1
