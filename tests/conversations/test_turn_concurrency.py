"""Turns of different conversations of one bot run in parallel; turns of one conversation never interleave."""

from __future__ import annotations

import threading
import time

import pytest

from bots.models import Conversation
from conversations.services.conversations import conversation_start
from conversations.services.sequencing import message_insert_next_seq
from conversations.services.turns import turn_run
from engine.types import CompletionChunk, CompletionRequest, CompletionUsage

pytestmark = pytest.mark.django_db(transaction=True)


class SlowLLM:
    """Records how many streams overlap."""

    def __init__(self, delay: float) -> None:
        self.delay, self.active, self.peak = delay, 0, 0
        self.lock = threading.Lock()

    def stream(self, request: CompletionRequest):
        llm = self

        class Stream:
            usage = CompletionUsage(prompt_tokens=3, completion_tokens=1, model="slow")

            def __iter__(self):
                with llm.lock:
                    llm.active += 1
                    llm.peak = max(llm.peak, llm.active)
                time.sleep(llm.delay)
                with llm.lock:
                    llm.active -= 1
                yield CompletionChunk(text="ok")

        return Stream()


class NoEvents:
    def typing(self, **_: object) -> None: ...
    def delta(self, **_: object) -> None: ...
    def message(self, **_: object) -> None: ...
    def error(self, **_: object) -> None: ...


def _user_message(conversation: Conversation, text: str) -> int:
    return message_insert_next_seq(conversation_id=conversation.pk, role="user", text=text, client_id=text).pk


def _run_all(message_ids: list[int], llm: SlowLLM) -> None:
    from django.db import connection

    def work(message_id: int) -> None:
        try:
            turn_run(user_message_id=message_id, events=NoEvents(), llm=llm)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(m,)) for m in message_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)


def test_conversations_of_one_bot_are_answered_in_parallel(llm_bot) -> None:
    llm = SlowLLM(delay=0.5)
    ids = [_user_message(conversation_start(bot=llm_bot), f"q{i}") for i in range(4)]
    _run_all(ids, llm)
    assert llm.peak == 4, f"only {llm.peak} turns overlapped: something serialises the bot's conversations"


def test_turns_of_one_conversation_never_interleave(llm_bot) -> None:
    llm = SlowLLM(delay=0.2)
    conversation = conversation_start(bot=llm_bot)
    ids = [_user_message(conversation, f"m{i}") for i in range(3)]
    _run_all(ids, llm)
    assert llm.peak == 1
    assert conversation.messages.filter(role="bot").count() == 3
