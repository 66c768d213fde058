"""The whole path of issue #14 at once: the widget -> the demo's order form -> an HTTP action against
the pretend shop's live orders API -> the answer; then the API goes down and the bot says so. A
webhook receiver that fails its first request gets every event of that conversation exactly once
(counting accepted deliveries), in order, signed."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from standardwebhooks.webhooks import Webhook

from bots.models import Conversation
from tests.support import ws
from tests.webhooks.conftest import Receiver, endpoint_with_secret
from webhooks.models import WebhookDelivery
from webhooks.services.delivery import deliveries_due_dispatch

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


async def _say(communicator, text: str) -> dict:
    await communicator.send_json_to({"type": "message", "client_id": ws.new_client_id(), "text": text})
    await ws.expect(communicator, "ack")
    _, final = await ws.collect_reply(communicator, timeout=60)
    return final


def _deliver_everything(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliveries_due_dispatch()  # what Celery beat runs every WEBHOOK_SWEEP_EVERY_S
        if not WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.SUCCEEDED).exists():
            return
        time.sleep(0.2)
    raise AssertionError(list(WebhookDelivery.objects.values_list("event__type", "status", "attempts")))


async def test_form_action_answer_failure_and_every_event_once_in_order(
    demo_bot, demo_orders_api, allowed_origin, stub_llm, celery_worker, receiver: Receiver, settings
) -> None:
    settings.WEBHOOK_RETRY_DELAYS_S = [0.5]
    _, secret = await sync_to_async(endpoint_with_secret)(url=receiver.url, bot=demo_bot)
    receiver.statuses = [500]  # the receiver's first answer is an error: that event is retried

    communicator = await ws.connect(demo_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    ask = await _say(communicator, "track my order")
    assert "order number" in ask["text"]
    found = await _say(communicator, "AC-20002")
    assert found["text"] == "Order AC-20002 was delivered on 28 November."
    demo_orders_api.shutdown()
    demo_orders_api.server_close()
    down = await _say(communicator, "where is my order AC-10001")
    assert down["text"].startswith("Sorry, I couldn't reach our system just now")
    await communicator.disconnect()

    await sync_to_async(_deliver_everything)()
    conversation = await Conversation.objects.aget(pk=welcome["conversation_id"])
    failed_first, *accepted = receiver.received
    payloads = [Webhook(secret).verify(r.body, r.headers) for r in accepted]  # each one signed
    ids = [r.headers["webhook-id"] for r in accepted]
    assert len(ids) == len(set(ids)), "an accepted event arrived twice"
    assert failed_first.headers["webhook-id"] == ids[0]  # the retry is the same event
    mine = [p for p in payloads if p["data"]["conversation"]["id"] == conversation.pk]
    assert len(mine) == len(payloads)
    summary = [
        (p["type"], p["data"].get("message", {}).get("role") or p["data"].get("action", {}).get("name")) for p in mine
    ]
    assert summary == [
        ("conversation.started", None),
        ("message.created", "visitor"),
        ("message.created", "bot"),
        ("message.created", "visitor"),
        ("message.created", "bot"),
        ("message.created", "visitor"),
        ("message.created", "bot"),
        ("action.failed", "order_lookup"),
    ]
    seqs = [p["data"]["message"]["seq"] for p in mine if p["type"] == "message.created"]
    assert seqs == sorted(seqs)
    failure = mine[-1]["data"]["action"]
    assert "connection" in failure["error"] or "timeout" in failure["error"]
    assert failure["message_id"] == max(p["data"]["message"]["id"] for p in mine if p["type"] == "message.created")
