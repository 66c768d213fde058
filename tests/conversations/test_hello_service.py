"""The hello service (conversations/services/hello.py): identity check, token check, open or start."""

from __future__ import annotations

import pytest

from bots.models import Conversation
from conversations.services.hello import HelloRefused, hello_do, hello_identity_check
from conversations.services.identity import user_hash_expected
from conversations.visitor_tokens import visitor_token_issue

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


def test_hello_do_starts_then_reopens_by_token(llm_bot) -> None:
    started = hello_do(bot=llm_bot, token=None, user_id="", locale="de-DE\x00xxxxxxxxxxxxxxxx", channel="widget")
    assert started.started and len(started.conversation.locale) <= 16
    token = visitor_token_issue(conversation=started.conversation)
    reopened = hello_do(bot=llm_bot, token=token, user_id="", locale=None, channel="widget")
    assert not reopened.started and reopened.conversation.pk == started.conversation.pk
    assert Conversation.objects.count() == 1


def test_hello_do_refuses_another_users_conversation(llm_bot) -> None:
    owned = hello_do(bot=llm_bot, token=None, user_id="alice", locale="", channel="widget").conversation
    token = visitor_token_issue(conversation=owned)
    for user_id in ("bob", ""):
        with pytest.raises(HelloRefused) as exc:
            hello_do(bot=llm_bot, token=token, user_id=user_id, locale="", channel="widget")
        assert exc.value.code == "forbidden"
    with pytest.raises(HelloRefused) as exc:
        hello_do(bot=llm_bot, token="garbage", user_id="", locale="", channel="widget")
    assert exc.value.code == "forbidden"
