"""The inbox page: agents get it, everyone else a clear refusal; its assets exist and CSP holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
STATIC = Path(__file__).resolve().parents[2] / "static"


def test_an_agent_gets_the_page_with_its_assets_and_a_csp(client) -> None:
    agent = UserFactory()
    agent.user_permissions.add(Permission.objects.get(codename="use_inbox"))
    client.force_login(agent)
    response = client.get("/inbox/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "inbox/inbox.js" in page and "inbox/inbox.css" in page and "<script>" not in page
    assert "script-src" in response.headers.get("Content-Security-Policy", "")
    assert (STATIC / "inbox" / "inbox.js").exists() and (STATIC / "inbox" / "inbox.css").exists()
    js = (STATIC / "inbox" / "inbox.js").read_text()
    assert "innerHTML" not in js  # everything from the socket is rendered as text


def test_without_the_agent_role_the_page_is_refused(client) -> None:
    client.force_login(UserFactory())
    assert client.get("/inbox/").status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client) -> None:
    response = client.get("/inbox/")
    assert response.status_code == 302 and "login" in response["Location"]
