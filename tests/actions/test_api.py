"""The actions REST API: admins only, the same checks as the admin, headers write-only, the
signing secret shown once."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from actions.models import HttpAction
from actions.selectors import action_headers, action_signing_secret
from tests.analytics.factories import UserFactory
from tests.factories import BotFactory, IntentFactory

pytestmark = pytest.mark.django_db

BODY = {
    "name": "order_lookup",
    "method": "GET",
    "url": "https://api.shop.example/orders/{order_number}",
    "headers": {"Authorization": "Bearer s3cr3t"},
    "response_mapping": {"order_status": "$.status"},
    "reply_template": "Order {order_number} is {order_status}.",
}


def _client(role: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(role=role, is_staff=True))
    return client


def test_admin_creates_lists_updates_and_rotates() -> None:
    bot = BotFactory(action_allowed_hosts=["api.shop.example"])
    client = _client("admin")
    url = f"/api/v1/bots/{bot.slug}/actions"
    created = client.post(url, BODY, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    action = HttpAction.objects.get(pk=data["id"])
    assert data["signing_secret"].startswith("whsec_") and action_signing_secret(action) == data["signing_secret"]
    assert "headers" not in data and data["header_names"] == ["Authorization"]
    assert action_headers(action) == {"Authorization": "Bearer s3cr3t"}

    IntentFactory(bot=bot, name="track_order", action=action)
    (listed,) = client.get(url).json()["results"]
    assert listed["intents"] == ["track_order"] and "signing_secret" not in listed and "s3cr3t" not in str(listed)

    patched = client.patch(f"{url}/{action.pk}", {"timeout_seconds": 2.5}, format="json")
    assert patched.status_code == 200 and patched.json()["timeout_seconds"] == 2.5
    action.refresh_from_db()
    assert action_headers(action) == {"Authorization": "Bearer s3cr3t"}  # omitted: kept

    rotated = client.post(f"{url}/{action.pk}/rotate-secret").json()
    assert rotated["signing_secret"] != data["signing_secret"]
    action.refresh_from_db()
    assert action_signing_secret(action) == rotated["signing_secret"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "https://evil.example/x"}, "url"),
        ({"url": "https://{host}/x"}, "url"),
        ({"body_template": '{"a": {n}}'}, "body_template"),
        ({"response_mapping": {"s": "$[[["}}, "response_mapping"),
        ({"headers": ["x"]}, "headers"),
        ({"parameters_schema": {"type": 5}}, "parameters_schema"),
        ({"url": "http://127.0.0.1:9000/orders/{n}"}, "url"),  # on the bot's list, but loopback
    ],
)
def test_the_api_refuses_what_the_admin_refuses(changes: dict, field: str, settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = []
    bot = BotFactory(action_allowed_hosts=["api.shop.example", "127.0.0.1"])
    answer = _client("admin").post(f"/api/v1/bots/{bot.slug}/actions", {**BODY, **changes}, format="json")
    assert answer.status_code == 400 and field in answer.json()
    assert not HttpAction.objects.exists()


def test_analysts_and_agents_get_no_actions() -> None:
    bot = BotFactory(action_allowed_hosts=["api.shop.example"])
    for role in ("analyst", "agent"):
        client = _client(role)
        assert client.get(f"/api/v1/bots/{bot.slug}/actions").status_code == 403
        assert client.post(f"/api/v1/bots/{bot.slug}/actions", BODY, format="json").status_code == 403


SENDER = {
    "name": "send_code",
    "method": "POST",
    "url": "https://api.shop.example/codes",
    "body_template": '{"user": "{identity_user_id}", "code": "{step_up_code}"}',
    "required_identity": "verified",
    "sends_step_up_code": True,
    "reply_template": "-",
}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"body_template": '{"user": "{identity_user_id}"}'}, "Put {step_up_code}"),
        ({"required_identity": "anonymous"}, "verified"),
        ({"offered_to_llm": True}, "not offered"),
        ({"sends_step_up_code": False}, "Only the action that sends"),
    ],
)
def test_the_step_up_code_sender_is_checked(changes: dict, reason: str) -> None:
    bot = BotFactory(action_allowed_hosts=["api.shop.example"])
    answer = _client("admin").post(f"/api/v1/bots/{bot.slug}/actions", {**SENDER, **changes}, format="json")
    assert answer.status_code == 400 and reason in str(answer.json()["sends_step_up_code"])


def test_a_bot_has_one_step_up_code_sender() -> None:
    bot = BotFactory(action_allowed_hosts=["api.shop.example"])
    client = _client("admin")
    url = f"/api/v1/bots/{bot.slug}/actions"
    first = client.post(url, SENDER, format="json")
    assert first.status_code == 201 and first.json()["sends_step_up_code"] is True
    second = client.post(url, {**SENDER, "name": "send_code_2"}, format="json")
    assert second.status_code == 400 and "Another action" in str(second.json())
    assert client.patch(f"{url}/{first.json()['id']}", {"timeout_seconds": 3}, format="json").status_code == 200
