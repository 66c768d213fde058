"""The API trigger of issue #12: the customer's backend queues a visitor's conversation for a person
with a bot API key (POST /api/v1/bots/<slug>/conversations/<id>/handoff)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from bots.models import Conversation, ConversationEvent
from bots.services.api_keys import api_key_create
from conversations.services.conversations import conversation_start
from tests.factories import BotFactory, agent_on_duty

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sent_tasks")]


def _url(bot, conversation_id: int) -> str:
    return f"/api/v1/bots/{bot.slug}/conversations/{conversation_id}/handoff"


def _keyed(*bots) -> APIClient:
    _key, raw = api_key_create(name="backend", bots=bots)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_key_of_the_bot_queues_the_conversation_and_gets_the_state(
    sent_tasks, django_capture_on_commit_callbacks
) -> None:
    bot = BotFactory()
    agent_on_duty(bot)
    conversation = conversation_start(bot=bot)
    with django_capture_on_commit_callbacks(execute=True):
        response = _keyed(bot).post(_url(bot, conversation.pk), {"reason": "VIP", "priority": 2}, format="json")
    assert response.status_code == 202
    assert response.json() == {
        "conversation_id": conversation.pk,
        "status": "queued",
        "position": 1,
        "expected_wait_s": None,
        "agent": None,
    }
    conversation.refresh_from_db()
    assert (conversation.status, conversation.priority) == ("queued", 2)
    event = ConversationEvent.objects.get(conversation=conversation)
    assert (event.kind, event.reason, event.actor_id) == ("handoff_requested", "VIP", None)
    assert ("inbox.conversation_route", (conversation.pk,)) in sent_tasks
    again = _keyed(bot).post(_url(bot, conversation.pk), {}, format="json")  # already queued: unchanged
    assert again.status_code == 202 and again.json()["status"] == "queued"
    assert ConversationEvent.objects.filter(conversation=conversation).count() == 1


def test_other_bots_keys_conversations_and_bad_bodies_are_refused() -> None:
    bot, other = BotFactory(), BotFactory()
    agent_on_duty(bot)
    agent_on_duty(other)
    mine, theirs = conversation_start(bot=bot), conversation_start(bot=other)
    refused = _keyed(other).post(_url(bot, mine.pk), {}, format="json")
    assert refused.status_code == 403  # a key of another bot: whether or not the bot exists
    assert _keyed(other).post(f"/api/v1/bots/no-such-bot/conversations/{mine.pk}/handoff").status_code == 403
    assert _keyed(bot).post(_url(bot, theirs.pk), {}, format="json").status_code == 404  # another bot's conversation
    assert _keyed(bot).post(_url(bot, 10**12), {}, format="json").status_code == 404
    assert _keyed(bot).post(_url(bot, mine.pk), {"priority": 10**6}, format="json").status_code == 400
    assert _keyed(bot).post(_url(bot, mine.pk), {"reason": "x" * 201}, format="json").status_code == 400
    assert APIClient().post(_url(bot, mine.pk)).status_code in (401, 403)
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer cp_nope_nope")
    assert wrong.post(_url(bot, mine.pk)).status_code in (401, 403)
    assert Conversation.objects.get(pk=mine.pk).status == "bot"
    assert Conversation.objects.get(pk=theirs.pk).status == "bot"


def test_nobody_on_duty_is_a_409_and_nothing_changes() -> None:
    bot = BotFactory()
    conversation = conversation_start(bot=bot)
    response = _keyed(bot).post(_url(bot, conversation.pk), {"reason": "please"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "no_agents"
    assert Conversation.objects.get(pk=conversation.pk).status == "bot"
    assert not ConversationEvent.objects.exists()
