"""Routing queued conversations (issue #12): round robin vs least busy, capacity, presence and the
heartbeat, the queue routed again when capacity frees up, the brief asked for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bots.models import AgentProfile, AgentTeam, Conversation
from conversations.services import handoff
from inbox.services import handling, presence, routing
from tests.factories import AgentTeamFactory, BotFactory
from tests.inbox.conftest import queued, role_user

# Transactional: presence and resolve route the queue after commit.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sent_tasks")]


def _online(user, **fields) -> AgentProfile:
    profile = presence.presence_set(user=user, presence="online")
    if fields:
        AgentProfile.objects.filter(pk=profile.pk).update(**fields)
    return profile


def _team_of(bot, routing_mode: str, capacity: int, agents: int) -> tuple[AgentTeam, list]:
    team = AgentTeamFactory(routing=routing_mode, capacity_per_agent=capacity)
    team.bots.add(bot)
    return team, [role_user("agent", team=team) for _ in range(agents)]


def test_least_busy_gives_the_agent_with_fewest_conversations_then_the_longest_idle() -> None:
    bot = BotFactory()
    _, (busy, idle_long, idle_short) = _team_of(bot, "least_busy", capacity=3, agents=3)
    now = timezone.now()
    _online(busy, last_assigned_at=now - timedelta(hours=5))
    _online(idle_long, last_assigned_at=now - timedelta(hours=2))
    _online(idle_short, last_assigned_at=now - timedelta(minutes=1))
    handoff.handoff_claim(conversation_id=queued(bot).pk, agent=busy)

    first = routing.conversation_route(conversation_id=queued(bot).pk)
    assert first is not None and first.assigned_agent_id == idle_long.pk  # busy holds one; idle_long waited longest
    second = routing.conversation_route(conversation_id=queued(bot).pk)
    assert second is not None and second.assigned_agent_id == idle_short.pk  # the only one with none left
    third = routing.conversation_route(conversation_id=queued(bot).pk)
    # All hold one now; busy was assigned longest ago (its claim set last_assigned_at before the others).
    assert third is not None and third.assigned_agent_id == busy.pk


def test_round_robin_ignores_load_and_takes_turns() -> None:
    bot = BotFactory()
    _, (a, b) = _team_of(bot, "round_robin", capacity=5, agents=2)
    _online(a)
    _online(b)
    handoff.handoff_claim(conversation_id=queued(bot).pk, agent=a)
    handoff.handoff_claim(conversation_id=queued(bot).pk, agent=a)  # a holds two, assigned just now
    order = [routing.conversation_route(conversation_id=queued(bot).pk).assigned_agent_id for _ in range(4)]
    assert order == [b.pk, a.pk, b.pk, a.pk]


def test_capacity_is_per_agent_or_the_teams_and_a_full_team_leaves_the_visitor_queued() -> None:
    bot = BotFactory()
    _, (small, large) = _team_of(bot, "least_busy", capacity=1, agents=2)
    _online(small)
    _online(large, capacity=2)
    assigned = [routing.conversation_route(conversation_id=queued(bot).pk) for _ in range(3)]
    assert sorted(c.assigned_agent_id for c in assigned) == sorted([small.pk, large.pk, large.pk])
    waiting = queued(bot)
    assert routing.conversation_route(conversation_id=waiting.pk) is None
    waiting.refresh_from_db()
    assert waiting.status == "queued" and waiting.assigned_agent_id is None


def test_only_online_agents_with_a_fresh_heartbeat_are_given_conversations(sent_tasks) -> None:
    bot = BotFactory()
    _, (agent,) = _team_of(bot, "least_busy", capacity=3, agents=1)
    waiting = queued(bot)
    assert routing.conversation_route(conversation_id=waiting.pk) is None  # never opened the inbox

    presence.presence_set(user=agent, presence="away")
    assert routing.conversation_route(conversation_id=waiting.pk) is None  # away: no new chats
    _online(agent, last_seen_at=timezone.now() - timedelta(seconds=121))  # a closed laptop
    assert routing.conversation_route(conversation_id=waiting.pk) is None

    sent_tasks.clear()
    presence.presence_heartbeat(user=agent)  # the page is back: it counts, and the queue is routed again
    assert sent_tasks == [("inbox.queue_route", (agent.pk,))]
    assert [c.pk for c in routing.queue_route(user_id=agent.pk)] == [waiting.pk]
    sent_tasks.clear()
    presence.presence_heartbeat(user=agent)  # a regular beat routes nothing
    assert sent_tasks == []


def test_coming_online_routes_the_queue_in_order_highest_priority_and_oldest_first(sent_tasks) -> None:
    bot = BotFactory()
    _, (agent,) = _team_of(bot, "least_busy", capacity=2, agents=1)
    old, urgent, new = queued(bot), queued(bot, priority=5), queued(bot)
    sent_tasks.clear()
    presence.presence_set(user=agent, presence="online")
    assert sent_tasks == [("inbox.queue_route", (agent.pk,))]
    assert [c.pk for c in routing.queue_route(user_id=agent.pk)] == [urgent.pk, old.pk]
    assert Conversation.objects.get(pk=new.pk).status == "queued"  # no room left


def test_resolving_frees_capacity_and_the_next_visitor_is_routed(sent_tasks) -> None:
    bot = BotFactory()
    _, (agent,) = _team_of(bot, "least_busy", capacity=1, agents=1)
    _online(agent)
    held = routing.conversation_route(conversation_id=queued(bot).pk)
    waiting = queued(bot)
    assert held is not None and routing.conversation_route(conversation_id=waiting.pk) is None
    sent_tasks.clear()
    handling.conversation_resolve(conversation_id=held.pk, actor=agent)
    assert ("inbox.queue_route", (agent.pk,)) in sent_tasks
    assert [c.pk for c in routing.queue_route(user_id=agent.pk)] == [waiting.pk]


def test_a_conversation_queued_for_a_team_goes_to_that_team_only() -> None:
    bot = BotFactory()
    _, (first_member,) = _team_of(bot, "least_busy", capacity=3, agents=1)
    second_team, (second_member,) = _team_of(bot, "least_busy", capacity=3, agents=1)
    _online(first_member)
    _online(second_member, last_assigned_at=timezone.now())
    conversation = Conversation.objects.get(pk=queued(bot).pk)
    Conversation.objects.filter(pk=conversation.pk).update(team=second_team)
    routed = routing.conversation_route(conversation_id=conversation.pk)
    assert routed is not None and routed.assigned_agent_id == second_member.pk


def test_routing_asks_for_the_brief_and_leaves_other_states_alone(sent_tasks) -> None:
    bot = BotFactory()
    waiting = queued(bot)
    sent_tasks.clear()
    routing.conversation_route(conversation_id=waiting.pk)
    assert sent_tasks == [("copilot.brief_write", (waiting.pk,))]
    handoff.handoff_return_to_bot(conversation_id=waiting.pk, actor=role_user("admin"))
    sent_tasks.clear()
    assert routing.conversation_route(conversation_id=waiting.pk) is None
    assert sent_tasks == []


def test_a_member_of_two_of_the_bots_teams_is_counted_once() -> None:
    bot = BotFactory()
    team, (agent,) = _team_of(bot, "least_busy", capacity=2, agents=1)
    other_team = AgentTeamFactory(capacity_per_agent=2)
    other_team.bots.add(bot)
    other_team.members.add(agent)
    _online(agent)
    first = routing.conversation_route(conversation_id=queued(bot).pk)
    second = routing.conversation_route(conversation_id=queued(bot).pk)
    assert first is not None and second is not None  # held 1 (not 2) after the first
    assert routing.conversation_route(conversation_id=queued(bot).pk) is None
