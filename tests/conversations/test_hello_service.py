"""The hello service (conversations/services/hello.py): identity check, token check, the visitor a
hello binds to, and a conversation started at hello only for protocol v1 (`start=True`)."""

from __future__ import annotations

import pytest

from bots.models import Conversation
from conversations.services.conversations import conversation_first_message_receive
from conversations.services.hello import HelloRefused, hello_do, hello_identity_check
from conversations.services.identity import user_hash_expected
from conversations.visitor_tokens import visitor_token_issue, visitor_token_issue_pending

pytestmark = [pytest.mark.django_db]


def test_identity_check(llm_bot) -> None:
    assert hello_identity_check(bot=llm_bot, user_id=None, user_hash=None) == ""
    good = user_hash_expected(bot=llm_bot, user_id="u1")
    assert hello_identity_check(bot=llm_bot, user_id="u1", user_hash=good) == "u1"
    with pytest.raises(HelloRefused) as exc:
        hello_identity_check(bot=llm_bot, user_id="u1", user_hash="0" * 64)
    assert exc.value.code == "forbidden"
    llm_bot.require_identity_verification = True
    with pytest.raises(HelloRefused) as exc:
        hello_identity_check(bot=llm_bot, user_id=None, user_hash=None)
    assert exc.value.code == "identity_required"


def test_v2_hello_without_token_writes_nothing(llm_bot) -> None:
    opened = hello_do(bot=llm_bot, token=None, user_id="", locale="de-DE\x00xxxxxxxxxxxxxxxx", channel="widget")
    assert opened.conversation is None and not opened.started
    assert len(opened.visitor_id) == 32 and opened.locale.startswith("de-DE") and len(opened.locale) <= 16
    assert hello_do(bot=llm_bot, token=None, user_id="", locale="", channel="widget").visitor_id != opened.visitor_id
    assert Conversation.objects.count() == 0


def test_pending_token_names_the_visitor_then_their_conversation(llm_bot, no_turns) -> None:
    visitor_id = hello_do(bot=llm_bot, token=None, user_id="", locale="en", channel="widget").visitor_id
    pending = visitor_token_issue_pending(bot_id=llm_bot.pk, visitor_id=visitor_id)
    again = hello_do(bot=llm_bot, token=pending, user_id="", locale="en", channel="widget")
    assert (again.visitor_id, again.conversation) == (visitor_id, None)
    first = conversation_first_message_receive(
        bot=llm_bot,
        visitor_id=visitor_id,
        user_id="",
        locale="en",
        channel="widget",
        client_id="c1",
        text="hi",
        client_ip="10.9.9.9",
    )
    reopened = hello_do(bot=llm_bot, token=pending, user_id="", locale=None, channel="widget")
    assert reopened.conversation is not None and reopened.conversation.pk == first.conversation.pk
    assert Conversation.objects.count() == 1


def test_v1_hello_starts_then_reopens_by_token(llm_bot) -> None:
    started = hello_do(
        bot=llm_bot, token=None, user_id="", locale="de-DE\x00xxxxxxxxxxxxxxxx", channel="widget", start=True
    )
    assert started.started and started.conversation is not None and len(started.conversation.locale) <= 16
    token = visitor_token_issue(conversation=started.conversation)
    reopened = hello_do(bot=llm_bot, token=token, user_id="", locale=None, channel="widget", start=True)
    assert not reopened.started and reopened.conversation is not None
    assert reopened.conversation.pk == started.conversation.pk
    assert Conversation.objects.count() == 1


def test_hello_do_refuses_another_users_conversation(llm_bot) -> None:
    owned = hello_do(bot=llm_bot, token=None, user_id="alice", locale="", channel="widget", start=True).conversation
    assert owned is not None and owned.user_id == "alice"
    for token in (
        visitor_token_issue(conversation=owned),
        visitor_token_issue_pending(bot_id=llm_bot.pk, visitor_id=owned.visitor_id),
    ):
        for user_id in ("bob", ""):
            with pytest.raises(HelloRefused) as exc:
                hello_do(bot=llm_bot, token=token, user_id=user_id, locale="", channel="widget")
            assert exc.value.code == "forbidden"
    with pytest.raises(HelloRefused) as exc:
        hello_do(bot=llm_bot, token="garbage", user_id="", locale="", channel="widget")
    assert exc.value.code == "forbidden"
