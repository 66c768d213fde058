"""The admin side of handoff (issue #12): teams, tickets, events on a conversation, business hours."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from bots.admin import BotAdminForm
from bots.models import ConversationEvent, OfflineTicket
from conversations.services.conversations import conversation_start
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db


def test_business_hours_are_checked_in_words_an_admin_can_act_on() -> None:
    bot = BotFactory()
    form = BotAdminForm(instance=bot)
    form.cleaned_data = {"business_hours": {"timezone": "Mars/Olympus", "hours": {"mon": [["18:00", "09:00"]]}}}
    with pytest.raises(ValidationError) as refused:
        form.clean_business_hours()
    text = " ".join(refused.value.messages)
    assert "Mars/Olympus" in text and "ends before it starts" in text
    form.cleaned_data = {"business_hours": {"timezone": "Asia/Shanghai", "hours": {"mon": [["09:00", "18:00"]]}}}
    assert form.clean_business_hours()["timezone"] == "Asia/Shanghai"


def test_tickets_teams_and_events_are_in_the_admin(admin_client) -> None:
    bot = BotFactory()
    conversation = conversation_start(bot=bot)
    ConversationEvent.objects.create(
        conversation=conversation, kind="handoff_requested", from_status="bot", to_status="queued", reason="Asked <b>"
    )
    OfflineTicket.objects.create(bot=bot, client_id="c1", email="ann@example.com", message="Please call me back")
    tickets = admin_client.get("/admin/bots/offlineticket/").content.decode()
    assert "ann@example.com" in tickets and "Please call me back" in tickets
    assert admin_client.get("/admin/bots/agentteam/add/").status_code == 200
    page = admin_client.get(f"/admin/bots/conversation/{conversation.pk}/change/").content.decode()
    assert "handoff_requested" in page or "Handoff requested" in page
    assert "Asked &lt;b&gt;" in page  # escaped, like every admin field
