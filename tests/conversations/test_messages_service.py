"""conversations.services.messages: cleaning, idempotent storage and sequence numbers under real concurrency.

The consumer's ORM calls share one thread per process, so true races only happen between web
processes and worker threads: reproduced here with threads, each on its own database connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from bots.models import Message
from conversations.services.conversations import conversation_start
from conversations.services.messages import (
    MessageRejected,
    client_id_clean,
    text_scrub,
    user_message_receive,
    visitor_text_clean,
)
from conversations.services.sequencing import message_insert_next_seq

pytestmark = [pytest.mark.django_db(transaction=True)]


def run_at_once(fn: Callable[[int], Any], n: int) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = fn(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    return results


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  hi  ", "hi"),
        ("a\x00b", "ab"),
        ("x\ud800y", "xy"),
        ("\x1b[2Jclear", "[2Jclear"),
        ("e\u0301", "é"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("&lt;b&gt;", "&lt;b&gt;"),
        ("tab\there\nnewline", "tab\there\nnewline"),
        ("😀", "😀"),
        ("\u202eevil", "evil"),
    ],
)
def test_visitor_text_clean(raw: str, clean: str) -> None:
    assert visitor_text_clean(raw) == clean


@pytest.mark.parametrize("raw", ["", "   ", "\x00", "\ud800\udc00\ud800"[:1], "\ufffe"])
def test_visitor_text_clean_rejects_empty(raw: str) -> None:
    with pytest.raises(MessageRejected) as info:
        visitor_text_clean(raw)
    assert info.value.code == "empty_message"


@pytest.mark.parametrize("raw", [None, 5, ["a"], {"t": 1}])
def test_visitor_text_clean_rejects_non_strings(raw: Any) -> None:
    with pytest.raises(MessageRejected) as info:
        visitor_text_clean(raw)
    assert info.value.code == "bad_frame"


def test_visitor_text_clean_length_is_checked_after_cleaning(settings) -> None:
    settings.CHAT_MAX_MESSAGE_CHARS = 5
    assert visitor_text_clean("  abcde\x00\x00  ") == "abcde"
    with pytest.raises(MessageRejected) as info:
        visitor_text_clean("abcdef")
    assert info.value.code == "message_too_long"


@pytest.mark.parametrize("raw", ["", "x" * 65, "a b\n", "\ud800", 7, None])
def test_client_id_clean_rejects(raw: Any) -> None:
    with pytest.raises(MessageRejected):
        client_id_clean(raw)


def test_text_scrub_keeps_emoji_and_drops_junk() -> None:
    assert text_scrub("ok\x00\x07\ud83d 🤖") == "ok 🤖"


def test_receive_stores_once_and_enqueues_once(llm_bot, no_turns) -> None:
    conversation = conversation_start(bot=llm_bot)
    first = user_message_receive(conversation=conversation, client_id="c1", text="hello")
    again = user_message_receive(conversation=conversation, client_id="c1", text="hello (edited)")
    assert first.created and not again.created and again.message.pk == first.message.pk
    assert again.message.text == "hello"
    assert no_turns == [first.message.pk]


def test_same_client_id_in_two_conversations_is_two_messages(llm_bot, no_turns) -> None:
    a, b = conversation_start(bot=llm_bot), conversation_start(bot=llm_bot)
    ma = user_message_receive(conversation=a, client_id="same", text="a")
    mb = user_message_receive(conversation=b, client_id="same", text="b")
    assert ma.created and mb.created and ma.message.pk != mb.message.pk
    assert (ma.message.seq, mb.message.seq) == (1, 1)


def test_concurrent_same_client_id_stores_one(llm_bot, no_turns) -> None:
    conversation = conversation_start(bot=llm_bot)
    results = run_at_once(lambda i: user_message_receive(conversation=conversation, client_id="dup", text="racing"), 8)
    assert sum(r.created for r in results) == 1
    assert len({r.message.pk for r in results}) == 1
    assert Message.objects.filter(conversation=conversation).count() == 1
    assert len(no_turns) == 1


def test_concurrent_distinct_messages_get_gapless_seqs(llm_bot, no_turns) -> None:
    conversation = conversation_start(bot=llm_bot)
    results = run_at_once(lambda i: user_message_receive(conversation=conversation, client_id=f"c{i}", text=f"m{i}"), 8)
    assert sorted(r.message.seq for r in results) == list(range(1, 9))
    assert len(no_turns) == 8


def test_visitor_and_bot_writers_race_for_seqs(llm_bot, no_turns) -> None:
    """The worker stores replies while the web stores the next visitor message: no seq is lost or shared."""
    conversation = conversation_start(bot=llm_bot)
    user_message_receive(conversation=conversation, client_id="anchor", text="start")

    def write(i: int) -> Message:
        if i % 2:
            return message_insert_next_seq(conversation_id=conversation.pk, role=Message.Role.BOT, text=f"bot {i}")
        return user_message_receive(conversation=conversation, client_id=f"v{i}", text=f"visitor {i}").message

    run_at_once(write, 6)
    seqs = list(Message.objects.filter(conversation=conversation).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 8))


def test_unanswered_duplicate_is_reenqueued_after_a_while(llm_bot, no_turns) -> None:
    """A lost enqueue (broker down at commit, Redis restarted) heals when the widget resends."""
    from datetime import timedelta

    conversation = conversation_start(bot=llm_bot)
    first = user_message_receive(conversation=conversation, client_id="c1", text="hello")
    Message.objects.filter(pk=first.message.pk).update(created_at=first.message.created_at - timedelta(seconds=30))
    again = user_message_receive(conversation=conversation, client_id="c1", text="hello")
    assert not again.created and no_turns == [first.message.pk, first.message.pk]
    # Once answered, a resend enqueues nothing.
    message_insert_next_seq(conversation_id=conversation.pk, role=Message.Role.BOT, text="hi", reply_to=first.message)
    user_message_receive(conversation=conversation, client_id="c1", text="hello")
    assert no_turns == [first.message.pk, first.message.pk]
