"""Two agents claiming one conversation at the same moment: exactly one gets it (issue #12)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from bots.models import Conversation, ConversationEvent
from conversations.services.handoff import HandoffRefused
from inbox.services import handling
from tests.factories import AgentTeamFactory, BotFactory
from tests.inbox.conftest import inbox_socket, outcome, queued, role_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sent_tasks")]


async def test_two_sockets_claiming_at_once_one_wins_the_other_is_told() -> None:
    bot = await sync_to_async(BotFactory)()
    team = await sync_to_async(AgentTeamFactory)()
    first = await sync_to_async(role_user)("agent", bot, team=team)
    second = await sync_to_async(role_user)("agent", bot, team=team)
    conversation = await sync_to_async(queued)(bot)
    sockets = [await inbox_socket(first), await inbox_socket(second)]
    frame = {"type": "claim", "conversation_id": conversation.pk}
    await asyncio.gather(*(s.send_json_to(frame) for s in sockets))
    answers = await asyncio.gather(*(outcome(s, "claim") for s in sockets))
    assert sorted(a.get("code", a["type"]) for a in answers) == ["ack", "already_assigned"]
    winner = (first, second)[[a["type"] for a in answers].index("ack")]
    assert (await Conversation.objects.aget(pk=conversation.pk)).assigned_agent_id == winner.pk
    assert await ConversationEvent.objects.filter(conversation=conversation, kind="assigned").acount() == 1
    for s in sockets:
        await s.disconnect()


def _claim_at_once(agent: Any, conversation_id: int, barrier: threading.Barrier, results: list[Any]) -> None:
    try:
        barrier.wait()
        results.append(handling.conversation_claim(conversation_id=conversation_id, agent=agent).assigned_agent_id)
    except HandoffRefused as exc:
        results.append(exc.code)
    finally:
        connection.close()  # this thread's own connection


def test_two_threads_claiming_at_once_one_wins() -> None:
    """Each thread has its own database connection: the row lock decides, not the event loop."""
    bot = BotFactory()
    team = AgentTeamFactory()
    agents = [role_user("agent", bot, team=team) for _ in range(2)]
    for _ in range(5):  # a few rounds: the race must hold every time, not once
        conversation = queued(bot)
        barrier = threading.Barrier(len(agents))
        results: list[Any] = []
        threads = [
            threading.Thread(target=_claim_at_once, args=(agent, conversation.pk, barrier, results)) for agent in agents
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        winners = [r for r in results if r != "already_assigned"]
        assert len(results) == 2 and len(winners) == 1 and winners[0] in {a.pk for a in agents}, results
        conversation.refresh_from_db()
        assert conversation.assigned_agent_id == winners[0]
        assert ConversationEvent.objects.filter(conversation=conversation, kind="assigned").count() == 1
