"""The unanswered-message sweeper (#17, row 4): a visitor message whose queued turn was lost with
Redis's data is found in PostgreSQL and answered, once; beat sends the sweep on its schedule."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from bots.models import Conversation, Message
from conversations.services import messages as message_services
from conversations.services import sweeps
from conversations.services.conversations import conversation_start
from conversations.services.sequencing import message_insert_next_seq
from tests.conversations.conftest import open_ws
from tests.factories import BotFactory
from tests.support import ws
from tests.support.processes import start_beat

SWEEP_TASK = "conversations.unanswered_sweep"


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Turns the services enqueue, recorded instead of sent (as if the broker dropped them)."""
    sent: list[int] = []

    def record(name: str, message_id: int, *_: Any, **__: Any) -> None:
        assert name == message_services.TURN_TASK
        sent.append(message_id)

    monkeypatch.setattr(message_services, "task_send", record)
    return sent


def _visitor_message(conversation: Conversation, text: str, *, age_s: float) -> Message:
    message = message_insert_next_seq(
        conversation_id=conversation.pk, role=Message.Role.USER, text=text, client_id=f"c-{text}"
    )
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=age_s))
    return message


@pytest.mark.django_db
def test_only_each_conversations_oldest_owed_message_is_enqueued_and_only_once_per_interval(
    enqueued: list[int], settings
) -> None:
    settings.UNANSWERED_SWEEP_AFTER_S = 60
    bot = BotFactory()

    def conversation(**fields: Any) -> Conversation:
        started = conversation_start(bot=bot, visitor_id=f"v{Conversation.objects.count()}")
        Conversation.objects.filter(pk=started.pk).update(**fields)
        started.refresh_from_db()
        return started

    lost = conversation()
    oldest = _visitor_message(lost, "lost one", age_s=300)
    _visitor_message(lost, "lost two", age_s=200)  # the lease holder answers it after the first

    answered = conversation()
    question = _visitor_message(answered, "answered", age_s=300)
    message_insert_next_seq(conversation_id=answered.pk, role=Message.Role.BOT, text="yes", reply_to=question)

    _visitor_message(conversation(), "still in its first minute", age_s=10)
    _visitor_message(conversation(), "too old to answer now", age_s=3 * 24 * 3600)
    _visitor_message(conversation(status=Conversation.Status.QUEUED), "people have it", age_s=300)
    _visitor_message(conversation(channel=Conversation.Channel.API), "an API caller", age_s=300)
    leased = conversation(turn_lease_owner="w1", turn_lease_until=timezone.now() + timedelta(seconds=30))
    _visitor_message(leased, "a live turn has it", age_s=300)
    for_agent = _visitor_message(conversation(), "the agents had it", age_s=300)
    Message.objects.filter(pk=for_agent.pk).update(action="for_agent")
    reopened = conversation(status=Conversation.Status.RESOLVED)
    after_resolution = _visitor_message(reopened, "written after it was resolved", age_s=300)

    assert sorted(sweeps.unanswered_sweep()) == sorted([oldest.pk, after_resolution.pk])
    assert sorted(enqueued) == sorted([oldest.pk, after_resolution.pk])
    assert sweeps.unanswered_sweep() == []  # not again within UNANSWERED_SWEEP_AFTER_S
    assert len(enqueued) == 2


@pytest.mark.django_db(transaction=True)
async def test_a_message_whose_turn_was_lost_is_answered_by_the_sweep(
    llm_bot, allowed_origin, stub_llm, celery_worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub_llm.behaviour.reply = "Sorry for the wait: yes, we ship to Canada."
    send = message_services.task_send
    monkeypatch.setattr(message_services, "task_send", lambda *a, **k: None)  # the queued turn is lost
    communicator = await open_ws(llm_bot.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "lost", "text": "do you ship to Canada?"})
    ack = await ws.expect(communicator, "ack")
    assert await communicator.receive_nothing(timeout=1.5)  # acked, stored, and nothing will answer it

    monkeypatch.setattr(message_services, "task_send", send)  # the broker is back
    later = timezone.now() + timedelta(seconds=61)
    swept = await sync_to_async(sweeps.unanswered_sweep)(now=later)
    assert swept == [ack["message_id"]]
    _deltas, final = await ws.collect_reply(communicator)
    assert final["reply_to"] == ack["message_id"] and final["text"] == stub_llm.behaviour.reply
    assert await Message.objects.filter(reply_to_id=ack["message_id"]).acount() == 1
    await communicator.disconnect()


def test_beat_sends_the_sweep_on_its_schedule(tmp_path: Path, django_db_setup: None) -> None:
    log = tmp_path / "beat.log"
    beat = start_beat(log=log, schedule=tmp_path / "schedule", extra_env={"UNANSWERED_SWEEP_EVERY_S": "1"})
    try:
        deadline = time.monotonic() + 60
        while f"Sending due task unanswered-sweep ({SWEEP_TASK})" not in log.read_text(errors="replace"):
            assert beat.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
    finally:
        beat.terminate()
        beat.wait(timeout=20)
