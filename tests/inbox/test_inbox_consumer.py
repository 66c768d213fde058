"""The agents' inbox socket (issue #12): who may connect, the queue live, claim races, replies that
reach the visitor, returning to the bot, refusals for agents of other bots."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.test import Client

from bots.models import Conversation, Message
from chatplatform.access.roles import ROLE_PERMISSIONS
from chatplatform.asgi import application
from conversations.services import handoff
from conversations.services.conversations import conversation_start
from inbox import services
from tests.factories import AgentTeamFactory, BotFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "task_send", lambda *_: None)
    monkeypatch.setattr(services, "task_send", lambda *_: None)


def _user(role: str, bot: Any = None) -> Any:
    """A user with the role's permissions (given directly: transactional tests flush the role groups)."""
    user = UserFactory()
    codenames = [p.split(".", 1)[1] for p in ROLE_PERMISSIONS[role]]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    if bot is not None:
        team = AgentTeamFactory()
        team.bots.add(bot)
        team.members.add(user)
    return user


def _session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _inbox(user: Any, *, origin: bytes = b"http://testserver") -> WebsocketCommunicator:
    cookie = await sync_to_async(_session_cookie)(user)
    communicator = WebsocketCommunicator(
        application, "/ws/inbox/", headers=[(b"origin", origin), (b"host", b"testserver"), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _expect(communicator: WebsocketCommunicator, frame_type: str, timeout: float = 5) -> dict[str, Any]:
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == frame_type:
            return frame


async def test_an_agent_sees_the_queue_live_claims_replies_and_returns_to_the_bot() -> None:
    bot = await sync_to_async(BotFactory)()
    agent = await sync_to_async(_user)("agent", bot)
    inbox = await _inbox(agent)
    await inbox.send_json_to({"type": "hello"})
    welcome = await _expect(inbox, "welcome")
    assert [b["id"] for b in welcome["bots"]] == [bot.pk] and welcome["counts"]["unassigned"] == 0

    conversation = await sync_to_async(conversation_start)(bot=bot)
    await sync_to_async(handoff.handoff_request)(conversation_id=conversation.pk, reason="asked for a person")
    update = await _expect(inbox, "update")
    assert update["update"]["conversation_id"] == conversation.pk and update["update"]["status"] == "queued"

    await inbox.send_json_to({"type": "list", "view": "unassigned"})
    listed = await _expect(inbox, "list")
    assert [i["id"] for i in listed["items"]] == [conversation.pk] and listed["items"][0]["waiting_s"] >= 0

    await inbox.send_json_to({"type": "claim", "conversation_id": conversation.pk})
    assert (await _expect(inbox, "ack"))["action"] == "claim"
    await inbox.send_json_to({"type": "open", "conversation_id": conversation.pk})
    opened = await _expect(inbox, "conversation")
    assert opened["conversation"]["status"] == "assigned"
    assert [e["kind"] for e in opened["conversation"]["events"]] == ["handoff_requested", "assigned"]

    await inbox.send_json_to({"type": "reply", "conversation_id": conversation.pk, "client_id": "r1", "text": "Hello!"})
    await _expect(inbox, "ack")
    live = await _expect(inbox, "message")  # through the conversation's group, like the widget gets it
    assert live["role"] == "agent" and live["text"] == "Hello!"
    await inbox.send_json_to({"type": "note", "conversation_id": conversation.pk, "text": "VIP customer"})
    note = await _expect(inbox, "note")
    assert note["text"] == "VIP customer"
    assert not await Message.objects.filter(conversation=conversation, text="VIP customer").aexists()

    await inbox.send_json_to({"type": "return_to_bot", "conversation_id": conversation.pk})
    await _expect(inbox, "ack")
    assert (await Conversation.objects.aget(pk=conversation.pk)).status == "bot"
    await inbox.disconnect()


async def test_two_agents_claiming_at_once_one_wins_one_is_told() -> None:
    bot = await sync_to_async(BotFactory)()
    first, second = await sync_to_async(_user)("agent", bot), await sync_to_async(_user)("agent", bot)
    conversation = await sync_to_async(conversation_start)(bot=bot)
    await sync_to_async(handoff.handoff_request)(conversation_id=conversation.pk, reason="test")
    sockets = [await _inbox(first), await _inbox(second)]
    await asyncio.gather(*(s.send_json_to({"type": "claim", "conversation_id": conversation.pk}) for s in sockets))

    async def outcome(s: WebsocketCommunicator) -> str:
        while True:
            frame = await s.receive_json_from(timeout=5)
            if frame["type"] in ("ack", "error"):
                return frame["type"] if frame["type"] == "ack" else frame["code"]

    assert sorted(await asyncio.gather(*(outcome(s) for s in sockets))) == ["ack", "already_assigned"]
    for s in sockets:
        await s.disconnect()


async def test_an_agent_of_another_bot_cannot_open_claim_or_reply() -> None:
    bot, other = await sync_to_async(BotFactory)(), await sync_to_async(BotFactory)()
    outsider = await sync_to_async(_user)("agent", other)
    conversation = await sync_to_async(conversation_start)(bot=bot)
    await sync_to_async(handoff.handoff_request)(conversation_id=conversation.pk, reason="test")
    inbox = await _inbox(outsider)
    await inbox.send_json_to({"type": "open", "conversation_id": conversation.pk})
    assert (await _expect(inbox, "error"))["code"] == "not_found"
    await inbox.send_json_to({"type": "claim", "conversation_id": conversation.pk})
    assert (await _expect(inbox, "error"))["code"] == "not_allowed"
    await inbox.send_json_to({"type": "reply", "conversation_id": conversation.pk, "text": "hi"})
    assert (await _expect(inbox, "error"))["code"] in ("bad_state", "not_assigned_to_you")
    await inbox.send_json_to({"type": "claim", "conversation_id": True})
    assert (await _expect(inbox, "error"))["code"] == "bad_frame"
    await inbox.disconnect()


@pytest.mark.parametrize("who", ["analyst", "anonymous", "cross-site page"])
async def test_only_agents_from_this_site_connect(who: str) -> None:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if who == "analyst":
        headers.append((b"cookie", await sync_to_async(_session_cookie)(await sync_to_async(_user)("analyst"))))
    elif who == "cross-site page":
        agent = await sync_to_async(_user)("agent")
        headers = [(b"origin", b"https://evil.example"), (b"host", b"testserver")]
        headers.append((b"cookie", await sync_to_async(_session_cookie)(agent)))
    communicator = WebsocketCommunicator(application, "/ws/inbox/", headers=headers)
    connected, code = await communicator.connect()
    assert not connected and code == 4403


async def test_routing_gives_the_least_busy_online_agent_and_respects_capacity() -> None:
    bot = await sync_to_async(BotFactory)()
    team = await sync_to_async(AgentTeamFactory)(capacity_per_agent=1)
    await sync_to_async(team.bots.add)(bot)
    busy, free = await sync_to_async(_user)("agent"), await sync_to_async(_user)("agent")
    for user in (busy, free):
        await sync_to_async(team.members.add)(user)
        await sync_to_async(services.presence_set)(user=user, presence="online")
    held = await sync_to_async(conversation_start)(bot=bot)
    await sync_to_async(handoff.handoff_request)(conversation_id=held.pk, reason="t")
    await sync_to_async(handoff.handoff_claim)(conversation_id=held.pk, agent=busy)

    waiting = await sync_to_async(conversation_start)(bot=bot)
    await sync_to_async(handoff.handoff_request)(conversation_id=waiting.pk, reason="t")
    routed = await sync_to_async(services.conversation_route)(conversation_id=waiting.pk)
    assert routed is not None and routed.assigned_agent_id == free.pk

    full = await sync_to_async(conversation_start)(bot=bot)
    await sync_to_async(handoff.handoff_request)(conversation_id=full.pk, reason="t")
    assert await sync_to_async(services.conversation_route)(conversation_id=full.pk) is None  # both at capacity
    assert (await Conversation.objects.aget(pk=full.pk)).status == "queued"
