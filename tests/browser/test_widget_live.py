"""Issue 4, browser tests: the real widget in Chromium against the real platform.

Customer page (its own origin) -> widget script from the live ASGI server -> WebSocket to the real
consumer -> Celery turn in the in-process worker -> the stub LLM streams the reply -> deltas and the
final message over the real Redis channel layer. Every test asserts on the DOM *and* the database.
Fixtures: tests/browser/conftest.py (Playwright runs in its own thread; `page` etc. are proxies).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from bots.models import Conversation, KnowledgeChunk, Message
from knowledge.services.embedding import knowledge_embed_pending
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
WIDGET_JS = REPO / "static" / "widget" / "chatplatform.js"
SHOTS = REPO / "docs" / "img"

REPLY = (
    "Yes! The Trailblazer 3 ships free on orders over $50 and arrives in 2-4 business days. "
    "You can return it within 30 days, no questions asked."
)

# Reads and writes inside the widget's open shadow root; `r` is the root.
SR = "(() => {{ const r = document.querySelector('chatplatform-widget').shadowRoot; {body} }})()"

# Records every distinct text of the streaming bubble, so a test can prove the reply grew in place.
RECORD_STREAM = """() => {
  const r = document.querySelector('chatplatform-widget').shadowRoot;
  window.__partials = [];
  new MutationObserver(() => {
    const s = r.querySelector('[data-testid=streaming]');
    const t = s ? s.textContent : '';
    if (t && window.__partials[window.__partials.length - 1] !== t) window.__partials.push(t);
  }).observe(r, {subtree: true, childList: true, characterData: true});
}"""


# -- helpers ----------------------------------------------------------------------------------


def sr(page: Any, body: str) -> Any:
    return page.evaluate(SR.format(body=body))


def focused_testid(page: Any) -> str | None:
    """data-testid of the focused element inside the widget (None when focus is outside it)."""
    return page.evaluate("""() => {
      const host = document.querySelector('chatplatform-widget');
      if (document.activeElement !== host) return null;
      const el = host.shadowRoot.activeElement;
      return el ? el.getAttribute('data-testid') : null;
    }""")


def stored(bot: Any) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in Message.objects.filter(conversation__bot=bot).order_by("conversation_id", "seq")]


def stored_reply(bot: Any) -> str | None:
    m = Message.objects.filter(conversation__bot=bot, role=Message.Role.BOT).first()
    return m.text if m else None


def user_bubbles(page: Any) -> Any:
    return page.locator("[data-testid=message][data-role=user]")


def bot_bubbles(page: Any) -> Any:
    return page.locator("[data-testid=message][data-role=bot]")


def open_widget(page: Any, expect: Any, url: str) -> None:
    page.goto(url)
    launcher = page.get_by_test_id("launcher")
    expect(launcher).to_be_visible()
    launcher.click()
    expect(page.get_by_test_id("panel")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "online")


def send(page: Any, text: str) -> None:
    box = page.get_by_test_id("input")
    box.fill(text)
    box.press("Enter")


def i18n(lang: str) -> dict[str, str]:
    """The widget's own string table for `lang`, read from the JS (so the test follows edits)."""
    source = WIDGET_JS.read_text(encoding="utf-8")
    key = re.escape(lang) if re.fullmatch(r"\w+", lang) else re.escape(f"'{lang}'")
    block = re.search(key + r":\s*\{(.*?)\n\s*\},", source, re.S)
    assert block, f"no {lang} block in the widget's STR table"
    return dict(re.findall(r"(\w+):\s*'([^']*)'", block.group(1)))


@pytest.fixture
def stub(stub_llm):
    """The stub LLM, streaming slowly enough that partial text is visible."""
    stub_llm.behaviour.reply = REPLY
    stub_llm.behaviour.chunk_size = 6
    stub_llm.behaviour.chunk_delay = 0.05
    return stub_llm


@pytest.fixture
def chat(page, expect, shop_url, stub, celery_worker):
    """The customer page with the panel open and the widget online."""
    open_widget(page, expect, shop_url())
    return page


# -- 1. streaming -------------------------------------------------------------------------------


def test_reply_streams_into_one_bubble_and_is_stored_once(chat, expect, site_bot, page_events) -> None:
    page = chat
    page.evaluate(RECORD_STREAM)
    question = "Do the Trailblazer 3 ship for free?"
    send(page, question)

    expect(user_bubbles(page)).to_have_text([question])
    final = bot_bubbles(page)
    expect(final).to_have_text([REPLY], timeout=15_000)
    expect(page.get_by_test_id("streaming")).to_have_count(0)
    expect(page.get_by_test_id("input")).to_have_value("")

    partials: list[str] = page.evaluate("window.__partials")
    intermediate = [p for p in partials if 0 < len(p) < len(REPLY)]
    assert intermediate, f"no partial text was ever shown in the streaming bubble: {partials}"
    for shorter, longer in zip(partials, partials[1:], strict=False):
        assert longer.startswith(shorter), f"the streamed text did not grow in place: {shorter!r} -> {longer!r}"
    assert all(REPLY.startswith(p) for p in partials), partials

    assert stored(site_bot) == [("user", question), ("bot", REPLY)]
    assert Conversation.objects.filter(bot=site_bot, messages__isnull=False).distinct().count() == 1
    seqs = sr(page, "return Array.from(r.querySelectorAll('[data-testid=message]'), (e) => +e.dataset.seq);")
    assert seqs == [1, 2]
    assert page_events.dialogs == [] and page_events.errors == []

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "widget-chat.png"))


# -- 2. reload ----------------------------------------------------------------------------------


def test_reload_shows_the_history_once_in_order(chat, expect, site_bot) -> None:
    page = chat
    question = "Where is my order #1042?"
    send(page, question)
    expect(bot_bubbles(page)).to_have_text([REPLY], timeout=15_000)
    token_before = page.evaluate("Object.entries(localStorage).find(([k]) => k.startsWith('chatplatform:'))[1]")

    page.reload()
    expect(page.get_by_test_id("panel")).to_be_visible()  # open state survives a reload (sessionStorage)
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "online")
    messages = page.get_by_test_id("message")
    expect(messages).to_have_text([question, REPLY])
    time.sleep(0.5)  # late or replayed frames would show up as extra bubbles
    expect(messages).to_have_text([question, REPLY])
    roles = sr(
        page, "return Array.from(r.querySelectorAll('[data-testid=message]'), (e) => [e.dataset.role, +e.dataset.seq]);"
    )
    assert roles == [["user", 1], ["bot", 2]]
    assert '"token"' in token_before

    # the reload resumed the same conversation: nothing new stored, no second conversation with messages
    assert stored(site_bot) == [("user", question), ("bot", REPLY)]
    assert Conversation.objects.filter(bot=site_bot, messages__isnull=False).distinct().count() == 1


# -- 3. connection lost mid-reply ---------------------------------------------------------------


def test_reply_arrives_after_reconnect_when_the_network_drops(chat, expect, context, stub, site_bot) -> None:
    page = chat
    stub.behaviour.first_token_delay = 2.0
    question = "Can I change my delivery address?"
    send(page, question)
    expect(user_bubbles(page)).to_have_attribute("data-state", "sent")  # acked: stored server-side

    context.set_offline(True)
    expect(page.get_by_test_id("offline")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "offline")

    wait_until(lambda: stored_reply(site_bot), what="the reply to be stored while the browser is offline")
    time.sleep(0.3)
    expect(bot_bubbles(page)).to_have_count(0)  # nothing can reach an offline browser
    expect(page.get_by_test_id("streaming")).to_have_count(0)
    expect(page.get_by_test_id("offline")).to_be_visible()

    context.set_offline(False)
    expect(bot_bubbles(page)).to_have_text([REPLY], timeout=10_000)  # replayed in welcome after reconnect
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "online")
    expect(page.get_by_test_id("offline")).to_have_count(0)
    expect(page.get_by_test_id("message")).to_have_text([question, REPLY])
    assert stored(site_bot) == [("user", question), ("bot", REPLY)]


# -- 4. keyboard only ---------------------------------------------------------------------------


def test_keyboard_only(page, expect, shop_url, stub, celery_worker, site_bot) -> None:
    page.goto(shop_url())
    launcher = page.get_by_test_id("launcher")
    expect(launcher).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "online")

    for _ in range(6):  # the page's own link comes first, then the launcher
        page.keyboard.press("Tab")
        if focused_testid(page) == "launcher":
            break
    assert focused_testid(page) == "launcher", "Tab never reached the launcher"
    expect(launcher).to_have_attribute("aria-expanded", "false")

    page.keyboard.press("Enter")
    expect(page.get_by_test_id("panel")).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    wait_until(lambda: focused_testid(page) == "input", what="focus in the composer", timeout=5)

    question = "Do you ship to Canada?"
    page.keyboard.type(question)
    page.keyboard.press("Enter")
    expect(user_bubbles(page)).to_have_text([question])
    expect(page.get_by_test_id("input")).to_have_value("")
    assert focused_testid(page) == "input"
    expect(bot_bubbles(page)).to_have_text([REPLY], timeout=15_000)

    page.keyboard.press("Escape")
    expect(page.get_by_test_id("panel")).to_be_hidden()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    assert focused_testid(page) == "launcher"

    assert stored(site_bot) == [("user", question), ("bot", REPLY)]


# -- 5. XSS ---------------------------------------------------------------------------------------

XSS_USER = '<img src=x onerror="window.__pwned=1">'
XSS_REPLY = (
    "Sure: <script>window.__pwned=2</script> see [click](javascript:window.__pwned=3) "
    "or <img src=x onerror=alert(1)> thanks"
)


def test_html_from_visitor_and_model_stays_text(chat, expect, stub, site_bot, page_events) -> None:
    page = chat
    stub.behaviour.reply = XSS_REPLY
    send(page, XSS_USER)
    expect(user_bubbles(page)).to_have_text([XSS_USER])
    reply = bot_bubbles(page)
    expect(reply).to_have_count(1, timeout=15_000)
    expect(reply).to_contain_text("<script>window.__pwned=2</script>")
    expect(reply).to_contain_text("<img src=x onerror=alert(1)>")
    time.sleep(0.5)  # give any injected onerror/script a chance to run

    assert page_events.dialogs == [], page_events.dialogs
    assert page.evaluate("typeof window.__pwned") == "undefined"
    dangerous = sr(
        page,
        "return r.querySelector('[data-testid=messages]')"
        ".querySelectorAll('img, script, iframe, object, embed').length;",
    )
    assert dangerous == 0
    assert page.evaluate("document.querySelectorAll('img, iframe').length") == 0
    hrefs = sr(
        page, "return Array.from(r.querySelectorAll('[data-testid=messages] a'), (a) => a.getAttribute('href'));"
    )
    assert all(re.match(r"^(https?|mailto):", h or "") for h in hrefs), hrefs
    expect(reply).to_contain_text("[click](javascript:window.__pwned=3)")  # left as text, not a link

    assert stored(site_bot) == [("user", XSS_USER), ("bot", XSS_REPLY)]


# -- 6. Simplified Chinese ----------------------------------------------------------------------


def test_chinese_ui(page, expect, shop_url, stub, celery_worker, site_bot) -> None:
    zh, en = i18n("zh-hans"), i18n("en")
    assert zh["placeholder"] != en["placeholder"]
    site_bot.language = "zh-hans"
    site_bot.widget_title = "Acme 客服"
    site_bot.greeting = "您好！有什么可以帮您？"
    site_bot.save()
    stub.behaviour.reply = "您好！Trailblazer 3 满 50 美元包邮，2–4 个工作日送达，30 天内可无理由退货。"

    page.goto(shop_url())  # the browser says en-US: the bot's language setting wins
    launcher = page.get_by_test_id("launcher")
    expect(launcher).to_have_attribute("aria-label", zh["open"])
    launcher.click()
    expect(page.get_by_test_id("status-text")).to_have_text(zh["online"])
    expect(launcher).to_have_attribute("aria-label", zh["close"])
    box = page.get_by_test_id("input")
    expect(box).to_have_attribute("placeholder", zh["placeholder"])
    expect(box).to_have_attribute("aria-label", zh["placeholder"])
    expect(page.get_by_test_id("send")).to_have_attribute("aria-label", zh["send"])
    expect(page.get_by_test_id("menu")).to_have_attribute("aria-label", zh["menu"])
    expect(page.get_by_test_id("close")).to_have_attribute("aria-label", zh["close"])
    expect(page.get_by_test_id("title")).to_have_text("Acme 客服")
    assert sr(page, "return r.querySelector('.root').getAttribute('lang');") == "zh-Hans"

    question = "鞋子多久能到？"
    send(page, question)
    expect(bot_bubbles(page)).to_have_text([stub.behaviour.reply], timeout=15_000)
    expect(page.locator("[data-testid=feedback-up]")).to_have_attribute("aria-label", zh["up"])
    assert stored(site_bot) == [("user", question), ("bot", stub.behaviour.reply)]

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "widget-zh.png"))


# -- 8. sources -----------------------------------------------------------------------------------


def test_a_cited_passage_is_shown_as_a_source_link(chat, expect, stub, site_bot) -> None:
    page = chat
    KnowledgeChunk.objects.create(
        bot=site_bot,
        title="Shipping",
        source_url="https://acme.example/help/shipping",
        text="Standard delivery takes 3-5 business days in the US; express delivery costs $12.",
    )
    KnowledgeChunk.objects.create(
        bot=site_bot,
        title="Gift cards",
        source_url="https://acme.example/help/gift-cards",
        text="Gift cards never expire and can be used on any order, online or in our stores.",
    )
    assert knowledge_embed_pending(bot_id=site_bot.pk) == 2
    stub.behaviour.reply = "Standard delivery takes 3-5 business days [1]."
    send(page, "How long does standard delivery take?")
    expect(bot_bubbles(page)).to_contain_text(["3-5 business days"], timeout=15_000)
    source = page.locator(".cites a")
    expect(source).to_have_text(["Shipping"])  # the cited passage only, not the gift cards
    expect(source).to_have_attribute("href", "https://acme.example/help/shipping")
