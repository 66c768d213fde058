"""The audit log: exports, unmasked views and bot changes (admin and API) are recorded with who and
from where; nothing else is; the entries cannot be changed or deleted, by the admin or in SQL."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction
from django.test import Client
from rest_framework.test import APIClient

from analytics.models import BotAssignment
from audit.models import AuditEntry
from bots.models import Intent
from tests.analytics.factories import UserFactory
from tests.factories import BotFactory, ConversationFactory, IntentFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot():
    return BotFactory(slug="shop")


def _entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


def test_a_bot_change_in_the_admin_is_recorded_with_its_author(bot) -> None:
    intent = IntentFactory(bot=bot, name="refund")
    admin = UserFactory(username="ada", role="admin", is_staff=True)
    client = Client(REMOTE_ADDR="203.0.113.7")
    client.force_login(admin)

    response = client.post(f"/admin/bots/intent/{intent.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302 and not Intent.objects.filter(pk=intent.pk).exists()
    [entry] = _entries(AuditEntry.Action.ADMIN_CHANGE)
    assert entry.actor_username == "ada" and entry.actor_id == admin.pk
    assert entry.target.startswith(f"bots.intent {intent.pk} ") and "deleted" in entry.summary
    assert entry.ip_address == "203.0.113.7"


def test_api_changes_are_recorded_but_reads_refusals_and_parses_are_not(bot) -> None:
    admin = UserFactory(username="ops", role="admin", is_staff=True)
    api = APIClient(REMOTE_ADDR="198.51.100.4")
    api.force_authenticate(admin)

    created = api.post("/api/v1/bots/shop/intents/", {"name": "greet"}, format="json")
    assert created.status_code == 201, created.content
    assert api.get("/api/v1/bots/shop/intents/").status_code == 200
    assert api.post("/api/v1/bots/shop/intents/", {"name": ""}, format="json").status_code == 400

    [entry] = _entries(AuditEntry.Action.API_CHANGE)
    assert entry.actor_username == "ops" and entry.bot_slug == "shop"
    assert entry.summary == "POST /api/v1/bots/shop/intents/ -> 201" and entry.ip_address == "198.51.100.4"

    analyst = APIClient()
    analyst.force_authenticate(UserFactory(role="analyst", is_staff=True))
    assert analyst.post("/api/v1/bots/shop/intents/", {"name": "x"}, format="json").status_code == 403
    assert AuditEntry.objects.filter(action=AuditEntry.Action.API_CHANGE).count() == 1


def test_exports_are_recorded_with_their_filters_and_whether_they_were_masked(bot) -> None:
    MessageFactory(conversation=ConversationFactory(bot=bot), text="call me on 07700 900123")
    admin = UserFactory(username="ada", role="admin", is_staff=True)
    analyst = UserFactory(username="ann", role="analyst", is_staff=True)
    BotAssignment.objects.create(user=analyst, bot=bot)

    client = Client()
    client.force_login(admin)
    assert client.get("/analytics/export/messages.csv?bot=shop&mask=0").status_code == 200
    api = APIClient()
    api.force_authenticate(analyst)
    assert api.get("/api/v1/exports/conversations.jsonl?mask=false").status_code == 200

    first, second = _entries(AuditEntry.Action.EXPORT)
    assert (first.actor_username, first.bot_slug, first.details["masked"]) == ("ada", "shop", False)
    assert first.details["filters"] == {"bot": "shop", "mask": "0"} and "UNMASKED" in first.summary
    # An analyst without view_pii asked for no mask and got a masked export: recorded as masked.
    assert (second.actor_username, second.details["masked"], second.details["via"]) == ("ann", True, "api")


def test_only_unmasked_views_of_a_transcript_are_recorded(bot) -> None:
    conversation = ConversationFactory(bot=bot)
    MessageFactory(conversation=conversation, text="my email is kim@example.com")
    analyst, admin = (
        UserFactory(role="analyst", is_staff=True),
        UserFactory(username="ada", role="admin", is_staff=True),
    )
    BotAssignment.objects.create(user=analyst, bot=bot)

    for user in (analyst, admin):
        client = Client()
        client.force_login(user)
        assert client.get(f"/analytics/conversations/{conversation.pk}/").status_code == 200
    api = APIClient()
    api.force_authenticate(admin)
    messages = f"/api/v1/conversations/{conversation.pk}/messages/"
    assert api.get(messages, {"mask": "false"}).status_code == 200
    assert api.get(messages, {"mask": "true"}).status_code == 200  # asked masked: nothing to record
    analyst_api = APIClient()
    analyst_api.force_authenticate(analyst)
    assert analyst_api.get(messages, {"mask": "false"}).status_code == 200  # no view_pii: masked anyway

    page, api_read = _entries(AuditEntry.Action.PII_VIEW)
    assert (page.actor_username, page.target, page.bot_slug) == ("ada", f"conversation {conversation.pk}", "shop")
    assert (api_read.actor_username, api_read.target, api_read.details["via"]) == ("ada", messages, "api")


def test_entries_cannot_be_changed_or_deleted_not_even_in_sql() -> None:
    admin = UserFactory(username="ada", role="admin", is_staff=True)
    entry = AuditEntry.objects.create(action=AuditEntry.Action.EXPORT, actor_username="ada", target="export x")

    for attempt in (
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(actor_username="nobody"),
        lambda: AuditEntry.objects.filter(pk=entry.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()

    client = Client()
    client.force_login(admin)
    assert client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"/admin/audit/auditentry/{entry.pk}/change/").status_code == 200  # shown read-only
    assert AuditEntry.objects.get(pk=entry.pk).actor_username == "ada"


def test_admins_search_the_log_and_analysts_cannot_open_it() -> None:
    AuditEntry.objects.create(action=AuditEntry.Action.EXPORT, actor_username="ada", target="export messages.csv")
    AuditEntry.objects.create(action=AuditEntry.Action.EXPORT, actor_username="bob", target="export other.csv")
    client = Client()
    client.force_login(UserFactory(role="admin", is_staff=True))

    found = client.get("/admin/audit/auditentry/", {"q": "messages.csv"})

    assert found.status_code == 200
    assert b"export messages.csv" in found.content and b"export other.csv" not in found.content
    analyst = Client()
    analyst.force_login(UserFactory(role="analyst", is_staff=True))
    assert analyst.get("/admin/audit/auditentry/").status_code == 403
