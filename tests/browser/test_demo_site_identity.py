"""The demo shop's page in Chromium, as a newcomer of `make run` uses it: sign in (the shop's
backend signs the identity for the widget), ask for "my orders", ask for the address on file, read
the one-time code off the page's pretend phone and type it into the chat."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bots.models import Message
from chatplatform.launcher.demo_site import demo_site_page
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


def send(page, text: str) -> None:
    box = page.get_by_test_id("input")
    box.fill(text)
    box.press("Enter")


def last_bot_text(page) -> str:
    return page.locator("[data-testid=message][data-role=bot]").last.text_content() or ""


def test_sign_in_my_orders_and_a_one_time_code(
    page, expect, demo_bot, demo_shop_api, live_server_url, stub_llm, celery_worker, tmp_path
) -> None:
    site = f"http://127.0.0.1:{demo_shop_api.server_address[1]}"
    demo_bot.allowed_origins = [*demo_bot.allowed_origins, site]
    demo_bot.save()
    (tmp_path / "index.html").write_text(demo_site_page(public=live_server_url, public_key=demo_bot.public_key))

    page.goto(site + "/")
    page.get_by_role("button", name="Sign in as Alice").click()
    expect(page.locator("#who")).to_have_text("Signed in as Alice Walker.")
    page.get_by_test_id("launcher").click()
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "online")

    send(page, "show me my orders")
    bot = page.locator("[data-testid=message][data-role=bot]")
    expect(bot.last).to_contain_text("Here are your orders, Alice Walker: AC-12345 (shipped)", timeout=60_000)

    send(page, "what address do you have for me")
    expect(bot.last).to_contain_text("one-time code", timeout=60_000)
    sms = page.locator("#phone li").first
    expect(sms).to_contain_text("Your Acme code is", timeout=10_000)
    code = re.search(r"\d{6}", sms.text_content() or "").group(0)
    send(page, code)
    expect(bot.last).to_contain_text("We deliver to 12 Birch Lane", timeout=60_000)
    page.screenshot(path=str(SHOTS / "demo-step-up.png"))

    wait_until(
        lambda: Message.objects.filter(role="bot", conversation__user_id="cust-alice").count() == 3,
        what="the three replies stored",
    )
    # Signing out starts a new, anonymous conversation: Alice's answers are not shown to the next person.
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("[data-testid=message][data-role=bot]").filter(has_text="Birch Lane")).to_have_count(0)
    send(page, "show me my orders")
    expect(bot.last).to_contain_text("once you're signed in", timeout=60_000)
