"""The platform's own pages under its Content-Security-Policy, in Chromium: the admin's test console
(its script is a static file now) still streams a reply, and Swagger UI still renders."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_console_and_swagger_ui_work_under_the_csp(
    page: Any, expect: Any, live_server_url: str, llm_bot: Any, stub_llm: Any, celery_worker: Any, page_events: Any
) -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("ann", password="correct-horse-battery-9", is_staff=True, is_superuser=True)
    responses: list[Any] = []
    page.on(
        "response",
        lambda r: (
            responses.append(r.headers.get("content-security-policy"))
            if r.request.resource_type == "document"
            else None
        ),
    )
    page.goto(f"{live_server_url}/admin/login/")
    page.fill("#id_username", "ann")
    page.fill("#id_password", "correct-horse-battery-9")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    page.goto(f"{live_server_url}/admin/bots/bot/{llm_bot.pk}/console/")
    expect(page.locator("#status")).to_contain_text("#")  # "Connected: conversation #<id>"
    page.fill("#text", "hello there")
    page.press("#text", "Enter")
    expect(page.locator(".turn.user .text")).to_have_text("hello there")
    expect(page.locator(".turn.bot .details")).to_contain_text("action: generate", timeout=20_000)
    assert any(url.endswith(f"/ws/console/{llm_bot.pk}/") for url in page_events.websockets)

    page.goto(f"{live_server_url}/api/docs/")
    expect(page.locator("#swagger-ui .info .title")).to_contain_text("chatplatform API", timeout=20_000)

    assert responses and all(csp and "script-src 'self'" in csp for csp in responses), responses
    violations = [e for e in page_events.errors if "Content Security Policy" in e or "Refused to" in e]
    assert violations == [], violations
