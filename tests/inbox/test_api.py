"""The inbox REST API (issue #12): the socket's reads and actions over HTTP, with the same scoping
and refusals; session or token auth; only users with inbox.use_inbox."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from bots.models import Conversation, Message
from conversations.services import handoff
from inbox.models import AgentNote
from tests.factories import AgentTeamFactory, BotFactory
from tests.inbox.conftest import queued, role_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sent_tasks")]
BASE = "/api/v1/inbox/conversations"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_an_agent_lists_claims_replies_notes_transfers_and_resolves() -> None:
    bot = BotFactory()
    team = AgentTeamFactory()
    agent = role_user("agent", bot, team=team)
    colleague = role_user("agent", bot, team=team)
    conversation = queued(bot)
    api = _client(agent)

    page = api.get(BASE, {"view": "unassigned"}).json()
    assert [i["id"] for i in page["items"]] == [conversation.pk] and page["next_cursor"] is None
    assert api.get(BASE, {"view": "unassigned", "bot": bot.pk}).json()["items"][0]["id"] == conversation.pk

    claimed = api.post(f"{BASE}/{conversation.pk}/claim")
    assert claimed.status_code == 200 and claimed.json()["status"] == "assigned"
    refused = _client(colleague).post(f"{BASE}/{conversation.pk}/claim")
    assert refused.status_code == 409 and refused.json()["code"] == "already_assigned"

    sent = api.post(f"{BASE}/{conversation.pk}/messages", {"text": "Hello!", "client_id": "a1"}, format="json")
    assert sent.status_code == 201 and sent.json()["role"] == "agent" and sent.json()["seq"] == 1
    again = api.post(f"{BASE}/{conversation.pk}/messages", {"text": "Hello!", "client_id": "a1"}, format="json")
    assert again.json()["id"] == sent.json()["id"]  # a resend is stored once
    not_theirs = _client(colleague).post(f"{BASE}/{conversation.pk}/messages", {"text": "Hi"}, format="json")
    assert not_theirs.status_code == 409 and not_theirs.json()["code"] == "not_assigned_to_you"
    empty = api.post(f"{BASE}/{conversation.pk}/messages", {"text": "   "}, format="json")
    assert empty.status_code == 400

    note = api.post(f"{BASE}/{conversation.pk}/notes", {"text": "VIP"}, format="json")
    assert note.status_code == 201 and note.json()["text"] == "VIP"
    detail = api.get(f"{BASE}/{conversation.pk}").json()
    assert [n["text"] for n in detail["notes"]] == ["VIP"] and [m["text"] for m in detail["messages"]] == ["Hello!"]
    assert [e["kind"] for e in detail["events"]] == ["handoff_requested", "assigned"]

    bad = api.post(f"{BASE}/{conversation.pk}/transfer", {"to_agent_id": 1, "to_team_id": 1}, format="json")
    assert bad.status_code == 400
    moved = api.post(f"{BASE}/{conversation.pk}/transfer", {"to_agent_id": colleague.pk}, format="json")
    assert moved.status_code == 200 and moved.json()["assigned_agent"]["id"] == colleague.pk

    colleague_api = _client(colleague)
    assert colleague_api.post(f"{BASE}/{conversation.pk}/resolve").json()["status"] == "resolved"
    twice = colleague_api.post(f"{BASE}/{conversation.pk}/resolve")
    assert twice.status_code == 409 and twice.json()["code"] == "already_resolved"
    assert colleague_api.post(f"{BASE}/{conversation.pk}/reopen").json()["status"] == "assigned"
    assert colleague_api.post(f"{BASE}/{conversation.pk}/return").json()["status"] == "bot"


def test_another_bots_conversation_is_not_found_and_nothing_changes() -> None:
    bot, other = BotFactory(), BotFactory()
    outsider = _client(role_user("agent", other))
    conversation = queued(bot)
    assert outsider.get(f"{BASE}/{conversation.pk}").status_code == 404
    for action in ("claim", "resolve", "return", "reopen", "notes", "messages", "transfer"):
        response = outsider.post(f"{BASE}/{conversation.pk}/{action}", {"text": "x"}, format="json")
        assert response.status_code == 404, action
    assert outsider.get(BASE, {"view": "all"}).json()["items"] == []
    assert Conversation.objects.get(pk=conversation.pk).status == "queued"
    assert not AgentNote.objects.exists() and not Message.objects.exists()


def test_only_inbox_users_get_in_with_a_session_or_a_token() -> None:
    bot = BotFactory()
    analyst = role_user("analyst", bot)
    anonymous = APIClient()
    assert anonymous.get(BASE).status_code in (401, 403)
    assert _client(analyst).get(BASE).status_code == 403
    conversation = queued(bot)
    assert _client(analyst).post(f"{BASE}/{conversation.pk}/claim").status_code == 403

    agent = role_user("agent", bot)
    token = Token.objects.create(user=agent)
    with_token = APIClient()
    with_token.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert with_token.get(BASE).status_code == 200
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(agent)
    assert session.get(BASE).status_code == 200
    assert session.post(f"{BASE}/{conversation.pk}/claim").status_code == 403  # a session POST needs CSRF


def test_bad_parameters_are_400() -> None:
    api = _client(role_user("agent", BotFactory()))
    assert api.get(BASE, {"view": "everything"}).status_code == 400
    assert api.get(BASE, {"bot": "1; drop"}).status_code == 400
    assert api.get(BASE, {"cursor": "garbage"}).status_code == 400
    deep = '{"text": ' + "[" * 100 + "]" * 100 + "}"
    conversation = queued(BotFactory())
    assert api.post(f"{BASE}/{conversation.pk}/notes", deep, content_type="application/json").status_code in (400, 404)


def test_the_api_is_in_the_openapi_document() -> None:
    admin = role_user("admin")
    admin.is_staff = True
    admin.save()
    schema = _client(admin).get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/v1/inbox/conversations" in paths and "/api/v1/inbox/conversations/{conversation_id}/claim" in paths
    assert "/api/v1/bots/{slug}/conversations/{conversation_id}/handoff" in paths


def test_the_handoff_service_is_what_the_api_calls() -> None:
    """The API is a thin caller: a refusal of the service is the API's refusal (no second rule)."""
    bot = BotFactory()
    agent = role_user("agent", bot)
    conversation = queued(bot)
    handoff.handoff_claim(conversation_id=conversation.pk, agent=agent)
    handoff.handoff_resolve(conversation_id=conversation.pk, actor=agent)
    response = _client(agent).post(f"{BASE}/{conversation.pk}/return")
    assert response.status_code == 409 and response.json()["code"] == "already_resolved"
