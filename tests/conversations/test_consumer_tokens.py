"""Visitor tokens in hello (issue #9, items 5 and 6): every malformed token gets the documented error
frame on a socket that lives on, and tokens expire after VISITOR_TOKEN_MAX_AGE_DAYS (answered
`not_found`, as docs/protocol.md says for an expired token), with every welcome issuing a fresh one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core import signing

from bots.models import Conversation, Message
from conversations.visitor_tokens import VISITOR_TOKEN_SALT
from tests.conversations.conftest import assert_alive, expect_error, open_ws, send_raw
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]

DAY = 86400


class _AgedSigner(signing.TimestampSigner):
    """Signs as if `age_seconds` ago: what signing.dumps would have produced back then."""

    def __init__(self, *, age_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.age_seconds = age_seconds

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time() - self.age_seconds))


def aged_token(claims: object, *, age_seconds: float) -> str:
    return _AgedSigner(age_seconds=age_seconds, salt=VISITOR_TOKEN_SALT).sign_object(
        claims, serializer=signing.JSONSerializer, compress=True
    )


def signed(claims: object) -> str:
    return signing.dumps(claims, salt=VISITOR_TOKEN_SALT, compress=True)


async def _conversation(bot, origin) -> tuple[dict[str, Any], Conversation]:
    communicator = await open_ws(bot.public_key, origin)
    welcome = await ws.hello(communicator)
    await communicator.disconnect()
    return welcome, await Conversation.objects.aget(pk=welcome["conversation_id"])


# Each builds a `visitor_token` value (a Python object, JSON-encoded into the hello) from the real
# token, the conversation and the bot. All must be refused with `forbidden`.
Make = Callable[[str, Conversation], object]
MALFORMED_TOKENS: list[Any] = [
    pytest.param(lambda t, c: t[:10] + "\ud800" + t[10:], id="lone-surrogate-in-payload"),
    pytest.param(lambda t, c: t + "\udfff", id="lone-surrogate-in-signature"),
    pytest.param(lambda t, c: "\ud800", id="lone-surrogate-alone"),
    pytest.param(lambda t, c: "\ud800:\ud800:\ud800", id="lone-surrogates-with-separators"),
    pytest.param(lambda t, c: t[:10] + "\x00" + t[10:], id="nul-in-payload"),
    pytest.param(lambda t, c: "\x00:\x00:\x00", id="nul-with-separators"),
    pytest.param(lambda t, c: "A" * 15000, id="huge"),
    pytest.param(lambda t, c: (t + ":") * 120, id="huge-with-separators"),
    pytest.param(lambda t, c: "!!!:@@@:###", id="non-base64"),
    pytest.param(lambda t, c: "::", id="only-separators"),
    pytest.param(lambda t, c: ".:.:.", id="compressed-flag-only"),
    pytest.param(lambda t, c: "é" + t, id="non-ascii"),
    pytest.param(lambda t, c: "字" * 40 + ":a:b", id="cjk"),
    pytest.param(lambda t, c: t.replace(":", "\n"), id="newlines"),
    # Correctly signed, but not what this server issues.
    pytest.param(
        lambda t, c: signing.TimestampSigner(salt=VISITOR_TOKEN_SALT).sign("garbage!!"), id="signed-not-base64"
    ),
    pytest.param(lambda t, c: signing.TimestampSigner(salt=VISITOR_TOKEN_SALT).sign(".eJw"), id="signed-bad-zlib"),
    pytest.param(lambda t, c: signing.TimestampSigner(salt=VISITOR_TOKEN_SALT).sign("eyJ"), id="signed-bad-json"),
    pytest.param(lambda t, c: signed([c.bot_id, c.pk, c.visitor_id]), id="claims-list"),
    pytest.param(lambda t, c: signed("claims"), id="claims-string"),
    pytest.param(lambda t, c: signed(None), id="claims-null"),
    pytest.param(lambda t, c: signed(12), id="claims-int"),
    pytest.param(lambda t, c: signed({}), id="claims-empty"),
    pytest.param(lambda t, c: signed({"b": c.bot_id}), id="claims-missing-c-and-v"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": c.pk}), id="claims-missing-v"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": str(c.pk), "v": c.visitor_id}), id="claims-c-string"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": "abc", "v": c.visitor_id}), id="claims-c-not-a-number"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": float(c.pk), "v": c.visitor_id}), id="claims-c-float"),
    pytest.param(lambda t, c: signed({"b": float(c.bot_id), "c": c.pk, "v": c.visitor_id}), id="claims-b-float"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": True, "v": c.visitor_id}), id="claims-c-bool"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": {"pk": c.pk}, "v": c.visitor_id}), id="claims-c-object"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": [c.pk], "v": c.visitor_id}), id="claims-c-list"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": 2**80, "v": c.visitor_id}), id="claims-c-huge"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": -c.pk, "v": c.visitor_id}), id="claims-c-negative"),
    pytest.param(lambda t, c: signed({"b": 2**80, "c": c.pk, "v": c.visitor_id}), id="claims-b-huge"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": c.pk, "v": [c.visitor_id]}), id="claims-v-list"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": c.pk, "v": 12}), id="claims-v-int"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": c.pk, "v": None}), id="claims-v-null"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": c.pk, "v": c.visitor_id + "\x00"}), id="claims-v-nul"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": c.pk, "v": "x" * 5000}), id="claims-v-huge"),
    pytest.param(lambda t, c: signed({"b": c.bot_id, "c": c.pk, "v": ""}), id="claims-v-empty"),
]


@pytest.mark.parametrize("make", MALFORMED_TOKENS)
async def test_malformed_token_gets_forbidden_and_socket_lives(llm_bot, allowed_origin, no_turns, make: Make) -> None:
    welcome, conversation = await _conversation(llm_bot, allowed_origin)
    token = make(welcome["visitor_token"], conversation)
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    # ensure_ascii: lone surrogates travel as \ud800 escapes, as a browser's JSON.stringify sends them.
    await send_raw(communicator, json.dumps({"type": "hello", "v": 1, "visitor_token": token}))
    await expect_error(communicator, "forbidden")
    # Not bound to the conversation, and the same socket can still start a new one.
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": "let me in"})
    await expect_error(communicator, "hello_required")
    await assert_alive(communicator)
    fresh = await ws.hello(communicator)
    assert fresh["conversation_id"] != conversation.pk
    await communicator.disconnect()
    assert await Message.objects.acount() == 0


@pytest.mark.parametrize(
    "token",
    [
        pytest.param([], id="list"),
        pytest.param({"t": "x"}, id="object"),
        pytest.param(True, id="bool"),
        pytest.param(2**70, id="huge-int"),
        pytest.param(1.5, id="float"),
    ],
)
async def test_token_of_wrong_type_gets_bad_frame(llm_bot, allowed_origin, token: object) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1, "visitor_token": token})
    await expect_error(communicator, "bad_frame")
    await assert_alive(communicator)
    await communicator.disconnect()


def test_selector_refuses_non_string_token(llm_bot) -> None:
    """The selector's own guard, for callers other than the consumer."""
    from conversations import selectors

    for token in (None, 12, b"bytes", ["x"]):
        with pytest.raises(selectors.VisitorTokenInvalid):
            selectors.conversation_from_visitor_token(bot=llm_bot, token=token)  # type: ignore[arg-type]


# -- lifetime ----------------------------------------------------------------------------------


def _claims(conversation: Conversation) -> dict[str, Any]:
    return {"b": conversation.bot_id, "c": conversation.pk, "v": conversation.visitor_id}


async def test_400_day_old_token_is_expired_not_found(llm_bot, allowed_origin, no_turns) -> None:
    _, conversation = await _conversation(llm_bot, allowed_origin)
    old = aged_token(_claims(conversation), age_seconds=400 * DAY)
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1, "visitor_token": old, "last_seq": 0})
    error = await expect_error(communicator, "not_found")
    assert "expired" in error["detail"]
    # What the widget then does: forget the token, hello without one, a new conversation.
    fresh = await ws.hello(communicator)
    assert fresh["conversation_id"] != conversation.pk
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_token_expiry_follows_the_setting(llm_bot, allowed_origin, no_turns, settings) -> None:
    settings.VISITOR_TOKEN_MAX_AGE_DAYS = 2
    _, conversation = await _conversation(llm_bot, allowed_origin)
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await communicator.send_json_to(
        {"type": "hello", "v": 1, "visitor_token": aged_token(_claims(conversation), age_seconds=3 * DAY)}
    )
    await expect_error(communicator, "not_found")
    back = await ws.hello(communicator, visitor_token=aged_token(_claims(conversation), age_seconds=1 * DAY))
    assert back["conversation_id"] == conversation.pk
    await communicator.disconnect()


async def test_token_within_lifetime_reopens_and_welcome_slides_it(llm_bot, allowed_origin, no_turns, settings) -> None:
    assert settings.VISITOR_TOKEN_MAX_AGE_DAYS == 30  # the documented default
    _, conversation = await _conversation(llm_bot, allowed_origin)
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    back = await ws.hello(communicator, visitor_token=aged_token(_claims(conversation), age_seconds=29 * DAY))
    assert back["conversation_id"] == conversation.pk
    # The welcome's token is a fresh one: signed just now, so the lifetime restarts.
    assert signing.loads(back["visitor_token"], salt=VISITOR_TOKEN_SALT, max_age=60) == _claims(conversation)
    await communicator.disconnect()
