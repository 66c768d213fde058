"""Metrics on a hand-built fixture; every expected value is computed by hand in the comments."""

from __future__ import annotations

import pytest

from analytics.metrics import metrics_compute
from analytics.selectors import with_outcome
from bots.models import Conversation, Message
from chatplatform.access.scoping import conversations_visible_to
from tests.analytics.conftest import api_client_for
from tests.analytics.factories import ConversationFactory, turn

pytestmark = pytest.mark.django_db


@pytest.fixture
def four_conversations(bot_a):
    # c1 contained: one recognised turn; CSAT 5; thumbs up.
    c1 = ConversationFactory(bot=bot_a, csat=5)
    _, r = turn(
        c1, "where is my order", "On its way.", intent="order_status", time_to_first_token_ms=100, total_time_ms=200
    )
    Message.objects.filter(pk=r.pk).update(feedback="up")
    # c2 contained: greeting; CSAT 3.
    c2 = ConversationFactory(bot=bot_a, csat=3)
    turn(c2, "hi", "Hello!", intent="greet", action="greet", time_to_first_token_ms=200, total_time_ms=400)
    # c3 fallback: one fallback turn, then a recognised one; thumbs down.
    c3 = ConversationFactory(bot=bot_a)
    turn(c3, "blorp", "Sorry?", action="fallback")
    _, r = turn(
        c3, "order status please", "Checking.", intent="order_status", time_to_first_token_ms=300, total_time_ms=600
    )
    Message.objects.filter(pk=r.pk).update(feedback="down")
    # c4 handoff: an out-of-scope generated answer, then a handoff offer.
    c4 = ConversationFactory(bot=bot_a, status=Conversation.Status.QUEUED)
    turn(c4, "what is the meaning of life", "42.", action="generate", time_to_first_token_ms=400, total_time_ms=800)
    turn(c4, "asdf qwer", "Shall I get a human?", action="offer_handoff")
    # c5: opened the widget, never wrote: not in any rate.
    c5 = ConversationFactory(bot=bot_a)
    return c1, c2, c3, c4, c5


def test_outcomes(four_conversations) -> None:
    outcomes = dict(with_outcome(Conversation.objects.all()).values_list("pk", "outcome"))
    c1, c2, c3, c4, c5 = four_conversations
    assert outcomes == {c1.pk: "contained", c2.pk: "contained", c3.pk: "fallback", c4.pk: "handoff", c5.pk: "empty"}


def test_metrics_by_hand(four_conversations, admin_user) -> None:
    m = metrics_compute(conversations=conversations_visible_to(admin_user))
    assert m.conversations == 5
    assert m.engaged == 4
    assert m.containment_rate == 0.5  # 2 of 4
    assert m.fallback_rate == 0.25  # 1 of 4
    assert m.handoff_rate == 0.25  # 1 of 4
    assert m.messages == 2 + 2 + 4 + 4
    assert len(m.per_day) == 1 and m.per_day[0].conversations == 5 and m.per_day[0].messages == 12
    assert m.csat_average == 4.0  # (5 + 3) / 2
    assert m.csat_responses == 2
    assert m.csat_distribution == {1: 0, 2: 0, 3: 1, 4: 0, 5: 1}
    assert (m.thumbs_up, m.thumbs_down, m.thumbs_up_share) == (1, 1, 0.5)
    # TTFT samples 100, 200, 300, 400: p50 = 250; p95 = 300 + 0.85 * 100 = 385 (linear interpolation).
    assert m.ttft_p50_ms == pytest.approx(250)
    assert m.ttft_p95_ms == pytest.approx(385)
    # Total 200, 400, 600, 800: p50 = 500; p95 = 600 + 0.85 * 200 = 770.
    assert m.total_time_p50_ms == pytest.approx(500)
    assert m.total_time_p95_ms == pytest.approx(770)
    assert m.top_intents == [{"intent": "order_status", "count": 2}, {"intent": "greet", "count": 1}]
    # Unrecognised: "blorp", "what is the meaning of life", "asdf qwer": three one-message groups.
    assert sorted(row["text"] for row in m.top_unrecognised) == ["asdf qwer", "blorp", "what is the meaning of life"]


def test_api_and_page_agree(four_conversations, admin_user, client) -> None:
    data = api_client_for(admin_user).get("/api/v1/metrics/").json()
    assert data["containment_rate"] == 0.5 and data["ttft_p95_ms"] == pytest.approx(385)
    assert "containment_rate" in data["definitions"]
    client.force_login(admin_user)
    html = client.get("/analytics/metrics/").content.decode()
    assert "50 %" in html and "<svg" in html and "percentile_cont" in html


def test_metrics_follow_filters(four_conversations, admin_user) -> None:
    data = api_client_for(admin_user).get("/api/v1/metrics/", {"outcome": "fallback"}).json()
    assert data["conversations"] == 1 and data["fallback_rate"] == 1.0
    empty = (
        api_client_for(admin_user).get("/api/v1/metrics/", {"date_from": "2001-01-01", "date_to": "2001-01-02"}).json()
    )
    assert empty["conversations"] == 0 and empty["containment_rate"] is None and empty["ttft_p50_ms"] is None
