"""The admin's test console: same protocol and turn service, staff only, with per-turn details."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from bots.models import Conversation
from chatplatform.asgi import application
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]


def _session_cookie(*, staff: bool) -> bytes:
    user = get_user_model().objects.create_user(
        f"u{staff}", password="pw-123456789", is_staff=staff, is_superuser=staff
    )
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _console(bot_id: int, cookie: bytes, origin: bytes = b"http://testserver") -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application,
        f"/ws/console/{bot_id}/",
        headers=[(b"origin", origin), (b"host", b"testserver"), (b"cookie", cookie)],
    )


async def test_console_turn_shows_intent_confidence_entities_and_action(llm_bot, stub_llm, celery_worker) -> None:
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(_session_cookie)(staff=True)
    communicator = await _console(llm_bot.pk, cookie)
    connected, _ = await communicator.connect()
    assert connected
    welcome = await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "c1", "text": "mail me at ann@example.com"})
    _, final = await ws.collect_reply(communicator)
    details = final["details"]
    assert details["action"] == "generate" and details["intent"] is None
    assert details["total_time_ms"] >= details["time_to_first_token_ms"] >= 0
    conversation = await Conversation.objects.aget(pk=welcome["conversation_id"])
    assert conversation.channel == "console"
    await communicator.disconnect()


async def test_console_refuses_non_staff_and_other_origins(llm_bot) -> None:
    from asgiref.sync import sync_to_async

    visitor_cookie = await sync_to_async(_session_cookie)(staff=False)
    connected, _ = await (await _console(llm_bot.pk, visitor_cookie)).connect()
    assert not connected
    staff_cookie = await sync_to_async(_session_cookie)(staff=True)
    connected, _ = await (await _console(llm_bot.pk, staff_cookie, origin=b"https://evil.example")).connect()
    assert not connected


def test_console_page_renders_for_staff(admin_client, llm_bot) -> None:
    response = admin_client.get(f"/admin/bots/bot/{llm_bot.pk}/console/")
    assert response.status_code == 200
    assert "/ws/console/" in response.content.decode()
    change = admin_client.get(f"/admin/bots/bot/{llm_bot.pk}/change/")
    assert f"/admin/bots/bot/{llm_bot.pk}/console/" in change.content.decode()


def test_api_key_created_in_admin_is_shown_once_and_stored_hashed(admin_client, llm_bot) -> None:
    from bots.models import ApiKey
    from bots.services.api_keys import api_key_authenticate

    response = admin_client.post(
        "/admin/bots/apikey/add/", {"name": "crm", "is_active": "on", "bots": [llm_bot.pk]}, follow=True
    )
    page = response.content.decode()
    raw = page.split("<code>")[1].split("</code>")[0]
    api_key = ApiKey.objects.get(name="crm")
    assert raw.startswith("cp_") and raw not in (api_key.key_hash, api_key.prefix)
    assert api_key_authenticate(raw_key=raw) == api_key
    assert raw not in admin_client.get(f"/admin/bots/apikey/{api_key.pk}/change/").content.decode()


def test_editing_training_phrases_in_the_admin_bumps_the_version_and_retrains(
    admin_client, demo_bot, monkeypatch
) -> None:
    from bots.models import Bot, Intent

    enqueued: list[int] = []
    monkeypatch.setattr("nlu.services.scheduling.task_send", lambda name, bot_id: enqueued.append(bot_id))
    intent = Intent.objects.get(bot=demo_bot, name="opening_hours")
    phrases = list(intent.training_phrases.all())
    data = {
        "bot": demo_bot.pk,
        "name": intent.name,
        "description": "",
        "response_mode": "template",
        "training_phrases-TOTAL_FORMS": len(phrases) + 1,
        "training_phrases-INITIAL_FORMS": len(phrases),
        "responses-TOTAL_FORMS": 0,
        "responses-INITIAL_FORMS": 0,
        "form_slots-TOTAL_FORMS": 0,
        "form_slots-INITIAL_FORMS": 0,
    }
    for i, phrase in enumerate(phrases):
        data |= {
            f"training_phrases-{i}-id": phrase.pk,
            f"training_phrases-{i}-intent": intent.pk,
            f"training_phrases-{i}-text": phrase.text,
        }
    data |= {
        f"training_phrases-{len(phrases)}-intent": intent.pk,
        f"training_phrases-{len(phrases)}-text": "till when are you open today",
    }
    version = demo_bot.nlu_data_version
    response = admin_client.post(f"/admin/bots/intent/{intent.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert intent.training_phrases.filter(text="till when are you open today").exists()
    assert Bot.objects.get(pk=demo_bot.pk).nlu_data_version == version + 1
    assert enqueued == [demo_bot.pk]
