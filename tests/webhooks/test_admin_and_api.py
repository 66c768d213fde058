"""The admin (secret shown once, masked after, rotation, resend, the disabled notice) and the REST
API, both for admins only (the role's `webhooks` permissions from the data migration)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from chatplatform.encryption import decrypt
from tests.analytics.factories import UserFactory
from tests.factories import BotFactory
from tests.webhooks.conftest import endpoint_with_secret
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services.events import emit_event

pytestmark = pytest.mark.django_db


def _logged_in(role: str, cls: Any = Client) -> Any:
    user = UserFactory(role=role, is_staff=True)
    client = cls()
    client.force_login(user)
    return client


def test_admin_creates_an_endpoint_and_sees_its_secret_once() -> None:
    bot = BotFactory()
    client = _logged_in("admin")
    answer = client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"bot": bot.pk, "url": "https://hooks.example.com/in", "event_types": ["message.created"], "enabled": "on"},
        follow=True,
    )
    assert answer.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    secret = decrypt(endpoint.secret_encrypted)
    assert secret.startswith("whsec_") and endpoint.event_types == ["message.created"]
    assert secret in answer.content.decode()  # once, right after saving
    page = client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert secret not in page and secret[-4:] in page  # masked ever after
    assert 'type="checkbox" name="event_types"' in page
    assert secret not in endpoint.secret_encrypted


def test_admin_rotates_a_secret_and_shows_a_disabled_endpoints_reason() -> None:
    endpoint, old = endpoint_with_secret(url="https://hooks.example.com/in")
    client = _logged_in("admin")
    answer = client.post(
        "/admin/webhooks/webhookendpoint/",
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    new = decrypt(endpoint.secret_encrypted)
    assert new != old and new in answer.content.decode()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_at=timezone.now(), disabled_reason="Disabled after 50 failed attempts in a row."
    )
    page = client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert "This endpoint is disabled: Disabled after 50 failed attempts in a row." in page
    listing = client.get("/admin/webhooks/webhookendpoint/").content.decode()
    assert "Disabled after 50 failed attempts" in listing


def test_admin_delivery_log_and_resend(attempts_sent, django_capture_on_commit_callbacks) -> None:
    bot = BotFactory()
    endpoint, _ = endpoint_with_secret(url="https://hooks.example.com/in", bot=bot)
    emit_event(event_type="conversation.started", bot_id=bot.pk, conversation_id=3, data={})
    row = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=row.pk).update(
        status=WebhookDelivery.Status.FAILED, last_status_code=502, last_error="HTTP 502"
    )
    client = _logged_in("admin")
    log = client.get(f"/admin/webhooks/webhookdelivery/?endpoint__id__exact={endpoint.pk}").content.decode()
    assert "conversation.started" in log and "502" in log and "HTTP 502" in log
    attempts_sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/webhooks/webhookdelivery/", {"action": "resend", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == WebhookDelivery.Status.DELIVERING and attempts_sent == [(row.pk, 1)]
    assert client.get(f"/admin/webhooks/webhookdelivery/{row.pk}/change/").status_code == 200


def test_analysts_and_agents_get_no_webhooks() -> None:
    endpoint_with_secret(url="https://hooks.example.com/in")
    for role in ("analyst", "agent"):
        client = _logged_in(role)
        assert client.get("/admin/webhooks/webhookendpoint/").status_code == 403
        assert client.get("/admin/webhooks/webhookdelivery/").status_code == 403


def test_api_create_list_rotate_delete_and_resend(attempts_sent, django_capture_on_commit_callbacks) -> None:
    bot = BotFactory(slug="shop")
    client = _logged_in("admin", APIClient)
    base = "/api/v1/bots/shop/webhooks"
    created = client.post(
        f"{base}/endpoints", {"url": "https://hooks.example.com/in", "event_types": ["csat.submitted"]}, format="json"
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_") and created.json()["event_types"] == ["csat.submitted"]
    listed = client.get(f"{base}/endpoints").json()["results"]
    assert [e["id"] for e in listed] == [created.json()["id"]]
    assert "secret" not in listed[0] and secret not in str(listed) and listed[0]["secret_hint"].endswith(secret[-4:])
    assert client.post(f"{base}/endpoints", {"url": "ftp://x"}, format="json").status_code == 400
    assert (
        client.post(
            f"{base}/endpoints", {"url": "https://a.example", "event_types": ["nope"]}, format="json"
        ).status_code
        == 400
    )

    endpoint_id = created.json()["id"]
    emit_event(
        event_type="csat.submitted", bot_id=bot.pk, conversation_id=1, data={"csat": {"score": 3, "comment": None}}
    )
    deliveries = client.get(f"{base}/deliveries?endpoint={endpoint_id}").json()["results"]
    assert [d["event_type"] for d in deliveries] == ["csat.submitted"] and deliveries[0]["event_id"].startswith("evt_")
    WebhookDelivery.objects.update(status=WebhookDelivery.Status.FAILED)
    attempts_sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        resent = client.post(f"{base}/deliveries/{deliveries[0]['id']}/resend")
    assert resent.status_code == 202 and resent.json()["status"] == "delivering" and len(attempts_sent) == 1

    rotated = client.post(f"{base}/endpoints/{endpoint_id}/rotate-secret").json()["secret"]
    assert rotated != secret and rotated.startswith("whsec_")
    Webhook(rotated)  # a valid Standard Webhooks secret
    assert client.delete(f"{base}/endpoints/{endpoint_id}").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_api_is_for_admins_of_visible_bots_only() -> None:
    BotFactory(slug="shop")
    analyst = _logged_in("analyst", APIClient)
    assert analyst.get("/api/v1/bots/shop/webhooks/endpoints").status_code == 403
    admin = _logged_in("admin", APIClient)
    assert admin.get("/api/v1/bots/nope/webhooks/endpoints").status_code == 404
    assert APIClient().get("/api/v1/bots/shop/webhooks/endpoints").status_code in (401, 403)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/hook", "http://169.254.169.254/latest", "http://10.0.0.5/x"])
def test_private_addresses_are_refused_when_saved(url: str, settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = []
    bot = BotFactory()
    api = _logged_in("admin", APIClient)
    answer = api.post(f"/api/v1/bots/{bot.slug}/webhooks/endpoints", {"url": url}, format="json")
    assert answer.status_code == 400 and "private or reserved address" in str(answer.json()["url"])
    page = _logged_in("admin").post("/admin/webhooks/webhookendpoint/add/", {"url": url, "bot": bot.pk})
    assert "private or reserved address" in page.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_api_manages_endpoints_for_every_bot(attempts_sent, django_capture_on_commit_callbacks) -> None:
    shop, other = BotFactory(slug="shop"), BotFactory(slug="other")
    client = _logged_in("admin", APIClient)
    base = "/api/v1/webhooks"
    created = client.post(f"{base}/endpoints", {"url": "https://crm.example.com/in"}, format="json")
    assert created.status_code == 201, created.content
    endpoint_id = created.json()["id"]
    assert WebhookEndpoint.objects.get(pk=endpoint_id).bot is None and created.json()["secret"].startswith("whsec_")
    bot_one, _ = endpoint_with_secret(url="https://hooks.example.com/shop", bot=shop)
    # Each list holds only its own: the global list no bot's endpoint, the bot's list no global one.
    assert [e["id"] for e in client.get(f"{base}/endpoints").json()["results"]] == [endpoint_id]
    assert [e["id"] for e in client.get("/api/v1/bots/shop/webhooks/endpoints").json()["results"]] == [bot_one.pk]
    assert client.get(f"/api/v1/bots/shop/webhooks/endpoints/{endpoint_id}").status_code == 404

    emit_event(event_type="conversation.started", bot_id=shop.pk, conversation_id=1, data={})
    emit_event(event_type="conversation.started", bot_id=other.pk, conversation_id=2, data={})
    deliveries = client.get(f"{base}/deliveries").json()["results"]
    assert sorted(d["conversation_id"] for d in deliveries) == [1, 2]  # both bots' events
    assert all(d["endpoint"] == endpoint_id for d in deliveries)

    patched = client.patch(f"{base}/endpoints/{endpoint_id}", {"event_types": ["handoff.requested"]}, format="json")
    assert patched.status_code == 200 and patched.json()["event_types"] == ["handoff.requested"]
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        enabled=False, consecutive_failures=50, disabled_at=timezone.now(), disabled_reason="50 failures"
    )
    enabled = client.post(f"{base}/endpoints/{endpoint_id}/enable").json()
    assert (enabled["enabled"], enabled["consecutive_failures"], enabled["disabled_reason"]) == (True, 0, "")
    assert client.post(f"{base}/endpoints/{endpoint_id}/rotate-secret").json()["secret"].startswith("whsec_")
    assert client.delete(f"{base}/endpoints/{endpoint_id}").status_code == 204


def test_endpoints_for_every_bot_need_a_user_who_sees_every_bot() -> None:
    bot = BotFactory(slug="shop")
    user = UserFactory(role="analyst", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="webhooks"))
    bot.analyst_assignments.create(user=user)
    client = APIClient()
    client.force_authenticate(user)
    assert client.get("/api/v1/bots/shop/webhooks/endpoints").status_code == 200  # their bot's: yes
    assert client.get("/api/v1/webhooks/endpoints").status_code == 403  # every bot's: no
    assert client.post("/api/v1/webhooks/endpoints", {"url": "https://x.example/in"}, format="json").status_code == 403
    assert not WebhookEndpoint.objects.exists()
