"""The transcript shows each HTTP action a bot turn called: status, HTTP code, latency, error (#14)."""

from __future__ import annotations

import pytest

from tests.analytics.factories import ConversationFactory, turn

pytestmark = pytest.mark.django_db


def test_action_calls_are_shown_without_their_arguments(client, admin_user) -> None:
    conv = ConversationFactory()
    ok = {
        "action": "order_lookup",
        "status": "ok",
        "http_status": 200,
        "latency_ms": 41,
        "attempts": 1,
        "arguments": {"order_number": "AC-12345"},
        "error": "",
    }
    failed = {
        "action": "order_lookup",
        "status": "failed",
        "http_status": None,
        "latency_ms": 5003,
        "attempts": 2,
        "arguments": {"order_number": "AC-10001"},
        "error": "timeout: no answer within <5> s",
    }
    turn(conv, "AC-12345", "Order AC-12345 was shipped.", intent="track_order", action="action", action_calls=[ok])
    turn(
        conv,
        "AC-10001",
        "Sorry, I couldn't reach our system.",
        intent="track_order",
        action="action_failed",
        action_calls=[failed],
    )
    turn(conv, "thanks", "You're welcome!", intent="thanks")
    client.force_login(admin_user)
    html = client.get(f"/analytics/conversations/{conv.pk}/").content.decode()
    assert html.count('class="action-calls"') == 2
    assert "<code>order_lookup</code> · ok · HTTP 200 · 41 ms" in html
    assert "· failed · 5003 ms · 2 attempts" in html
    assert "no answer within &lt;5&gt; s" in html  # escaped: an error can quote the endpoint
