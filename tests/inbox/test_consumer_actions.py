"""The inbox socket's actions (issue #12): every transition and its refusals, replies and notes,
typing both ways, transfers, read marks, notifications, canned replies, the copilot's frames."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from bots.models import Conversation, Message
from conversations.services import handoff
from conversations.services.sequencing import message_insert_next_seq
from copilot.models import ReplySuggestion
from inbox.models import AgentNote, CannedReply
from tests.conversations.conftest import open_ws
from tests.factories import AgentTeamFactory, BotFactory
from tests.inbox.conftest import act, expect, frames_within, inbox_socket, queued, role_user
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sent_tasks")]


def _visitor_says(conversation: Conversation, text: str, client_id: str) -> Message:
    return message_insert_next_seq(conversation_id=conversation.pk, role="user", text=text, client_id=client_id)


async def test_an_agent_sees_the_queue_live_claims_replies_notes_reads_and_returns_it() -> None:
    bot = await sync_to_async(BotFactory)(name="Shop")
    agent = await sync_to_async(role_user)("agent", bot)
    inbox = await inbox_socket(agent)

    conversation = await sync_to_async(queued)(bot)
    update = await expect(inbox, "update")
    assert update["update"] == {"kind": "handoff_requested", "conversation_id": conversation.pk, "status": "queued"}
    notice = await expect(inbox, "notification")
    assert notice["kind"] == "queued" and notice["conversation_id"] == conversation.pk and notice["title"]
    await sync_to_async(_visitor_says)(conversation, "Where is my parcel?", "v1")

    await inbox.send_json_to({"type": "list", "view": "unassigned"})
    listed = await expect(inbox, "list")
    (item,) = listed["items"]
    assert (
        item["id"] == conversation.pk and item["status"] == "queued" and item["bot"] == {"id": bot.pk, "name": "Shop"}
    )
    assert item["waiting_s"] >= 0 and item["sla_breached"] is False and item["assigned_agent"] is None
    assert item["last_message"]["text"] == "Where is my parcel?" and item["unread"] == 1
    assert listed["next_cursor"] is None and listed["counts"] == {"mine": 0, "unassigned": 1, "all": 1}

    assert (await act(inbox, {"type": "claim", "conversation_id": conversation.pk}))["type"] == "ack"
    await inbox.send_json_to({"type": "open", "conversation_id": conversation.pk})
    opened = (await expect(inbox, "conversation"))["conversation"]
    assert opened["status"] == "assigned" and opened["assigned_agent"]["id"] == agent.pk
    assert [e["kind"] for e in opened["events"]] == ["handoff_requested", "assigned"]
    assert opened["visitor"]["id"] == conversation.visitor_id and opened["messages"][0]["role"] == "user"
    assert {"intent", "confidence", "entities"} <= set(opened["messages"][0])

    ack = await act(
        inbox, {"type": "reply", "conversation_id": conversation.pk, "client_id": "r1", "text": "On its way!"}
    )
    assert ack["type"] == "ack" and ack["seq"] == 2
    live = await expect(inbox, "message", role="agent")  # through the widget's group, like the visitor gets it
    assert live["text"] == "On its way!" and live["conversation_id"] == conversation.pk

    assert (await act(inbox, {"type": "note", "conversation_id": conversation.pk, "text": "VIP"}))["type"] == "ack"
    note = await expect(inbox, "note")
    assert note["text"] == "VIP" and note["conversation_id"] == conversation.pk and note["author"]
    assert not await Message.objects.filter(conversation=conversation, text="VIP").aexists()

    assert (await act(inbox, {"type": "read", "conversation_id": conversation.pk, "seq": 99}))["seq"] == 2
    await inbox.send_json_to({"type": "list", "view": "mine"})
    assert [(i["id"], i["unread"]) for i in (await expect(inbox, "list"))["items"]] == [(conversation.pk, 0)]

    assert (await act(inbox, {"type": "return_to_bot", "conversation_id": conversation.pk}))["type"] == "ack"
    assert (await Conversation.objects.aget(pk=conversation.pk)).status == "bot"
    await inbox.disconnect()


async def test_visitor_and_agent_see_each_other_typing_and_messages(llm_bot, allowed_origin, no_turns) -> None:
    agent = await sync_to_async(role_user)("agent", llm_bot, first_name="Alice")
    visitor = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(visitor, v=2)
    await visitor.send_json_to({"type": "message", "client_id": "m1", "text": "I need a person"})
    conversation_id = (await ws.expect(visitor, "ack"))["conversation_id"]
    await sync_to_async(handoff.handoff_request)(conversation_id=conversation_id, reason="asked")

    inbox = await inbox_socket(agent)
    await act(inbox, {"type": "claim", "conversation_id": conversation_id})
    await inbox.send_json_to({"type": "open", "conversation_id": conversation_id})
    await expect(inbox, "conversation")
    assert (await ws.expect(visitor, "handoff", timeout=5))["status"] == "queued"
    assert (await ws.expect(visitor, "handoff", timeout=5))["agent"]["name"] == "Alice"

    await visitor.send_json_to({"type": "typing", "on": True})
    typing = await expect(inbox, "typing")
    assert typing["role"] == "visitor" and typing["on"] is True and typing["conversation_id"] == conversation_id

    assert (await act(inbox, {"type": "typing", "conversation_id": conversation_id, "on": True}))["type"] == "ack"
    agent_typing = await ws.expect(visitor, "typing")
    assert agent_typing == {
        "type": "typing",
        "role": "agent",
        "on": True,
        "author": {"name": "Alice", "avatar_url": ""},
    }

    await act(
        inbox, {"type": "reply", "conversation_id": conversation_id, "client_id": "a1", "text": "Hi, Alice here."}
    )
    assert (await ws.expect(visitor, "message"))["author"]["name"] == "Alice"
    await visitor.send_json_to({"type": "message", "client_id": "m2", "text": "Thanks!"})
    visitor_message = await expect(inbox, "message", role="user")
    assert visitor_message["text"] == "Thanks!"
    # The agent's own typing never came back to them.
    assert not [f for f in await frames_within(inbox) if f["type"] == "typing" and f["role"] == "agent"]
    await visitor.disconnect()
    await inbox.disconnect()


async def test_refusals_other_bots_agent_non_holder_and_resolved() -> None:
    bot, other = await sync_to_async(BotFactory)(), await sync_to_async(BotFactory)()
    team = await sync_to_async(AgentTeamFactory)()
    holder = await sync_to_async(role_user)("agent", bot, team=team)
    colleague = await sync_to_async(role_user)("agent", bot, team=team)
    outsider = await sync_to_async(role_user)("agent", other)
    conversation = await sync_to_async(queued)(bot)

    stranger = await inbox_socket(outsider)
    cid = conversation.pk
    for frame, code in [
        ({"type": "open", "conversation_id": cid}, "not_found"),
        ({"type": "claim", "conversation_id": cid}, "not_allowed"),
        ({"type": "note", "conversation_id": cid, "text": "x"}, "not_allowed"),
        ({"type": "read", "conversation_id": cid, "seq": 1}, "not_found"),
        ({"type": "suggest", "conversation_id": cid}, "not_found"),
        ({"type": "typing", "conversation_id": cid, "on": True}, "not_found"),
        ({"type": "open", "conversation_id": 10**12}, "not_found"),
    ]:
        error = await act(stranger, frame)
        assert (error["type"], error["code"], error["conversation_id"]) == ("error", code, frame["conversation_id"])
    await stranger.send_json_to({"type": "list", "view": "all"})
    assert (await expect(stranger, "list"))["items"] == []

    mine, theirs = await inbox_socket(holder), await inbox_socket(colleague)
    await act(mine, {"type": "claim", "conversation_id": cid})
    for frame, code in [
        ({"type": "reply", "conversation_id": cid, "client_id": "c1", "text": "hello"}, "not_assigned_to_you"),
        ({"type": "typing", "conversation_id": cid, "on": True}, "not_assigned_to_you"),
        ({"type": "resolve", "conversation_id": cid}, "not_assigned_to_you"),
        ({"type": "return_to_bot", "conversation_id": cid}, "not_assigned_to_you"),
        ({"type": "transfer", "conversation_id": cid, "to_agent_id": colleague.pk}, "not_assigned_to_you"),
        ({"type": "claim", "conversation_id": cid}, "already_assigned"),
        ({"type": "reopen", "conversation_id": cid}, "bad_state"),
    ]:
        assert (await act(theirs, frame))["code"] == code, frame
    for frame, code in [
        ({"type": "reply", "conversation_id": cid, "client_id": "c2", "text": "   "}, "bad_frame"),
        ({"type": "reply", "conversation_id": cid, "client_id": 7, "text": "hi"}, "bad_frame"),
        ({"type": "transfer", "conversation_id": cid, "to_agent_id": outsider.pk}, "not_allowed"),
        ({"type": "transfer", "conversation_id": cid, "to_agent_id": 10**12}, "not_found"),
        ({"type": "transfer", "conversation_id": cid, "to_team_id": 10**12}, "not_found"),
    ]:
        assert (await act(mine, frame))["code"] == code, frame

    assert (await act(mine, {"type": "resolve", "conversation_id": cid}))["type"] == "ack"
    again = await act(mine, {"type": "resolve", "conversation_id": cid})
    assert (again["type"], again["code"]) == ("error", "already_resolved")
    refused = await act(mine, {"type": "reply", "conversation_id": cid, "client_id": "late", "text": "still there?"})
    assert refused["code"] == "already_resolved"
    assert await Message.objects.filter(conversation_id=cid, role="agent").acount() == 0

    # Reopened, it is the reopener's: the colleague may reopen a resolved conversation of their bot.
    assert (await act(theirs, {"type": "reopen", "conversation_id": cid}))["type"] == "ack"
    reopened = await Conversation.objects.aget(pk=cid)
    assert (reopened.status, reopened.assigned_agent_id) == ("assigned", colleague.pk)
    for s in (mine, theirs, stranger):
        await s.disconnect()


async def test_transfers_to_an_agent_notify_them_and_to_a_team_queue_it_again(sent_tasks) -> None:
    bot = await sync_to_async(BotFactory)(name="Shop")
    team, second_team = await sync_to_async(AgentTeamFactory)(), await sync_to_async(AgentTeamFactory)()
    await sync_to_async(second_team.bots.add)(bot)
    first = await sync_to_async(role_user)("agent", bot, team=team)
    second = await sync_to_async(role_user)("agent", bot, team=team)
    foreign_team = await sync_to_async(AgentTeamFactory)()
    conversation = await sync_to_async(queued)(bot)
    await sync_to_async(_visitor_says)(conversation, "My order #123 never came", "v1")
    await sync_to_async(handoff.handoff_claim)(conversation_id=conversation.pk, agent=first)

    holder, receiver = await inbox_socket(first), await inbox_socket(second)
    ack = await act(holder, {"type": "transfer", "conversation_id": conversation.pk, "to_agent_id": second.pk})
    assert ack["type"] == "ack"
    notice = await expect(receiver, "notification", kind="assigned")
    assert (
        notice["conversation_id"] == conversation.pk and "My order #123" in notice["body"] and "Shop" in notice["body"]
    )
    moved = await Conversation.objects.aget(pk=conversation.pk)
    assert (moved.status, moved.assigned_agent_id) == ("assigned", second.pk)
    # Capacity freed for the first agent: their bots' queue is routed again.
    assert ("inbox.queue_route", (first.pk,)) in sent_tasks

    refused = await act(
        receiver, {"type": "transfer", "conversation_id": conversation.pk, "to_team_id": foreign_team.pk}
    )
    assert refused["code"] == "not_allowed"
    ack = await act(receiver, {"type": "transfer", "conversation_id": conversation.pk, "to_team_id": second_team.pk})
    assert ack["type"] == "ack"
    moved = await Conversation.objects.aget(pk=conversation.pk)
    assert (moved.status, moved.assigned_agent_id, moved.team_id) == ("queued", None, second_team.pk)
    assert ("inbox.conversation_route", (conversation.pk,)) in sent_tasks
    # No notification for one's own claim.
    await act(holder, {"type": "claim", "conversation_id": conversation.pk})
    await expect(
        holder, "update", update={"kind": "assigned", "conversation_id": conversation.pk, "status": "assigned"}
    )
    assert not [f for f in await frames_within(holder) if f["type"] == "notification" and f["kind"] == "assigned"]
    await holder.disconnect()
    await receiver.disconnect()


async def test_each_update_reaches_a_page_once_though_it_comes_through_two_groups() -> None:
    bot = await sync_to_async(BotFactory)()
    agent = await sync_to_async(role_user)("agent", bot)
    conversation = await sync_to_async(queued)(bot)
    inbox = await inbox_socket(agent)
    # The claim's update is sent to the bot's group and to the agent's own group.
    await act(inbox, {"type": "claim", "conversation_id": conversation.pk})
    await expect(inbox, "update", timeout=5)
    assert [f for f in await frames_within(inbox) if f["type"] == "update"] == []
    await inbox.disconnect()


async def test_a_canned_reply_shortcut_sends_the_reply() -> None:
    bot = await sync_to_async(BotFactory)()
    agent = await sync_to_async(role_user)("agent", bot)
    await CannedReply.objects.acreate(shortcut="/refund", text="Refunds take 5 days.")
    await CannedReply.objects.acreate(bot=bot, shortcut="/refund", text="This shop refunds in 3 days.")
    conversation = await sync_to_async(queued)(bot)
    inbox = await inbox_socket(agent, hello=False)
    await inbox.send_json_to({"type": "hello"})
    welcome = await expect(inbox, "welcome")
    assert [(c["shortcut"], c["text"]) for c in welcome["canned_replies"]] == [
        ("/refund", "This shop refunds in 3 days.")
    ]
    await act(inbox, {"type": "claim", "conversation_id": conversation.pk})
    await act(inbox, {"type": "reply", "conversation_id": conversation.pk, "client_id": "c", "text": " /refund "})
    sent = await Message.objects.aget(conversation=conversation, role="agent")
    assert sent.text == "This shop refunds in 3 days."
    await inbox.disconnect()


async def test_copilot_frames_and_outcomes(sent_tasks) -> None:
    bot = await sync_to_async(BotFactory)()
    agent = await sync_to_async(role_user)("agent", bot)
    outsider = await sync_to_async(role_user)("agent", await sync_to_async(BotFactory)())
    conversation = await sync_to_async(queued)(bot)
    await sync_to_async(handoff.handoff_claim)(conversation_id=conversation.pk, agent=agent)
    visitor = await sync_to_async(_visitor_says)(conversation, "Where is my parcel?", "v1")
    suggestion = await ReplySuggestion.objects.acreate(
        conversation=conversation, for_message=visitor, text="It ships tomorrow.", model="stub"
    )
    inbox = await inbox_socket(agent)
    await inbox.send_json_to({"type": "open", "conversation_id": conversation.pk})
    opened = (await expect(inbox, "conversation"))["conversation"]
    assert opened["suggestion"]["id"] == suggestion.pk and opened["brief"] is None

    assist = {"kind": "brief", "conversation_id": conversation.pk, "summary": "Parcel late."}
    await get_channel_layer().group_send(
        f"inbox.conversation.{conversation.pk}", {"type": "inbox.update", "update": assist}
    )
    assert (await expect(inbox, "assist"))["assist"] == assist

    assert (await act(inbox, {"type": "suggest", "conversation_id": conversation.pk}))["type"] == "ack"
    assert ("copilot.suggestion_write", (conversation.pk, True)) in sent_tasks

    stranger = await inbox_socket(outsider)
    refused = await act(stranger, {"type": "suggestion_discard", "suggestion_id": suggestion.pk})
    assert refused["code"] == "not_found"

    edited = "It ships tomorrow morning."
    reply = {"type": "reply", "conversation_id": conversation.pk, "client_id": "r1", "text": edited}
    await act(inbox, {**reply, "suggestion_id": suggestion.pk})
    await suggestion.arefresh_from_db()
    assert (suggestion.outcome, suggestion.sent_text, suggestion.edit_distance) == ("edited", edited, len(" morning"))

    other = await ReplySuggestion.objects.acreate(
        conversation=conversation, for_message=visitor, text="Anything else?", model="stub"
    )
    ack = await act(inbox, {"type": "suggestion_discard", "suggestion_id": other.pk})
    assert ack["type"] == "ack" and ack["conversation_id"] == conversation.pk
    await other.arefresh_from_db()
    assert other.outcome == "discarded"
    await inbox.disconnect()
    await stranger.disconnect()


async def test_closing_a_conversation_stops_its_live_frames_and_notes_reach_only_its_viewers() -> None:
    bot = await sync_to_async(BotFactory)()
    agent = await sync_to_async(role_user)("agent", bot)
    watcher = await sync_to_async(role_user)("agent", bot)
    first, second = await sync_to_async(queued)(bot), await sync_to_async(queued)(bot)
    await sync_to_async(handoff.handoff_claim)(conversation_id=first.pk, agent=agent)
    inbox, other = await inbox_socket(agent), await inbox_socket(watcher)
    await other.send_json_to({"type": "open", "conversation_id": second.pk})
    await expect(other, "conversation")
    await inbox.send_json_to({"type": "open", "conversation_id": first.pk})
    await expect(inbox, "conversation")
    await act(inbox, {"type": "note", "conversation_id": first.pk, "text": "Only for those who look at #1"})
    assert (await expect(inbox, "note"))["conversation_id"] == first.pk
    assert (await act(inbox, {"type": "close_conversation"}))["conversation_id"] == first.pk

    await sync_to_async(handoff.agent_message_send)(conversation_id=first.pk, agent=agent, text="after close")
    for socket in (inbox, other):
        assert not [f for f in await frames_within(socket) if f["type"] in ("message", "note")]
    assert await AgentNote.objects.filter(conversation=first).acount() == 1
    await inbox.disconnect()
    await other.disconnect()


async def test_offline_messages_are_listed_for_the_bots_agents_and_marked_done_once_for_all() -> None:
    from conversations.services.tickets import offline_ticket_leave

    bot, other = await sync_to_async(BotFactory)(name="Shop"), await sync_to_async(BotFactory)(name="Other")
    alice, bob = await sync_to_async(role_user)("agent", bot), await sync_to_async(role_user)("agent", bot)
    leave = sync_to_async(offline_ticket_leave)
    ticket = await leave(
        bot=bot,
        visitor_id="v1",
        conversation=None,
        client_id="t1",
        name="Ann",
        email="ann@example.com",
        message="Call me back",
    )
    hidden = await leave(
        bot=other, visitor_id="v2", conversation=None, client_id="t2", name="Zed", email="zed@example.com", message="x"
    )
    inbox = await inbox_socket(alice, hello=False)
    await inbox.send_json_to({"type": "hello"})
    welcome = await expect(inbox, "welcome")
    assert welcome["tickets"]["total"] == 1
    (item,) = welcome["tickets"]["items"]
    assert (item["id"], item["name"], item["email"], item["message"]) == (
        ticket.pk,
        "Ann",
        "ann@example.com",
        "Call me back",
    )
    assert item["bot"] == {"id": bot.pk, "name": "Shop"}

    watcher = await inbox_socket(bob)
    refused = await act(inbox, {"type": "ticket_done", "ticket_id": hidden.pk})  # another bot's: not found
    assert refused["type"] == "error" and refused["code"] == "not_found"
    done = await act(inbox, {"type": "ticket_done", "ticket_id": ticket.pk})
    assert done["type"] == "ack" and done["ticket_id"] == ticket.pk
    assert (await expect(watcher, "update"))["update"]["kind"] == "ticket_done"  # bob's page drops it too
    await watcher.send_json_to({"type": "hello"})
    assert (await expect(watcher, "welcome"))["tickets"] == {"total": 0, "items": []}
    await ticket.arefresh_from_db()
    assert ticket.status == "done"
    assert (await act(inbox, {"type": "ticket_done", "ticket_id": ticket.pk}))["type"] == "ack"  # twice: no error
    await inbox.disconnect()
    await watcher.disconnect()
