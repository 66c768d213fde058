"""Every page the platform serves carries a Content-Security-Policy that allows no inline script."""

from __future__ import annotations

import re

import pytest

from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_strict(response) -> dict[str, list[str]]:
    assert response.status_code == 200, (response.request["PATH_INFO"], response.status_code)
    policy = _policy(response)
    script_src = policy.get("script-src", policy.get("default-src"))
    assert script_src and "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    return policy


def _inline_scripts(html: str) -> list[str]:
    """<script> elements with a body (an inline script); <script src=...></script> is fine."""
    return [
        m.group(0)[:120]
        for m in re.finditer(r"<script\b(?![^>]*\bsrc=)[^>]*>\s*\S", html)
        if "application/json" not in m.group(0) and "application/ld+json" not in m.group(0)
    ]


def test_public_pages_send_a_csp_without_inline_script(client, llm_bot, settings) -> None:
    settings.API_DOCS_PUBLIC = True
    for path in ("/", "/demo/", "/admin/login/", "/api/docs/"):
        response = client.get(path)
        _assert_strict(response)
        assert _inline_scripts(response.content.decode()) == [], path


def test_swagger_ui_init_script_is_a_separate_file(client, settings) -> None:
    settings.API_DOCS_PUBLIC = True
    page = client.get("/api/docs/").content.decode()
    script_urls = re.findall(r'<script src="([^"]+)"', page)
    init = [url for url in script_urls if "script=" in url]
    assert init, script_urls
    response = client.get(init[0].replace("&amp;", "&"))
    assert response.status_code == 200 and "SwaggerUIBundle" in response.content.decode()
    assert response["Content-Type"].startswith("application/javascript")


def test_admin_and_console_pages_send_a_csp_and_the_console_may_open_its_websocket(admin_client, llm_bot) -> None:
    for path in ("/admin/", "/admin/bots/bot/", f"/admin/bots/bot/{llm_bot.pk}/change/"):
        _assert_strict(admin_client.get(path))
    response = admin_client.get(f"/admin/bots/bot/{llm_bot.pk}/console/")
    policy = _assert_strict(response)
    assert "'self'" in policy["connect-src"] and "ws://testserver" in policy["connect-src"]
    html = response.content.decode()
    assert _inline_scripts(html) == []
    assert "admin-console/console.js" in html and f'data-ws-path="/ws/console/{llm_bot.pk}/"' in html
    https = admin_client.get(f"/admin/bots/bot/{llm_bot.pk}/console/", secure=True)
    assert "wss://testserver" in _policy(https)["connect-src"]


def test_console_script_is_served_as_a_static_file(client) -> None:
    response = client.get("/static/admin-console/console.js")
    assert response.status_code == 200
    assert b"ds.wsPath" in b"".join(response.streaming_content)  # the path comes from data-ws-path


def test_analytics_pages_send_a_csp_without_inline_script(admin_client, llm_bot) -> None:
    conversation = ConversationFactory(bot=llm_bot)
    MessageFactory(conversation=conversation)
    for path in (
        "/analytics/conversations/",
        f"/analytics/conversations/{conversation.pk}/",
        "/analytics/unrecognised/",
        "/analytics/suggestions/",
        "/analytics/metrics/",
    ):
        response = admin_client.get(path)
        _assert_strict(response)
        assert _inline_scripts(response.content.decode()) == [], path
