"""Retention and erasure: what goes (every row that names or quotes the person), what stays (other
visitors, other bots, accepted training phrases), the receipts, the dry run, the API and the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import IntentSuggestion, Note
from bots.models import Conversation, Message, OfflineTicket
from privacy.models import ErasureReceipt, RetentionRun
from privacy.services.erasure import subject_digest
from privacy.services.retention import retention_apply
from privacy.tasks import retention_sweep
from tests.analytics.factories import UserFactory
from tests.factories import BotFactory, ConversationFactory, MessageFactory
from webhooks.models import WebhookEvent
from webhooks.services.endpoints import endpoint_create
from webhooks.services.events import emit_event

pytestmark = pytest.mark.django_db


def _conversation(bot, *, visitor_id: str, user_id: str = "", days_idle: int = 0) -> Conversation:
    conversation = ConversationFactory(bot=bot, visitor_id=visitor_id, user_id=user_id)
    message = MessageFactory(conversation=conversation, text=f"my email is {visitor_id}@example.com")
    Note.objects.create(conversation=conversation, message=message, text="called back")
    IntentSuggestion.objects.create(bot=bot, message=message, text=message.text, new_intent_name="contact")
    OfflineTicket.objects.create(
        bot=bot,
        conversation=conversation,
        visitor_id=visitor_id,
        client_id=f"c{conversation.pk}",
        email="a@example.com",
        message="hi",
    )
    emit_event(event_type="message.created", bot_id=bot.pk, conversation_id=conversation.pk, data={"t": message.text})
    if days_idle:
        Conversation.objects.filter(pk=conversation.pk).update(
            last_activity_at=timezone.now() - timedelta(days=days_idle)
        )
    return conversation


@pytest.fixture
def bot():
    bot = BotFactory(slug="shop")
    endpoint_create(url="https://hooks.example.com/in", bot_id=bot.pk, event_types=[])
    return bot


def test_an_erasure_deletes_everything_that_names_the_visitor_and_keeps_a_digest(
    bot, django_capture_on_commit_callbacks
) -> None:
    gone = _conversation(bot, visitor_id="v-ann")
    _conversation(bot, visitor_id="v-ann")  # a second conversation of the same visitor
    kept = _conversation(bot, visitor_id="v-bob")
    other_bot = _conversation(BotFactory(), visitor_id="v-ann")  # the same id on another bot: not this request
    OfflineTicket.objects.create(bot=bot, visitor_id="v-ann", client_id="c9", email="a@example.com", message="later")
    admin = UserFactory(role="admin", is_staff=True)
    api = APIClient()
    api.force_authenticate(admin)

    answer = api.post("/api/v1/bots/shop/erasures", {"visitor_id": "v-ann"}, format="json")
    assert answer.status_code == 201, answer.content
    receipt = answer.json()
    assert receipt["deleted"] == {
        "conversations": 2,
        "messages": 2,
        "offline_tickets": 3,  # two of its conversations, one left without a conversation
        "webhook_events": 2,
        "pending_corrections": 2,
    }
    assert receipt["subject_digest"] == subject_digest("v-ann") and "v-ann" not in str(receipt)
    assert not Conversation.objects.filter(pk=gone.pk).exists()
    assert not Message.objects.filter(text__contains="v-ann", conversation__bot=bot).exists()
    assert not OfflineTicket.objects.filter(bot=bot, visitor_id="v-ann").exists()
    assert not WebhookEvent.objects.filter(body__contains="v-ann", bot_id=bot.pk).exists()
    assert not IntentSuggestion.objects.filter(bot=bot, text__contains="v-ann").exists()
    assert Conversation.objects.filter(pk__in=[kept.pk, other_bot.pk]).count() == 2
    stored = ErasureReceipt.objects.get()
    assert (stored.via, stored.requested_by, stored.subject_kind) == ("api", admin, "visitor_id")
    assert [r["id"] for r in api.get("/api/v1/bots/shop/erasures").json()["results"]] == [stored.pk]


def test_an_erasure_by_verified_customer_id_and_its_checks(bot) -> None:
    _conversation(bot, visitor_id="v-1", user_id="cust-42")
    _conversation(bot, visitor_id="v-2", user_id="cust-42")
    _conversation(bot, visitor_id="v-3", user_id="cust-7")
    api = APIClient()
    api.force_authenticate(UserFactory(role="admin", is_staff=True))
    answer = api.post("/api/v1/bots/shop/erasures", {"user_id": "cust-42"}, format="json")
    assert answer.status_code == 201 and answer.json()["deleted"]["conversations"] == 2
    assert list(Conversation.objects.values_list("user_id", flat=True)) == ["cust-7"]
    for body in ({}, {"user_id": "a", "visitor_id": "b"}):
        assert api.post("/api/v1/bots/shop/erasures", body, format="json").status_code == 400
    analyst = APIClient()
    analyst.force_authenticate(UserFactory(role="analyst", is_staff=True))
    assert analyst.post("/api/v1/bots/shop/erasures", {"user_id": "cust-7"}, format="json").status_code == 403
    assert Conversation.objects.count() == 1


def test_the_admin_erases_from_a_form_and_the_receipt_cannot_be_edited(bot) -> None:
    _conversation(bot, visitor_id="v-ann")
    client = Client()
    client.force_login(UserFactory(role="admin", is_staff=True))
    page = client.post(
        "/admin/privacy/erasurereceipt/add/",
        {"bot": bot.pk, "subject_kind": "visitor_id", "subject_id": "v-ann"},
        follow=True,
    )
    assert page.status_code == 200 and "Erased" in page.content.decode()
    receipt = ErasureReceipt.objects.get()
    assert receipt.via == "admin" and receipt.deleted["conversations"] == 1 and not Conversation.objects.exists()
    change = client.post(f"/admin/privacy/erasurereceipt/{receipt.pk}/change/", {"subject_digest": "x"})
    assert change.status_code == 403  # proof is never edited
    assert ErasureReceipt.objects.get().subject_digest == subject_digest("v-ann")


def test_retention_counts_first_then_deletes_only_what_is_past_the_period(bot) -> None:
    bot.retention_days = 30
    bot.save()
    old = _conversation(bot, visitor_id="v-old", days_idle=31)
    recent = _conversation(bot, visitor_id="v-new", days_idle=29)
    forever = _conversation(BotFactory(), visitor_id="v-kept", days_idle=400)  # no retention period: kept

    out = []
    call_command("retention", "--dry-run", stdout=type("W", (), {"write": lambda self, s: out.append(s)})())
    assert "shop: keeps 30 days; would delete 1 conversations" in "".join(out)
    assert Conversation.objects.filter(pk=old.pk).exists() and RetentionRun.objects.get().dry_run

    assert retention_sweep() == 1
    assert set(Conversation.objects.values_list("pk", flat=True)) == {recent.pk, forever.pk}
    assert not WebhookEvent.objects.filter(conversation_id=old.pk).exists()
    run = RetentionRun.objects.filter(dry_run=False).get()
    assert run.deleted["conversations"] == 1 and run.keep_days == 30
    assert [r.deleted["conversations"] for r in retention_apply()] == [0]  # nothing left to do


def test_the_retention_job_is_scheduled_daily(settings) -> None:
    job = settings.CELERY_BEAT_SCHEDULE["retention-sweep"]
    assert job["task"] == "privacy.retention_sweep" and job["schedule"] == 24 * 3600.0
