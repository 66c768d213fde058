"""Issue 12, browser tests: a visitor in the real widget and an agent in the real inbox page, two
Chromium contexts against the real platform (live ASGI server, Celery worker, Redis, PostgreSQL, the
stub LLM). Fixtures: tests/browser/conftest.py (Playwright lives in its own thread; pages are proxies).

The flow: the visitor asks for a person -> the agent (presence "away", so the router leaves the
conversation in the queue for them to claim) gets a notification and the new item -> opens it with
the keyboard and claims it -> both see each other typing -> they exchange messages (and the agent
writes a private note the visitor never sees) -> the agent returns it to the bot -> the bot answers
the visitor's next message with the agent's turn in its history. The second test does the same with
the visitor reloading mid-way (messages and handoff state replayed) and the agent without
notification permission (asked only from the button; a denial is respected).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client

from bots.models import AgentProfile, Conversation, ConversationEvent, Message, OfflineTicket
from conversations.services.tickets import offline_ticket_leave
from copilot.prompts import BRIEF_REQUEST
from tests.browser.conftest import DESKTOP, PW
from tests.factories import agent_on_duty
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "docs" / "img"

ASK_FOR_PERSON = "I want to talk to a person"
AGENT_HELLO = "Hi, I'm Alice. I can see your order; let me check it for you."
VISITOR_ANSWER = "Thanks! It is order 1042, placed last Monday."
AGENT_ANSWER = "It left our warehouse today and arrives on Thursday. https://shop.example.com/track/1042"
NOTE = "Order 1042 delayed by the carrier; offer a voucher if they ask again."
FOLLOW_UP = "Great, and do you ship to Canada as well?"
# The stub LLM answers every request with this: the bot's answer after the return, and the copilot.
BOT_REPLY = "Yes, we ship to Canada: 5-7 business days, free on orders over $50."
BRIEF = "The visitor asked for a person about an order that has not arrived yet."

# Records the notifications the page creates (the page's own code runs unchanged) and counts
# permission requests, so the test can prove none is made on load.
INIT_SCRIPT = """(() => {
  window.__notifications = []; window.__permissionRequests = 0;
  const Real = window.Notification;
  if (!Real) return;
  function Recorded(title, options) {
    window.__notifications.push({ title, body: options && options.body });
    return new Real(title, options);
  }
  Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
  Recorded.requestPermission = (...args) => { window.__permissionRequests += 1; return Real.requestPermission(...args); };
  window.Notification = Recorded;
})();"""


# -- helpers ----------------------------------------------------------------------------------


def open_widget(page: Any, expect: Any, url: str) -> None:
    page.goto(url)
    page.get_by_test_id("launcher").click()
    expect(page.get_by_test_id("panel")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "online")


def widget_send(page: Any, text: str) -> None:
    box = page.get_by_test_id("input")
    box.fill(text)
    box.press("Enter")


def widget_messages(page: Any, role: str) -> Any:
    return page.locator(f"[data-testid=message][data-role={role}]")


def inbox_messages(page: Any, role: str) -> Any:
    """The text of each message (without its author, time and NLU line)."""
    return page.locator(f"#transcript [data-testid=message][data-role={role}] [data-testid=text]")


@pytest.fixture
def stub(stub_llm):
    stub_llm.behaviour.reply = BOT_REPLY
    stub_llm.behaviour.replies_when = [(BRIEF_REQUEST, BRIEF)]  # the handoff brief's request
    stub_llm.behaviour.chunk_delay = 0.02
    return stub_llm


@pytest.fixture
def alice(site_bot) -> Any:
    """An agent of the site's bot, on duty (online with a fresh heartbeat), with the inbox permission.
    The permission is given directly: a transactional test flushes the role groups of the migrations."""
    profile = agent_on_duty(site_bot, display_name="Alice")
    profile.user.username = "alice"
    profile.user.save()
    profile.user.user_permissions.add(Permission.objects.get(content_type__app_label="inbox", codename="use_inbox"))
    return profile.user


@pytest.fixture
def agent_page_for(browser: PW, live_server_url: str) -> Iterator[Callable[..., Any]]:
    """agent_page_for(user, notifications=bool) -> the inbox page, signed in as `user`, in its own context."""
    contexts: list[PW] = []

    def make(user: Any, *, notifications: bool) -> tuple[PW, list[str]]:
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        ctx = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="UTC")
        contexts.append(ctx)
        ctx.set_default_timeout(10_000)
        ctx.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server_url}])
        if notifications:
            ctx.grant_permissions(["notifications"], origin=live_server_url)
        ctx.add_init_script(script=INIT_SCRIPT)
        page = ctx.new_page()
        errors: list[str] = []

        # Through the proxy: the handlers run in the browser thread and get Playwright's own objects.
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server_url}/inbox/")
        return page, errors

    yield make
    for ctx in contexts:
        ctx.close()


def open_inbox(
    agent_page_for: Callable[..., Any], expect: Any, user: Any, *, notifications: bool
) -> tuple[Any, list[str]]:
    page, errors = agent_page_for(user, notifications=notifications)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "online")
    expect(page.get_by_test_id("presence")).to_be_enabled()
    return page, errors


def agent_goes_away(page: Any, user: Any) -> None:
    """Presence "away" from the header: still on duty (the widget may offer a person), but the router
    only assigns to "online" agents, so the conversation waits in the queue for a claim."""
    page.get_by_test_id("presence").select_option("away")
    wait_until(lambda: AgentProfile.objects.filter(user=user, presence="away").exists(), what="presence away stored")


def visitor_asks_for_a_person(page: Any, expect: Any, url: str) -> int:
    open_widget(page, expect, url)
    widget_send(page, ASK_FOR_PERSON)
    expect(page.locator("[data-testid=handoff][data-status=queued]")).to_have_count(1, timeout=20_000)
    return wait_until(
        lambda: Conversation.objects.filter(status="queued").values_list("pk", flat=True).first(),
        what="the conversation queued",
    )


def agent_opens_and_claims(agent: Any, expect: Any, conversation_id: int) -> None:
    """Keyboard only: the list, j to the item, Enter to open, c to claim."""
    item = agent.locator(f"#conv-{conversation_id}")
    expect(item).to_be_visible(timeout=15_000)
    expect(item).to_have_attribute("data-status", "queued")
    agent.locator("#items").focus()
    agent.keyboard.press("j")
    expect(item).to_have_attribute("aria-selected", "true")
    agent.keyboard.press("Enter")
    expect(agent.get_by_test_id("conv-title")).to_contain_text(f"#{conversation_id}")
    expect(inbox_messages(agent, "user").first).to_have_text(ASK_FOR_PERSON)
    expect(agent.locator("#transcript [data-testid=event][data-kind=handoff_requested]")).to_have_count(1)
    expect(agent.get_by_test_id("claim")).to_be_enabled()
    agent.keyboard.press("c")
    expect(agent.get_by_test_id("conv-status")).to_have_text("With you")
    expect(agent.locator("#transcript [data-testid=event][data-kind=assigned]")).to_contain_text("Alice")


def typing_both_ways(agent: Any, visitor: Any, expect: Any) -> None:
    agent.keyboard.press("r")
    assert agent.evaluate("document.activeElement.id") == "reply"
    agent.keyboard.type("Hi, I'm Al", delay=20)
    expect(visitor.get_by_test_id("typing")).to_be_visible()
    expect(visitor.get_by_test_id("typing")).to_contain_text("Alice is typing")
    visitor.get_by_test_id("input").press_sequentially("Hel", delay=30)
    expect(agent.get_by_test_id("typing")).to_have_text("The visitor is typing…")
    visitor.get_by_test_id("input").fill("")
    agent.get_by_test_id("reply").fill("")


def exchange_messages(agent: Any, visitor: Any, expect: Any) -> None:
    agent.get_by_test_id("reply").fill(AGENT_HELLO)
    agent.get_by_test_id("reply").press("Enter")
    expect(widget_messages(visitor, "agent").last).to_have_text(AGENT_HELLO)
    expect(visitor.locator("[data-testid=author]").last).to_have_text("Alice")
    expect(inbox_messages(agent, "agent").last).to_have_text(AGENT_HELLO)
    expect(agent.locator("#transcript [data-testid=pending]")).to_have_count(0)
    expect(visitor.get_by_test_id("typing")).to_be_hidden()

    widget_send(visitor, VISITOR_ANSWER)
    expect(inbox_messages(agent, "user").last).to_have_text(VISITOR_ANSWER)

    # Shift+Enter is a new line, Enter sends; a link is a link (https only).
    reply = agent.get_by_test_id("reply")
    reply.fill("It left our warehouse today")
    reply.press("Shift+Enter")
    assert agent.get_by_test_id("reply").input_value() == "It left our warehouse today\n"
    reply.fill(AGENT_ANSWER)
    reply.press("Enter")
    expect(widget_messages(visitor, "agent").last).to_have_text(AGENT_ANSWER)
    link = inbox_messages(agent, "agent").last.locator("a")
    expect(link).to_have_attribute("href", "https://shop.example.com/track/1042")
    expect(link).to_have_attribute("rel", "noopener noreferrer")


def private_note(agent: Any, visitor: Any, expect: Any) -> None:
    agent.get_by_test_id("as-note").check()
    expect(agent.get_by_test_id("send")).to_have_text("Add note")
    agent.get_by_test_id("reply").fill(NOTE)
    agent.get_by_test_id("reply").press("Enter")
    note = agent.locator("#transcript [data-testid=note]")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("Private note")
    expect(note).to_contain_text(NOTE)
    agent.get_by_test_id("as-note").uncheck()
    time.sleep(0.3)
    assert NOTE not in visitor.get_by_test_id("messages").inner_text()


def return_to_bot_and_bot_answers(agent: Any, visitor: Any, expect: Any, stub: Any, conversation_id: int) -> None:
    agent.keyboard.press("Escape")  # out of the reply box: shortcuts apply again
    agent.keyboard.press("b")
    expect(agent.get_by_test_id("conv-status")).to_have_text("With the bot")
    expect(agent.locator("#transcript [data-testid=event][data-kind=returned_to_bot]")).to_contain_text(
        "Alice returned it to the bot"
    )
    expect(agent.get_by_test_id("claim")).to_be_enabled()
    expect(agent.get_by_test_id("send")).to_be_disabled()
    expect(visitor.locator("[data-testid=handoff][data-status=bot]")).to_have_text("You're back with the assistant.")

    widget_send(visitor, FOLLOW_UP)
    expect(widget_messages(visitor, "bot").last).to_have_text(BOT_REPLY, timeout=20_000)
    # The agent still watches the open conversation: the bot's answer arrives live there too.
    expect(inbox_messages(agent, "bot").last).to_have_text(BOT_REPLY, timeout=10_000)

    # The bot answered with the agent's turns in its history (as assistant turns).
    def turn_request() -> dict[str, Any] | None:
        for body in reversed(stub.behaviour.requests):
            users = [m for m in body.get("messages", []) if m.get("role") == "user"]
            if users and FOLLOW_UP in str(users[-1].get("content")):
                return body
        return None

    body = wait_until(turn_request, what="the bot's LLM request for the follow-up")
    assistant_turns = [str(m.get("content")) for m in body["messages"] if m.get("role") == "assistant"]
    assert any(AGENT_HELLO in turn for turn in assistant_turns), body["messages"]
    assert any(AGENT_ANSWER in turn for turn in assistant_turns), body["messages"]
    assert not any(NOTE in str(m.get("content")) for m in body["messages"]), "a private note reached the LLM"

    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.status == "bot" and conversation.assigned_agent_id is None
    roles = list(Message.objects.filter(conversation=conversation).order_by("seq").values_list("role", "text"))
    assert ("agent", AGENT_HELLO) in roles and ("agent", AGENT_ANSWER) in roles
    assert roles[-2:] == [("user", FOLLOW_UP), ("bot", BOT_REPLY)]
    assert [r for r in roles if r == ("agent", AGENT_HELLO)] == [("agent", AGENT_HELLO)]  # stored once
    kinds = list(
        ConversationEvent.objects.filter(conversation=conversation).order_by("pk").values_list("kind", flat=True)
    )
    assert kinds[:3] == ["handoff_requested", "assigned", "returned_to_bot"], kinds


# -- 1. the whole flow ------------------------------------------------------------------------


def test_visitor_and_agent_talk_and_the_bot_takes_over(
    page, expect, shop_url, stub, celery_worker, alice, agent_page_for, page_events
) -> None:
    visitor = page
    agent, agent_errors = open_inbox(agent_page_for, expect, alice, notifications=True)
    expect(agent.get_by_test_id("notify-state")).to_have_text("Notifications on")
    expect(agent.get_by_test_id("empty")).to_have_text("Nobody is waiting. New conversations appear here.")
    agent_goes_away(agent, alice)

    conversation_id = visitor_asks_for_a_person(visitor, expect, shop_url())

    # The agent is told: a browser notification, the chime, the new item with its waiting time.
    notes = wait_until(lambda: agent.evaluate("window.__notifications"), what="a browser notification")
    assert notes[0]["title"] == "Someone is waiting" and f"#{conversation_id}" in notes[0]["body"]
    assert int(agent.get_by_test_id("inbox").get_attribute("data-chimes") or 0) >= 1
    expect(agent.locator("[data-count=unassigned]")).to_have_text("1")
    expect(agent.locator(f"#conv-{conversation_id} [data-testid=waiting]")).to_contain_text("waiting")
    expect(agent.locator(f"#conv-{conversation_id} [data-testid=last-message]")).to_be_visible()

    agent_opens_and_claims(agent, expect, conversation_id)
    expect(visitor.locator("[data-testid=handoff][data-status=assigned]")).to_have_text("Alice joined the chat.")
    expect(agent.locator("[data-count=mine]")).to_have_text("1")
    expect(agent.get_by_test_id("brief-identity")).to_have_text("Not verified (anonymous visitor)")
    expect(agent.get_by_test_id("brief-summary")).to_have_text(BRIEF, timeout=10_000)

    typing_both_ways(agent, visitor, expect)
    exchange_messages(agent, visitor, expect)
    private_note(agent, visitor, expect)

    agent.get_by_test_id("view-mine").click()  # the tab that lists what the agent holds
    expect(agent.locator(f"#conv-{conversation_id}")).to_be_visible()
    expect(agent.locator("#transcript .note").last).to_be_in_viewport()  # followed to the newest line
    SHOTS.mkdir(parents=True, exist_ok=True)
    agent.screenshot(path=str(SHOTS / "inbox.png"))
    visitor.screenshot(path=str(SHOTS / "widget-agent.png"))

    return_to_bot_and_bot_answers(agent, visitor, expect, stub, conversation_id)
    assert page_events.dialogs == [] and page_events.errors == [], page_events.errors
    assert agent_errors == [], agent_errors


# -- 2. the visitor reloads mid-way; no notification permission -----------------------------


def test_a_visitor_reload_replays_the_agent_messages_and_the_state(
    page, expect, shop_url, stub, celery_worker, alice, agent_page_for, page_events
) -> None:
    visitor = page
    agent, agent_errors = open_inbox(agent_page_for, expect, alice, notifications=False)
    # Permission is asked from the button only, never on load; a denial is respected.
    button = agent.get_by_test_id("notify-enable")
    expect(button).to_be_visible()
    assert agent.evaluate("window.__permissionRequests") == 0
    button.click()
    wait_until(lambda: agent.evaluate("Notification.permission") != "default", what="the permission answer")
    if agent.evaluate("Notification.permission") == "denied":
        expect(agent.get_by_test_id("notify-state")).to_have_text("Notifications are blocked in this browser")
        expect(button).to_be_hidden()
    assert agent.evaluate("window.__permissionRequests") == 1
    agent_goes_away(agent, alice)

    conversation_id = visitor_asks_for_a_person(visitor, expect, shop_url())
    expect(agent.locator(f"#conv-{conversation_id}")).to_be_visible(timeout=15_000)
    wait_until(lambda: int(agent.get_by_test_id("inbox").get_attribute("data-chimes") or 0) >= 1, what="the chime")
    if agent.evaluate("Notification.permission") != "granted":
        assert agent.evaluate("window.__notifications") == []

    agent_opens_and_claims(agent, expect, conversation_id)
    expect(visitor.locator("[data-testid=handoff][data-status=assigned]")).to_have_text("Alice joined the chat.")
    agent.get_by_test_id("reply").fill(AGENT_HELLO)
    agent.get_by_test_id("reply").press("Enter")
    expect(widget_messages(visitor, "agent").last).to_have_text(AGENT_HELLO)

    # Mid-way: the visitor reloads. The transcript and the handoff state come back once, in order.
    visitor.reload()
    expect(visitor.get_by_test_id("panel")).to_be_visible()
    expect(visitor.get_by_test_id("status")).to_have_attribute("data-state", "online")
    expect(widget_messages(visitor, "agent")).to_have_text([AGENT_HELLO])
    expect(visitor.locator("[data-testid=author]")).to_have_text(["Alice"])
    expect(visitor.locator("[data-testid=handoff]")).to_have_count(1)
    expect(visitor.locator("[data-testid=handoff]")).to_have_attribute("data-status", "assigned")
    time.sleep(0.5)  # late or replayed frames would show up as extra bubbles
    expect(widget_messages(visitor, "agent")).to_have_text([AGENT_HELLO])
    expect(widget_messages(visitor, "user")).to_have_text([ASK_FOR_PERSON])

    # After the reload the conversation goes on: typing, messages both ways.
    typing_both_ways(agent, visitor, expect)

    # The agent's network drops while the visitor writes: the banner counts down, and after the
    # reconnect the open conversation is read again, so nothing the visitor wrote meanwhile is lost.
    agent_context = agent.context
    agent_context.set_offline(True)
    expect(agent.get_by_test_id("connection")).to_have_attribute("data-state", "down")
    expect(agent.get_by_test_id("connection")).to_contain_text("Retrying in")
    widget_send(visitor, VISITOR_ANSWER)
    wait_until(
        lambda: Message.objects.filter(conversation_id=conversation_id, text=VISITOR_ANSWER).exists(),
        what="the visitor's message stored while the agent is offline",
    )
    time.sleep(0.3)
    expect(inbox_messages(agent, "user")).to_have_count(1)  # nothing can reach an offline browser
    agent_context.set_offline(False)
    expect(agent.get_by_test_id("connection")).to_have_attribute("data-state", "online", timeout=20_000)
    expect(inbox_messages(agent, "user")).to_have_text([ASK_FOR_PERSON, VISITOR_ANSWER])
    expect(inbox_messages(agent, "agent")).to_have_text([AGENT_HELLO])

    agent.get_by_test_id("reply").fill(AGENT_ANSWER)
    agent.get_by_test_id("reply").press("Enter")
    expect(widget_messages(visitor, "agent")).to_have_text([AGENT_HELLO, AGENT_ANSWER])
    private_note(agent, visitor, expect)

    # The agent reloads the inbox: the open conversation comes back with its transcript and note.
    agent.reload()
    expect(agent.get_by_test_id("connection")).to_have_attribute("data-state", "online")
    expect(agent.get_by_test_id("conv-title")).to_contain_text(f"#{conversation_id}")
    expect(inbox_messages(agent, "agent")).to_have_text([AGENT_HELLO, AGENT_ANSWER])
    expect(agent.locator("#transcript [data-testid=note]")).to_have_count(1)

    return_to_bot_and_bot_answers(agent, visitor, expect, stub, conversation_id)
    assert page_events.dialogs == [] and page_events.errors == [], page_events.errors
    # The only errors on the agent's page: Chromium's log lines for the sockets refused while offline.
    assert [e for e in agent_errors if "WebSocket" not in e and "ERR_INTERNET_DISCONNECTED" not in e] == []


# -- 3. an offline message waits in the inbox until an agent marks it done -----------------------


def test_an_offline_message_shows_in_the_inbox_until_marked_done(
    expect, site_bot, alice, agent_page_for, page_events
) -> None:
    hostile = 'Call me <img src=x onerror="window.__xss=1"> back'
    offline_ticket_leave(
        bot=site_bot,
        visitor_id="v-off",
        conversation=None,
        client_id="t1",
        name="Ann",
        email="ann@example.com",
        message=hostile,
    )
    agent, agent_errors = open_inbox(agent_page_for, expect, alice, notifications=False)
    ticket = agent.get_by_test_id("ticket")
    expect(ticket).to_have_count(1)
    expect(agent.get_by_test_id("tickets-count")).to_have_text("1")
    expect(ticket.get_by_test_id("ticket-message")).to_have_text(hostile)  # shown as text, never markup
    expect(ticket.get_by_test_id("ticket-email")).to_have_attribute("href", "mailto:ann@example.com")
    assert agent.evaluate("window.__xss") is None
    ticket.get_by_test_id("ticket-done").click()
    expect(agent.get_by_test_id("tickets")).to_be_hidden()
    wait_until(lambda: OfflineTicket.objects.filter(status="done").count() == 1, what="the ticket marked done")
    assert agent_errors == [] and page_events.errors == [], page_events.errors
