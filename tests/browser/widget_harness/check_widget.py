"""Drive the widget in real Chromium against fake_server.py and assert what a visitor would see.

    python tests/browser/widget_harness/fake_server.py --port 8765 &
    python tests/browser/widget_harness/check_widget.py --base http://127.0.0.1:8765 --shots /tmp/wshots

Named check_* (not test_*) so pytest does not collect it: it needs the fake server and a Chromium binary.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
W = "chatplatform-widget"


def sr(page: Page, js: str):
    """Evaluate `js` with `r` bound to the widget's shadow root."""
    return page.evaluate(f"(() => {{ const r = document.querySelector('{W}').shadowRoot; return {js}; }})()")


def get(base: str, path: str):
    with urllib.request.urlopen(base + path) as r:
        return json.loads(r.read())


RECORD = """window.__st = []; setInterval(() => {
  const r = document.querySelector('chatplatform-widget').shadowRoot;
  const s = r.querySelectorAll('[data-testid=streaming]');
  if (s.length) __st.push([s.length, s[0].textContent]);
}, 5)"""


def send(page: Page, text: str) -> None:
    page.locator("[data-testid=input]").fill(text)
    page.keyboard.press("Enter")


def bot_msgs(page: Page):
    return page.locator("[data-testid=message][data-role=bot]")


def run(base: str, shots: Path, browser_path: str) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    ok = []

    def check(name: str) -> None:
        ok.append(name)
        print("ok -", name)

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser_path, headless=True, args=ARGS)
        ctx = b.new_context(viewport={"width": 1280, "height": 820})
        page = ctx.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: print("PAGE ERROR:", e))
        page.goto(base + "/")

        launcher = page.locator("[data-testid=launcher]")
        expect(launcher).to_be_visible()
        expect(launcher).to_have_attribute("aria-expanded", "false")
        bg = sr(page, "getComputedStyle(r.querySelector('.launcher')).backgroundColor")
        assert bg == "rgb(79, 70, 229)", bg  # theme colour from welcome, not the host page's hotpink
        check("launcher themed from welcome, host CSS does not leak in")

        launcher.click()
        panel = page.locator("[data-testid=panel]")
        expect(panel).to_be_visible()
        expect(launcher).to_have_attribute("aria-expanded", "true")
        page.wait_for_timeout(100)
        assert sr(page, "r.activeElement && r.activeElement.dataset.testid") == "input"
        expect(page.locator("[data-testid=greeting]")).to_contain_text("Acme assistant")
        assert sr(page, "r.querySelector('[role=dialog]').getAttribute('aria-labelledby')") == "cp-title"
        assert sr(page, "r.querySelector('[role=log]').getAttribute('aria-live')") == "polite"
        check("launcher opens the panel, focus in composer, greeting first, dialog/log roles")

        # plain message: sending -> acked, deltas stream into ONE bubble, final replaces it
        page.evaluate(RECORD)
        send(page, "hello")
        user = page.locator("[data-testid=message][data-role=user]").last
        expect(user).to_have_text("hello")
        expect(user).to_have_attribute("data-seq", "1")
        stream = page.locator("[data-testid=streaming]")
        expect(bot_msgs(page)).to_have_count(1, timeout=10000)
        rec = page.evaluate("__st.splice(0)")
        assert all(n == 1 for n, _ in rec), "more than one streaming bubble"
        grown = [t for _, t in rec if t]
        assert len(set(grown)) >= 4 and all(
            b.startswith(a[:-1]) or "*" in a for a, b in zip(grown, grown[1:], strict=False)
        ), grown
        expect(bot_msgs(page)).to_have_count(1)
        final = bot_msgs(page).last
        expect(final).to_have_attribute("data-seq", "2")
        expect(final).to_have_text("You said: hello. Anything else I can help with?")
        assert final.locator("strong").inner_text() == "hello"
        expect(stream).to_have_count(0)
        expect(page.locator("[data-testid=quick-reply]")).to_have_count(3)
        check("message shows, deltas stream into one bubble, final message replaces it, quick replies")

        page.locator("[data-testid=quick-reply]", has_text="Pricing").click()
        expect(page.locator("[data-testid=message][data-role=user]").last).to_have_text("Pricing")
        expect(bot_msgs(page)).to_have_count(2)
        check("quick reply sends its text")

        # offset 0 again = restart: the first attempt must vanish
        send(page, "restart")
        page.wait_for_function(
            "document.querySelector('chatplatform-widget').shadowRoot.querySelectorAll('[data-role=bot][data-testid=message]').length === 3",
            timeout=15000,
        )
        texts = [t for _, t in page.evaluate("__st.splice(0)") if t]
        expect(bot_msgs(page)).to_have_count(3)
        assert any(t.startswith("This first") for t in texts), texts[:5]
        assert any(t.startswith("Second") for t in texts), texts[-5:]
        assert all(not (t.startswith("Second") and "first attempt" in t) for t in texts)
        expect(bot_msgs(page).last).to_have_text("Second attempt: this is the real answer.")
        check("delta offset 0 restarts the bubble")

        # XSS payloads render as inert text
        send(page, "xss")
        expect(bot_msgs(page)).to_have_count(4, timeout=15000)
        xss = bot_msgs(page).last
        expect(xss).to_contain_text("<img src=x onerror=alert(1)>")
        expect(xss).to_contain_text("<script>alert(2)</script>")
        expect(xss).to_contain_text("[click me](javascript:alert(3))")
        assert sr(page, "r.querySelectorAll('img:not(.av img), script, iframe').length") == 0
        hrefs = sr(page, "Array.from(r.querySelectorAll('a')).map(a => a.getAttribute('href'))")
        assert hrefs and all(h.startswith(("https:", "http:", "mailto:")) for h in hrefs), hrefs
        rels = sr(page, "Array.from(r.querySelectorAll('a')).map(a => a.rel + '|' + a.target)")
        assert all(x == "noopener noreferrer|_blank" for x in rels), rels
        assert (
            sr(
                page,
                "Array.from(r.querySelectorAll('*')).some(e => Array.from(e.attributes).some(a => a.name.startsWith('on')))",
            )
            is False
        )
        page.wait_for_timeout(300)
        assert not dialogs, dialogs
        check("XSS payloads (<img onerror>, <script>, javascript: links) render inert")

        send(page, "md")
        expect(bot_msgs(page)).to_have_count(5, timeout=15000)
        md = bot_msgs(page).last
        expect(md.locator("ol > li")).to_have_count(3)
        expect(md.locator("ul > li")).to_have_count(2)
        expect(md.locator("pre code")).to_have_text("curl https://api.example.com/v1/orders")
        expect(md.locator("code").first).to_have_text("FREESHIP")
        assert md.locator("a[href='mailto:help@example.com']").count() == 1
        assert md.locator("a[href='https://example.com/track']").count() == 1  # trailing "." not in the link
        cites = sr(page, "Array.from(r.querySelectorAll('.cites')).pop().innerText")
        assert "Shipping policy" in cites and "Evil" in cites
        assert (
            sr(page, "Array.from(r.querySelectorAll('.cites a')).map(a => a.href).join(' ')").count("javascript") == 0
        )
        check("Markdown: lists, code, fenced code, links, citations (unsafe citation URL as text)")

        # feedback
        up = page.locator("[role=log] > .row.bot").last.locator("[data-testid=feedback-up]")
        up.click()
        expect(up).to_have_attribute("aria-pressed", "true")
        page.wait_for_timeout(300)
        fr = get(base, "/admin/frames")
        assert any(f.get("type") == "feedback" and f.get("rating") == "up" for f in fr)
        check("thumbs up sends feedback and shows the pressed state")

        page.screenshot(path=str(shots / "desktop-long.png"))

        # reload: history restored once, no duplicates, panel stays open (sessionStorage)
        before = sr(page, "Array.from(r.querySelectorAll('[data-testid=message]')).map(e => e.dataset.seq).join(',')")
        page.reload()
        expect(panel).to_be_visible()
        expect(bot_msgs(page)).to_have_count(5)
        after = sr(page, "Array.from(r.querySelectorAll('[data-testid=message]')).map(e => e.dataset.seq).join(',')")
        assert before == after, (before, after)
        expect(page.locator("[role=log] > .row.bot").last.locator("[data-testid=feedback-up]")).to_have_attribute(
            "aria-pressed", "true"
        )
        n_msg_events = page.evaluate("__events.filter(e => e[0] === 'message').length")
        assert n_msg_events == 10, n_msg_events
        assert page.evaluate("__events.some(e => e[0] === 'ready')")
        check("reload restores history (same seqs, no duplicates), open state, feedback state; events fire")

        # offline: indicator, queued message shows "sending", delivered once on reconnect
        get(base, "/admin/down?secs=3")
        expect(page.locator("[data-testid=offline]")).to_be_visible(timeout=5000)
        send(page, "typed while offline")
        pend = page.locator("[data-testid=message][data-role=user]").last
        expect(pend).to_have_attribute("data-state", "sending")
        expect(page.locator("[data-testid=msg-status]")).to_have_text("Sending…")
        page.screenshot(path=str(shots / "offline.png"))
        expect(pend).to_have_attribute("data-state", "sent", timeout=20000)
        expect(page.locator("[data-testid=offline]")).to_have_count(0)
        expect(bot_msgs(page)).to_have_count(6, timeout=10000)
        seqs = sr(page, "Array.from(r.querySelectorAll('[data-testid=message]')).map(e => +e.dataset.seq)")
        assert seqs == sorted(set(seqs)) and seqs == list(range(1, len(seqs) + 1)), seqs
        check("offline indicator; queued message sent on reconnect, acked, no duplicates, seqs contiguous")

        # errors keep the typed text
        send(page, "x" * 2100)
        expect(page.locator("[data-testid=notice]")).to_contain_text("too long")
        expect(page.locator("[data-testid=input]")).to_have_value("x" * 2100)
        page.locator("[data-testid=input]").fill("")
        send(page, "ratelimit")
        expect(page.locator("[data-testid=notice]")).to_contain_text("too fast")
        rl = page.locator("[data-testid=message][data-role=user]").last
        expect(rl).to_have_text("ratelimit")
        expect(rl).to_have_attribute("data-state", "sent", timeout=5000)  # retried with the same client_id
        cids = [
            f["client_id"]
            for f in get(base, "/admin/frames")
            if f.get("type") == "message" and f.get("text") == "ratelimit"
        ]
        assert len(cids) == 2 and cids[0] == cids[1], cids
        expect(bot_msgs(page)).to_have_count(7, timeout=10000)
        check("message_too_long keeps the text; rate_limited retries later with the same client_id")

        # keyboard: Escape closes and returns focus to the launcher; unread badge while closed
        page.locator("[data-testid=input]").focus()
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        assert page.evaluate("document.activeElement.tagName") == W.upper()
        assert sr(page, "r.activeElement && r.activeElement.dataset.testid") == "launcher"
        get(base, "/admin/push?text=" + urllib.request.quote("Your order has shipped!"))
        expect(page.locator("[data-testid=unread]")).to_have_text("1")
        assert "1 unread" in launcher.get_attribute("aria-label")
        page.keyboard.press("Enter")
        expect(panel).to_be_visible()
        expect(page.locator("[data-testid=unread]")).to_be_hidden()
        check("Escape closes + focus back on launcher; unread badge; keyboard reopens")

        # CSAT via menu > End chat
        page.locator("[data-testid=menu]").click()
        page.locator("[data-testid=end-chat]").click()
        expect(page.locator("[data-testid=csat]")).to_be_visible()
        page.locator("[data-testid=csat-4]").click()
        expect(page.locator("[data-testid=csat]")).to_contain_text("Thanks")
        page.wait_for_timeout(300)
        assert any(f.get("type") == "csat" and f.get("score") == 4 for f in get(base, "/admin/frames"))
        check("End chat shows CSAT, a star sends csat")

        # new conversation
        old = page.evaluate("JSON.parse(localStorage.getItem('chatplatform:pk_demo')).conv")
        page.locator("[data-testid=csat-new]").click()
        expect(page.locator("[data-testid=message]")).to_have_count(0)
        expect(page.locator("[data-testid=greeting]")).to_be_visible()
        page.wait_for_function("JSON.parse(localStorage.getItem('chatplatform:pk_demo')).conv !== null")
        new = page.evaluate("JSON.parse(localStorage.getItem('chatplatform:pk_demo')).conv")
        assert new and new != old, (old, new)
        send(page, "fresh start")
        expect(page.locator("[data-testid=message][data-role=user]").first).to_have_attribute("data-seq", "1")
        expect(bot_msgs(page)).to_have_count(1, timeout=10000)
        check("new conversation clears history and starts at seq 1")

        # typing indicator + reply_failed
        send(page, "fail")
        expect(page.locator("[data-testid=notice]")).to_contain_text("couldn't answer", timeout=5000)
        check("reply_failed shows a polite notice")

        # the screenshot for docs: a fresh, representative conversation
        page.evaluate("ChatPlatform.reset()")
        expect(page.locator("[data-testid=message]")).to_have_count(0)
        page.wait_for_timeout(400)
        send(page, "How long does shipping take?")
        expect(bot_msgs(page)).to_have_count(1, timeout=10000)
        send(page, "md")
        expect(bot_msgs(page)).to_have_count(2, timeout=15000)
        page.locator("[role=log] > .row.bot").last.locator("[data-testid=feedback-up]").click()
        send(page, "Thanks! Can I change my address?")
        expect(bot_msgs(page)).to_have_count(3, timeout=15000)
        page.mouse.move(10, 10)
        page.wait_for_timeout(400)
        page.screenshot(path=str(shots / "widget.png"))

        # second tab of the same visitor sees the same conversation
        tab2 = ctx.new_page()
        tab2.goto(base + "/")
        tab2.locator("[data-testid=launcher]").click()
        expect(tab2.locator("[data-testid=message][data-role=bot]")).to_have_count(3)
        check("a second tab shows the same conversation")
        tab2.close()

        # streaming screenshot
        send(page, "slow")
        page.wait_for_timeout(2500)
        page.screenshot(path=str(shots / "streaming.png"))
        expect(bot_msgs(page)).to_have_count(4, timeout=30000)

        # mobile: full-screen panel
        m = b.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
        mp = m.new_page()
        mp.goto(base + "/")
        mp.locator("[data-testid=launcher]").tap()
        box = mp.locator("[data-testid=panel]").bounding_box()
        assert box and box["x"] == 0 and box["y"] == 0 and box["width"] == 375 and box["height"] == 740, box
        expect(mp.locator("[data-testid=launcher]")).to_be_hidden()
        send(mp, "hello from my phone")
        expect(mp.locator("[data-testid=message][data-role=bot]")).to_have_count(1, timeout=10000)
        mp.wait_for_timeout(300)
        mp.screenshot(path=str(shots / "mobile.png"))
        mp.locator("[data-testid=close]").tap()
        expect(mp.locator("[data-testid=launcher]")).to_be_visible()
        m.close()
        check("mobile (<480px): full-screen panel")

        # zh-hans from the bot setting, left position, and data-locale override
        z = b.new_context(viewport={"width": 1280, "height": 820}, locale="en-US")
        zp = z.new_page()
        zp.goto(base + "/?key=pk_zh")
        zl = zp.locator("[data-testid=launcher]")
        expect(zl).to_have_attribute("aria-label", "打开聊天")
        zl.click()
        expect(zp.locator("[data-testid=input]")).to_have_attribute("placeholder", "输入消息…")
        expect(zp.locator("[data-testid=title]")).to_have_text("Acme 客服")
        expect(zp.locator("[data-testid=status]")).to_contain_text("在线")
        assert zl.bounding_box()["x"] < 100  # position: left
        zp.locator("[data-testid=input]").fill("你好")
        zp.keyboard.press("Enter")
        expect(zp.locator("[data-testid=message][data-role=bot]")).to_have_count(1, timeout=10000)
        zp.wait_for_timeout(300)
        zp.screenshot(path=str(shots / "zh.png"))
        zp.goto(base + "/?key=pk_demo&locale=zh-hans")
        expect(zp.locator("[data-testid=launcher]")).to_have_attribute("aria-label", "打开聊天")
        z.close()
        z = b.new_context(locale="zh-CN")
        zp = z.new_page()
        zp.goto(base + "/?key=pk_light")  # language auto -> navigator.language
        expect(zp.locator("[data-testid=launcher]")).to_have_attribute("aria-label", "打开聊天")
        fg = sr(zp, "getComputedStyle(r.querySelector('.launcher')).color")
        assert fg == "rgb(17, 24, 39)", fg  # dark text on the light yellow theme
        z.close()
        check("zh-hans strings (bot language, data-locale, auto via navigator.language); light theme gets dark text")

        # data-open
        o = b.new_context(reduced_motion="reduce")
        op = o.new_page()
        op.goto(base + "/?open=1")
        expect(op.locator("[data-testid=panel]")).to_be_visible()
        assert sr(op, "getComputedStyle(r.querySelector('.panel')).animationName") == "none"
        o.close()
        check("data-open opens the panel on first load; prefers-reduced-motion disables animation")
        b.close()
    print(f"\n{len(ok)} checks passed")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="http://127.0.0.1:8765")
    ap.add_argument("--shots", default="/tmp/wshots")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()
    t0 = time.time()
    run(a.base, Path(a.shots), a.chromium)
    print(f"{time.time() - t0:.1f}s")
