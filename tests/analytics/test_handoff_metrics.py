"""Handoff metrics on a hand-built data set: every expected value is worked out in the comments.

Times are set explicitly (auto_now_add fields are updated after the insert): minute 0 is a day ago.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from analytics.filters import ConversationFilter, filter_period
from analytics.metrics import fact_in_text, fact_normalise, metrics_compute, percentile_cont
from bots.models import AgentProfile, Conversation, ConversationEvent, Message
from chatplatform.access.scoping import conversations_visible_to
from copilot.models import ReplySuggestion
from tests.analytics.conftest import api_client_for
from tests.analytics.factories import ConversationFactory, UserFactory, turn

pytestmark = pytest.mark.django_db

Kind = ConversationEvent.Kind
Status = Conversation.Status
T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def say(conv: Conversation, minute: float, text: str, *, entities: list[dict[str, Any]] | None = None) -> Message:
    """A visitor message at `minute` (no reply: while people have the chat the bot does not answer)."""
    seq = (conv.messages.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    message = Message.objects.create(
        conversation=conv, seq=seq, role=Message.Role.USER, text=text, entities=entities or [], action="for_agent"
    )
    Message.objects.filter(pk=message.pk).update(created_at=at(minute))
    return message


def agent_says(conv: Conversation, minute: float, agent: Any, text: str = "Hello, I'm here.") -> Message:
    seq = (conv.messages.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    message = Message.objects.create(conversation=conv, seq=seq, role=Message.Role.AGENT, text=text, author=agent)
    Message.objects.filter(pk=message.pk).update(created_at=at(minute))
    return message


def event(conv: Conversation, minute: float, kind: str, frm: str, to: str, **fields: Any) -> ConversationEvent:
    e = ConversationEvent.objects.create(conversation=conv, kind=kind, from_status=frm, to_status=to, **fields)
    ConversationEvent.objects.filter(pk=e.pk).update(created_at=at(minute))
    return e


def bot_turn(
    conv: Conversation,
    minute: float,
    text: str,
    reply: str,
    *,
    entities: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> None:
    """A visitor message (with the entities NLU found in it) and the bot's reply, at `minute`."""
    user, bot = turn(conv, text, reply, **fields)
    Message.objects.filter(pk=user.pk).update(entities=entities or [])
    Message.objects.filter(pk__in=[user.pk, bot.pk]).update(created_at=at(minute))


def order_entity(value: str) -> dict[str, Any]:
    return {
        "entity": "order_number",
        "value": value,
        "start": 0,
        "end": len(value),
        "text": value,
        "extractor": "regex",
    }


@pytest.fixture
def agent(db):
    user = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    AgentProfile.objects.create(user=user, display_name="Alice from Support")
    return user


@pytest.fixture
def handoff_data(bot_a, bot_b, agent):
    # h1: the order number was recognised before the handoff; the visitor repeats it to the agent
    # (re-ask: yes, by entity). Agent reply 30 s after the request. Resolved by the agent.
    h1 = ConversationFactory(bot=bot_a, status=Status.RESOLVED)
    bot_turn(h1, 0, "my order AC-12345 is broken", "Sorry!", entities=[order_entity("AC-12345")])
    event(h1, 1, Kind.HANDOFF_REQUESTED, Status.BOT, Status.QUEUED, reason="Intent complaint hands off.")
    event(h1, 1.2, Kind.ASSIGNED, Status.QUEUED, Status.ASSIGNED, agent=agent)
    agent_says(h1, 1.5, agent)
    say(h1, 2, "as I said, order ac-12345 arrived broken")  # case-insensitive, no entity needed
    event(h1, 3, Kind.RESOLVED, Status.ASSIGNED, Status.RESOLVED, actor=agent)

    # h2: a slot of the tracker the visitor typed before (free-text slot, no entity); repeated after
    # the handoff in other letter case (re-ask: yes, by slot). Agent reply after 90 s.
    h2 = ConversationFactory(
        bot=bot_a, status=Status.ASSIGNED, assigned_agent=agent, tracker={"slots": {"email": "jane@example.com"}}
    )
    bot_turn(h2, 0, "you can reach me at jane@example.com", "Thanks.", intent="contact")
    event(h2, 1, Kind.HANDOFF_REQUESTED, Status.BOT, Status.QUEUED)
    agent_says(h2, 2.5, agent)
    say(h2, 3, "My e-mail again: Jane@Example.com")

    # h3: re-ask no: the visitor repeats the known order number only after the conversation went back to
    # the bot (outside the stretch with people). The request got no agent reply before the return, so it
    # is unanswered (the agent message after the return does not count for it).
    h3 = ConversationFactory(bot=bot_a, status=Status.BOT)
    bot_turn(h3, 0, "where is AC-77777", "Checking.", entities=[order_entity("AC-77777")])
    event(h3, 1, Kind.HANDOFF_REQUESTED, Status.BOT, Status.QUEUED)
    say(h3, 2, "hello? anyone?")
    event(h3, 4, Kind.RETURNED_TO_BOT, Status.ASSIGNED, Status.BOT, actor=agent)
    agent_says(h3, 5, agent)
    say(h3, 6, "AC-77777 please")

    # h4: re-ask no: after the handoff only new facts, a too-short known value ("42" is below the
    # 3-character minimum), an order number that merely starts like the known one, and a slot the
    # tracker got after the handoff. Two requests: replies after 60 s and 120 s. Resolved by the agent.
    h4 = ConversationFactory(bot=bot_a, status=Status.RESOLVED, tracker={"slots": {"zip": "10115", "size": "42"}})
    bot_turn(h4, 0, "size 42 tent AC-11111", "Noted.", entities=[order_entity("AC-11111")])
    event(h4, 1, Kind.HANDOFF_REQUESTED, Status.BOT, Status.QUEUED)
    agent_says(h4, 2, agent)
    say(h4, 3, "it is AC-111112 actually, size 42, zip 10115")
    event(h4, 4, Kind.RETURNED_TO_BOT, Status.ASSIGNED, Status.BOT, actor=agent)
    event(h4, 10, Kind.HANDOFF_REQUESTED, Status.BOT, Status.QUEUED)
    agent_says(h4, 12, agent)
    event(h4, 13, Kind.RESOLVED, Status.ASSIGNED, Status.RESOLVED, actor=agent)

    # Resolved by the bot (a CSAT ends it), and three plain engaged conversations.
    by_bot = ConversationFactory(bot=bot_a, status=Status.RESOLVED, csat=5)
    bot_turn(by_bot, 0, "opening hours?", "9 to 5.", intent="hours")
    for _ in range(3):
        plain = ConversationFactory(bot=bot_a)
        bot_turn(plain, 0, "hi", "Hello!", intent="greet", action="greet")

    # Not engaged (a handoff requested through the API before the visitor wrote): in no rate.
    empty = ConversationFactory(bot=bot_a, status=Status.QUEUED)
    event(empty, 0, Kind.HANDOFF_REQUESTED, Status.BOT, Status.QUEUED)

    # Another bot's handoff: invisible to analyst_a.
    other = ConversationFactory(bot=bot_b, status=Status.RESOLVED)
    bot_turn(other, 0, "help", "Sure.", intent="help")
    event(other, 1, Kind.HANDOFF_REQUESTED, Status.BOT, Status.QUEUED)
    agent_says(other, 1.1, agent)
    Conversation.objects.update(started_at=T0)  # all started on T0's day (the date filter's test)
    return {"h1": h1, "h2": h2, "h3": h3, "h4": h4, "by_bot": by_bot, "other": other}


def test_handoff_metrics_by_hand(handoff_data, analyst_a) -> None:
    m = metrics_compute(conversations=conversations_visible_to(analyst_a))
    # Engaged: h1..h4, by_bot, 3 plain = 8 (the empty one is not); handed off: h1..h4.
    assert m.engaged == 8
    assert m.handed_off == 4
    assert m.handed_off_rate == 0.5
    # Requests: h1, h2, h3, h4 twice = 5; answered: h1 30 s, h2 90 s, h4 60 s and 120 s (h3 never).
    assert (m.handoff_requests, m.handoff_requests_answered) == (5, 4)
    # Sorted 30, 60, 90, 120: p50 = 75; p95 at rank 0.95 * 3 = 2.85 -> 90 + 0.85 * 30 = 115.5.
    assert m.human_first_reply_p50_s == pytest.approx(75)
    assert m.human_first_reply_p95_s == pytest.approx(115.5)
    # Resolved: h1 and h4 with agent messages, by_bot without.
    assert (m.resolved, m.resolved_by_human, m.resolved_by_bot) == (3, 2, 1)
    assert m.resolved_by_human_share == pytest.approx(2 / 3)
    # Re-asked: h1 (entity) and h2 (slot); not h3 (outside the stretch) nor h4 (nothing known repeated).
    assert m.reasked == 2
    assert m.reask_rate == 0.5


def test_admin_sees_the_other_bot_too(handoff_data, admin_user) -> None:
    m = metrics_compute(conversations=conversations_visible_to(admin_user))
    # + other: engaged 9, handed off 5, one more answered request (6 s).
    assert (m.engaged, m.handed_off, m.handoff_requests, m.handoff_requests_answered) == (9, 5, 6, 5)
    assert m.resolved == 4 and m.resolved_by_human == 3


def test_empty_set_has_no_rates(db, admin_user) -> None:
    m = metrics_compute(conversations=conversations_visible_to(admin_user))
    assert (m.handed_off, m.handoff_requests, m.handoff_requests_answered, m.resolved, m.reasked) == (0, 0, 0, 0, 0)
    assert m.handed_off_rate is None and m.reask_rate is None and m.resolved_by_human_share is None
    assert m.human_first_reply_p50_s is None and m.human_first_reply_p95_s is None
    assert m.copilot["suggestions"] == 0 and m.copilot["acceptance_rate"] is None


def test_handoff_without_any_visitor_message_before_is_no_reask(bot_a, analyst_a, agent) -> None:
    # The visitor asked for a person at once: nothing was known, so nothing can be repeated.
    conv = ConversationFactory(bot=bot_a, status=Status.ASSIGNED, assigned_agent=agent)
    event(conv, 0, Kind.HANDOFF_REQUESTED, Status.BOT, Status.QUEUED)
    say(conv, 1, "my order is AC-12345", entities=[order_entity("AC-12345")])
    m = metrics_compute(conversations=conversations_visible_to(analyst_a))
    assert (m.handed_off, m.reasked, m.reask_rate) == (1, 0, 0.0)


def test_reask_matches_synonyms_through_entities_and_cjk_inside_text(bot_a, analyst_a) -> None:
    # A lookup entity's canonical value: the visitor typed "NYC" before and "New York" after.
    city = {"entity": "city", "value": "New York", "start": 0, "end": 3, "text": "NYC", "extractor": "lookup"}
    yes_synonym = ConversationFactory(bot=bot_a, status=Status.QUEUED)
    bot_turn(yes_synonym, 0, "shipping to NYC", "Sure.", entities=[city])
    event(yes_synonym, 1, Kind.HANDOFF_REQUESTED, Status.BOT, Status.QUEUED)
    say(yes_synonym, 2, "to the big apple please", entities=[{**city, "text": "the big apple"}])
    # A Chinese city inside a sentence without spaces.
    beijing = {"entity": "city", "value": "北京", "start": 2, "end": 4, "text": "北京", "extractor": "lookup"}
    yes_cjk = ConversationFactory(bot=bot_a, status=Status.QUEUED)
    bot_turn(yes_cjk, 0, "我在北京", "好的。", entities=[beijing])
    event(yes_cjk, 1, Kind.HANDOFF_REQUESTED, Status.BOT, Status.QUEUED)
    say(yes_cjk, 2, "我说了我在北京市")
    m = metrics_compute(conversations=conversations_visible_to(analyst_a))
    assert (m.handed_off, m.reasked) == (2, 2)


def test_fact_matching_rules() -> None:
    assert fact_normalise("  AC-12345 ") == "ac-12345"
    assert fact_normalise("42") is None and fact_normalise(True) is None and fact_normalise({"a": 1}) is None
    assert fact_normalise("北京") == "北京"
    assert fact_in_text("ac-12345", "Order AC-12345, please")
    assert not fact_in_text("ac-12345", "order AC-123456")
    assert not fact_in_text("york", "yorkshire")
    assert fact_in_text("new york", "to  New\nYork!")
    assert fact_in_text("北京", "我在北京市")


def test_percentile_cont_matches_postgres() -> None:
    assert percentile_cont([], 0.5) is None
    assert percentile_cont([7.0], 0.95) == 7.0
    assert percentile_cont([100.0, 200.0, 300.0, 400.0], 0.95) == pytest.approx(385)


def _suggestion(conv: Conversation, outcome: str, distance: int | None, minute: float = 0) -> None:
    message = conv.messages.filter(role=Message.Role.USER).first()
    s = ReplySuggestion.objects.create(
        conversation=conv, for_message=message, text="Try this.", outcome=outcome, edit_distance=distance
    )
    ReplySuggestion.objects.filter(pk=s.pk).update(created_at=at(minute))


def test_copilot_numbers_follow_bot_scope_and_period(handoff_data, analyst_a) -> None:
    h1, h2, other = handoff_data["h1"], handoff_data["h2"], handoff_data["other"]
    Outcome = ReplySuggestion.Outcome
    _suggestion(h1, Outcome.SENT, 0)
    _suggestion(h1, Outcome.EDITED, 5)
    _suggestion(h2, Outcome.DISCARDED, None)
    _suggestion(h2, Outcome.PENDING, None)
    _suggestion(other, Outcome.SENT, 0)  # another bot: not the analyst's
    _suggestion(h2, Outcome.EDITED, 9, minute=-3 * 24 * 60)  # three days before: outside the period below
    m = metrics_compute(conversations=conversations_visible_to(analyst_a))
    # All time, bot A: 5 suggestions, 3 used (sent, edited 5, edited 9) -> 0.6; distances 0, 5, 9: p50 5.
    assert m.copilot["suggestions"] == 5 and m.copilot["acceptance_rate"] == 0.6
    assert m.copilot["edit_distance_p50"] == pytest.approx(5)
    day = timezone.localtime(T0).date().isoformat()
    data = api_client_for(analyst_a).get("/api/v1/metrics/", {"date_from": day, "date_to": day}).json()
    # The period: 4 suggestions, 2 used (sent, edited 5) -> 0.5; distances 0 and 5: p50 2.5, mean 2.5.
    assert data["copilot"]["suggestions"] == 4 and data["copilot"]["acceptance_rate"] == 0.5
    assert data["copilot"]["edit_distance_p50"] == pytest.approx(2.5)
    assert data["copilot"]["edit_distance_mean"] == pytest.approx(2.5)


def test_api_and_page_show_the_handoff_metrics(handoff_data, analyst_a, client) -> None:
    data = api_client_for(analyst_a).get("/api/v1/metrics/").json()
    assert data["handed_off_rate"] == 0.5 and data["reask_rate"] == 0.5
    assert data["human_first_reply_p50_s"] == pytest.approx(75)
    assert (data["resolved_by_bot"], data["resolved_by_human"]) == (1, 2)
    assert {"handed_off_rate", "human_first_reply", "resolution", "reask_rate", "copilot"} <= set(data["definitions"])
    client.force_login(analyst_a)
    html = client.get("/analytics/metrics/").content.decode()
    assert "Handed to a person" in html and "Time to first human reply" in html and "Re-ask rate" in html
    assert "2 of 4 handed-off conversations" in html and "4 of 5 handoff requests answered" in html
    # The handed-off filter narrows the metrics like every other filter.
    narrowed = api_client_for(analyst_a).get("/api/v1/metrics/", {"handed_off": "no"}).json()
    assert narrowed["handed_off"] == 0 and narrowed["engaged"] == 4


def test_filter_period_keeps_a_valid_date_next_to_an_invalid_field(admin_user, rf) -> None:
    request = rf.get("/")
    request.user = admin_user
    filterset = ConversationFilter(
        {"date_from": "2024-01-02", "date_to": "2024-01-03", "csat": "9"},
        queryset=conversations_visible_to(admin_user),
        request=request,
    )
    since, until = filter_period(filterset)
    assert filterset.errors  # csat=9 is reported (and ignored)
    assert since is not None and until is not None
    assert timezone.localtime(since).date().isoformat() == "2024-01-02"
    assert until - since == timedelta(days=2)  # date_to is inclusive
    assert filter_period(ConversationFilter({}, queryset=conversations_visible_to(admin_user))) == (None, None)


def test_batches_give_the_same_numbers(handoff_data, analyst_a, monkeypatch) -> None:
    whole = metrics_compute(conversations=conversations_visible_to(analyst_a))
    monkeypatch.setattr("analytics.metrics.HANDOFF_BATCH", 1)  # one handed-off conversation per round
    batched = metrics_compute(conversations=conversations_visible_to(analyst_a))
    assert whole.as_dict() == batched.as_dict()
