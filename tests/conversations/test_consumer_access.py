"""Who may connect: exact origins, active bots, visitor tokens bound to bot + conversation, identity
verification (HMAC-SHA256 of user_id with the bot secret)."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from django.core import signing

from bots.models import Bot, Conversation, Message
from conversations.visitor_tokens import VISITOR_TOKEN_SALT
from tests.conversations.conftest import assert_alive, communicator_for, expect_error, next_frame, open_ws
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]


def user_hash(bot: Bot, user_id: str) -> str:
    return hmac.new(bot.secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


# -- origins -----------------------------------------------------------------------------------

REFUSED_ORIGINS = [
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param("null", id="null"),
    pytest.param("http://shop.example.com", id="other-scheme"),
    pytest.param("wss://shop.example.com", id="ws-scheme"),
    pytest.param("https://shop.example.com:8443", id="other-port"),
    pytest.param("https://shop.example.com.evil.io", id="suffix-lookalike"),
    pytest.param("https://evilshop.example.com", id="prefix-lookalike"),
    pytest.param("https://sub.shop.example.com", id="subdomain"),
    pytest.param("https://example.com", id="parent-domain"),
    pytest.param("https://shop.example.com/path", id="trailing-path"),
    pytest.param("https://shop.example.com/.evil.io", id="trailing-path-lookalike"),
    pytest.param("https://shop.example.com@evil.io", id="userinfo"),
    pytest.param("https://shop.example.com#", id="fragment"),
    pytest.param("https://shop.example.com ", id="trailing-space"),
    pytest.param("https://shop.example.com, https://evil.io", id="list"),
    pytest.param("https://SHOP.example.com.evil.io", id="case-lookalike"),
]


@pytest.mark.parametrize("origin", REFUSED_ORIGINS)
async def test_handshake_refused_for_origin(llm_bot, origin) -> None:
    communicator = communicator_for(llm_bot.public_key, origin)
    connected, code = await communicator.connect(timeout=10)
    assert (connected, code) == (False, 4403)
    await communicator.wait()


async def test_exact_origin_and_a_second_allowed_origin_are_accepted(llm_bot, allowed_origin) -> None:
    llm_bot.allowed_origins = [allowed_origin, "http://localhost:8080"]
    await llm_bot.asave(update_fields=["allowed_origins"])
    for origin in (allowed_origin, "http://localhost:8080"):
        communicator = await open_ws(llm_bot.public_key, origin)
        await ws.hello(communicator)
        await communicator.disconnect()


async def test_unknown_bot_key_is_refused(allowed_origin) -> None:
    for key in ("does-not-exist", "x" * 300, "%00"):
        communicator = communicator_for(key, allowed_origin)
        connected, code = await communicator.connect(timeout=10)
        assert (connected, code) == (False, 4403)


async def test_inactive_bot_is_refused(llm_bot, allowed_origin) -> None:
    llm_bot.is_active = False
    await llm_bot.asave(update_fields=["is_active"])
    communicator = communicator_for(llm_bot.public_key, allowed_origin)
    assert await communicator.connect(timeout=10) == (False, 4403)


async def test_origin_of_another_bot_does_not_open_this_bot(llm_bot, allowed_origin) -> None:
    await Bot.objects.acreate(slug="b2", name="B2", allowed_origins=["https://other.example.org"])
    communicator = communicator_for(llm_bot.public_key, "https://other.example.org")
    assert await communicator.connect(timeout=10) == (False, 4403)


# -- visitor tokens ----------------------------------------------------------------------------


async def _conversation(bot, origin):
    communicator = await open_ws(bot.public_key, origin)
    welcome = await ws.hello(communicator)
    return communicator, welcome


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), id="tampered-signature"),
        pytest.param(lambda t: "x" + t, id="tampered-payload"),
        pytest.param(lambda t: "garbage", id="garbage"),
        pytest.param(lambda t: t.split(":")[0], id="signature-stripped"),
    ],
)
async def test_forged_or_tampered_token_is_refused(llm_bot, allowed_origin, no_turns, mangle) -> None:
    first, welcome = await _conversation(llm_bot, allowed_origin)
    await first.disconnect()
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1, "visitor_token": mangle(welcome["visitor_token"])})
    await expect_error(communicator, "forbidden")
    # Not bound to anything: message is refused, ping still works.
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": "let me in"})
    await expect_error(communicator, "hello_required")
    await assert_alive(communicator)
    await communicator.disconnect()
    assert await Message.objects.acount() == 0


async def test_token_signed_with_other_key_or_salt_is_refused(llm_bot, allowed_origin, no_turns) -> None:
    first, welcome = await _conversation(llm_bot, allowed_origin)
    await first.disconnect()
    conversation = await Conversation.objects.aget(pk=welcome["conversation_id"])
    claims = {"b": llm_bot.pk, "c": conversation.pk, "v": conversation.visitor_id}
    forged = [
        signing.dumps(claims, salt="another-salt", compress=True),
        signing.dumps(claims, key="not-the-secret-key", salt=VISITOR_TOKEN_SALT, compress=True),
    ]
    for token in forged:
        communicator = await open_ws(llm_bot.public_key, allowed_origin)
        await communicator.send_json_to({"type": "hello", "v": 1, "visitor_token": token})
        await expect_error(communicator, "forbidden")
        await communicator.disconnect()


async def test_token_of_bot_a_is_refused_on_bot_b(llm_bot, other_bot, allowed_origin, no_turns) -> None:
    first, welcome = await _conversation(llm_bot, allowed_origin)
    await first.send_json_to({"type": "message", "client_id": "secret", "text": "my order number is 12345"})
    await ws.expect(first, "ack")
    await first.disconnect()
    communicator = await open_ws(other_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1, "visitor_token": welcome["visitor_token"], "last_seq": 0})
    frame = await expect_error(communicator, "forbidden")
    assert "12345" not in str(frame)
    await communicator.disconnect()


async def test_token_names_a_conversation_with_another_visitor_id(llm_bot, allowed_origin, no_turns) -> None:
    """Even a correctly signed token is refused when its visitor id does not own the conversation."""
    first, welcome = await _conversation(llm_bot, allowed_origin)
    await first.disconnect()
    token = signing.dumps(
        {"b": llm_bot.pk, "c": welcome["conversation_id"], "v": "someone-else"}, salt=VISITOR_TOKEN_SALT, compress=True
    )
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1, "visitor_token": token})
    await expect_error(communicator, "forbidden")
    await communicator.disconnect()


async def test_token_of_x_never_reads_or_writes_y(llm_bot, allowed_origin, stub_llm, celery_worker) -> None:
    x, welcome_x = await _conversation(llm_bot, allowed_origin)
    y, welcome_y = await _conversation(llm_bot, allowed_origin)
    await y.send_json_to({"type": "message", "client_id": "y1", "text": "Y's private question"})
    await ws.expect(y, "ack")
    _, y_reply = await ws.collect_reply(y)
    await x.send_json_to({"type": "message", "client_id": "x1", "text": "X's question"})
    x_ack = await ws.expect(x, "ack")
    await ws.collect_reply(x)

    # Feedback on Y's message from X's connection: not_found, and Y's message untouched.
    await x.send_json_to({"type": "feedback", "message_id": y_reply["id"], "rating": "down"})
    await expect_error(x, "not_found")
    assert (await Message.objects.aget(pk=y_reply["id"])).feedback == ""
    # Replay on X's connection only ever holds X's messages, whatever last_seq says.
    await x.send_json_to({"type": "resume", "last_seq": 0})
    replay = [await next_frame(x), await next_frame(x)]
    assert [m["seq"] for m in replay] == [1, 2] and replay[0]["id"] == x_ack["message_id"]
    assert all("Y's" not in m["text"] for m in replay)
    # Re-hello on the same connection with X's token keeps X; last_seq cannot reach into Y.
    await x.send_json_to({"type": "hello", "v": 1, "visitor_token": welcome_x["visitor_token"], "last_seq": 0})
    welcome = await ws.expect(x, "welcome")
    assert welcome["conversation_id"] == welcome_x["conversation_id"]
    assert {m["id"] for m in welcome["messages"]}.isdisjoint({y_reply["id"]})
    # X posting lands in X, never in Y.
    await x.send_json_to({"type": "message", "client_id": "y1", "text": "same client id as Y used"})
    ack = await ws.expect(x, "ack")
    assert ack["duplicate"] is False
    stored = await Message.objects.aget(pk=ack["message_id"])
    assert stored.conversation_id == welcome_x["conversation_id"]
    await ws.collect_reply(x)
    assert await Message.objects.filter(conversation_id=welcome_y["conversation_id"]).acount() == 2
    await x.disconnect()
    await y.disconnect()


async def test_hello_again_switches_conversation_and_leaves_the_old_group(
    llm_bot, allowed_origin, stub_llm, celery_worker
) -> None:
    """A connection re-helloed into conversation B stops receiving A's live frames."""
    a_conn, welcome_a = await _conversation(llm_bot, allowed_origin)
    switcher = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(switcher, visitor_token=welcome_a["visitor_token"])
    welcome_b = await ws.hello(switcher)  # no token: a new conversation
    assert welcome_b["conversation_id"] != welcome_a["conversation_id"]
    await a_conn.send_json_to({"type": "message", "client_id": "a1", "text": "only for A"})
    await ws.expect(a_conn, "ack")
    await ws.collect_reply(a_conn)
    await switcher.send_json_to({"type": "ping"})
    assert await next_frame(switcher) == {"type": "pong"}  # no typing/delta/message from A
    await a_conn.disconnect()
    await switcher.disconnect()


async def test_failed_rehello_unbinds_the_connection(llm_bot, allowed_origin, no_turns) -> None:
    communicator, _ = await _conversation(llm_bot, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1, "visitor_token": "forged"})
    await expect_error(communicator, "forbidden")
    await communicator.send_json_to({"type": "message", "client_id": "c", "text": "hi"})
    await expect_error(communicator, "hello_required")
    await communicator.disconnect()


# -- identity verification ---------------------------------------------------------------------


async def test_identity_required_without_user(verified_bot, allowed_origin) -> None:
    communicator = await open_ws(verified_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1})
    await expect_error(communicator, "identity_required")
    await communicator.send_json_to({"type": "hello", "v": 1, "user_id": "alice"})  # hash missing
    await expect_error(communicator, "forbidden")
    await assert_alive(communicator)
    await communicator.disconnect()
    assert await Conversation.objects.acount() == 0


@pytest.mark.parametrize(
    "bad_hash",
    [
        pytest.param(lambda bot: "0" * 64, id="zeros"),
        pytest.param(lambda bot: user_hash(bot, "mallory"), id="hash-of-other-user"),
        pytest.param(lambda bot: hmac.new(b"wrong-secret", b"alice", hashlib.sha256).hexdigest(), id="other-secret"),
        pytest.param(lambda bot: hashlib.sha256(b"alice").hexdigest(), id="plain-sha256"),
        pytest.param(lambda bot: user_hash(bot, "alice")[:-1], id="truncated"),
        pytest.param(lambda bot: "é" * 64, id="non-ascii"),
        pytest.param(lambda bot: 12345, id="not-a-string"),
    ],
)
async def test_wrong_hash_is_forbidden(verified_bot, allowed_origin, bad_hash) -> None:
    communicator = await open_ws(verified_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1, "user_id": "alice", "user_hash": bad_hash(verified_bot)})
    await expect_error(communicator, "forbidden")
    await assert_alive(communicator)
    await communicator.disconnect()


async def test_right_hash_is_welcomed_and_stored(verified_bot, allowed_origin) -> None:
    communicator = await open_ws(verified_bot.public_key, allowed_origin)
    welcome = await ws.hello(
        communicator, user_id="alice@example.com", user_hash=user_hash(verified_bot, "alice@example.com").upper()
    )
    conversation = await Conversation.objects.aget(pk=welcome["conversation_id"])
    assert conversation.user_id == "alice@example.com"
    await communicator.disconnect()


def expiring_hash(bot: Bot, user_id: str, expires: int) -> str:
    return hmac.new(bot.secret.encode(), f"{user_id}:{expires}".encode(), hashlib.sha256).hexdigest()


async def test_an_identity_signed_with_an_expiry_holds_until_it_and_not_after(verified_bot, allowed_origin) -> None:
    future, past = int(time.time()) + 600, int(time.time()) - 1
    communicator = await open_ws(verified_bot.public_key, allowed_origin)
    welcome = await ws.hello(
        communicator, user_id="alice", user_hash=expiring_hash(verified_bot, "alice", future), user_hash_expires=future
    )
    assert (await Conversation.objects.aget(pk=welcome["conversation_id"])).user_id == "alice"
    await communicator.disconnect()

    refusals = [
        ({"user_hash": expiring_hash(verified_bot, "alice", past), "user_hash_expires": past}, "has expired"),
        # The expiry is signed: moving it later breaks the hash; dropping it too.
        ({"user_hash": expiring_hash(verified_bot, "alice", past), "user_hash_expires": future}, "does not match"),
        ({"user_hash": expiring_hash(verified_bot, "alice", future)}, "does not match"),
        (
            {"user_hash": expiring_hash(verified_bot, "alice", future), "user_hash_expires": str(future)},
            "does not match",
        ),
        ({"user_hash": expiring_hash(verified_bot, "alice", future), "user_hash_expires": True}, "does not match"),
        ({"user_hash": "", "user_hash_expires": future}, "does not match"),
        ({"user_hash_expires": 10**30}, "does not match"),
    ]
    for fields, detail in refusals:
        communicator = await open_ws(verified_bot.public_key, allowed_origin)
        await communicator.send_json_to({"type": "hello", "v": 1, "user_id": "alice", **fields})
        error = await expect_error(communicator, "forbidden")
        assert detail in error["detail"], (fields, error)
        await assert_alive(communicator)
        await communicator.disconnect()


async def test_optional_identity_is_checked_when_sent(llm_bot, allowed_origin) -> None:
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await communicator.send_json_to({"type": "hello", "v": 1, "user_id": "bob", "user_hash": "nope"})
    await expect_error(communicator, "forbidden")
    welcome = await ws.hello(communicator, user_id="bob", user_hash=user_hash(llm_bot, "bob"))
    assert (await Conversation.objects.aget(pk=welcome["conversation_id"])).user_id == "bob"
    await communicator.disconnect()


async def test_token_of_user_a_with_identity_of_user_b_is_forbidden(verified_bot, allowed_origin, no_turns) -> None:
    alice = await open_ws(verified_bot.public_key, allowed_origin)
    welcome = await ws.hello(alice, user_id="alice", user_hash=user_hash(verified_bot, "alice"))
    await alice.send_json_to({"type": "message", "client_id": "a", "text": "alice's secret"})
    await ws.expect(alice, "ack")
    await alice.disconnect()

    bob = await open_ws(verified_bot.public_key, allowed_origin)
    await bob.send_json_to(
        {
            "type": "hello",
            "v": 1,
            "visitor_token": welcome["visitor_token"],
            "last_seq": 0,
            "user_id": "bob",
            "user_hash": user_hash(verified_bot, "bob"),
        }
    )
    frame = await expect_error(bob, "forbidden")
    assert "secret" not in str(frame)
    # Without any identity the token alone does not open it on a verifying bot either.
    await bob.send_json_to({"type": "hello", "v": 1, "visitor_token": welcome["visitor_token"]})
    await expect_error(bob, "identity_required")
    await bob.disconnect()

    again = await open_ws(verified_bot.public_key, allowed_origin)
    back = await ws.hello(
        again, visitor_token=welcome["visitor_token"], user_id="alice", user_hash=user_hash(verified_bot, "alice")
    )
    assert back["conversation_id"] == welcome["conversation_id"]
    assert [m["text"] for m in back["messages"]] == ["alice's secret"]
    await again.disconnect()


async def test_identified_conversation_token_without_identity_is_forbidden(llm_bot, allowed_origin, no_turns) -> None:
    """On a bot where identity is optional, a conversation that was opened with a verified user_id is
    that user's: its token alone (say, left in a shared browser after logout) does not reopen it."""
    alice = await open_ws(llm_bot.public_key, allowed_origin)
    welcome = await ws.hello(alice, user_id="alice", user_hash=user_hash(llm_bot, "alice"))
    await alice.disconnect()
    anonymous = await open_ws(llm_bot.public_key, allowed_origin)
    await anonymous.send_json_to({"type": "hello", "v": 1, "visitor_token": welcome["visitor_token"]})
    await expect_error(anonymous, "forbidden")
    await anonymous.disconnect()
