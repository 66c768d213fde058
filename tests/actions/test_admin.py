"""Configuring an action in the admin: checked on save, secrets encrypted and shown once."""

from __future__ import annotations

import re

import pytest

from actions.models import HttpAction
from actions.selectors import action_headers, action_signing_secret
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db

URL = "/admin/actions/httpaction/add/"


def _form(bot, **changes) -> dict:
    data = {
        "bot": bot.pk,
        "name": "order_lookup",
        "method": "GET",
        "url": "https://api.shop.example/orders/{order_number}",
        "headers": '{"Authorization": "Bearer s3cr3t-token"}',
        "body_template": "",
        "parameters_schema": "{}",
        "required_identity": "anonymous",
        "timeout_seconds": "5",
        "retries": "1",
        "response_mapping": '{"order_status": "$.status"}',
        "reply_template": "Order {order_number} is {order_status}.",
        "rate_limit_per_minute": "60",
        "max_calls_per_conversation": "10",
        "is_active": "on",
    }
    data.update(changes)
    return data


def test_an_action_is_saved_with_encrypted_headers_and_a_secret_shown_once(admin_client) -> None:
    bot = BotFactory(action_allowed_hosts=["*.shop.example"])
    response = admin_client.post(URL, _form(bot), follow=True)
    assert response.status_code == 200
    action = HttpAction.objects.get(bot=bot, name="order_lookup")
    assert "s3cr3t-token" not in action.headers_encrypted and action.headers_encrypted
    assert action_headers(action) == {"Authorization": "Bearer s3cr3t-token"}
    page = response.content.decode()
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", page)
    assert secret is not None and action_signing_secret(action) == secret.group(0)
    change = admin_client.get(f"/admin/actions/httpaction/{action.pk}/change/").content.decode()
    assert "s3cr3t-token" not in change and secret.group(0) not in change
    assert "Authorization: ••••••••" in change
    # Saving again with the headers left empty keeps them.
    admin_client.post(f"/admin/actions/httpaction/{action.pk}/change/", _form(bot, headers=""))
    action.refresh_from_db()
    assert action_headers(action) == {"Authorization": "Bearer s3cr3t-token"}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"url": "https://evil.example/x"}, "not among the bot"),
        ({"url": "https://{host}/x"}, "fixed host"),
        ({"body_template": '{"a": {order_number}}'}, "not JSON"),
        ({"response_mapping": '{"s": "$[[["}'}, "s:"),
        ({"headers": '["x"]'}, "JSON object"),
        ({"parameters_schema": '{"type": 5}'}, "is not valid"),
    ],
)
def test_unusable_configuration_is_refused_with_a_reason(admin_client, changes, error) -> None:
    bot = BotFactory(action_allowed_hosts=["*.shop.example"])
    response = admin_client.post(URL, _form(bot, **changes))
    assert response.status_code == 200 and error in response.content.decode()
    assert not HttpAction.objects.filter(bot=bot).exists()
