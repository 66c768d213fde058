"""Helpers for the inbox tests: agents with the role's permissions, their logged-in sockets, and a
record of the tasks services send by name (no broker round trip, no worker routing behind a test's
back)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.test import Client

from chatplatform.access.roles import ROLE_PERMISSIONS
from chatplatform.asgi import application
from conversations.services import handoff
from conversations.services.conversations import conversation_start
from tests.factories import AgentTeamFactory, UserFactory

HOST = b"testserver"
ORIGIN = b"http://testserver"


@pytest.fixture
def sent_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Tasks sent by name by the handoff, routing and copilot services, recorded instead of sent."""
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def record(name: str, *args: Any) -> None:
        sent.append((name, args))

    for module in (
        "conversations.services.handoff",
        "inbox.services.routing",
        "copilot.services.briefs",
        "copilot.services.suggestions",
    ):
        monkeypatch.setattr(f"{module}.task_send", record)
    return sent


def role_user(role: str, *bots: Any, team: Any = None, **fields: Any) -> Any:
    """A user with the role's permissions, given directly (transactional tests flush the role
    groups the migrations made), in a team of `bots` (a new team unless one is given)."""
    user = UserFactory(**fields)
    for dotted in ROLE_PERMISSIONS[role]:
        app_label, codename = dotted.split(".", 1)
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    if bots or team is not None:
        team = team or AgentTeamFactory()
        team.bots.add(*bots)
        team.members.add(user)
    return user


def queued(bot: Any, *, priority: int | None = None, team: Any = None, **fields: Any) -> Any:
    conversation = conversation_start(bot=bot, **fields)
    handoff.handoff_request(conversation_id=conversation.pk, reason="asked for a person", priority=priority, team=team)
    conversation.refresh_from_db()
    return conversation


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def inbox_socket(user: Any, *, origin: bytes = ORIGIN, hello: bool = True) -> WebsocketCommunicator:
    cookie = await sync_to_async(session_cookie)(user)
    communicator = WebsocketCommunicator(
        application, "/ws/inbox/", headers=[(b"origin", origin), (b"host", HOST), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected, "the inbox refused the agent"
    if hello:
        await communicator.send_json_to({"type": "hello"})
        await expect(communicator, "welcome")
    return communicator


async def expect(communicator: WebsocketCommunicator, frame_type: str, timeout: float = 10, **match: Any) -> dict:
    """The next frame of this type (and these field values); other frames in between are skipped."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no {frame_type!r} frame {match or ''} within {timeout} s"
        frame = await communicator.receive_json_from(timeout=remaining)
        if frame["type"] == frame_type and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def outcome(communicator: WebsocketCommunicator, action: str, timeout: float = 10) -> dict:
    """The ack or error answering `action`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no answer to {action!r} within {timeout} s"
        frame = await communicator.receive_json_from(timeout=remaining)
        if frame["type"] in ("ack", "error") and frame.get("action") == action:
            return frame


async def act(communicator: WebsocketCommunicator, frame: dict[str, Any]) -> dict:
    await communicator.send_json_to(frame)
    return await outcome(communicator, frame["type"])


async def frames_within(communicator: WebsocketCommunicator, seconds: float = 0.7) -> list[dict]:
    """Every frame that arrives in the next `seconds` (to show that something does not come)."""
    received = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        if await communicator.receive_nothing(timeout=remaining, interval=0.02):
            break
        received.append(await communicator.receive_json_from())
    return received
