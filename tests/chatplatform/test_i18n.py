"""Translation of the staff screens (locale/zh_Hans): the analyst workspace, the inbox and the admin's
test console follow the browser's Accept-Language or the language picked with the switcher
(POST /i18n/setlang/), the shipped catalog is complete and its compiled .mo matches the .po, the inbox
socket writes its notification titles in the page's language, and the failure reply the platform
writes to visitors itself is in the bot's (or the visitor's) language."""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import translation

from analytics.services import bot_assignment_create
from bots.models import Bot, Conversation
from conversations.language import visitor_language
from conversations.services.turns import REPLY_FAILED_TEXT
from inbox.ws.consumers import handshake_language
from tests.analytics.factories import BotFactory, ConversationFactory, UserFactory, turn

LOCALE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


# --- the catalog -------------------------------------------------------------------------------


@dataclass
class _Entry:
    fields: dict[str, str] = field(default_factory=dict)  # msgctxt, msgid, msgid_plural, msgstr, msgstr[0]...
    flags: set[str] = field(default_factory=set)

    @property
    def msgid(self) -> str:
        return self.fields["msgid"]

    @property
    def translations(self) -> list[str]:
        return [value for key, value in self.fields.items() if key.startswith("msgstr")]


def _po_entries() -> list[_Entry]:
    """Every entry of django.po (no polib in the venv): the header first."""
    entries: list[_Entry] = []
    entry, name = _Entry(), ""
    for line in [*(LOCALE / "django.po").read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if "msgid" in entry.fields:
                entries.append(entry)
            entry, name = _Entry(), ""
        elif line.startswith("#,"):
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry.fields[name] += ast.literal_eval(line)
        else:
            name, _space, value = line.partition(" ")
            entry.fields[name] = ast.literal_eval(value)
    return entries


def test_every_message_is_translated_and_none_is_fuzzy() -> None:
    header, *messages = _po_entries()
    assert header.msgid == "" and "fuzzy" not in header.flags
    assert "Plural-Forms: nplurals=1; plural=0;" in header.fields["msgstr"]
    assert len(messages) > 400
    assert [e.msgid for e in messages if not all(text.strip() for text in e.translations)] == []
    assert [e.msgid for e in messages if "fuzzy" in e.flags] == []


def test_placeholders_survive_translation() -> None:
    placeholder = re.compile(r"%\(\w+\)[sd]|\{\w*\}")
    for entry in _po_entries()[1:]:
        expected = sorted(placeholder.findall(entry.msgid))
        for text in entry.translations:
            assert sorted(placeholder.findall(text)) == expected, entry.msgid


def test_the_compiled_catalog_matches_the_po() -> None:
    """The .mo is committed (CI may have no gettext): it must hold exactly what the .po says."""
    with (LOCALE / "django.mo").open("rb") as handle:
        mo = gettext.GNUTranslations(handle)
    for entry in _po_entries()[1:]:
        context, plural = entry.fields.get("msgctxt"), entry.fields.get("msgid_plural")
        if plural is not None:
            got = mo.npgettext(context, entry.msgid, plural, 2) if context else mo.ngettext(entry.msgid, plural, 2)
            assert got == entry.fields["msgstr[0]"], f"stale django.mo: {entry.msgid!r}"
        else:
            got = mo.pgettext(context, entry.msgid) if context else mo.gettext(entry.msgid)
            assert got == entry.fields["msgstr"], f"stale django.mo: {entry.msgid!r}"


def test_django_serves_the_chinese_catalog() -> None:
    with translation.override("zh-hans"):
        assert translation.gettext("Conversations") == "对话"
        assert translation.gettext("Unrecognised messages") == "未识别的消息"
        assert translation.pgettext("console turn detail", "intent") == "意图"
    with translation.override("en"):
        assert translation.gettext("Conversations") == "Conversations"


# --- the pages ---------------------------------------------------------------------------------


@pytest.fixture
def analyst_client(db, client: Client) -> Client:
    bot = BotFactory(slug="i18n-bot", name="I18n Bot")
    analyst = UserFactory(username="i18n_analyst", role="analyst")
    bot_assignment_create(user=analyst, bot=bot)
    conversation = ConversationFactory(bot=bot)
    turn(conversation, "blorp the frobnicator", "Sorry, I didn't understand that.", action="fallback")
    client.force_login(analyst)
    return client


@pytest.fixture
def agent_client(db, client: Client) -> Client:
    agent = UserFactory(username="i18n_agent")
    agent.groups.add(Group.objects.get(name="agent"))
    client.force_login(agent)
    return client


def _page(client: Client, path: str, **headers: str) -> str:
    response = client.get(path, **headers)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def _assert_switcher(page: str, current: str) -> None:
    form = page[page.index('data-testid="language-switcher"') - 80 :]
    form = form[: form.index("</form>")]
    assert 'action="/i18n/setlang/"' in form and 'method="post"' in form
    assert 'name="csrfmiddlewaretoken"' in form and 'name="language"' in form
    assert f'<option value="{current}" lang="{current}" selected>' in form
    assert 'value="en"' in form and 'value="zh-hans"' in form and "简体中文" in form and "English" in form


def test_the_analyst_conversation_list_follows_the_browser(analyst_client: Client) -> None:
    zh = _page(analyst_client, "/analytics/conversations/", **ZH)
    assert '<html lang="zh-hans">' in zh
    assert "<h1>对话</h1>" in zh and "1 个对话符合条件。" in zh and "筛选对话" in zh
    assert ">兜底回复</span>" in zh  # the outcome's label, not the raw value "fallback"
    assert '<option value="handoff">提供了转人工</option>' in zh  # the outcome filter's choices
    assert "界面语言" in zh and "Conversations" not in zh
    _assert_switcher(zh, "zh-hans")

    en = _page(analyst_client, "/analytics/conversations/", **EN)
    assert '<html lang="en">' in en
    assert "<h1>Conversations</h1>" in en and "1 conversation matches." in en and ">Fallback</span>" in en
    assert "对话" not in en
    _assert_switcher(en, "en")


def test_the_transcript_page_shows_the_outcome_label(analyst_client: Client) -> None:
    conversation = Conversation.objects.get(bot__slug="i18n-bot")
    zh = _page(analyst_client, f"/analytics/conversations/{conversation.pk}/", **ZH)
    assert '<span class="outcome fallback">兜底回复</span>' in zh and "对话记录" in zh
    en = _page(analyst_client, f"/analytics/conversations/{conversation.pk}/", **EN)
    assert '<span class="outcome fallback">Fallback</span>' in en and "Transcript" in en


def test_the_inbox_follows_the_browser(agent_client: Client) -> None:
    zh = _page(agent_client, "/inbox/", **ZH)
    assert '<html lang="zh-hans">' in zh and 'data-lang="zh-hans"' in zh
    assert "收件箱" in zh and "认领" in zh and "交接摘要" in zh and "键盘快捷键" in zh
    _assert_switcher(zh, "zh-hans")
    en = _page(agent_client, "/inbox/", **EN)
    assert '<html lang="en">' in en and "Inbox" in en and "Handoff brief" in en and "收件箱" not in en
    _assert_switcher(en, "en")


def test_the_inbox_403_page_is_translated_too(analyst_client: Client) -> None:
    response = analyst_client.get("/inbox/", **ZH)
    assert response.status_code == 403
    page = response.content.decode()
    assert '<html lang="zh-hans">' in page and "无权访问收件箱" in page


def test_the_bots_test_console_follows_the_browser(admin_client: Client, db) -> None:
    bot = BotFactory(slug="console-i18n", name="Console Bot")
    zh = _page(admin_client, f"/admin/bots/bot/{bot.pk}/console/", **ZH)
    assert '<html lang="zh-hans"' in zh
    assert "测试控制台" in zh and "输入消息后按 Enter" in zh and "新对话" in zh
    assert 'data-intent-label="意图"' in zh and 'data-out-of-scope-label="（超出范围）"' in zh
    _assert_switcher(zh, "zh-hans")
    en = _page(admin_client, f"/admin/bots/bot/{bot.pk}/console/", **EN)
    assert '<html lang="en"' in en and "Test console" in en and "Type a message and press Enter" in en
    assert 'data-intent-label="intent"' in en


def test_the_switcher_sets_the_language_for_later_requests(analyst_client: Client) -> None:
    response = analyst_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/analytics/conversations/"})
    assert response.status_code == 302 and response["Location"] == "/analytics/conversations/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    # The cookie wins over the browser's English.
    assert "<h1>对话</h1>" in _page(analyst_client, "/analytics/conversations/", **EN)
    analyst_client.post("/i18n/setlang/", {"language": "en", "next": "/analytics/conversations/"})
    assert "<h1>Conversations</h1>" in _page(analyst_client, "/analytics/conversations/", **ZH)


def test_the_switcher_refuses_an_offsite_next(analyst_client: Client) -> None:
    response = analyst_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_the_switcher_needs_the_csrf_token(db) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/i18n/setlang/", {"language": "zh-hans"}).status_code == 403


# --- the failure reply the platform writes to visitors -----------------------------------------


@pytest.mark.parametrize(
    ("bot_language", "locale", "expected"),
    [
        (Bot.Language.CHINESE, "en-US", "zh-hans"),
        (Bot.Language.ENGLISH, "zh-CN", "en"),
        (Bot.Language.AUTO, "zh-CN", "zh-hans"),
        (Bot.Language.AUTO, "zh-Hans-CN", "zh-hans"),
        (Bot.Language.AUTO, "en-GB", "en"),
        (Bot.Language.AUTO, "fr-FR", "en"),
        (Bot.Language.AUTO, "", "en"),
    ],
)
def test_the_failure_reply_follows_the_bot_then_the_visitor(bot_language: str, locale: str, expected: str) -> None:
    conversation = Conversation(bot=Bot(language=bot_language), locale=locale)
    assert visitor_language(conversation) == expected


def test_the_failure_reply_is_translated() -> None:
    with translation.override("zh-hans"):
        assert str(REPLY_FAILED_TEXT) == "抱歉，我刚才没能完成这条回答。请稍后再试。"
    with translation.override("en"):
        assert str(REPLY_FAILED_TEXT).startswith("Sorry, I couldn't finish")


# --- the inbox socket's own texts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookies", "accept_language", "expected"),
    [
        ({}, b"zh-CN,zh;q=0.9", "zh-hans"),
        ({}, b"en-GB,en;q=0.8", "en"),
        ({}, b"", "en"),
        ({"django_language": "zh-hans"}, b"en", "zh-hans"),  # the switcher's choice wins
        ({"django_language": "xx"}, b"zh-TW", "zh-hans"),  # an unknown cookie is ignored
    ],
)
def test_the_inbox_socket_speaks_the_pages_language(
    cookies: dict[str, str], accept_language: bytes, expected: str
) -> None:
    scope = {"cookies": cookies, "headers": [(b"host", b"testserver"), (b"accept-language", accept_language)]}
    assert handshake_language(scope) == expected
