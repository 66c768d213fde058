"""Delivery: a real receiver on 127.0.0.1, retries with the same webhook-id, the backoff
schedule, per-conversation ordering, disabling, the SSRF guard and resending."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from tests.factories import BotFactory
from tests.webhooks.conftest import Receiver, endpoint_with_secret, run_sent
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services.delivery import deliveries_due_dispatch, deliveries_resend, retry_at
from webhooks.services.endpoints import endpoint_enable, endpoint_secret_rotate
from webhooks.services.events import emit_event

pytestmark = pytest.mark.django_db
Status = WebhookDelivery.Status


def _emit(bot, conversation_id: int | None = 1, text: str = "hi", capture=None) -> None:
    with capture(execute=True), transaction.atomic():
        emit_event(
            event_type="message.created",
            bot_id=bot.pk,
            conversation_id=conversation_id,
            data={"message": {"id": 1, "role": "visitor", "text": text, "seq": 1, "reply_to": None, "author": None}},
        )


def _make_due() -> None:
    WebhookDelivery.objects.filter(status__in=[Status.PENDING, Status.DELIVERING]).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_failed_attempt_is_retried_with_the_same_id_and_a_valid_signature(
    receiver: Receiver, attempts_sent, django_capture_on_commit_callbacks
) -> None:
    bot = BotFactory()
    endpoint, secret = endpoint_with_secret(url=receiver.url, bot=bot)
    receiver.statuses = [500]
    _emit(bot, capture=django_capture_on_commit_callbacks)
    run_sent(attempts_sent)

    row = WebhookDelivery.objects.get()
    assert row.status == Status.PENDING and row.attempts == 1 and row.last_status_code == 500
    assert row.last_error == "HTTP 500" and row.last_response_excerpt == "boom"
    assert timezone.now() < row.next_attempt_at <= timezone.now() + timedelta(seconds=31)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).consecutive_failures == 1

    _make_due()
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_due_dispatch() == 1
    run_sent(attempts_sent)

    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED and row.attempts == 2 and row.last_status_code == 200
    assert [(a.number, a.status_code, a.succeeded) for a in row.attempt_log.all()] == [(1, 500, False), (2, 200, True)]
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).consecutive_failures == 0
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row.event_id
    assert first.body == second.body == row.event.body.encode()
    assert second.headers["content-type"] == "application/json"
    verified = Webhook(secret).verify(second.body, second.headers)
    assert verified["type"] == "message.created" and verified["data"]["bot"]["id"] == bot.pk


def _wait(**kwargs: object) -> float:
    at = retry_at(**kwargs)
    assert at is not None
    return (at - kwargs["now"]).total_seconds()


def test_backoff_has_full_jitter_within_bounds_and_ends_a_day_after_the_event(settings) -> None:
    settings.WEBHOOK_RETRY_DELAYS_S = [30, 120, 600, 1800, 7200, 21600, 43200]
    settings.WEBHOOK_RETRY_WINDOW_S = 24 * 3600
    start = timezone.now()
    rng = random.Random(7)
    for attempts, upper in enumerate(settings.WEBHOOK_RETRY_DELAYS_S, start=1):
        waits = [_wait(attempts=attempts, retry_from=start, now=start, rng=rng) for _ in range(200)]
        assert all(1 <= w <= upper for w in waits)
        assert min(waits) < upper / 4 and max(waits) > upper * 3 / 4  # spread over the whole range
    late = start + timedelta(hours=20)
    assert retry_at(attempts=8, retry_from=start, now=late) == start + timedelta(days=1)  # the last one
    assert retry_at(attempts=9, retry_from=start, now=late) is None
    assert retry_at(attempts=2, retry_from=start, now=start + timedelta(days=1)) is None
    near_end = start + timedelta(hours=23, minutes=59)
    assert _wait(attempts=7, retry_from=start, now=near_end, rng=rng) <= 60  # never past the day


def test_a_conversations_events_wait_for_the_earlier_one(
    receiver: Receiver, attempts_sent, django_capture_on_commit_callbacks
) -> None:
    bot = BotFactory()
    endpoint_with_secret(url=receiver.url, bot=bot)
    receiver.statuses = [503]
    _emit(bot, conversation_id=5, text="first", capture=django_capture_on_commit_callbacks)
    run_sent(attempts_sent)  # fails: pending, retry later
    _emit(bot, conversation_id=5, text="second", capture=django_capture_on_commit_callbacks)
    _emit(bot, conversation_id=6, text="elsewhere", capture=django_capture_on_commit_callbacks)
    first, second, elsewhere = WebhookDelivery.objects.order_by("pk")
    assert second.status == Status.PENDING and second.attempts == 0  # held back
    run_sent(attempts_sent)  # only the other conversation's went
    assert [r.payload["data"]["message"]["text"] for r in receiver.received] == ["first", "elsewhere"]

    WebhookDelivery.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_due_dispatch() == 0  # still behind the first one, due or not
    _make_due()
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_due_dispatch() == 1  # the first one only
    assert len(attempts_sent) == 1
    run_sent(attempts_sent, django_capture_on_commit_callbacks)  # it succeeds and lets the second one go
    assert [r.payload["data"]["message"]["text"] for r in receiver.received] == [
        "first",
        "elsewhere",
        "first",
        "second",
    ]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {Status.SUCCEEDED}


def test_an_endpoint_failing_again_and_again_is_disabled_until_enabled(
    receiver: Receiver, attempts_sent, settings, django_capture_on_commit_callbacks
) -> None:
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    bot = BotFactory()
    endpoint, _ = endpoint_with_secret(url=receiver.url, bot=bot)
    receiver.statuses = [500] * 10
    for n in range(3):
        _emit(bot, conversation_id=None, text=f"m{n}", capture=django_capture_on_commit_callbacks)
        run_sent(attempts_sent)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.consecutive_failures == 3
    assert endpoint.disabled_at is not None and "3 failed attempts in a row" in endpoint.disabled_reason
    assert "HTTP 500" in endpoint.disabled_reason

    _emit(bot, conversation_id=None, text="while disabled", capture=django_capture_on_commit_callbacks)
    assert WebhookDelivery.objects.count() == 3  # a disabled endpoint subscribes to nothing
    _make_due()
    assert deliveries_due_dispatch() == 0  # its retries wait

    endpoint_enable(endpoint_id=endpoint.pk)
    receiver.statuses = []
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_due_dispatch() == 3
    run_sent(attempts_sent)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.consecutive_failures == 0 and endpoint.disabled_reason == ""
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {Status.SUCCEEDED}


def test_the_ssrf_guard_refusal_is_a_failed_attempt_with_the_reason(
    receiver: Receiver, attempts_sent, settings, django_capture_on_commit_callbacks
) -> None:
    bot = BotFactory()
    endpoint_with_secret(url=receiver.url, bot=bot)  # saved while loopback was allowed
    settings.OUTBOUND_ALLOW_PRIVATE = []  # then the operator took the allowance back
    _emit(bot, capture=django_capture_on_commit_callbacks)
    run_sent(attempts_sent)
    row = WebhookDelivery.objects.get()
    assert row.status == Status.PENDING and row.last_status_code is None
    assert row.last_error.startswith("refused (private_address)") and "127.0.0.1" in row.last_error
    attempt = row.attempt_log.get()
    assert not attempt.succeeded and attempt.error == row.last_error
    assert receiver.received == []


def test_the_last_failed_attempt_fails_the_delivery(
    receiver: Receiver, attempts_sent, settings, django_capture_on_commit_callbacks
) -> None:
    settings.WEBHOOK_RETRY_DELAYS_S = [1]
    bot = BotFactory()
    endpoint_with_secret(url=receiver.url, bot=bot)
    receiver.statuses = [500, 500]
    _emit(bot, capture=django_capture_on_commit_callbacks)
    run_sent(attempts_sent)
    _make_due()
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_due_dispatch()
    run_sent(attempts_sent)
    row = WebhookDelivery.objects.get()
    assert row.status == Status.PENDING and row.attempts == 2  # one more, at the end of the window
    assert row.next_attempt_at == row.retry_from + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_S)
    receiver.statuses = [500]
    _make_due()
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_due_dispatch()
    run_sent(attempts_sent)
    row.refresh_from_db()
    assert row.status == Status.FAILED and row.attempts == 3 and row.next_attempt_at is None


def test_resend_makes_a_new_attempt_with_the_same_id_and_a_stale_task_does_nothing(
    receiver: Receiver, attempts_sent, django_capture_on_commit_callbacks
) -> None:
    bot = BotFactory()
    endpoint, _ = endpoint_with_secret(url=receiver.url, bot=bot)
    _emit(bot, capture=django_capture_on_commit_callbacks)
    stale = list(attempts_sent)
    run_sent(attempts_sent)
    run_sent(stale)  # the broker delivered the task twice: no second POST
    assert len(receiver.received) == 1

    new_secret = endpoint_secret_rotate(endpoint_id=endpoint.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_resend(delivery_ids=list(WebhookDelivery.objects.values_list("pk", flat=True))) == 1
    run_sent(attempts_sent)
    first, again = receiver.received
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert len(again.headers["webhook-signature"].split(" ")) == 2  # new and old secret during the overlap
    Webhook(new_secret).verify(again.body, again.headers)
    row = WebhookDelivery.objects.get()
    assert row.status == Status.SUCCEEDED and row.attempt_log.count() == 2


def test_a_lost_attempt_is_claimed_again_after_its_lease(
    receiver: Receiver, attempts_sent, django_capture_on_commit_callbacks
) -> None:
    bot = BotFactory()
    endpoint_with_secret(url=receiver.url, bot=bot)
    _emit(bot, capture=django_capture_on_commit_callbacks)
    attempts_sent.clear()  # the task never reached a worker
    assert deliveries_due_dispatch() == 0  # its lease still runs
    _make_due()
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_due_dispatch() == 1
    run_sent(attempts_sent)
    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.get().status == Status.SUCCEEDED
