"""The events a conversation emits through the real services (the same ones the widget, the
inbox and the turn worker call), in order, each valid against its published schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from bots.models import Bot, Conversation, Message
from conversations.services import handoff
from conversations.services.conversations import conversation_csat_record, conversation_start, message_feedback_record
from conversations.services.messages import user_message_receive
from conversations.services.turns import turn_run
from engine.types import CompletionChunk, CompletionRequest, CompletionUsage, ParseResult
from tests.factories import BotFactory, agent_on_duty
from tests.webhooks.conftest import endpoint_with_secret
from webhooks.models import EventType, WebhookDelivery, WebhookEvent
from webhooks.schemas import SCHEMAS

pytestmark = pytest.mark.django_db(transaction=True)


class NoEvents:
    def typing(self, **_: object) -> None: ...
    def delta(self, **_: object) -> None: ...
    def message(self, **_: object) -> None: ...
    def error(self, **_: object) -> None: ...
    def handoff(self, **_: object) -> None: ...
    def inbox(self, **_: object) -> None: ...


class EchoLLM:
    def stream(self, request: CompletionRequest) -> Any:
        class Stream:
            usage = CompletionUsage(prompt_tokens=3, completion_tokens=2, model="echo")

            def __iter__(self) -> Iterator[CompletionChunk]:
                yield CompletionChunk(text="Happy to help.")

        return Stream()


def _no_intent(_bot: Bot) -> Any:
    return lambda text: ParseResult(text=text, intent=None, ranking=[], entities=[])


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch, no_turns: list[int], attempts_sent: list) -> None:
    """No broker: routing, suggestions and webhook attempts are recorded, the turn is run here."""
    monkeypatch.setattr(handoff, "task_send", lambda *args, **kwargs: None)
    monkeypatch.setattr("conversations.services.handoff.get_turn_events", NoEvents)


def _events() -> list[dict[str, Any]]:
    return [event.payload for event in WebhookEvent.objects.order_by("created_at", "id")]


def test_a_conversation_from_first_message_to_resolved(attempts_sent: list) -> None:
    bot = BotFactory(persona="You help.")
    endpoint, _ = endpoint_with_secret(url="https://hooks.example.com/in", bot=bot)
    alice = agent_on_duty(bot).user

    conversation = conversation_start(bot=bot)
    visitor = user_message_receive(conversation=conversation, client_id="c1", text="Where is my order?").message
    reply = turn_run(user_message_id=visitor.pk, events=NoEvents(), llm=EchoLLM(), nlu=_no_intent, coalesce_ms=0)
    assert reply is not None
    message_feedback_record(conversation=conversation, message_id=reply.pk, rating="up", comment="thanks")
    handoff.handoff_request(conversation_id=conversation.pk, reason="The visitor asked for a person.")
    handoff.handoff_claim(conversation_id=conversation.pk, agent=alice)
    handoff.agent_message_send(conversation_id=conversation.pk, agent=alice, text="Hi, Alice here.", client_id="a1")
    handoff.handoff_resolve(conversation_id=conversation.pk, actor=alice, reason="answered")
    conversation_csat_record(conversation=Conversation.objects.get(pk=conversation.pk), score=5)

    events = _events()
    assert [(e["type"], e["data"].get("message", {}).get("role")) for e in events] == [
        ("conversation.started", None),
        ("message.created", "visitor"),
        ("message.created", "bot"),
        ("feedback.created", None),
        ("handoff.requested", None),
        ("conversation.assigned", None),
        ("message.created", "agent"),
        ("conversation.resolved", None),
        ("csat.submitted", None),
    ]
    for event in events:
        jsonschema.validate(event, SCHEMAS[event["type"]], format_checker=jsonschema.FormatChecker())
        assert event["data"]["bot"] == {"id": bot.pk, "slug": bot.slug}
        assert event["data"]["conversation"]["id"] == conversation.pk
    started, said, answered, feedback, queued, assigned, agent_said, resolved, csat = events
    assert said["data"]["message"] == {
        "id": visitor.pk,
        "role": "visitor",
        "text": "Where is my order?",
        "seq": 1,
        "reply_to": None,
        "author": None,
    }
    assert answered["data"]["message"]["text"] == "Happy to help."
    assert answered["data"]["message"]["reply_to"] == visitor.pk
    assert feedback["data"]["feedback"] == {"message_id": reply.pk, "rating": "up", "comment": "thanks"}
    assert queued["data"]["handoff"]["reason"] == "The visitor asked for a person."
    alice_shown = {"id": alice.pk, "name": alice.agent_profile.display_name or alice.first_name}
    assert assigned["data"]["agent"] == alice_shown and assigned["data"]["via"] == "assigned"
    assert agent_said["data"]["message"]["author"] == alice_shown
    assert resolved["data"]["resolved_by"] == alice_shown
    assert csat["data"]["csat"] == {"score": 5, "comment": None}
    # Never the visitor's identity.
    for event in events:
        text = str(event)
        assert conversation.visitor_id not in text
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == len(events)
    # One conversation, one endpoint: only the first is in flight, the rest wait their turn.
    assert len(attempts_sent) == 1


def test_a_bot_conversation_rated_ends_resolved(attempts_sent: list) -> None:
    bot = BotFactory(handoff_csat_at_most=0)
    endpoint_with_secret(url="https://hooks.example.com/in", event_types=[EventType.CONVERSATION_RESOLVED])
    conversation = conversation_start(bot=bot)
    conversation_csat_record(conversation=conversation, score=4)
    (resolved,) = _events()
    assert resolved["type"] == "conversation.resolved" and resolved["data"]["resolved_by"] is None
    jsonschema.validate(resolved, SCHEMAS["conversation.resolved"])


def test_an_agent_message_by_id_and_role_only_when_subscribed(attempts_sent: list) -> None:
    bot = BotFactory()
    conversation = conversation_start(bot=bot)
    user_message_receive(conversation=conversation, client_id="c1", text="hello")
    assert not WebhookEvent.objects.exists()
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_every_schema_is_a_valid_schema() -> None:
    assert set(SCHEMAS) == set(EventType.values)
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)
