"""Who may open the inbox socket, what the welcome says, and frames that are refused, not crashed on."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from bots.models import AgentProfile
from chatplatform.asgi import application
from tests.factories import AgentTeamFactory, BotFactory
from tests.inbox.conftest import HOST, ORIGIN, expect, inbox_socket, role_user, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sent_tasks")]


@pytest.mark.parametrize("who", ["analyst", "anonymous", "cross-site page", "no origin", "inactive agent"])
async def test_only_agents_on_this_site_connect(who: str) -> None:
    headers = [(b"origin", ORIGIN), (b"host", HOST)]
    if who == "analyst":
        headers.append((b"cookie", await sync_to_async(session_cookie)(await sync_to_async(role_user)("analyst"))))
    elif who in ("cross-site page", "no origin", "inactive agent"):
        agent = await sync_to_async(role_user)("agent")
        headers.append((b"cookie", await sync_to_async(session_cookie)(agent)))
        if who == "cross-site page":
            headers[0] = (b"origin", b"https://evil.example")
        elif who == "no origin":
            headers.pop(0)
        else:
            agent.is_active = False
            await agent.asave(update_fields=["is_active"])
    communicator = WebsocketCommunicator(application, "/ws/inbox/", headers=headers)
    connected, code = await communicator.connect(timeout=10)
    assert not connected and code == 4403


async def test_the_welcome_lists_the_agents_bots_teams_colleagues_and_counts() -> None:
    bot, other = await sync_to_async(BotFactory)(name="Shop"), await sync_to_async(BotFactory)(name="Other")
    team = await sync_to_async(AgentTeamFactory)(name="Support")
    agent = await sync_to_async(role_user)("agent", bot, team=team, first_name="Alice")
    colleague = await sync_to_async(role_user)("agent", bot, team=team, first_name="Bob")
    await sync_to_async(role_user)("agent", other)  # another bot's agent: not a colleague
    await AgentProfile.objects.acreate(user=agent, presence="away", display_name="Alice A.")
    communicator = await inbox_socket(agent, hello=False)
    await communicator.send_json_to({"type": "hello"})
    welcome = await expect(communicator, "welcome")
    assert welcome["agent"] == {"id": agent.pk, "name": "Alice A.", "presence": "away"}
    assert welcome["bots"] == [{"id": bot.pk, "name": "Shop"}]
    assert welcome["teams"] == [{"id": team.pk, "name": "Support"}]
    # Presence as routing sees it: Bob never opened the inbox, so he is offline.
    assert {(a["id"], a["name"], a["presence"]) for a in welcome["agents"]} == {
        (agent.pk, "Alice A.", "away"),
        (colleague.pk, "Bob", "offline"),
    }
    assert welcome["counts"] == {"mine": 0, "unassigned": 0, "all": 0}
    assert welcome["canned_replies"] == []
    await communicator.disconnect()


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"type": 5}',
        '{"type": "fly"}',
        '{"type": "claim"}',
        '{"type": "claim", "conversation_id": true}',
        '{"type": "claim", "conversation_id": "7"}',
        '{"type": "claim", "conversation_id": 99999999999999999999}',
        '{"type": "list", "view": "everything"}',
        '{"type": "list", "cursor": "bm90IGEgY3Vyc29y"}',
        '{"type": "presence", "presence": "busy"}',
        '{"type": "read", "conversation_id": 1, "seq": -1}',
        '{"type": "transfer", "conversation_id": 1}',
        '{"type": "hello", "x": ' + "[" * 50 + "]" * 50 + "}",
    ],
)
async def test_bad_frames_get_a_bad_frame_error_and_the_socket_stays(raw: str) -> None:
    bot = await sync_to_async(BotFactory)()
    agent = await sync_to_async(role_user)("agent", bot)
    communicator = await inbox_socket(agent)
    await communicator.send_to(text_data=raw)
    error = await expect(communicator, "error")
    assert error["code"] == "bad_frame", error
    await communicator.send_json_to({"type": "heartbeat"})
    assert (await expect(communicator, "pong")) == {"type": "pong"}
    await communicator.disconnect()


async def test_a_flood_of_frames_is_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("inbox.ws.consumers.FRAMES_PER_MINUTE", 5)
    bot = await sync_to_async(BotFactory)()
    communicator = await inbox_socket(await sync_to_async(role_user)("agent", bot), hello=False)
    for _ in range(5):
        await communicator.send_json_to({"type": "heartbeat"})
        await expect(communicator, "pong")
    await communicator.send_json_to({"type": "heartbeat"})
    error = await expect(communicator, "error")
    assert error["code"] == "rate_limited" and error["action"] is None  # refused before it is parsed
    await communicator.disconnect()
