"""The demo's identity-gated actions through the whole stack, as a visitor of `make run` meets them:
the shop's sign-in signs the visitor's id (its backend, with the bot's secret), "my orders" needs
that identity, "my address" needs a one-time code as well, which the shop's endpoint delivers to
the customer's pretend phone."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from asgiref.sync import sync_to_async

from bots.models import Conversation, Message
from chatplatform.launcher.demo_site import DemoSiteServer
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


async def say(communicator, text: str) -> dict:
    await communicator.send_json_to({"type": "message", "client_id": ws.new_client_id(), "text": text})
    await ws.expect(communicator, "ack")
    _, final = await ws.collect_reply(communicator, timeout=60)
    return final


def sign_in(shop: DemoSiteServer, user_id: str) -> dict:
    """What the demo page does: the shop's backend returns the widget identity for its customer."""
    port = shop.server_address[1]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/demo/sign-in",
        data=json.dumps({"user_id": user_id}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def phone_codes(shop: DemoSiteServer, user_id: str) -> list[str]:
    return [re.search(r"\d{6}", m["text"]).group(0) for m in shop.phones.get(user_id, [])]


async def test_an_anonymous_visitor_is_asked_to_sign_in_and_sees_nobodys_orders(
    demo_bot, demo_shop_api, allowed_origin, stub_llm, celery_worker
) -> None:
    communicator = await ws.connect(demo_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    orders = await say(communicator, "show me my orders")
    address = await say(communicator, "what address do you have for me")
    await communicator.disconnect()

    assert orders["text"].startswith("For your security I can only look that up once you're signed in")
    assert address["text"] == orders["text"]
    assert "AC-" not in orders["text"] and demo_shop_api.phones == {}  # nothing looked up, no code sent
    calls = await sync_to_async(lambda: [m.action_calls[0] for m in Message.objects.exclude(action_calls=[])])()
    assert [(c["action"], c["status"], c["http_status"]) for c in calls] == [
        ("my_orders", "identity_required", None),
        ("account_details", "identity_required", None),
    ]


async def test_a_signed_in_customer_gets_their_orders_and_their_address_after_a_code(
    demo_bot, demo_shop_api, allowed_origin, stub_llm, celery_worker
) -> None:
    alice = await sync_to_async(sign_in)(demo_shop_api, "cust-alice")
    communicator = await ws.connect(demo_bot.public_key, allowed_origin)
    await ws.hello(communicator, user_id=alice["userId"], user_hash=alice["userHash"])

    orders = await say(communicator, "show me my orders")
    assert orders["text"] == "Here are your orders, Alice Walker: AC-12345 (shipped), AC-20002 (delivered)."

    asked = await say(communicator, "what address do you have for me")
    assert asked["text"].startswith("To keep your account safe I've sent you a one-time code")
    (code,) = phone_codes(demo_shop_api, "cust-alice")
    assert "12 Birch Lane" not in asked["text"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert (await say(communicator, wrong))["text"].startswith("That code doesn't match")
    answered = await say(communicator, f"code: {code[:3]} {code[3:]}")
    assert answered["text"].startswith("We deliver to 12 Birch Lane, Springfield and write to alice@example.com.")
    # Confirmed for a while: asking again needs no new code.
    again = await say(communicator, "check my shipping address")
    assert again["text"] == answered["text"] and len(phone_codes(demo_shop_api, "cust-alice")) == 1
    await communicator.disconnect()

    bot_messages = await sync_to_async(
        lambda: list(Message.objects.filter(role="bot").exclude(action_calls=[]).order_by("id"))
    )()
    statuses = [(m.action_calls[0]["action"], m.action_calls[0]["status"]) for m in bot_messages]
    assert statuses == [
        ("my_orders", "ok"),
        ("send_step_up_code", "code_sent"),
        ("account_details", "code_wrong"),
        ("account_details", "ok"),
        ("account_details", "ok"),
    ]
    # The code is never in the transcript's record of the call, nor in the stored tracker.
    sent = bot_messages[1].action_calls[0]
    assert sent["arguments"]["step_up_code"] == "••••••" and code not in json.dumps(sent)
    tracker = await sync_to_async(lambda: Conversation.objects.get().tracker)()
    assert code not in json.dumps(tracker) and tracker["step_up"]["confirmed"]["user_id"] == "cust-alice"


async def test_a_forged_identity_is_refused_before_any_lookup(
    demo_bot, demo_shop_api, allowed_origin, stub_llm, celery_worker
) -> None:
    alice = await sync_to_async(sign_in)(demo_shop_api, "cust-alice")
    communicator = await ws.connect(demo_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1, "user_id": "cust-bob", "user_hash": alice["userHash"]})
    error = await ws.expect(communicator, "error")
    await communicator.disconnect()
    assert error["code"] == "forbidden"
    assert demo_shop_api.phones == {}
