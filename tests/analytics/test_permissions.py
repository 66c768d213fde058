"""Permission matrix: every page and API operation x {anonymous, analyst of bot A, analyst of bot B, admin}.

The object under test always belongs to bot A. Analyst B must get 404 (not 403) for bot A's
objects: existence does not leak across bots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from analytics.models import ConversationTag, IntentSuggestion
from analytics.services import conversation_tag_add, intent_suggestion_create
from bots.models import Message
from tests.analytics.conftest import api_client_for

pytestmark = pytest.mark.django_db

ROLES = ("anon", "analyst_a", "analyst_b", "admin")
LOGIN = "login"  # a page redirected an anonymous visitor to the login page


@dataclass
class Case:
    name: str
    method: str
    url: str  # formatted with {conv}, {msg}, {sugg}, {bot}
    expected: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    api: bool = False


def _all(anon: Any, a: Any, b: Any, admin: Any) -> dict[str, Any]:
    return dict(zip(ROLES, (anon, a, b, admin), strict=True))


PAGE_CASES = [
    Case("list", "get", "/analytics/conversations/", _all(LOGIN, 200, 200, 200)),
    Case("detail", "get", "/analytics/conversations/{conv}/", _all(LOGIN, 200, 404, 200)),
    Case("tag", "post", "/analytics/conversations/{conv}/tags/", _all(LOGIN, 302, 404, 302), {"name": "vip"}),
    Case("note", "post", "/analytics/conversations/{conv}/notes/", _all(LOGIN, 302, 404, 302), {"text": "hm"}),
    Case(
        "message tag",
        "post",
        "/analytics/conversations/{conv}/messages/{msg}/tags/",
        _all(LOGIN, 302, 404, 302),
        {"name": "odd"},
    ),
    Case(
        "suggest",
        "post",
        "/analytics/conversations/{conv}/messages/{msg}/suggest/",
        _all(LOGIN, 302, 404, 302),
        {"m{msg}-new_intent_name": "gibberish"},
    ),
    Case("unrecognised", "get", "/analytics/unrecognised/", _all(LOGIN, 200, 200, 200)),
    Case("metrics", "get", "/analytics/metrics/", _all(LOGIN, 200, 200, 200)),
    Case("review", "get", "/analytics/suggestions/", _all(LOGIN, 403, 403, 200)),
    Case("decide", "post", "/analytics/suggestions/{sugg}/decide/", _all(LOGIN, 403, 403, 302), {"decision": "accept"}),
    Case("export messages", "get", "/analytics/export/messages.csv", _all(LOGIN, 200, 200, 200)),
    Case("export conversations", "get", "/analytics/export/conversations.csv", _all(LOGIN, 200, 200, 200)),
    Case("export jsonl", "get", "/analytics/export/conversations.jsonl", _all(LOGIN, 200, 200, 200)),
]

API_CASES = [
    Case("conversations list", "get", "/api/v1/conversations/", _all(401, 200, 200, 200)),
    Case("conversation", "get", "/api/v1/conversations/{conv}/", _all(401, 200, 404, 200)),
    Case("messages", "get", "/api/v1/conversations/{conv}/messages/", _all(401, 200, 404, 200)),
    Case("tag add", "post", "/api/v1/conversations/{conv}/tags/", _all(401, 201, 404, 201), {"name": "vip"}),
    Case("tag remove", "delete", "/api/v1/conversations/{conv}/tags/seeded/", _all(401, 204, 404, 204)),
    Case(
        "message tag add",
        "post",
        "/api/v1/conversations/{conv}/messages/{msg}/tags/",
        _all(401, 201, 404, 201),
        {"name": "odd"},
    ),
    Case("notes", "get", "/api/v1/conversations/{conv}/notes/", _all(401, 200, 404, 200)),
    Case("note add", "post", "/api/v1/conversations/{conv}/notes/", _all(401, 201, 404, 201), {"text": "hm"}),
    Case("tags", "get", "/api/v1/tags/", _all(401, 200, 200, 200)),
    Case("tag create", "post", "/api/v1/tags/", _all(401, 201, 201, 201), {"name": "new-tag"}),
    Case("suggestions", "get", "/api/v1/suggestions/", _all(401, 200, 200, 200)),
    Case("suggestion", "get", "/api/v1/suggestions/{sugg}/", _all(401, 200, 404, 200)),
    Case(
        "suggestion create",
        "post",
        "/api/v1/suggestions/",
        _all(401, 201, 400, 201),
        {"message": "{msg}", "new_intent_name": "gibberish"},
    ),
    Case("suggestion accept", "post", "/api/v1/suggestions/{sugg}/accept/", _all(401, 403, 403, 200)),
    Case("suggestion reject", "post", "/api/v1/suggestions/{sugg}/reject/", _all(401, 403, 403, 200)),
    Case("metrics", "get", "/api/v1/metrics/", _all(401, 200, 200, 200)),
    Case("export messages", "get", "/api/v1/exports/messages.csv", _all(401, 200, 200, 200)),
    Case("export conversations", "get", "/api/v1/exports/conversations.csv", _all(401, 200, 200, 200)),
    Case("export jsonl", "get", "/api/v1/exports/conversations.jsonl", _all(401, 200, 200, 200)),
    # Bot configuration: admins only. Non-admins get 403 before any lookup.
    Case("bots", "get", "/api/v1/bots/", _all(401, 403, 403, 200)),
    Case("bot create", "post", "/api/v1/bots/", _all(401, 403, 403, 201), {"slug": "new-bot", "name": "New"}),
    Case("bot", "get", "/api/v1/bots/{bot}/", _all(401, 403, 403, 200)),
    Case("bot update", "patch", "/api/v1/bots/{bot}/", _all(401, 403, 403, 200), {"greeting": "Hey"}),
    Case("bot delete", "delete", "/api/v1/bots/{bot}/", _all(401, 403, 403, 204)),
    Case("intents", "get", "/api/v1/bots/{bot}/intents/", _all(401, 403, 403, 200)),
    Case("intent create", "post", "/api/v1/bots/{bot}/intents/", _all(401, 403, 403, 201), {"name": "refund"}),
    Case("phrases", "get", "/api/v1/bots/{bot}/training-phrases/", _all(401, 403, 403, 200)),
    Case(
        "phrase create",
        "post",
        "/api/v1/bots/{bot}/training-phrases/",
        _all(401, 403, 403, 201),
        {"intent": "order_status", "text": "where is my parcel"},
    ),
    Case("entities", "get", "/api/v1/bots/{bot}/entities/", _all(401, 403, 403, 200)),
    Case(
        "entity create",
        "post",
        "/api/v1/bots/{bot}/entities/",
        _all(401, 403, 403, 201),
        {"name": "city", "kind": "lookup", "values": [{"value": "Paris", "synonyms": ["paname"]}]},
    ),
]


@pytest.fixture
def world(bot_a, bot_b, analyst_a, analyst_b, admin_user, conv_a, conv_b):
    from tests.analytics.factories import IntentFactory

    IntentFactory(bot=bot_a, name="order_status")
    user_msg = conv_a.messages.filter(role=Message.Role.USER).order_by("seq").last()
    conversation_tag_add(conversation=conv_a, name="seeded", user=admin_user)
    suggestion = intent_suggestion_create(message=user_msg, user=analyst_a, new_intent_name="nonsense")
    users = {"anon": None, "analyst_a": analyst_a, "analyst_b": analyst_b, "admin": admin_user}
    ids = {"conv": conv_a.pk, "msg": user_msg.pk, "sugg": suggestion.pk, "bot": bot_a.slug}
    return users, ids


def _fmt(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        out = value.format(**ids)
        return int(out) if out.isdigit() and value.startswith("{") else out
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", PAGE_CASES, ids=lambda c: c.name)
def test_page_permissions(client, world, case: Case, role: str) -> None:
    users, ids = world
    if users[role] is not None:
        client.force_login(users[role])
    data = {_fmt(k, ids): _fmt(v, ids) for k, v in case.data.items()}
    response = getattr(client, case.method)(case.url.format(**ids), data)
    expected = case.expected[role]
    if expected == LOGIN:
        assert response.status_code == 302
        assert "/login/" in response["Location"]
    else:
        assert response.status_code == expected, response.content[:300]
        if expected == 302:
            assert "/login/" not in response["Location"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", API_CASES, ids=lambda c: c.name)
def test_api_permissions(world, case: Case, role: str) -> None:
    users, ids = world
    client = api_client_for(users[role])
    data = {k: _fmt(v, ids) for k, v in case.data.items()}
    response = getattr(client, case.method)(case.url.format(**ids), data, format="json")
    assert response.status_code == case.expected[role], getattr(response, "data", None)


def _ids(response) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


def test_nothing_leaks_across_bots(world, conv_a, conv_b) -> None:
    users, ids = world
    b = api_client_for(users["analyst_b"])
    assert _ids(b.get("/api/v1/conversations/")) == {conv_b.pk}
    assert _ids(api_client_for(users["analyst_a"]).get("/api/v1/conversations/")) == {conv_a.pk}
    assert _ids(api_client_for(users["admin"]).get("/api/v1/conversations/")) == {conv_a.pk, conv_b.pk}
    # Filtering by another bot's slug is refused, not silently widened.
    assert b.get("/api/v1/conversations/", {"bot": "bot-a"}).status_code == 400
    assert b.get("/api/v1/suggestions/").json()["results"] == []
    metrics = b.get("/api/v1/metrics/").json()
    assert metrics["conversations"] == 1
    assert all(row["bot_id"] != conv_a.bot_id for row in metrics["top_unrecognised"])
    export = b"".join(b.get("/api/v1/exports/messages.csv").streaming_content).decode()
    assert "frobnicator" not in export and "hello there" in export


def test_list_page_shows_only_own_bot(client, world, conv_a, conv_b) -> None:
    users, _ = world
    client.force_login(users["analyst_b"])
    html = client.get("/analytics/conversations/").content.decode()
    assert f'href="/analytics/conversations/{conv_b.pk}/"' in html
    assert f'href="/analytics/conversations/{conv_a.pk}/"' not in html


def test_roles_exist_with_expected_permissions(db) -> None:
    from django.contrib.auth.models import Group

    analyst = set(Group.objects.get(name="analyst").permissions.values_list("codename", flat=True))
    admin = set(Group.objects.get(name="admin").permissions.values_list("codename", flat=True))
    assert {"view_transcripts", "export_transcripts", "suggest_intents"} <= analyst
    assert not analyst & {"view_pii", "review_suggestions", "view_all_bots", "change_bot"}
    assert {"view_pii", "review_suggestions", "view_all_bots", "change_bot", "add_trainingphrase"} <= admin
    assert Group.objects.filter(name="agent").exists()
    assert IntentSuggestion.objects.count() == 0 and ConversationTag.objects.count() == 0


# --- Analyst of bot B sees nothing of bot A, tag vocabulary included (security issue #9, item 8) -----

SECRET_CONV_TAG = "acme-merger-q3"
SECRET_MSG_TAG = "legal-hold"
SECRET_TEXT = "zanzibar"  # a word only in bot A's transcripts, notes and tags


@pytest.fixture
def bot_a_secrets(world, conv_a, admin_user):
    from analytics.services import message_tag_add, note_create

    msg = conv_a.messages.filter(role=Message.Role.USER).order_by("seq").first()
    conversation_tag_add(conversation=conv_a, name=SECRET_CONV_TAG, user=admin_user)
    message_tag_add(message=msg, name=SECRET_MSG_TAG, user=admin_user)
    conversation_tag_add(conversation=conv_a, name=f"{SECRET_TEXT}-tag", user=admin_user)
    note_create(conversation=conv_a, author=admin_user, text=f"note about {SECRET_TEXT}")
    from tests.analytics.factories import turn

    turn(conv_a, f"{SECRET_TEXT} blorp", "Sorry?", action="fallback")
    return world


_B_PAGES = [
    "/analytics/conversations/",
    "/analytics/unrecognised/",
    "/analytics/metrics/",
    "/analytics/export/messages.csv",
    "/analytics/export/conversations.csv",
    "/analytics/export/conversations.jsonl",
]
_B_API = [
    "/api/v1/conversations/",
    "/api/v1/tags/",
    "/api/v1/suggestions/",
    "/api/v1/metrics/",
    "/api/v1/exports/messages.csv",
    "/api/v1/exports/conversations.csv",
    "/api/v1/exports/conversations.jsonl",
]
_SECRETS = (SECRET_CONV_TAG, SECRET_MSG_TAG, SECRET_TEXT, "seeded", "frobnicator")


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize("url", _B_PAGES)
def test_analyst_b_pages_show_nothing_of_bot_a(client, bot_a_secrets, url: str) -> None:
    users, _ = bot_a_secrets
    client.force_login(users["analyst_b"])
    response = client.get(url)
    assert response.status_code == 200
    body = _body(response)
    assert not [s for s in _SECRETS if s in body]


@pytest.mark.parametrize("url", _B_API)
def test_analyst_b_api_shows_nothing_of_bot_a(bot_a_secrets, url: str) -> None:
    users, _ = bot_a_secrets
    response = api_client_for(users["analyst_b"]).get(url)
    assert response.status_code == 200
    body = _body(response)
    assert not [s for s in _SECRETS if s in body]


def test_analyst_b_filtering_by_a_tag_of_bot_a_finds_nothing(client, bot_a_secrets, conv_b, admin_user) -> None:
    users, _ = bot_a_secrets
    client.force_login(users["analyst_b"])
    html = client.get("/analytics/conversations/", {"tag": SECRET_CONV_TAG}).content.decode()
    assert "0 conversations match" in html
    assert (
        api_client_for(users["analyst_b"]).get("/api/v1/conversations/", {"tag": SECRET_CONV_TAG}).json()["results"]
        == []
    )


def test_tag_vocabulary_is_scoped_to_visible_bots(bot_a_secrets, conv_b, admin_user) -> None:
    users, _ = bot_a_secrets
    conversation_tag_add(conversation=conv_b, name="b-only", user=admin_user)

    def names(role: str) -> set[str]:
        response = api_client_for(users[role]).get("/api/v1/tags/")
        assert response.status_code == 200
        data = response.json()
        return {t["name"] for t in (data["results"] if isinstance(data, dict) else data)}

    a_vocab = {"seeded", SECRET_CONV_TAG, SECRET_MSG_TAG, f"{SECRET_TEXT}-tag"}
    assert names("analyst_b") == {"b-only"}
    assert names("analyst_a") == a_vocab
    assert names("admin") == a_vocab | {"b-only"}


def test_tag_suggestions_on_pages_are_scoped(client, bot_a_secrets, conv_b, admin_user) -> None:
    """The filter form's tag autocomplete (datalist) on every page that shows the filters."""
    users, _ = bot_a_secrets
    conversation_tag_add(conversation=conv_b, name="b-only", user=admin_user)
    client.force_login(users["analyst_b"])
    for url in ("/analytics/conversations/", "/analytics/unrecognised/", "/analytics/metrics/"):
        html = client.get(url).content.decode()
        assert '<option value="b-only">' in html, url
        assert SECRET_CONV_TAG not in html and SECRET_MSG_TAG not in html, url
    client.force_login(users["analyst_a"])
    html = client.get("/analytics/conversations/").content.decode()
    assert f'<option value="{SECRET_MSG_TAG}">' in html and "b-only" not in html


def test_tag_names_selector_is_scoped(bot_a_secrets, conv_b, admin_user) -> None:
    from analytics.selectors import tag_names

    users, _ = bot_a_secrets
    conversation_tag_add(conversation=conv_b, name="b-only", user=admin_user)
    assert tag_names(user=users["analyst_b"]) == ["b-only"]
    assert tag_names(user=users["analyst_b"], prefix="leg") == []
    assert tag_names(user=users["analyst_a"], prefix="leg") == [SECRET_MSG_TAG]
    assert tag_names(user=users["anon"]) == []


def test_cached_aggregates_follow_a_revoked_assignment(client, bot_a_secrets, settings) -> None:
    """Metrics/unrecognised are cached for a minute; losing a bot must take effect at once."""
    from analytics.models import BotAssignment

    settings.ANALYTICS_CACHE_SECONDS = 60
    users, _ = bot_a_secrets
    client.force_login(users["analyst_a"])
    assert SECRET_TEXT in client.get("/analytics/unrecognised/").content.decode()
    BotAssignment.objects.filter(user=users["analyst_a"]).delete()
    BotAssignment.objects.create(user=users["analyst_a"], bot=_ids_bot_b(users))
    assert SECRET_TEXT not in client.get("/analytics/unrecognised/").content.decode()


def _ids_bot_b(users):
    return users["analyst_b"].bot_assignments.get().bot
