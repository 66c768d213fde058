"""Every frame type of protocol v1 through the real consumer, and every way a frame can be bad.

After each bad frame the SAME connection must still answer a ping: bad frames get an error frame,
never a crash (only abuse closes: 1009 for a huge frame, 1008 for a stream of bad frames).
"""

from __future__ import annotations

import json

import pytest

from bots.models import Conversation, Message
from tests.conversations.conftest import assert_alive, expect_closed, expect_error, next_frame, open_ws, send_raw
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]


async def _ready(bot, origin, **hello_fields):
    communicator = await open_ws(bot.public_key, origin)
    welcome = await ws.hello(communicator, **hello_fields)
    return communicator, welcome


# -- the happy path, frame by frame ------------------------------------------------------------


async def test_hello_welcome_shape(llm_bot, allowed_origin) -> None:
    communicator, welcome = await _ready(llm_bot, allowed_origin, locale="de-CH")
    assert welcome["v"] == 1 and welcome["last_seq"] == 0 and welcome["messages"] == []
    assert isinstance(welcome["visitor_token"], str) and welcome["visitor_token"]
    assert welcome["bot"] == {
        "name": "LLM only",
        "title": "LLM only",
        "color": "#2563eb",
        "position": "right",
        "avatar_url": "",
        "greeting": llm_bot.greeting,
        "language": "auto",
    }
    conversation = await Conversation.objects.aget(pk=welcome["conversation_id"])
    assert conversation.bot_id == llm_bot.pk and conversation.locale == "de-CH" and conversation.user_id == ""
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_message_is_acked_and_stored_then_enqueued(llm_bot, allowed_origin, no_turns) -> None:
    communicator, welcome = await _ready(llm_bot, allowed_origin)
    await communicator.send_json_to({"type": "message", "client_id": "c-1", "text": "  Hello there  "})
    ack = await next_frame(communicator)
    assert ack == {"type": "ack", "client_id": "c-1", "message_id": ack["message_id"], "seq": 1, "duplicate": False}
    stored = await Message.objects.aget(pk=ack["message_id"])
    assert (stored.conversation_id, stored.role, stored.text, stored.client_id) == (
        welcome["conversation_id"],
        "user",
        "Hello there",
        "c-1",
    )
    assert no_turns == [stored.pk]
    await communicator.disconnect()


async def test_typing_gets_no_answer(llm_bot, allowed_origin) -> None:
    communicator, _ = await _ready(llm_bot, allowed_origin)
    await communicator.send_json_to({"type": "typing", "on": True})
    await communicator.send_json_to({"type": "typing", "on": False})
    await communicator.send_json_to({"type": "ping"})
    assert await next_frame(communicator) == {"type": "pong"}  # nothing came before the pong
    await communicator.disconnect()


async def test_ping_pong_works_before_hello(llm_bot, allowed_origin) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "ping"})
    assert await next_frame(communicator) == {"type": "pong"}
    await communicator.disconnect()


async def test_reply_streams_typing_deltas_and_final(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    stub_llm.behaviour.reply = "Returns are free within thirty days of delivery, no questions asked."
    communicator, _ = await _ready(llm_bot, allowed_origin)
    await communicator.send_json_to({"type": "message", "client_id": "c-1", "text": "Can I return shoes?"})
    ack = await ws.expect(communicator, "ack")
    typing = await ws.expect(communicator, "typing")
    assert typing == {"type": "typing", "role": "bot", "on": True}
    deltas, final = await ws.collect_reply(communicator)
    assert deltas and all(d["reply_to"] == ack["message_id"] for d in deltas)
    offsets = [d["offset"] for d in deltas]
    assert offsets == [sum(len(d["text"]) for d in deltas[:i]) for i in range(len(deltas))]
    assert "".join(d["text"] for d in deltas) == final["text"] == stub_llm.behaviour.reply
    assert final["role"] == "bot" and final["seq"] == 2 and final["reply_to"] == ack["message_id"]
    assert final["quick_replies"] == [] and final["citations"] == [] and final["created_at"]
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_feedback_is_stored_on_the_bot_message(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    communicator, _ = await _ready(llm_bot, allowed_origin)
    await communicator.send_json_to({"type": "message", "client_id": "c-1", "text": "hi"})
    ack = await ws.expect(communicator, "ack")
    _, final = await ws.collect_reply(communicator)
    await communicator.send_json_to(
        {"type": "feedback", "message_id": final["id"], "rating": "down", "comment": "Not what I asked"}
    )
    assert await ws.expect(communicator, "feedback_ack") == {
        "type": "feedback_ack",
        "message_id": final["id"],
        "rating": "down",
    }
    stored = await Message.objects.aget(pk=final["id"])
    assert stored.feedback == "down" and stored.feedback_comment == "Not what I asked"
    # Changing one's mind overwrites.
    await communicator.send_json_to({"type": "feedback", "message_id": final["id"], "rating": "up"})
    await ws.expect(communicator, "feedback_ack")
    assert (await Message.objects.aget(pk=final["id"])).feedback == "up"
    # Only bot messages take feedback.
    await communicator.send_json_to({"type": "feedback", "message_id": ack["message_id"], "rating": "up"})
    await expect_error(communicator, "not_found")
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_csat_is_stored_on_the_conversation(llm_bot, allowed_origin) -> None:
    communicator, welcome = await _ready(llm_bot, allowed_origin)
    await communicator.send_json_to({"type": "csat", "score": 4, "comment": "quick"})
    assert await next_frame(communicator) == {"type": "csat_ack", "score": 4}
    conversation = await Conversation.objects.aget(pk=welcome["conversation_id"])
    assert conversation.csat == 4 and conversation.ended_at is not None
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_resume_replays_messages_after_last_seq(llm_bot, allowed_origin, no_turns) -> None:
    communicator, _ = await _ready(llm_bot, allowed_origin)
    for i in range(1, 5):
        await communicator.send_json_to({"type": "message", "client_id": f"c-{i}", "text": f"message {i}"})
        assert (await next_frame(communicator))["seq"] == i
    await communicator.send_json_to({"type": "resume", "last_seq": 2})
    replay = [await next_frame(communicator), await next_frame(communicator)]
    assert [(f["type"], f["seq"], f["text"], f["client_id"]) for f in replay] == [
        ("message", 3, "message 3", "c-3"),
        ("message", 4, "message 4", "c-4"),
    ]
    await communicator.send_json_to({"type": "resume", "last_seq": 4})
    await communicator.send_json_to({"type": "ping"})
    assert await next_frame(communicator) == {"type": "pong"}  # nothing to replay
    await communicator.disconnect()


# -- bad frames: an error frame, and the connection lives on -----------------------------------

BAD_FRAMES = [
    pytest.param("{not json", "bad_json", id="bad-json"),
    pytest.param("", "bad_json", id="empty-text"),
    pytest.param("[1, 2]", "bad_frame", id="array"),
    pytest.param('"hello"', "bad_frame", id="string"),
    pytest.param("42", "bad_frame", id="number"),
    pytest.param("null", "bad_frame", id="null"),
    pytest.param("{}", "bad_frame", id="missing-type"),
    pytest.param('{"type": 7}', "bad_frame", id="type-not-string"),
    pytest.param('{"type": null}', "bad_frame", id="type-null"),
    pytest.param('{"type": "launch_missiles"}', "unknown_type", id="unknown-type"),
    pytest.param('{"type": ""}', "unknown_type", id="empty-type"),
    pytest.param("[" * 5000 + "]" * 5000, "bad_frame", id="deep-nesting"),
    pytest.param('{"type": "ping", "n": ' + "9" * 5000 + "}", "bad_json", id="huge-int-literal"),
    pytest.param('{"type": "message", "client_id": "x", "text": 12}', "bad_frame", id="text-not-string"),
    pytest.param('{"type": "message", "client_id": "x", "text": null}', "bad_frame", id="text-null"),
    pytest.param('{"type": "message", "client_id": "x", "text": ["a"]}', "bad_frame", id="text-list"),
    pytest.param('{"type": "message", "client_id": 5, "text": "hi"}', "bad_frame", id="client-id-int"),
    pytest.param('{"type": "message", "text": "hi"}', "bad_frame", id="client-id-missing"),
    pytest.param('{"type": "message", "client_id": "", "text": "hi"}', "bad_frame", id="client-id-empty"),
    pytest.param(
        '{"type": "message", "client_id": "' + "x" * 65 + '", "text": "hi"}', "bad_frame", id="client-id-too-long"
    ),
    pytest.param('{"type": "message", "client_id": "a\\u0000b", "text": "hi"}', "bad_frame", id="client-id-nul"),
    pytest.param(
        '{"type": "message", "client_id": "\\ud800", "text": "hi"}', "bad_frame", id="client-id-lone-surrogate"
    ),
    pytest.param('{"type": "resume", "last_seq": "3"}', "bad_frame", id="resume-last-seq-string"),
    pytest.param('{"type": "resume", "last_seq": -1}', "bad_frame", id="resume-last-seq-negative"),
    pytest.param('{"type": "resume", "last_seq": true}', "bad_frame", id="resume-last-seq-bool"),
    pytest.param('{"type": "resume", "last_seq": 1.5}', "bad_frame", id="resume-last-seq-float"),
    pytest.param('{"type": "feedback", "message_id": "1", "rating": "up"}', "bad_frame", id="feedback-id-string"),
    pytest.param('{"type": "feedback", "message_id": true, "rating": "up"}', "bad_frame", id="feedback-id-bool"),
    pytest.param('{"type": "feedback", "message_id": 1, "rating": "meh"}', "bad_frame", id="feedback-rating"),
    pytest.param(
        '{"type": "feedback", "message_id": 1, "rating": "up", "comment": 5}', "bad_frame", id="feedback-comment-int"
    ),
    pytest.param(
        '{"type": "feedback", "message_id": 99999999999999999999999, "rating": "up"}',
        "not_found",
        id="feedback-id-out-of-range",
    ),
    pytest.param(
        '{"type": "feedback", "message_id": 987654321, "rating": "up"}', "not_found", id="feedback-id-unknown"
    ),
    pytest.param('{"type": "csat", "score": 9}', "bad_frame", id="csat-out-of-range"),
    pytest.param('{"type": "csat", "score": 0}', "bad_frame", id="csat-zero"),
    pytest.param('{"type": "csat", "score": "5"}', "bad_frame", id="csat-string"),
    pytest.param('{"type": "csat", "score": true}', "bad_frame", id="csat-bool"),
    pytest.param('{"type": "csat", "score": NaN}', "bad_frame", id="csat-nan"),
    pytest.param('{"type": "typing", "on": "yes"}', "bad_frame", id="typing-on-string"),
    pytest.param('{"type": "hello", "last_seq": "x"}', "bad_frame", id="hello-last-seq-string"),
    pytest.param('{"type": "hello", "visitor_token": 12}', "bad_frame", id="hello-token-int"),
    pytest.param('{"type": "hello", "locale": ["en"]}', "bad_frame", id="hello-locale-list"),
    pytest.param('{"type": "hello", "v": 3}', "bad_frame", id="hello-unsupported-version"),
    pytest.param(
        '{"type": "hello", "user_id": "u\\ud800", "user_hash": "00"}', "forbidden", id="hello-user-id-lone-surrogate"
    ),
    pytest.param('{"type": "hello", "user_id": 5, "user_hash": "00"}', "forbidden", id="hello-user-id-int"),
    # Issue #9 item 10: lone surrogates, NUL, wrong types, huge ints and nested junk in every field.
    pytest.param('{"type": "\\ud800"}', "unknown_type", id="type-lone-surrogate"),
    pytest.param('{"type": "ping\\u0000"}', "unknown_type", id="type-nul"),
    pytest.param('{"type": "hello", "v": "\\ud800"}', "bad_frame", id="hello-v-lone-surrogate"),
    pytest.param('{"type": "hello", "v": [1]}', "bad_frame", id="hello-v-list"),
    pytest.param('{"type": "hello", "v": null}', "bad_frame", id="hello-v-null"),
    pytest.param('{"type": "hello", "v": ' + "9" * 4000 + "}", "bad_frame", id="hello-v-huge-int"),
    pytest.param('{"type": "hello", "last_seq": 9223372036854775808}', "bad_frame", id="hello-last-seq-over-bigint"),
    pytest.param('{"type": "hello", "last_seq": ' + "9" * 4000 + "}", "bad_frame", id="hello-last-seq-huge-int"),
    pytest.param('{"type": "hello", "last_seq": -1}', "bad_frame", id="hello-last-seq-negative"),
    pytest.param('{"type": "hello", "last_seq": {"a": [1]}}', "bad_frame", id="hello-last-seq-object"),
    pytest.param('{"type": "hello", "last_seq": "\\u0000"}', "bad_frame", id="hello-last-seq-nul"),
    pytest.param('{"type": "hello", "locale": 1e400}', "bad_frame", id="hello-locale-infinity"),
    pytest.param('{"type": "hello", "locale": {"a": {"b": [[{}]]}}}', "bad_frame", id="hello-locale-nested"),
    pytest.param('{"type": "hello", "visitor_token": "a\\ud800b:c:d"}', "forbidden", id="hello-token-lone-surrogate"),
    pytest.param('{"type": "hello", "visitor_token": "a\\u0000b:c:d"}', "forbidden", id="hello-token-nul"),
    pytest.param('{"type": "hello", "visitor_token": ["x"]}', "bad_frame", id="hello-token-list"),
    pytest.param('{"type": "hello", "visitor_token": {"a": 1}}', "bad_frame", id="hello-token-object"),
    pytest.param('{"type": "hello", "visitor_token": ' + "9" * 4000 + "}", "bad_frame", id="hello-token-huge-int"),
    pytest.param('{"type": "hello", "user_id": "u\\u0000", "user_hash": "00"}', "forbidden", id="hello-user-id-nul"),
    pytest.param(
        '{"type": "hello", "user_id": "u", "user_hash": "\\ud800"}', "forbidden", id="hello-user-hash-lone-surrogate"
    ),
    pytest.param('{"type": "hello", "user_id": "u", "user_hash": "\\u0000"}', "forbidden", id="hello-user-hash-nul"),
    pytest.param('{"type": "hello", "user_id": "u", "user_hash": 5}', "forbidden", id="hello-user-hash-int"),
    pytest.param(
        '{"type": "hello", "user_id": "u", "user_hash": {"a": [1]}}', "forbidden", id="hello-user-hash-object"
    ),
    pytest.param('{"type": "hello", "user_id": {"a": [1]}, "user_hash": "00"}', "forbidden", id="hello-user-id-object"),
    pytest.param('{"type": "hello", "user_id": "", "user_hash": ""}', "forbidden", id="hello-user-id-empty"),
    pytest.param(
        '{"type": "hello", "user_id": "' + "u" * 5000 + '", "user_hash": "00"}', "forbidden", id="hello-user-id-huge"
    ),
    pytest.param(
        '{"type": "hello", "user_id": ' + "9" * 4000 + ', "user_hash": "00"}', "forbidden", id="hello-user-id-huge-int"
    ),
    pytest.param('{"type": "message", "client_id": "x", "text": {"a": {"b": [[]]}}}', "bad_frame", id="text-nested"),
    pytest.param('{"type": "message", "client_id": "x", "text": true}', "bad_frame", id="text-bool"),
    pytest.param('{"type": "message", "client_id": "x", "text": ' + "9" * 4000 + "}", "bad_frame", id="text-huge-int"),
    pytest.param(
        '{"type": "message", "client_id": "x", "text": "\\u0000\\udfff\\ud800"}',
        "empty_message",
        id="text-only-nul-and-surrogates",
    ),
    pytest.param('{"type": "message", "client_id": {"a": [1]}, "text": "hi"}', "bad_frame", id="client-id-object"),
    pytest.param('{"type": "message", "client_id": ["x"], "text": "hi"}', "bad_frame", id="client-id-list"),
    pytest.param('{"type": "message", "client_id": true, "text": "hi"}', "bad_frame", id="client-id-bool"),
    pytest.param(
        '{"type": "message", "client_id": ' + "9" * 4000 + ', "text": "hi"}', "bad_frame", id="client-id-huge-int"
    ),
    pytest.param(
        '{"type": "message", "client_id": "' + "x" * 8000 + '", "text": "hi"}', "bad_frame", id="client-id-huge"
    ),
    pytest.param('{"type": "resume", "last_seq": 9223372036854775808}', "bad_frame", id="resume-last-seq-over-bigint"),
    pytest.param('{"type": "resume", "last_seq": ' + "9" * 4000 + "}", "bad_frame", id="resume-last-seq-huge-int"),
    pytest.param('{"type": "resume", "last_seq": "\\ud800"}', "bad_frame", id="resume-last-seq-lone-surrogate"),
    pytest.param('{"type": "resume", "last_seq": [[[]]]}', "bad_frame", id="resume-last-seq-nested"),
    pytest.param('{"type": "typing", "on": "\\ud800"}', "bad_frame", id="typing-on-lone-surrogate"),
    pytest.param('{"type": "typing", "on": null}', "bad_frame", id="typing-on-null"),
    pytest.param('{"type": "typing", "on": {"a": []}}', "bad_frame", id="typing-on-object"),
    pytest.param('{"type": "typing", "on": 1}', "bad_frame", id="typing-on-int"),
    pytest.param(
        '{"type": "feedback", "message_id": "\\ud800", "rating": "up"}', "bad_frame", id="feedback-id-lone-surrogate"
    ),
    pytest.param('{"type": "feedback", "message_id": 1.0, "rating": "up"}', "bad_frame", id="feedback-id-float"),
    pytest.param('{"type": "feedback", "message_id": [1], "rating": "up"}', "bad_frame", id="feedback-id-list"),
    pytest.param(
        '{"type": "feedback", "message_id": ' + "9" * 4000 + ', "rating": "up"}', "not_found", id="feedback-id-huge-int"
    ),
    pytest.param(
        '{"type": "feedback", "message_id": 9223372036854775808, "rating": "up"}',
        "not_found",
        id="feedback-id-over-bigint",
    ),
    pytest.param('{"type": "feedback", "message_id": -1, "rating": "up"}', "not_found", id="feedback-id-negative"),
    pytest.param(
        '{"type": "feedback", "message_id": 1, "rating": "\\ud800"}', "bad_frame", id="feedback-rating-lone-surrogate"
    ),
    pytest.param('{"type": "feedback", "message_id": 1, "rating": "up\\u0000"}', "bad_frame", id="feedback-rating-nul"),
    pytest.param(
        '{"type": "feedback", "message_id": 1, "rating": {"up": 1}}', "bad_frame", id="feedback-rating-object"
    ),
    pytest.param('{"type": "feedback", "message_id": 1, "rating": null}', "bad_frame", id="feedback-rating-null"),
    pytest.param(
        '{"type": "feedback", "message_id": 987654321, "rating": "up", "comment": "\\ud800\\u0000"}',
        "not_found",
        id="feedback-comment-nul-and-surrogate",
    ),
    pytest.param(
        '{"type": "feedback", "message_id": 1, "rating": "up", "comment": {"a": [1]}}',
        "bad_frame",
        id="feedback-comment-object",
    ),
    pytest.param('{"type": "csat", "score": ' + "9" * 4000 + "}", "bad_frame", id="csat-huge-int"),
    pytest.param('{"type": "csat", "score": 5.0}', "bad_frame", id="csat-float"),
    pytest.param('{"type": "csat", "score": "\\ud800"}', "bad_frame", id="csat-lone-surrogate"),
    pytest.param('{"type": "csat", "score": null}', "bad_frame", id="csat-null"),
    pytest.param('{"type": "csat", "score": [5]}', "bad_frame", id="csat-list"),
    pytest.param(
        '{"type": "csat", "score": 9, "comment": "\\ud800\\u0000"}', "bad_frame", id="csat-comment-junk-bad-score"
    ),
]


@pytest.mark.parametrize(("raw", "code"), BAD_FRAMES)
async def test_bad_frame_gets_error_and_connection_survives(llm_bot, allowed_origin, no_turns, raw, code) -> None:
    communicator, welcome = await _ready(llm_bot, allowed_origin)
    await send_raw(communicator, raw)
    await expect_error(communicator, code)
    await assert_alive(communicator)
    assert no_turns == []
    assert await Message.objects.filter(conversation_id=welcome["conversation_id"]).acount() == 0
    await communicator.disconnect()


JUNK_FIELDS = {
    "junk": "\ud800\u0000\udfff",
    "n": 10**4000 // 10**3990,
    "deep": [[[[{"a": {"b": None}}]]]],
    "big": 2**200,
    "f": 1e308,
}


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param({"type": "ping"}, id="ping"),
        pytest.param({"type": "typing", "on": True}, id="typing"),
        pytest.param({"type": "resume", "last_seq": 0}, id="resume"),
        pytest.param({"type": "csat", "score": 3}, id="csat"),
        pytest.param({"type": "message", "client_id": "j", "text": "hi"}, id="message"),
        pytest.param({"type": "hello", "v": 1}, id="hello"),
    ],
)
async def test_unknown_junk_fields_are_ignored_on_every_frame_type(llm_bot, allowed_origin, no_turns, frame) -> None:
    communicator, _ = await _ready(llm_bot, allowed_origin)
    await send_raw(communicator, json.dumps({**frame, **JUNK_FIELDS}))
    await communicator.send_json_to({"type": "ping"})
    answers = []
    while not answers or answers[-1] != "pong":
        answers.append((await next_frame(communicator))["type"])
    assert "error" not in answers, answers
    await communicator.disconnect()


@pytest.mark.parametrize("last_seq", [2**31, 2**63 - 1])
async def test_largest_last_seq_values_replay_nothing(llm_bot, allowed_origin, no_turns, last_seq) -> None:
    """Over the seq column's range (int4) but within what the protocol accepts: no error, no replay."""
    communicator, welcome = await _ready(llm_bot, allowed_origin)
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": "hi"})
    await ws.expect(communicator, "ack")
    await communicator.send_json_to({"type": "resume", "last_seq": last_seq})
    await communicator.send_json_to({"type": "ping"})
    assert await next_frame(communicator) == {"type": "pong"}
    back = await ws.hello(communicator, visitor_token=welcome["visitor_token"], last_seq=last_seq)
    assert back["messages"] == [] and back["last_seq"] == 1
    await communicator.disconnect()


async def test_binary_frame_is_refused(llm_bot, allowed_origin) -> None:
    communicator, _ = await _ready(llm_bot, allowed_origin)
    await communicator.send_to(bytes_data=json.dumps({"type": "ping"}).encode())
    await expect_error(communicator, "bad_frame")
    await assert_alive(communicator)
    await communicator.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message", "client_id": "c", "text": "hi"},
        {"type": "resume", "last_seq": 0},
        {"type": "feedback", "message_id": 1, "rating": "up"},
        {"type": "csat", "score": 5},
        {"type": "typing", "on": True},
    ],
)
async def test_frames_before_hello_need_hello(llm_bot, allowed_origin, no_turns, frame) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await communicator.send_json_to(frame)
    await expect_error(communicator, "hello_required")
    await assert_alive(communicator)
    await ws.hello(communicator)  # and the connection can still start properly
    await communicator.disconnect()
    assert no_turns == [] and await Message.objects.acount() == 0


async def test_unknown_type_detail_does_not_echo_huge_type(llm_bot, allowed_origin) -> None:
    communicator, _ = await _ready(llm_bot, allowed_origin)
    await communicator.send_json_to({"type": "x" * 5000})
    error = await expect_error(communicator, "unknown_type")
    assert len(error["detail"]) < 200
    await assert_alive(communicator)
    await communicator.disconnect()


# -- limits ------------------------------------------------------------------------------------


async def test_message_over_the_char_limit_is_refused_and_not_stored(
    llm_bot, allowed_origin, no_turns, settings
) -> None:
    settings.CHAT_MAX_MESSAGE_CHARS = 100
    communicator, welcome = await _ready(llm_bot, allowed_origin)
    await communicator.send_json_to({"type": "message", "client_id": "long", "text": "a" * 101})
    error = await expect_error(communicator, "message_too_long")
    assert error["client_id"] == "long"
    assert await Message.objects.filter(conversation_id=welcome["conversation_id"]).acount() == 0
    # Exactly at the limit is fine (and surrounding whitespace does not count).
    await communicator.send_json_to({"type": "message", "client_id": "ok", "text": "  " + "b" * 100 + "\n"})
    assert (await ws.expect(communicator, "ack"))["seq"] == 1
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_default_char_limit(llm_bot, allowed_origin, no_turns, settings) -> None:
    communicator, _ = await _ready(llm_bot, allowed_origin)
    text = "é" * (settings.CHAT_MAX_MESSAGE_CHARS + 1)  # still under the frame byte limit
    assert (
        len(json.dumps({"type": "message", "client_id": "c", "text": text}, ensure_ascii=False).encode())
        < settings.CHAT_MAX_FRAME_BYTES
    )
    await send_raw(communicator, json.dumps({"type": "message", "client_id": "c", "text": text}, ensure_ascii=False))
    await expect_error(communicator, "message_too_long")
    await assert_alive(communicator)
    await communicator.disconnect()
    assert await Message.objects.acount() == 0


async def test_empty_and_blank_messages_are_refused(llm_bot, allowed_origin, no_turns) -> None:
    communicator, _ = await _ready(llm_bot, allowed_origin)
    for i, text in enumerate(["", "   ", "\n\t", "\u0000\u0001", "\ud800"]):
        await communicator.send_to(text_data=json.dumps({"type": "message", "client_id": f"e{i}", "text": text}))
        error = await expect_error(communicator, "empty_message")
        assert error["client_id"] == f"e{i}"
    await assert_alive(communicator)
    await communicator.disconnect()
    assert await Message.objects.acount() == 0 and no_turns == []


async def test_frame_over_byte_limit_gets_too_large(llm_bot, allowed_origin, no_turns, settings) -> None:
    settings.CHAT_MAX_FRAME_BYTES = 1024
    communicator, _ = await _ready(llm_bot, allowed_origin)
    await communicator.send_json_to({"type": "message", "client_id": "big", "text": "x" * 2000})
    await expect_error(communicator, "too_large")
    # Bytes, not characters: 400 CJK characters are 1200 bytes in UTF-8.
    await send_raw(
        communicator, json.dumps({"type": "message", "client_id": "cjk", "text": "字" * 400}, ensure_ascii=False)
    )
    await expect_error(communicator, "too_large")
    await assert_alive(communicator)
    await communicator.disconnect()
    assert await Message.objects.acount() == 0


async def test_abusive_frame_closes_with_1009(llm_bot, allowed_origin, no_turns, settings) -> None:
    settings.CHAT_MAX_FRAME_BYTES = 1024
    communicator, _ = await _ready(llm_bot, allowed_origin)
    await send_raw(communicator, "x" * (4 * 1024 + 1))
    await expect_error(communicator, "too_large")
    await expect_closed(communicator, 1009)
    await communicator.disconnect()


async def test_abusive_frame_closes_even_before_hello(llm_bot, allowed_origin, settings) -> None:
    settings.CHAT_MAX_FRAME_BYTES = 1024
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await send_raw(communicator, "{" * (5 * 1024))
    await expect_closed(communicator, 1009)
    await communicator.disconnect()


async def test_repeated_bad_frames_close_with_1008(llm_bot, allowed_origin) -> None:
    communicator, _ = await _ready(llm_bot, allowed_origin)
    for _ in range(19):
        await send_raw(communicator, "{oops")
        await expect_error(communicator, "bad_json")
    await assert_alive(communicator)  # 19 mistakes are tolerated
    await send_raw(communicator, "{oops")
    await expect_closed(communicator, 1008)
    await communicator.disconnect()


async def test_abuse_counter_is_per_connection(llm_bot, allowed_origin) -> None:
    first, _ = await _ready(llm_bot, allowed_origin)
    second, _ = await _ready(llm_bot, allowed_origin)
    for _ in range(15):
        await send_raw(first, "{oops")
        await expect_error(first, "bad_json")
        await send_raw(second, "{oops")
        await expect_error(second, "bad_json")
    await assert_alive(first)
    await assert_alive(second)
    await first.disconnect()
    await second.disconnect()


async def test_rate_limit_per_visitor(llm_bot, allowed_origin, no_turns, settings) -> None:
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    communicator, _ = await _ready(llm_bot, allowed_origin)
    for i in range(3):
        await communicator.send_json_to({"type": "message", "client_id": f"m{i}", "text": f"hi {i}"})
        assert (await next_frame(communicator))["type"] == "ack"
    await communicator.send_json_to({"type": "message", "client_id": "m3", "text": "one too many"})
    error = await expect_error(communicator, "rate_limited")
    assert error["client_id"] == "m3" and 1 <= error["retry_after"] <= 60
    await assert_alive(communicator)
    await communicator.disconnect()
    assert await Message.objects.filter(text="one too many").acount() == 0
    # Another visitor (same bot, another IP) is not affected.
    other, _ = await _ready(llm_bot, allowed_origin)
    await other.send_json_to({"type": "message", "client_id": "x", "text": "hello"})
    assert (await next_frame(other))["type"] == "ack"
    await other.disconnect()


async def test_rate_limit_per_visitor_survives_reconnect(llm_bot, allowed_origin, no_turns, settings) -> None:
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    communicator, welcome = await _ready(llm_bot, allowed_origin)
    for i in range(2):
        await communicator.send_json_to({"type": "message", "client_id": f"m{i}", "text": f"hi {i}"})
        assert (await next_frame(communicator))["type"] == "ack"
    await communicator.disconnect()
    again = await open_ws(llm_bot.public_key, allowed_origin)  # new connection, new IP, same visitor
    await ws.hello(again, visitor_token=welcome["visitor_token"], last_seq=2)
    await again.send_json_to({"type": "message", "client_id": "m2", "text": "again"})
    await expect_error(again, "rate_limited")
    await again.disconnect()


async def test_rate_limit_per_ip(llm_bot, allowed_origin, no_turns, settings) -> None:
    settings.CHAT_MESSAGES_PER_MINUTE = 100
    settings.CHAT_MESSAGES_PER_MINUTE_PER_IP = 4
    ip = "192.0.2.77"
    visitors = []
    for _ in range(3):
        communicator = await open_ws(llm_bot.public_key, allowed_origin, client_ip=ip)
        await ws.hello(communicator)
        visitors.append(communicator)
    sent = 0
    for round_ in range(2):
        for n, communicator in enumerate(visitors):
            await communicator.send_json_to({"type": "message", "client_id": f"{round_}-{n}", "text": "hey"})
            frame = await next_frame(communicator)
            sent += 1
            if sent <= 4:
                assert frame["type"] == "ack", frame
            else:
                assert frame["type"] == "error" and frame["code"] == "rate_limited" and frame["retry_after"] >= 1
    for communicator in visitors:
        await assert_alive(communicator)
        await communicator.disconnect()
    # A visitor from another address is not affected.
    other, _ = await _ready(llm_bot, allowed_origin)
    await other.send_json_to({"type": "message", "client_id": "z", "text": "hello"})
    assert (await next_frame(other))["type"] == "ack"
    await other.disconnect()


# -- unicode junk: stored cleaned, the connection survives --------------------------------------

UNICODE_CASES = [
    pytest.param('"a\\u0000b"', "ab", id="nul"),
    pytest.param('"x\\ud800y"', "xy", id="lone-high-surrogate"),
    pytest.param('"x\\udfffy"', "xy", id="lone-low-surrogate"),
    pytest.param('"bell\\u0007 esc\\u001b[31m del\\u007f c1\\u0085"', "bell esc[31m del c1", id="control-chars"),
    pytest.param('"line1\\nline2\\tend"', "line1\nline2\tend", id="newline-and-tab-kept"),
    pytest.param('"\\ud83d\\ude00 ok \\ud83e\\udd16"', "😀 ok 🤖", id="emoji-4-byte-pair"),
    # text_scrub (bots/services/messages.py) now drops bidi overrides, which spoof transcripts.
    pytest.param('"abc\\u202edcba\\u202c"', "abcdcba", id="rtl-override-dropped"),
    pytest.param('"e\\u0301"', "é", id="nfc"),
    pytest.param('"\\ufeffhi\\uffff"', "hi", id="noncharacter-and-bom"),
]


@pytest.mark.parametrize(("json_text", "stored"), UNICODE_CASES)
async def test_unicode_junk_is_stored_clean(llm_bot, allowed_origin, no_turns, json_text, stored) -> None:
    communicator, welcome = await _ready(llm_bot, allowed_origin)
    await send_raw(communicator, '{"type": "message", "client_id": "u1", "text": ' + json_text + "}")
    ack = await next_frame(communicator)
    assert ack["type"] == "ack", ack
    message = await Message.objects.aget(pk=ack["message_id"])
    assert message.text == stored
    await communicator.send_json_to({"type": "resume", "last_seq": 0})
    replay = await next_frame(communicator)
    assert replay["text"] == stored
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_outgoing_frames_are_valid_utf8(llm_bot, allowed_origin) -> None:
    """A real server must encode every text frame as UTF-8: nothing we send may hold a lone surrogate,
    even when echoing a client's junk back."""
    communicator, _ = await _ready(llm_bot, allowed_origin)
    await send_raw(communicator, '{"type": "\\ud800"}')
    await send_raw(communicator, '{"type": "message", "client_id": "\\udc00", "text": "x"}')
    for _ in range(2):
        output = await communicator.receive_output(5)
        output["text"].encode("utf-8")  # raises on a lone surrogate
        assert json.loads(output["text"])["type"] == "error"
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_junk_in_other_fields_does_not_crash(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await send_raw(communicator, '{"type": "hello", "v": 1, "locale": "en\\u0000\\ud800"}')
    welcome = await ws.expect(communicator, "welcome")
    conversation = await Conversation.objects.aget(pk=welcome["conversation_id"])
    assert conversation.locale == "en"
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": "hi"})
    _, final = await ws.collect_reply(communicator)
    await send_raw(
        communicator,
        '{"type": "feedback", "message_id": '
        + str(final["id"])
        + ', "rating": "down", "comment": "bad\\u0000\\ud800 answer"}',
    )
    await ws.expect(communicator, "feedback_ack")
    assert (await Message.objects.aget(pk=final["id"])).feedback_comment == "bad answer"
    await assert_alive(communicator)
    await communicator.disconnect()


def test_deep_nesting_is_refused_without_breaking_the_interpreter() -> None:
    """json.loads on 5000 nested arrays raises RecursionError inside CPython 3.11's C scanner, which
    leaves the thread unable to compile code afterwards; the consumer refuses such frames unparsed."""
    import ast

    from conversations.ws.consumers import MAX_JSON_DEPTH, _json_depth

    assert _json_depth("[" * 5000 + "]" * 5000) > MAX_JSON_DEPTH
    assert _json_depth('{"type": "message", "text": "[[[[{{{{ not structure"}') == 1
    ast.parse("def still_fine():\n    return [[[1]]]\n")
