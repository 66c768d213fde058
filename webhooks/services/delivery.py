"""Delivering events: signed POSTs through the SSRF-guarded client, retries, ordering, disabling.

The life of a delivery (`WebhookDelivery.Status`):

- `pending` -> claimed (`delivering`, attempts + 1, `next_attempt_at` = now + the attempt's lease)
  and the attempt is sent to the worker as `webhooks.delivery_attempt` after commit.
- The attempt signs the stored body with a fresh `webhook-timestamp` (the `webhook-id` is the
  event's, the same on every attempt) and POSTs it. 2xx: `succeeded`. Anything else (another
  status, a timeout, a refused URL): `pending` again at the next retry time, or `failed` when the
  schedule is spent (`retry_at`).
- Long waits are rows, not Celery countdowns (a countdown longer than the broker's visibility
  timeout is redelivered by Redis): `deliveries_due_dispatch`, run by Celery beat every
  WEBHOOK_SWEEP_EVERY_S, claims what is due with SKIP LOCKED, so two beats never claim one row.
  A claim whose task was lost, or whose worker died mid-call, is due again when its lease ends.

Ordering: per endpoint and conversation, a delivery is claimed only when no earlier delivery
(lower id) of the same endpoint and conversation is still pending or delivering. A receiver
therefore sees one conversation's events in the order they were stored, at the price that a
failing event holds back the conversation's later ones until it succeeds or finally fails. Events
without a conversation are not held back.

Delivery is at least once: a lost lease can send an event twice; receivers dedupe on `webhook-id`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone

from chatplatform.celery import task_send
from chatplatform.encryption import InvalidToken
from chatplatform.outbound_http import OutboundFailed, OutboundRefused, send
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services.endpoints import endpoint_signing_secrets
from webhooks.services.signing import signed_headers

log = structlog.get_logger(__name__)

ATTEMPT_TASK = "webhooks.delivery_attempt"
SWEEP_BATCH = 200
EXCERPT_CHARS = 500
Status = WebhookDelivery.Status
ACTIVE = (Status.PENDING, Status.DELIVERING)
_rng = random.SystemRandom()


@dataclass(frozen=True)
class AttemptResult:
    succeeded: bool
    status_code: int | None
    error: str
    response_excerpt: str
    duration_ms: int


def retry_at(
    *, attempts: int, retry_from: datetime, now: datetime, rng: random.Random | None = None
) -> datetime | None:
    """When to try again after `attempts` failed attempts, or None: the delivery has failed.

    After attempt n (1-based) the wait is drawn uniformly from [1 s, WEBHOOK_RETRY_DELAYS_S[n-1]]
    (exponential backoff with full jitter: receivers that failed together do not retry together).
    One more attempt follows the schedule, at `retry_from` + WEBHOOK_RETRY_WINDOW_S (a day after
    the event); no attempt is ever later than that."""
    delays = settings.WEBHOOK_RETRY_DELAYS_S
    deadline = retry_from + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_S)
    if now >= deadline or attempts > len(delays) + 1:
        return None
    if attempts == len(delays) + 1:
        return deadline
    upper = float(delays[attempts - 1])
    wait = (rng or _rng).uniform(min(1.0, upper), upper)
    return min(now + timedelta(seconds=wait), deadline)


def deliveries_claim(deliveries: Sequence[WebhookDelivery], *, now: datetime) -> list[tuple[int, int]]:
    """Claim the deliveries that are first in line and send their attempts after commit.

    Call inside a transaction with the rows new or locked by the caller. Returns (id, attempt)."""
    keyed = [d for d in deliveries if d.conversation_id is not None]
    first_in_line: dict[tuple[int, int | None], int] = {}
    if keyed:
        rows = (
            WebhookDelivery.objects.filter(
                status__in=ACTIVE,
                endpoint_id__in={d.endpoint_id for d in keyed},
                conversation_id__in={d.conversation_id for d in keyed},
            )
            .values("endpoint_id", "conversation_id")
            .annotate(first=Min("pk"))
        )
        first_in_line = {(row["endpoint_id"], row["conversation_id"]): row["first"] for row in rows}
    lease_until = now + timedelta(seconds=settings.WEBHOOK_ATTEMPT_LEASE_S)
    claimed: list[WebhookDelivery] = []
    for delivery in deliveries:
        if delivery.conversation_id is not None:
            first = first_in_line.get((delivery.endpoint_id, delivery.conversation_id), delivery.pk)
            if first != delivery.pk:
                continue  # an earlier event of this conversation is not through yet
        delivery.status = Status.DELIVERING
        delivery.attempts += 1
        delivery.next_attempt_at = lease_until
        delivery.updated_at = now  # bulk_update skips auto_now
        claimed.append(delivery)
    if claimed:
        WebhookDelivery.objects.bulk_update(claimed, ["status", "attempts", "next_attempt_at", "updated_at"])
    sends = [(d.pk, d.attempts) for d in claimed]
    for delivery_id, attempt in sends:
        # robust: a broker that is down must not fail the caller's commit; the lease expires and
        # the sweep claims the delivery again.
        transaction.on_commit(partial(task_send, ATTEMPT_TASK, delivery_id, attempt), robust=True)
    return sends


def deliveries_due_dispatch(*, limit: int = SWEEP_BATCH) -> int:
    """Celery beat: claim the deliveries whose time has come (retries, lost attempts, resumed
    endpoints). SKIP LOCKED: a concurrent sweep or attempt holding a row is left alone."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=ACTIVE, next_attempt_at__lte=now, endpoint__enabled=True)
            .order_by("pk")[:limit]
        )
        claimed = deliveries_claim(due, now=now)
    if claimed:
        log.info("webhook_deliveries_due", claimed=len(claimed), due=len(due))
    return len(claimed)


def deliveries_resend(*, delivery_ids: Iterable[int]) -> int:
    """Send deliveries again (an admin's or the API's resend): a new round of attempts with the
    same `webhook-id`. One in flight is left alone; one of a disabled endpoint waits for it."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            WebhookDelivery.objects.select_for_update(of=("self",))
            .filter(pk__in=list(delivery_ids))
            .exclude(status=Status.DELIVERING)
            .select_related("endpoint")
            .order_by("pk")
        )
        for delivery in rows:
            delivery.status, delivery.attempts = Status.PENDING, 0
            delivery.retry_from = delivery.next_attempt_at = delivery.updated_at = now
        WebhookDelivery.objects.bulk_update(rows, ["status", "attempts", "retry_from", "next_attempt_at", "updated_at"])
        deliveries_claim([d for d in rows if d.endpoint.enabled], now=now)
    return len(rows)


def delivery_attempt(*, delivery_id: int, attempt: int) -> AttemptResult | None:
    """The worker's task: make attempt `attempt` of the delivery, unless it is no longer that
    attempt's (a duplicate task, a lease that ran out and was claimed again): then nothing."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != Status.DELIVERING or delivery.attempts != attempt:
            return None
        endpoint = delivery.endpoint
        if not endpoint.enabled:  # disabled while queued: it waits for the endpoint, attempt unspent
            delivery.status, delivery.attempts, delivery.next_attempt_at = Status.PENDING, attempt - 1, timezone.now()
            delivery.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
            return None
    result = _post(endpoint=endpoint, msg_id=delivery.event_id, body=delivery.event.body)
    _attempt_record(delivery_id=delivery_id, attempt=attempt, result=result)
    return result


# --- internals --------------------------------------------------------------------------------


def _post(*, endpoint: WebhookEndpoint, msg_id: str, body: str) -> AttemptResult:
    began = time.monotonic()

    def elapsed() -> int:
        return round((time.monotonic() - began) * 1000)

    try:
        secrets = endpoint_signing_secrets(endpoint)
    except InvalidToken:
        return AttemptResult(False, None, "secret_unreadable: the encryption key changed; rotate the secret", "", 0)
    headers = {
        **signed_headers(secrets=secrets, msg_id=msg_id, timestamp=int(time.time()), body=body),
        "content-type": "application/json",
        "user-agent": "chatplatform-webhooks/1",
    }
    try:
        response = send(
            "POST", endpoint.url, headers=headers, content=body.encode(), timeout=settings.WEBHOOK_TIMEOUT_S
        )
    except OutboundRefused as error:
        return AttemptResult(False, None, f"refused ({error.code}): {error}"[:EXCERPT_CHARS], "", elapsed())
    except OutboundFailed as error:
        return AttemptResult(False, None, f"{error.code}: {error}"[:EXCERPT_CHARS], "", elapsed())
    excerpt = response.text()[:EXCERPT_CHARS]
    if 200 <= response.status_code < 300:
        return AttemptResult(True, response.status_code, "", excerpt, response.elapsed_ms)
    return AttemptResult(False, response.status_code, f"HTTP {response.status_code}", excerpt, response.elapsed_ms)


def _attempt_record(*, delivery_id: int, attempt: int, result: AttemptResult) -> None:
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",)).select_related("endpoint").get(pk=delivery_id)
        )
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=attempt,
            attempted_at=now,
            succeeded=result.succeeded,
            status_code=result.status_code,
            error=result.error,
            response_excerpt=result.response_excerpt,
            duration_ms=result.duration_ms,
        )
        if delivery.status != Status.DELIVERING or delivery.attempts != attempt:
            return  # claimed again meanwhile (our lease ran out): the newer attempt decides
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        delivery.last_response_excerpt = result.response_excerpt
        if result.succeeded:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = Status.SUCCEEDED, now, None
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, consecutive_failures__gt=0).update(
                consecutive_failures=0
            )
        else:
            again = retry_at(attempts=attempt, retry_from=delivery.retry_from, now=now)
            delivery.status = Status.PENDING if again is not None else Status.FAILED
            delivery.next_attempt_at = again
            _endpoint_failure_count(endpoint_id=delivery.endpoint_id, error=result.error, now=now)
        delivery.save()
        log.info(
            "webhook_attempt",
            delivery_id=delivery_id,
            attempt=attempt,
            status=delivery.status,
            status_code=result.status_code,
            error=result.error,
        )
        if delivery.status in (Status.SUCCEEDED, Status.FAILED) and delivery.conversation_id is not None:
            _next_in_line_claim(delivery=delivery, now=now)


def _endpoint_failure_count(*, endpoint_id: int, error: str, now: datetime) -> None:
    """One more failed attempt in a row; at WEBHOOK_DISABLE_AFTER_FAILURES the endpoint is switched
    off (its deliveries wait) until an admin enables it again."""
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=F("consecutive_failures") + 1)
    disabled = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True, consecutive_failures__gte=limit).update(
        enabled=False,
        disabled_at=now,
        disabled_reason=f"Disabled after {limit} failed attempts in a row; the last: {error}"[:500],
    )
    if disabled:
        log.warning("webhook_endpoint_disabled", endpoint_id=endpoint_id, failures=limit, error=error)


def _next_in_line_claim(*, delivery: WebhookDelivery, now: datetime) -> None:
    """The delivery that waited behind this one (same endpoint and conversation) goes now if due."""
    following = list(
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            endpoint_id=delivery.endpoint_id,
            conversation_id=delivery.conversation_id,
            status=Status.PENDING,
            next_attempt_at__lte=now,
            endpoint__enabled=True,
        )
        .order_by("pk")[:1]
    )
    if following:
        deliveries_claim(following, now=now)
