"""HTML and script in visitor text, model output and agent replies stay text in the analyst's
transcript and the agent's inbox, in Chromium (reliability matrix row 12; the widget has its own
test in test_widget_live.py). Any alert() the page ran would be recorded as a dialog."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from bots.models import Conversation, Message
from tests.factories import ConversationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VISITOR = '<img src=x onerror="alert(1)"> my order <b>1042</b>'
BOT = '<script>alert(2)</script> Your order is <a href="javascript:alert(3)">here</a>'
AGENT = "<svg onload=alert(4)></svg> I'll check, <iframe src=javascript:alert(5)>"


def _signed_in(context: Any, live_server_url: str) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "!")
    client = Client()
    client.force_login(admin)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server_url}])


def test_markup_in_every_kind_of_message_is_shown_as_text(
    page, context, expect, live_server_url, site_bot, page_events
) -> None:
    conversation = ConversationFactory(bot=site_bot, status=Conversation.Status.QUEUED)
    for seq, (role, text) in enumerate(
        [(Message.Role.USER, VISITOR), (Message.Role.BOT, BOT), (Message.Role.AGENT, AGENT)], start=1
    ):
        Message.objects.create(conversation=conversation, seq=seq, role=role, text=text)
    _signed_in(context, live_server_url)

    page.goto(f"{live_server_url}/analytics/conversations/{conversation.pk}/")
    body = page.locator("body")
    for text in (VISITOR, BOT, AGENT):
        expect(body).to_contain_text(text)  # the markup itself, as characters
    assert page.locator("main img[src=x], main script:not([src]), main svg[onload], main iframe").count() == 0

    page.goto(f"{live_server_url}/inbox/")
    item = page.locator(f"#conv-{conversation.pk}")
    expect(item).to_be_visible(timeout=15_000)
    item.click()
    transcript = page.locator("#transcript")
    for text in (VISITOR, BOT, AGENT):
        expect(transcript).to_contain_text(text)
    assert transcript.locator("img, script, svg, iframe, a[href^=javascript]").count() == 0

    assert page_events.dialogs == [], page_events.dialogs
