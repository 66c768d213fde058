"""The turn engine holds nothing while the LLM streams, and keeps order and exactly-once replies.

A turn claims its conversation (a lease) in one short transaction, streams with no transaction and
no database connection, and stores the reply in a second short transaction that notices a change
made meanwhile. These tests prove each of those from the outside: pg_stat_activity and the thread's
own connection during the stream, 50 racing turns of one conversation, a turn that hangs past its
lease (a dead worker), a real worker killed with SIGKILL, and an operator editing the tracker
while the reply streams.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from bots.models import Conversation, Message
from conversations.services.conversations import conversation_start
from conversations.services.messages import user_message_receive
from conversations.services.sequencing import message_insert_next_seq
from conversations.services.turns import turn_run
from engine.types import CompletionChunk, CompletionRequest, CompletionUsage
from tests.support.processes import start_worker
from tests.support.processes import test_database_url as database_url

pytestmark = pytest.mark.django_db(transaction=True)


class NoEvents:
    def typing(self, **_: object) -> None: ...
    def delta(self, **_: object) -> None: ...
    def message(self, **_: object) -> None: ...
    def error(self, **_: object) -> None: ...


class GatedLLM:
    """Streams "re: <last user text>" once `release` is set; records what it saw while streaming."""

    def __init__(self, *, on_stream: object = None) -> None:
        self.release = threading.Event()
        self.streaming = threading.Semaphore(0)
        self.lock = threading.Lock()
        self.active = self.peak = 0
        self.connection_open_while_streaming: list[bool] = []
        self.on_stream = on_stream

    def stream(self, request: CompletionRequest) -> Iterator[CompletionChunk]:
        llm = self
        user_text = request.messages[-1].content

        class Stream:
            usage = CompletionUsage(prompt_tokens=5, completion_tokens=3, model="gated")

            def __iter__(self) -> Iterator[CompletionChunk]:
                with llm.lock:
                    llm.active += 1
                    llm.peak = max(llm.peak, llm.active)
                    # The turn's own thread: its Django connection must be back in the pool by now.
                    llm.connection_open_while_streaming.append(connection.connection is not None)
                llm.streaming.release()
                try:
                    assert llm.release.wait(timeout=60), "the test never released the stream"
                    yield CompletionChunk(text="re: ")
                    yield CompletionChunk(text=user_text[-40:])
                finally:
                    with llm.lock:
                        llm.active -= 1

        return Stream()


def _visitor_message(conversation: Conversation, text: str) -> int:
    return message_insert_next_seq(conversation_id=conversation.pk, role="user", text=text, client_id=text).pk


def _in_thread(fn, *args, **kwargs) -> threading.Thread:
    def work() -> None:
        try:
            fn(*args, **kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _backends_now() -> dict[str, int]:
    """Connections to the test database by state, seen from outside Django's pool."""
    with psycopg.connect(database_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT coalesce(state, ''), count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1"
        ).fetchall()
    return dict(rows)


def test_streaming_turns_hold_no_transaction_and_no_connection(llm_bot, settings) -> None:
    turns = 20
    llm = GatedLLM()
    ids = [_visitor_message(conversation_start(bot=llm_bot), f"question {i}") for i in range(turns)]
    connection.close()  # the test's own connection back to the pool too
    stats = connection.pool.get_stats()
    lent_before = stats["pool_size"] - stats["pool_available"]  # other threads of the session (a worker)
    threads = [_in_thread(turn_run, user_message_id=m, events=NoEvents(), llm=llm) for m in ids]
    for _ in range(turns):
        assert llm.streaming.acquire(timeout=60), "not every turn reached the LLM"
    backends = _backends_now()
    pool = connection.pool.get_stats()  # this process's pool (other processes have their own)
    llm.release.set()
    for thread in threads:
        thread.join(timeout=60)

    assert llm.peak == turns
    assert llm.connection_open_while_streaming == [False] * turns
    assert backends.get("idle in transaction", 0) == 0, backends
    # 20 turns in flight: every connection of the pool is back in it (none lent to a turn), and the
    # pool never grew past its size (each turn pinned a connection of its own before).
    assert pool["pool_size"] - pool["pool_available"] <= lent_before, pool
    assert pool["pool_size"] <= settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"], pool
    assert Message.objects.filter(role="bot", conversation__bot=llm_bot).count() == turns


def test_fifty_racing_messages_of_one_conversation_are_answered_once_each_in_order(llm_bot) -> None:
    llm = GatedLLM()
    llm.release.set()
    conversation = conversation_start(bot=llm_bot)
    ids = [_visitor_message(conversation, f"message number {i:02d}") for i in range(50)]
    threads = [_in_thread(turn_run, user_message_id=m, events=NoEvents(), llm=llm) for m in ids]
    for thread in threads:
        thread.join(timeout=120)

    assert llm.peak == 1, "two turns of one conversation streamed at once"
    replies = list(Message.objects.filter(conversation=conversation, role="bot").select_related("reply_to"))
    assert len(replies) == 50
    assert sorted(r.reply_to_id for r in replies) == sorted(ids)  # one reply per message
    by_seq = sorted(replies, key=lambda r: r.seq)
    # Answered oldest first, each reply answering its own message (the prompt's last user turn).
    assert [r.reply_to.seq for r in by_seq] == sorted(r.reply_to.seq for r in replies)
    assert all(r.text == f"re: {r.reply_to.text}" for r in replies)
    conversation.refresh_from_db()
    assert conversation.turn_lease_owner == "" and conversation.turn_lease_until is None


def test_a_message_arriving_during_a_turn_is_answered_by_that_turn_with_the_reply_in_its_history(llm_bot) -> None:
    llm = GatedLLM()
    conversation = conversation_start(bot=llm_bot)
    first = _visitor_message(conversation, "first question")
    holder = _in_thread(turn_run, user_message_id=first, events=NoEvents(), llm=llm)
    assert llm.streaming.acquire(timeout=30)
    second = _visitor_message(conversation, "second question")
    # The second message's own turn finds the lease taken and leaves it to the holder.
    assert turn_run(user_message_id=second, events=NoEvents(), llm=llm) is None
    llm.release.set()
    holder.join(timeout=30)

    reply_1 = Message.objects.get(reply_to_id=first)
    reply_2 = Message.objects.get(reply_to_id=second)
    assert reply_1.seq < reply_2.seq and reply_2.text == "re: second question"
    # A redelivery of either turn is a no-op that returns the stored reply.
    assert turn_run(user_message_id=second, events=NoEvents(), llm=llm) == reply_2
    assert Message.objects.filter(conversation=conversation, role="bot").count() == 2


def test_a_retry_takes_back_the_lease_its_failed_attempt_could_not_release(llm_bot) -> None:
    # The database failed the first attempt and its release too (conversations.tasks retries with
    # the same owner): the lease it left must not make the retry wait TURN_LEASE_SECONDS.
    conversation = conversation_start(bot=llm_bot)
    message_id = _visitor_message(conversation, "where is my order")
    Conversation.objects.filter(pk=conversation.pk).update(
        turn_lease_owner="attempt-1", turn_lease_until=timezone.now() + timedelta(seconds=150)
    )
    llm = GatedLLM()
    llm.release.set()
    # Anyone else still waits for that lease ...
    assert turn_run(user_message_id=message_id, events=NoEvents(), llm=llm, owner="attempt-2") is None
    # ... the retry of the attempt that holds it answers at once, and gives the lease back.
    reply = turn_run(user_message_id=message_id, events=NoEvents(), llm=llm, owner="attempt-1")
    assert reply is not None and reply.text == "re: where is my order"
    conversation.refresh_from_db()
    assert conversation.turn_lease_owner == "" and conversation.turn_lease_until is None


def test_a_turn_that_outlives_its_lease_is_taken_over_and_the_reply_stored_once(llm_bot, settings) -> None:
    settings.TURN_LEASE_SECONDS = 1
    hung = GatedLLM()  # a worker that stopped mid-stream (hung, or about to be killed)
    conversation = conversation_start(bot=llm_bot)
    message_id = _visitor_message(conversation, "where is my order")
    stuck = _in_thread(turn_run, user_message_id=message_id, events=NoEvents(), llm=hung)
    assert hung.streaming.acquire(timeout=30)
    # While the lease holds, a redelivery waits its turn (returns without answering).
    assert turn_run(user_message_id=message_id, events=NoEvents(), llm=hung) is None
    time.sleep(1.2)
    healthy = GatedLLM()
    healthy.release.set()
    redone = turn_run(user_message_id=message_id, events=NoEvents(), llm=healthy)
    assert redone is not None and redone.text == "re: where is my order"
    hung.release.set()  # the old turn wakes up and tries to store its own answer
    stuck.join(timeout=30)

    assert list(Message.objects.filter(reply_to_id=message_id).values_list("pk", flat=True)) == [redone.pk]


def test_an_edit_of_the_tracker_during_the_stream_is_kept(llm_bot) -> None:
    llm = GatedLLM()
    conversation = conversation_start(bot=llm_bot)
    message_id = _visitor_message(conversation, "tell me something")
    turn = _in_thread(turn_run, user_message_id=message_id, events=NoEvents(), llm=llm)
    assert llm.streaming.acquire(timeout=30)
    edited = {"slots": {"order_number": "A-1"}, "active_form": None, "fallbacks": 0}
    Conversation.objects.filter(pk=conversation.pk).update(tracker=edited)  # an operator's edit
    llm.release.set()
    turn.join(timeout=30)

    conversation.refresh_from_db()
    assert conversation.tracker == edited
    assert Message.objects.get(reply_to_id=message_id).text == "re: tell me something"
    assert conversation.turn_lease_owner == ""


@pytest.mark.slow
def test_a_worker_killed_mid_stream_is_redone_once(llm_bot, stub_llm, own_turn_queue: str, tmp_path: Path) -> None:
    """A real Celery worker process, SIGKILLed while the reply streams: the turn is redelivered to a
    second worker, which takes over the expired lease; exactly one reply is stored."""
    stub_llm.behaviour.chunk_delay = 0.5  # about 5 s of streaming: time to kill the worker mid-stream
    fast_redelivery = {"TURN_HARD_TIME_LIMIT": "4", "BROKER_VISIBILITY_MARGIN": "0", "TURN_LEASE_SECONDS": "4"}
    first = start_worker(log=tmp_path / "worker-1.log", extra_env=fast_redelivery, concurrency=2, queue=own_turn_queue)
    try:
        conversation = conversation_start(bot=llm_bot)
        message = user_message_receive(conversation=conversation, client_id="c-1", text="hello there").message
        deadline = time.monotonic() + 60
        while not stub_llm.behaviour.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stub_llm.behaviour.requests, (tmp_path / "worker-1.log").read_text()[-3000:]
        time.sleep(0.5)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    assert not Message.objects.filter(reply_to=message).exists()
    stub_llm.behaviour.chunk_delay = 0.005
    second = start_worker(log=tmp_path / "worker-2.log", extra_env=fast_redelivery, concurrency=2, queue=own_turn_queue)
    try:
        deadline = time.monotonic() + 90
        while not Message.objects.filter(reply_to=message).exists() and time.monotonic() < deadline:
            time.sleep(0.25)
        time.sleep(2)  # a duplicate, if any, would land now
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    replies = list(Message.objects.filter(reply_to=message))
    assert len(replies) == 1, (tmp_path / "worker-2.log").read_text()[-3000:]
    assert len(stub_llm.behaviour.requests) == 2  # the killed attempt, and the one redo


def test_a_turn_behind_a_lease_looks_again_after_it_would_expire(llm_bot, monkeypatch: pytest.MonkeyPatch) -> None:
    """A redelivered turn can arrive while a dead worker's lease is still running: it must not just
    give up (nobody would answer), but check back once the lease would have expired."""
    checks: list[tuple[int, float]] = []
    monkeypatch.setattr(
        "conversations.services.messages.turn_enqueue",
        lambda *, user_message_id, countdown=None, **_: checks.append((user_message_id, countdown)),
    )
    conversation = conversation_start(bot=llm_bot)
    message_id = _visitor_message(conversation, "anyone there?")
    Conversation.objects.filter(pk=conversation.pk).update(
        turn_lease_owner="dead-worker", turn_lease_until=timezone.now() + timedelta(seconds=3)
    )
    llm = GatedLLM()
    llm.release.set()
    assert turn_run(user_message_id=message_id, events=NoEvents(), llm=llm, coalesce_ms=0) is None
    assert [m for m, _ in checks] == [message_id] and 3 < checks[0][1] <= 4.5

    Conversation.objects.filter(pk=conversation.pk).update(turn_lease_until=timezone.now() - timedelta(seconds=1))
    reply = turn_run(user_message_id=message_id, events=NoEvents(), llm=llm, coalesce_ms=0)  # the check-back
    assert reply is not None and reply.text.startswith("re: ")
