"""The inbox page (/inbox/): agents get it, analysts a clear 403, anonymous visitors the login page;
it runs under the platform's CSP (no inline script), its static files exist, and its strings exist
in English and Chinese for every label of the template."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.contrib.staticfiles import finders
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "templates" / "inbox" / "inbox.html"
SCRIPT = REPO / "static" / "inbox" / "inbox.js"
STRINGS = REPO / "static" / "inbox" / "strings.js"


def _user_with_role(role: str):
    user = UserFactory()
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def agent_client(client: Client) -> Client:
    client.force_login(_user_with_role("agent"))
    return client


def _strings() -> dict[str, dict[str, str]]:
    source = STRINGS.read_text(encoding="utf-8")
    start = source.index("= {") + 2  # after the header comment
    return json.loads(source[start : source.rindex("}") + 1])


def test_an_agent_gets_the_page_under_the_csp(agent_client: Client) -> None:
    response = agent_client.get("/inbox/")
    assert response.status_code == 200
    assert [t.name for t in response.templates][:2] == ["inbox/inbox.html", "base.html"]
    page = response.content.decode()
    assert 'data-ws-path="/ws/inbox/"' in page
    assert 'lang="en"' in page and 'data-lang="en"' in page

    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src and script_src.group(1).split() == ["'self'"], csp
    # ws(s) to this host (ContentSecurityPolicyMiddleware adds it for the socket).
    assert "connect-src 'self' ws://testserver" in csp
    # No inline script or handler: every <script> has a src, no on*= attributes, no style attributes.
    scripts = re.findall(r"<script\b([^>]*)>", page)
    assert scripts and all("src=" in attrs for attrs in scripts), scripts
    assert not re.search(r"\son[a-z]+=", page)
    assert not re.search(r"\sstyle=", page)


def test_the_static_files_the_page_references_exist(agent_client: Client) -> None:
    page = agent_client.get("/inbox/").content.decode()
    referenced = re.findall(r'(?:src|href)="/static/([^"?#]+)"', page)
    assert {"inbox/inbox.js", "inbox/strings.js", "inbox/inbox.css", "site/base.css"} <= set(referenced)
    for path in referenced:
        assert finders.find(path), f"/static/{path} is referenced by the page but does not exist"
    # strings.js first: inbox.js reads the table when it runs (both deferred, so in document order).
    assert referenced.index("inbox/strings.js") < referenced.index("inbox/inbox.js")


def test_an_admin_gets_the_page_too(client: Client) -> None:
    client.force_login(_user_with_role("admin"))
    assert client.get("/inbox/").status_code == 200


def test_an_analyst_gets_a_clear_refusal(client: Client) -> None:
    analyst = _user_with_role("analyst")
    client.force_login(analyst)
    response = client.get("/inbox/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "No access to the inbox" in page and "agent role" in page and analyst.username in page
    assert "inbox/inbox.js" not in page


def test_anonymous_visitors_are_sent_to_log_in(client: Client) -> None:
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/") and "next=/inbox/" in response["Location"]


def test_only_get(agent_client: Client) -> None:
    assert agent_client.post("/inbox/").status_code == 405


def test_the_page_language_follows_the_browser(agent_client: Client) -> None:
    page = agent_client.get("/inbox/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert 'lang="zh-hans"' in page and 'data-lang="zh-hans"' in page


def test_every_string_exists_in_english_and_chinese() -> None:
    strings = _strings()
    assert set(strings) == {"en", "zh-hans"}
    assert set(strings["en"]) == set(strings["zh-hans"])
    assert all(value.strip() for table in strings.values() for value in table.values())
    # Placeholders match between the languages ("{name}" must not get lost in translation).
    for key, text in strings["en"].items():
        assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", strings["zh-hans"][key])), key


def test_every_template_label_has_a_string() -> None:
    template = TEMPLATE.read_text(encoding="utf-8")
    keys = set(re.findall(r'data-i18n(?:-aria-label)?="([^"]+)"', template))
    assert keys and keys <= set(_strings()["en"]), keys - set(_strings()["en"])
    # and the template's own text is marked for Django's translation too
    assert template.count("{% translate") >= len(re.findall(r'data-i18n="', template))


def test_the_script_never_builds_html_from_strings() -> None:
    source = SCRIPT.read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, sink
    # Links only for http, https and mailto.
    assert "/^(https?|mailto):$/" in source
    # Notification permission is asked from the button's handler only, never on load.
    assert source.count("requestPermission") == 1
