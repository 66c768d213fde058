"""Human handoff (issue #12), the conversation's side: every transition and refusal, the turn
staying quiet while people have the conversation, the triggers, and no promise without a person."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from bots.models import Bot, Conversation, ConversationEvent, Message
from conversations.services import handoff
from conversations.services.conversations import conversation_csat_record, conversation_start, message_feedback_record
from conversations.services.sequencing import message_insert_next_seq
from conversations.services.turns import turn_run
from engine.types import CompletionChunk, CompletionRequest, CompletionUsage, IntentScore, ParseResult
from tests.factories import AgentTeamFactory, BotFactory, UserFactory, agent_on_duty

pytestmark = pytest.mark.django_db(transaction=True)
Status = Conversation.Status


class NoEvents:
    def typing(self, **_: object) -> None: ...
    def delta(self, **_: object) -> None: ...
    def message(self, **_: object) -> None: ...
    def error(self, **_: object) -> None: ...


class RecordingLLM:
    """Answers "bot: <last user text>" and keeps every request (to read the history it was given)."""

    def __init__(self) -> None:
        self.requests: list[CompletionRequest] = []

    def stream(self, request: CompletionRequest) -> Any:
        self.requests.append(request)
        text = "bot: " + request.messages[-1].content[-60:]

        class Stream:
            usage = CompletionUsage(prompt_tokens=3, completion_tokens=2, model="recording")

            def __iter__(self) -> Iterator[CompletionChunk]:
                yield CompletionChunk(text=text)

        return Stream()


@pytest.fixture(autouse=True)
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[object, ...]]]:
    """Tasks the services enqueue (routing, suggestions), recorded instead of sent to the broker."""
    sent: list[tuple[str, tuple[object, ...]]] = []
    monkeypatch.setattr(handoff, "task_send", lambda name, *args: sent.append((name, args)))
    return sent


@pytest.fixture
def bot() -> Bot:
    return BotFactory(persona="You help.")


def _visitor_says(conversation: Conversation, text: str) -> Message:
    return message_insert_next_seq(conversation_id=conversation.pk, role="user", text=text, client_id=text[:60])


def _turn(message: Message, llm: RecordingLLM | None = None, *, intent: str | None = None) -> Message | None:
    def nlu(_bot: Bot) -> Any:
        def parse(text: str) -> ParseResult:
            score = IntentScore(intent, 0.9) if intent else None
            return ParseResult(text=text, intent=score, ranking=[score] if score else [], entities=[])

        return parse

    return turn_run(user_message_id=message.pk, events=NoEvents(), llm=llm or RecordingLLM(), nlu=nlu, coalesce_ms=0)


def _queued(bot: Bot) -> Conversation:
    conversation = conversation_start(bot=bot)
    return handoff.handoff_request(conversation_id=conversation.pk, reason="test")


# --- transitions and refusals ---------------------------------------------------------------


def test_request_claim_reply_return_resolve_each_leave_an_event(bot: Bot, sent_tasks: list) -> None:
    alice = agent_on_duty(bot).user
    conversation = _queued(bot)
    assert conversation.status == Status.QUEUED and conversation.queued_at is not None
    assert sent_tasks == [(handoff.ROUTE_TASK, (conversation.pk,))]

    handoff.handoff_claim(conversation_id=conversation.pk, agent=alice)
    message = handoff.agent_message_send(
        conversation_id=conversation.pk, agent=alice, text="Hi, I'm here.", client_id="a1"
    )
    assert message.role == Message.Role.AGENT and message.author == alice and message.reply_to is None
    handoff.handoff_return_to_bot(conversation_id=conversation.pk, actor=alice, reason="answered")
    handoff.handoff_resolve(conversation_id=conversation.pk, actor=alice)

    events = list(
        ConversationEvent.objects.filter(conversation=conversation).values_list("kind", "from_status", "to_status")
    )
    assert events == [
        ("handoff_requested", "bot", "queued"),
        ("assigned", "queued", "assigned"),
        ("returned_to_bot", "assigned", "bot"),
        ("resolved", "bot", "resolved"),
    ]
    assigned = ConversationEvent.objects.get(conversation=conversation, kind="assigned")
    assert assigned.actor == alice and assigned.agent == alice


def test_two_agents_claiming_at_once_exactly_one_wins(bot: Bot) -> None:
    team = AgentTeamFactory()
    agents = [agent_on_duty(bot, team=team).user for _ in range(2)]
    conversation = _queued(bot)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def claim(agent: Any) -> None:
        start.wait()
        try:
            handoff.handoff_claim(conversation_id=conversation.pk, agent=agent)
            outcomes.append("won")
        except handoff.HandoffRefused as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["already_assigned", "won"]
    assert ConversationEvent.objects.filter(conversation=conversation, kind="assigned").count() == 1


def test_refusals_change_nothing(bot: Bot) -> None:
    alice = agent_on_duty(bot).user
    outsider = agent_on_duty(BotFactory()).user  # an agent of another bot
    conversation = _queued(bot)

    with pytest.raises(handoff.HandoffRefused) as refused:
        handoff.handoff_claim(conversation_id=conversation.pk, agent=outsider)
    assert refused.value.code == "not_allowed"

    handoff.handoff_claim(conversation_id=conversation.pk, agent=alice)
    bob = agent_on_duty(bot).user
    with pytest.raises(handoff.HandoffRefused) as refused:
        handoff.agent_message_send(conversation_id=conversation.pk, agent=bob, text="me too")
    assert refused.value.code == "not_assigned_to_you"
    with pytest.raises(handoff.HandoffRefused) as refused:
        handoff.handoff_resolve(conversation_id=conversation.pk, actor=bob)
    assert refused.value.code == "not_assigned_to_you"

    handoff.handoff_resolve(conversation_id=conversation.pk, actor=alice)
    with pytest.raises(handoff.HandoffRefused) as refused:
        handoff.handoff_resolve(conversation_id=conversation.pk, actor=alice)
    assert refused.value.code == "already_resolved"
    with pytest.raises(handoff.HandoffRefused) as refused:
        handoff.handoff_return_to_bot(conversation_id=conversation.pk, actor=alice)
    assert refused.value.code == "already_resolved"
    assert ConversationEvent.objects.filter(conversation=conversation).count() == 3  # requested, assigned, resolved
    assert not Message.objects.filter(conversation=conversation, role=Message.Role.AGENT).exists()


def test_transfer_to_an_agent_and_to_a_team(bot: Bot, sent_tasks: list) -> None:
    alice, bob = agent_on_duty(bot).user, agent_on_duty(bot).user
    billing = AgentTeamFactory(name="Billing")
    billing.bots.add(bot)
    conversation = _queued(bot)
    handoff.handoff_claim(conversation_id=conversation.pk, agent=alice)

    moved = handoff.handoff_transfer(conversation_id=conversation.pk, actor=alice, to_agent=bob)
    assert moved.status == Status.ASSIGNED and moved.assigned_agent == bob
    requeued = handoff.handoff_transfer(conversation_id=conversation.pk, actor=bob, to_team=billing)
    assert requeued.status == Status.QUEUED and requeued.team == billing and requeued.assigned_agent is None
    assert sent_tasks[-1] == (handoff.ROUTE_TASK, (conversation.pk,))
    with pytest.raises(handoff.HandoffRefused):
        handoff.handoff_transfer(conversation_id=conversation.pk, actor=bob, to_team=AgentTeamFactory())


def test_a_teams_priority_applies_unless_the_handoff_names_one_and_a_transfer_never_lowers_it(bot: Bot) -> None:
    vip = AgentTeamFactory(name="VIP", priority=5)
    vip.bots.add(bot)
    calm = AgentTeamFactory(name="Calm", priority=-1)
    calm.bots.add(bot)
    by_team = conversation_start(bot=bot, visitor_id="v-team")
    assert handoff.handoff_request(conversation_id=by_team.pk, reason="x", team=vip).priority == 5
    named = conversation_start(bot=bot, visitor_id="v-named")
    assert handoff.handoff_request(conversation_id=named.pk, reason="x", team=vip, priority=0).priority == 0

    alice = agent_on_duty(bot).user
    handoff.handoff_claim(conversation_id=by_team.pk, agent=alice)
    moved = handoff.handoff_transfer(conversation_id=by_team.pk, actor=alice, to_team=calm)
    assert moved.priority == 5  # still urgent in the calmer team's queue
    handoff.handoff_claim(conversation_id=named.pk, agent=alice)
    assert handoff.handoff_transfer(conversation_id=named.pk, actor=alice, to_team=vip).priority == 5


def test_agent_resend_is_stored_once(bot: Bot) -> None:
    alice = agent_on_duty(bot).user
    conversation = _queued(bot)
    handoff.handoff_claim(conversation_id=conversation.pk, agent=alice)
    first = handoff.agent_message_send(conversation_id=conversation.pk, agent=alice, text="One moment", client_id="c1")
    again = handoff.agent_message_send(conversation_id=conversation.pk, agent=alice, text="One moment", client_id="c1")
    assert first.pk == again.pk
    assert Message.objects.filter(conversation=conversation, role="agent").count() == 1


# --- the turn while people have the conversation --------------------------------------------


def test_the_bot_stays_quiet_but_annotates_while_queued_or_assigned(bot: Bot) -> None:
    alice = agent_on_duty(bot).user
    conversation = _queued(bot)
    llm = RecordingLLM()
    queued_msg = _visitor_says(conversation, "still there?")
    assert _turn(queued_msg, llm, intent="greet") is None
    handoff.handoff_claim(conversation_id=conversation.pk, agent=alice)
    assigned_msg = _visitor_says(conversation, "my order is 12345")
    assert _turn(assigned_msg, llm, intent="track_order") is None

    assert llm.requests == []
    assert not Message.objects.filter(conversation=conversation, role="bot").exists()
    assigned_msg.refresh_from_db()
    assert assigned_msg.action == "for_agent" and assigned_msg.intent == "track_order"
    assert _turn(assigned_msg, llm) is None  # a redelivered turn does nothing either


def test_back_with_the_bot_it_answers_the_next_message_with_the_agents_turn_in_history(bot: Bot) -> None:
    alice = agent_on_duty(bot).user
    conversation = _queued(bot)
    _turn(_visitor_says(conversation, "I was charged twice"))
    handoff.handoff_claim(conversation_id=conversation.pk, agent=alice)
    handoff.agent_message_send(conversation_id=conversation.pk, agent=alice, text="Refund issued: ref R-778.")
    handoff.handoff_return_to_bot(conversation_id=conversation.pk, actor=alice)

    llm = RecordingLLM()
    reply = _turn(_visitor_says(conversation, "what was the refund reference?"), llm)
    assert reply is not None and reply.role == "bot"
    assert len(llm.requests) == 1  # the message the agent handled is not answered again
    history = [(m.role, m.content) for m in llm.requests[0].messages]
    assert ("assistant", "Refund issued: ref R-778.") in history
    assert ("user", "I was charged twice") in history


def test_asking_for_a_person_queues_when_someone_is_on_duty(bot: Bot, sent_tasks: list) -> None:
    agent_on_duty(bot)
    conversation = conversation_start(bot=bot)
    reply = _turn(_visitor_says(conversation, "I want to talk to a human"))
    assert reply is not None and reply.action == "handoff"
    conversation.refresh_from_db()
    assert conversation.status == Status.QUEUED
    event = ConversationEvent.objects.get(conversation=conversation)
    assert event.kind == "handoff_requested" and "asked for a person" in event.reason


@pytest.mark.parametrize("why", ["nobody in a team", "agent offline", "outside business hours"])
def test_without_a_person_the_bot_offers_the_offline_form_instead(bot: Bot, why: str) -> None:
    if why == "agent offline":
        agent_on_duty(bot, presence="offline")
    elif why == "outside business hours":
        agent_on_duty(bot)
        bot.business_hours = {"timezone": "UTC", "hours": {}}  # open no day at all
        bot.save()
    conversation = conversation_start(bot=bot)
    reply = _turn(_visitor_says(conversation, "connect me with an agent please"))
    assert reply is not None and reply.action == "handoff_offline"
    assert "connecting" not in reply.text
    conversation.refresh_from_db()
    assert (
        conversation.status == Status.BOT and not ConversationEvent.objects.filter(conversation=conversation).exists()
    )


def test_a_resolved_conversation_goes_back_to_the_bot_when_the_visitor_writes(bot: Bot) -> None:
    alice = agent_on_duty(bot).user
    conversation = _queued(bot)
    handoff.handoff_claim(conversation_id=conversation.pk, agent=alice)
    handoff.handoff_resolve(conversation_id=conversation.pk, actor=alice)
    reply = _turn(_visitor_says(conversation, "one more question"))
    assert reply is not None and reply.role == "bot"
    conversation.refresh_from_db()
    assert conversation.status == Status.BOT and conversation.ended_at is None
    assert ConversationEvent.objects.filter(conversation=conversation).last().kind == "reopened"


# --- ratings as triggers --------------------------------------------------------------------


def _bot_reply(conversation: Conversation, text: str) -> Message:
    visitor = _visitor_says(conversation, "q " + text)
    return message_insert_next_seq(conversation_id=conversation.pk, role="bot", text=text, reply_to=visitor)


def test_a_thumbs_down_streak_queues_for_a_person(bot: Bot) -> None:
    agent_on_duty(bot)
    bot.handoff_thumbs_down_streak = 2
    bot.save()
    conversation = conversation_start(bot=bot)
    first, second = _bot_reply(conversation, "a"), _bot_reply(conversation, "b")
    message_feedback_record(conversation=conversation, message_id=first.pk, rating="down")
    conversation.refresh_from_db()
    assert conversation.status == Status.BOT
    message_feedback_record(conversation=conversation, message_id=second.pk, rating="down")
    conversation.refresh_from_db()
    assert conversation.status == Status.QUEUED


def test_a_low_rating_queues_and_a_good_one_resolves(bot: Bot) -> None:
    agent_on_duty(bot)
    unhappy, happy = conversation_start(bot=bot), conversation_start(bot=bot)
    assert conversation_csat_record(conversation=unhappy, score=1).status == Status.QUEUED
    assert conversation_csat_record(conversation=happy, score=5).status == Status.RESOLVED


def test_a_low_rating_with_nobody_on_duty_does_not_queue(bot: Bot) -> None:
    conversation = conversation_start(bot=bot)
    assert conversation_csat_record(conversation=conversation, score=1).status == Status.RESOLVED
    assert not ConversationEvent.objects.filter(conversation=conversation, kind="handoff_requested").exists()


def test_only_agents_of_the_bot_may_reopen(bot: Bot) -> None:
    alice = agent_on_duty(bot).user
    conversation = _queued(bot)
    handoff.handoff_claim(conversation_id=conversation.pk, agent=alice)
    handoff.handoff_resolve(conversation_id=conversation.pk, actor=alice)
    with pytest.raises(handoff.HandoffRefused):
        handoff.handoff_reopen(conversation_id=conversation.pk, actor=UserFactory())
    reopened = handoff.handoff_reopen(conversation_id=conversation.pk, actor=alice)
    assert reopened.status == Status.ASSIGNED and reopened.assigned_agent == alice


@pytest.mark.parametrize("channel", [Conversation.Channel.API, Conversation.Channel.CONSOLE])
def test_channels_that_cannot_show_agents_never_queue(bot: Bot, channel: str) -> None:
    agent_on_duty(bot)
    conversation = conversation_start(bot=bot, channel=channel)
    reply = _turn(_visitor_says(conversation, "I want to talk to a human"))
    assert reply is not None and reply.action == "handoff_offline"
    assert reply.text == "Sorry, I can't connect you with a person in this chat."
    conversation.refresh_from_db()
    assert conversation.status == Status.BOT
