"""Rate limits of the chat socket (issue #9, item 3; issue #17): conversation creation per IP and
widget, message quotas keyed by a stable identity (not reset by a new hello), hello per socket,
a per-connection budget for every frame, csat/feedback writes per conversation, and what happens
while Redis is unreachable (fail closed for new conversations and messages: `unavailable`).
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from kombu.exceptions import OperationalError

from bots.models import Bot, Conversation, Message
from chatplatform import ratelimit
from tests.conversations.conftest import assert_alive, expect_error, next_frame, open_ws
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]


def _hash(bot: Bot, user_id: str) -> str:
    return hmac.new(bot.secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


async def _send(communicator, client_id: str) -> dict:
    await communicator.send_json_to({"type": "message", "client_id": client_id, "text": f"hi {client_id}"})
    return await next_frame(communicator)


# -- messages: per conversation, per identity, per IP ------------------------------------------


async def test_new_hello_does_not_reset_the_visitors_message_quota(
    llm_bot, allowed_origin, no_turns, settings, frozen_rate_window
) -> None:
    """The hole: the quota was keyed by the conversation's visitor id, so each hello (a new
    conversation) brought a fresh one. Now IP + bot counts across conversations."""
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    settings.CHAT_MESSAGES_PER_MINUTE_PER_IDENTITY = 3
    communicator = await open_ws(llm_bot.public_key, allowed_origin, client_ip="198.51.100.10")
    await ws.hello(communicator)
    assert [(await _send(communicator, f"a{i}"))["type"] for i in range(3)] == ["ack", "ack", "error"]
    await ws.hello(communicator)  # a new conversation on the same socket
    assert (await _send(communicator, "b0"))["type"] == "ack"
    error = await _send(communicator, "b1")
    assert error["code"] == "rate_limited" and error["client_id"] == "b1" and 1 <= error["retry_after"] <= 60
    await communicator.disconnect()
    # A fresh socket from the same address does not get a fresh quota either.
    again = await open_ws(llm_bot.public_key, allowed_origin, client_ip="198.51.100.10")
    await ws.hello(again)
    assert (await _send(again, "c0"))["code"] == "rate_limited"
    await again.disconnect()
    assert await Message.objects.acount() == 3 and len(no_turns) == 3
    # Another address, same bot: its own quota.
    other = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(other)
    assert (await _send(other, "d0"))["type"] == "ack"
    await other.disconnect()


async def test_verified_users_quota_follows_the_user_not_the_address(
    verified_bot, allowed_origin, no_turns, settings, frozen_rate_window
) -> None:
    settings.CHAT_MESSAGES_PER_MINUTE = 10
    settings.CHAT_MESSAGES_PER_MINUTE_PER_IDENTITY = 3
    identity = {"user_id": "alice", "user_hash": _hash(verified_bot, "alice")}
    home = await open_ws(verified_bot.public_key, allowed_origin)
    await ws.hello(home, **identity)
    assert [(await _send(home, f"h{i}"))["type"] for i in range(2)] == ["ack", "ack"]
    office = await open_ws(verified_bot.public_key, allowed_origin)  # another address, a new conversation
    await ws.hello(office, **identity)
    assert (await _send(office, "o0"))["type"] == "ack"
    assert (await _send(office, "o1"))["code"] == "rate_limited"
    # Bob on the office's address is not Alice.
    bob = await open_ws(verified_bot.public_key, allowed_origin)
    await ws.hello(bob, user_id="bob", user_hash=_hash(verified_bot, "bob"))
    assert (await _send(bob, "b0"))["type"] == "ack"
    for communicator in (home, office, bob):
        await communicator.disconnect()


# -- conversation creation and hello ------------------------------------------------------------


async def test_conversation_creation_is_limited_per_ip_and_widget(
    llm_bot, other_bot, allowed_origin, no_turns, settings, frozen_rate_window
) -> None:
    settings.CHAT_CONVERSATIONS_PER_MINUTE_PER_IP = 3
    ip = "198.51.100.20"
    welcomes = []
    for _ in range(3):
        communicator = await open_ws(llm_bot.public_key, allowed_origin, client_ip=ip)
        welcomes.append(await ws.hello(communicator))
        await communicator.disconnect()
    refused = await open_ws(llm_bot.public_key, allowed_origin, client_ip=ip)
    await refused.send_json_to({"type": "hello", "v": 1})
    error = await expect_error(refused, "rate_limited")
    assert 1 <= error["retry_after"] <= 60
    await assert_alive(refused)
    # Reopening an existing conversation creates nothing and is still allowed.
    back = await ws.hello(refused, visitor_token=welcomes[0]["visitor_token"])
    assert back["conversation_id"] == welcomes[0]["conversation_id"]
    await refused.disconnect()
    assert await Conversation.objects.filter(bot=llm_bot).acount() == 3
    # Another widget from the same address, and this widget from another address: their own limits.
    elsewhere = await open_ws(other_bot.public_key, allowed_origin, client_ip=ip)
    await ws.hello(elsewhere)
    await elsewhere.disconnect()
    other_ip = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(other_ip)
    await other_ip.disconnect()


async def test_thirty_hellos_on_one_socket_do_not_make_thirty_conversations(llm_bot, allowed_origin, settings) -> None:
    assert settings.CHAT_HELLOS_PER_MINUTE_PER_CONNECTION == 10
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    answers = []
    for _ in range(30):
        await communicator.send_json_to({"type": "hello", "v": 1})
        frame = await next_frame(communicator)
        answers.append(frame["type"] if frame["type"] == "welcome" else frame["code"])
        if frame["type"] == "error" and len(answers) >= 15:
            break
    assert answers[:10] == ["welcome"] * 10 and set(answers[10:]) == {"rate_limited"}
    await assert_alive(communicator)
    await communicator.disconnect()
    assert await Conversation.objects.filter(bot=llm_bot).acount() == 10


async def test_hello_is_limited_per_ip(llm_bot, allowed_origin, settings, frozen_rate_window) -> None:
    settings.CHAT_HELLOS_PER_MINUTE_PER_IP = 2
    ip = "198.51.100.30"
    first = await open_ws(llm_bot.public_key, allowed_origin, client_ip=ip)
    welcome = await ws.hello(first)
    await first.disconnect()
    second = await open_ws(llm_bot.public_key, allowed_origin, client_ip=ip)
    await ws.hello(second, visitor_token=welcome["visitor_token"])
    await second.send_json_to({"type": "hello", "v": 1, "visitor_token": welcome["visitor_token"]})
    await expect_error(second, "rate_limited")
    # A refused re-hello leaves the socket bound to its conversation.
    await second.send_json_to({"type": "resume", "last_seq": 0})
    await assert_alive(second)
    await second.disconnect()


# -- every frame: the connection's budget -------------------------------------------------------


async def test_every_frame_counts_against_the_connection_budget(llm_bot, allowed_origin, settings) -> None:
    settings.CHAT_FRAMES_PER_MINUTE = 10
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)  # 1
    for _ in range(5):  # 2-6: no answer
        await communicator.send_json_to({"type": "typing", "on": True})
    await communicator.send_json_to({"type": "resume", "last_seq": 0})  # 7: nothing to replay
    for _ in range(3):  # 8-10
        await communicator.send_json_to({"type": "ping"})
        assert await next_frame(communicator) == {"type": "pong"}
    for junk in ({"type": "ping"}, {"type": "typing", "on": True}, {"type": "nonsense"}):
        await communicator.send_json_to(junk)
        error = await expect_error(communicator, "rate_limited")
        assert 1 <= error["retry_after"] <= 60
    await communicator.disconnect()
    # Per connection: another socket (even from the same page) has its own.
    other = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(other)
    await assert_alive(other)
    await other.disconnect()


async def test_flooding_past_the_budget_closes_the_socket(llm_bot, allowed_origin, settings) -> None:
    from tests.conversations.conftest import expect_closed

    settings.CHAT_FRAMES_PER_MINUTE = 5
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    for _ in range(40):
        await communicator.send_json_to({"type": "ping"})
    await expect_closed(communicator, 1008)  # 20 refusals within a minute: abuse
    await communicator.disconnect()


# -- csat and feedback: database writes, per conversation --------------------------------------


async def test_csat_and_feedback_are_limited_per_conversation(
    llm_bot, allowed_origin, settings, frozen_rate_window
) -> None:
    settings.CHAT_FEEDBACK_PER_MINUTE = 3
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    for score in (1, 2, 3):
        await communicator.send_json_to({"type": "csat", "score": score})
        assert await next_frame(communicator) == {"type": "csat_ack", "score": score}
    await communicator.send_json_to({"type": "csat", "score": 5})
    await expect_error(communicator, "rate_limited")
    await communicator.send_json_to({"type": "feedback", "message_id": 1, "rating": "up"})
    await expect_error(communicator, "rate_limited")
    await communicator.disconnect()
    # Reconnecting into the same conversation does not reset it.
    again = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(again, visitor_token=welcome["visitor_token"])
    await again.send_json_to({"type": "csat", "score": 5})
    await expect_error(again, "rate_limited")
    await assert_alive(again)
    await again.disconnect()
    assert (await Conversation.objects.aget(pk=welcome["conversation_id"])).csat == 3
    # Another conversation: its own limit.
    other = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(other)
    await other.send_json_to({"type": "csat", "score": 4})
    assert await next_frame(other) == {"type": "csat_ack", "score": 4}
    await other.disconnect()


# -- Redis unreachable during the check ---------------------------------------------------------


async def test_redis_down_new_conversation_fails_closed_with_unavailable(llm_bot, allowed_origin, dead_cache) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1})
    error = await expect_error(communicator, "unavailable", timeout=30)
    assert error["retry_after"] >= 1
    await assert_alive(communicator)
    await communicator.disconnect()
    assert await Conversation.objects.acount() == 0


async def test_redis_down_message_fails_closed_reopen_and_csat_still_work(
    llm_bot, allowed_origin, no_turns, settings
) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(communicator)
    await communicator.disconnect()
    from chatplatform.launcher.embedded import free_port

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    again = await open_ws(llm_bot.public_key, allowed_origin)
    back = await ws.hello(again, visitor_token=welcome["visitor_token"])  # creates nothing: fails open
    assert back["conversation_id"] == welcome["conversation_id"]
    await again.send_json_to({"type": "message", "client_id": "m1", "text": "anyone there?"})
    error = await expect_error(again, "unavailable", timeout=30)
    assert error["client_id"] == "m1" and error["retry_after"] >= 1
    await again.send_json_to({"type": "csat", "score": 4})  # a cheap write: fails open
    assert await next_frame(again, timeout=30) == {"type": "csat_ack", "score": 4}
    await assert_alive(again)
    assert await Message.objects.acount() == 0 and no_turns == []
    await again.disconnect()


def test_rate_limit_hit_fails_open_and_strict_fails_closed(db, dead_cache) -> None:
    assert ratelimit.rate_limit_hit(key="dead-redis", limit=1) is None
    assert ratelimit.rate_limit_hit(key="dead-redis", limit=1, window_seconds=10) is None
    with pytest.raises(ratelimit.RateLimitUnavailable):
        ratelimit.rate_limit_hit_strict(key="dead-redis", limit=1)


async def test_turn_enqueue_failure_answers_unavailable_and_a_resend_recovers(
    llm_bot, allowed_origin, monkeypatch
) -> None:
    """The broker (Redis) refuses the turn after the message was stored: no traceback, no ack; the
    widget's resend of the same client_id gets the stored message's ack."""

    def broker_down(**_: object) -> None:
        raise OperationalError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr("conversations.services.messages.turn_enqueue", broker_down)
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "m1", "text": "hello?"})
    error = await expect_error(communicator, "unavailable")
    assert error["client_id"] == "m1"
    await assert_alive(communicator)
    enqueued: list[int] = []
    monkeypatch.setattr(
        "conversations.services.messages.turn_enqueue", lambda *, user_message_id, **_: enqueued.append(user_message_id)
    )
    await communicator.send_json_to({"type": "message", "client_id": "m1", "text": "hello?"})
    ack = await ws.expect(communicator, "ack")
    assert ack["seq"] == 1 and ack["duplicate"] is True
    await communicator.disconnect()
