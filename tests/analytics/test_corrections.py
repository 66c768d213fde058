"""The correction loop: analyst suggests -> admin accepts -> training phrase, version bump, retrain."""

from __future__ import annotations

import pytest

from analytics.selectors import unrecognised_clusters
from analytics.services import intent_suggestion_create
from bots.models import Bot, Intent, Message, TrainingPhrase
from chatplatform.access.scoping import conversations_visible_to
from tests.analytics.conftest import api_client_for
from tests.analytics.factories import ConversationFactory, IntentFactory, turn

pytestmark = pytest.mark.django_db


class FakeTask:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def delay(self, *args: object) -> None:
        self.calls.append(args)


@pytest.fixture
def fake_retrain(monkeypatch):
    task = FakeTask()
    monkeypatch.setattr("nlu.services.scheduling.task_send", lambda name, *args: task.delay(*args))
    return task


def test_suggest_then_accept(analyst_a, admin_user, conv_a, fake_retrain, django_capture_on_commit_callbacks) -> None:
    message = conv_a.messages.get(text="blorp the frobnicator")
    version = conv_a.bot.nlu_data_version
    created = api_client_for(analyst_a).post(
        "/api/v1/suggestions/",
        {"message": message.pk, "new_intent_name": "frobnicate", "text": "blorp the frobnicator"},
        format="json",
    )
    assert created.status_code == 201, created.data
    assert created.data["status"] == "pending" and created.data["intent_name"] == "frobnicate"
    with django_capture_on_commit_callbacks(execute=True):
        accepted = api_client_for(admin_user).post(f"/api/v1/suggestions/{created.data['id']}/accept/")
    assert accepted.status_code == 200 and accepted.data["status"] == "accepted"
    intent = Intent.objects.get(bot=conv_a.bot, name="frobnicate")
    assert TrainingPhrase.objects.filter(intent=intent, text="blorp the frobnicator").exists()
    assert Bot.objects.get(pk=conv_a.bot_id).nlu_data_version == version + 1
    assert fake_retrain.calls == [(conv_a.bot_id,)]
    again = api_client_for(admin_user).post(f"/api/v1/suggestions/{created.data['id']}/accept/")
    assert again.status_code == 409


def test_existing_intent_via_page(analyst_a, admin_user, conv_a, client) -> None:
    intent = IntentFactory(bot=conv_a.bot, name="gibberish")
    message = conv_a.messages.get(text="blorp the frobnicator")
    client.force_login(analyst_a)
    response = client.post(
        f"/analytics/conversations/{conv_a.pk}/messages/{message.pk}/suggest/",
        {f"m{message.pk}-intent": intent.pk, f"m{message.pk}-text": "blorp"},
    )
    assert response.status_code == 302
    client.force_login(admin_user)
    page = client.get("/analytics/suggestions/").content.decode()
    assert "blorp" in page and "gibberish" in page
    suggestion = message.intent_suggestions.get()
    client.post(f"/analytics/suggestions/{suggestion.pk}/decide/", {"decision": "accept"})
    assert TrainingPhrase.objects.filter(intent=intent, text="blorp").exists()


def test_rules(analyst_a, conv_a, conv_b) -> None:
    from django.core.exceptions import ValidationError

    bot_message = conv_a.messages.filter(role=Message.Role.BOT).first()
    with pytest.raises(ValidationError):
        intent_suggestion_create(message=bot_message, user=analyst_a, new_intent_name="x")
    user_message = conv_a.messages.filter(role=Message.Role.USER).first()
    foreign = IntentFactory(bot=conv_b.bot)
    with pytest.raises(ValidationError):
        intent_suggestion_create(message=user_message, user=analyst_a, intent=foreign)
    # A second suggestion replaces the pending one.
    intent_suggestion_create(message=user_message, user=analyst_a, new_intent_name="a")
    intent_suggestion_create(message=user_message, user=analyst_a, new_intent_name="b")
    assert list(user_message.intent_suggestions.values_list("new_intent_name", flat=True)) == ["b"]


def test_unrecognised_clusters_biggest_first(analyst_a, bot_a, client) -> None:
    conv = ConversationFactory(bot=bot_a)
    for text in ("Where is my refund?", "where is my refund", "where is my refund please", "WHERE IS MY REFUND!!"):
        turn(conv, text, "Sorry?", action="fallback")
    turn(conv, "blorp", "Sorry?", action="fallback")
    turn(conv, "what's the weather", "Sunny, I think.", action="generate")  # out of scope, no intent
    turn(conv, "track order", "Tracking.", intent="order_status")  # recognised: not in the queue
    clusters = unrecognised_clusters(conversations=conversations_visible_to(analyst_a))
    assert [c.count for c in clusters] == [4, 1, 1]
    assert clusters[0].representative == "where is my refund"
    assert {c.representative for c in clusters[1:]} == {"blorp", "what s the weather"}
    client.force_login(analyst_a)
    html = client.get("/analytics/unrecognised/").content.decode()
    assert html.index("refund") < html.index("blorp")
