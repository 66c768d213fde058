"""Every number on the dashboard, the metrics API and the docs, computed in ONE function.

Input: a queryset of conversations (already scoped to the user's bots and filtered by the same
FilterSet as the transcript list). Definitions are in docs/metrics.md and `DEFINITIONS` below,
which the page prints next to each chart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import Aggregate, Count, FloatField, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics.caching import cached
from analytics.selectors import Outcome, unrecognised_clusters, with_outcome
from bots.models import Conversation, Message


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile (interpolated), e.g. p50 = the median."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, percentile: float, **extra: Any) -> None:
        # A float we control, formatted into the SQL: never user input.
        super().__init__(expression, percentile=repr(float(percentile)), **extra)


DEFINITIONS: dict[str, Any] = {
    "conversations": _("Conversations started in the period (by start time), after filters."),
    "messages": _("Messages (visitor and bot) sent in those conversations, by the day they were sent."),
    "engaged": _("Conversations with at least one visitor message: the denominator of every rate."),
    "containment_rate": _(
        "Engaged conversations with no fallback and no handoff offer, divided by engaged conversations."
    ),
    "fallback_rate": _(
        "Engaged conversations with at least one unrecognised visitor message (a fallback reply, "
        "or a turn with no intent) and no handoff offer, divided by engaged conversations."
    ),
    "handoff_rate": _(
        "Engaged conversations where the bot offered a human (a reply with action offer_handoff, "
        "or status handoff), divided by engaged conversations."
    ),
    "csat": _("Average of the 1-5 satisfaction scores visitors gave; conversations without a score are left out."),
    "thumbs": _("Bot messages rated thumbs up / thumbs down by visitors; share = up / (up + down)."),
    "ttft": _(
        "Time from receiving the visitor message to the first token of the bot reply, over bot replies "
        "that recorded it; p50/p95 by PostgreSQL percentile_cont (interpolated)."
    ),
    "total_time": _("Time from receiving the visitor message to the finished bot reply; same percentiles."),
    "top_intents": _("Visitor messages by recognised intent (the message's own intent, else its reply's)."),
    "top_unrecognised": _(
        "Unrecognised visitor messages grouped by normalised text, then merged by word overlap "
        "(Jaccard >= 0.5); biggest groups first."
    ),
}


@dataclass
class DayCount:
    day: date
    conversations: int = 0
    messages: int = 0


@dataclass
class Metrics:
    conversations: int
    engaged: int
    outcomes: dict[str, int]
    containment_rate: float | None
    fallback_rate: float | None
    handoff_rate: float | None
    messages: int
    per_day: list[DayCount]
    csat_average: float | None
    csat_responses: int
    csat_distribution: dict[int, int]
    thumbs_up: int
    thumbs_down: int
    thumbs_up_share: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    total_time_p50_ms: float | None
    total_time_p95_ms: float | None
    top_intents: list[dict[str, Any]]
    top_unrecognised: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["per_day"] = [
            {"day": d.day.isoformat(), "conversations": d.conversations, "messages": d.messages} for d in self.per_day
        ]
        data["csat_distribution"] = {str(k): v for k, v in self.csat_distribution.items()}
        return data


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def metrics_compute(*, conversations: QuerySet[Conversation], top: int = 10) -> Metrics:
    plain = not conversations.query.annotations and not conversations.query.distinct
    # The filtered queryset is used as is when it is a plain WHERE (no self-join on the primary key).
    scoped = (
        conversations.order_by() if plain else Conversation.objects.filter(pk__in=conversations.order_by().values("pk"))
    )
    conv_ids = scoped.values("pk")
    messages = Message.objects.filter(conversation__in=conv_ids)
    tz = timezone.get_current_timezone()

    # One pass over the conversations: outcome x day x csat, folded in Python (a few hundred groups).
    outcomes = {key: 0 for key, _label in Outcome.CHOICES}
    days: dict[date, DayCount] = {}
    distribution = dict.fromkeys(range(1, 6), 0)
    for outcome, day, score, n in (
        with_outcome(scoped)
        .annotate(day=TruncDate("started_at", tzinfo=tz))
        .order_by()
        .values_list("outcome", "day", "csat")
        .annotate(n=Count("id"))
    ):
        outcomes[outcome] += n
        days.setdefault(day, DayCount(day)).conversations += n
        if score is not None:
            distribution[score] += n
    total = sum(outcomes.values())
    engaged = sum(outcomes[k] for k in Outcome.ENGAGED)
    csat_n = sum(distribution.values())
    csat: dict[str, Any] = {
        "n": csat_n,
        "avg": (sum(k * v for k, v in distribution.items()) / csat_n) if csat_n else None,
    }

    # One pass over the messages: count and thumbs per day.
    message_total = 0
    thumbs = {"up": 0, "down": 0}
    for day, n, up, down in (
        messages.annotate(day=TruncDate("created_at", tzinfo=tz))
        .order_by()
        .values_list("day")
        .annotate(
            n=Count("id"),
            up=Count("id", filter=Q(role=Message.Role.BOT, feedback=Message.Feedback.UP)),
            down=Count("id", filter=Q(role=Message.Role.BOT, feedback=Message.Feedback.DOWN)),
        )
    ):
        days.setdefault(day, DayCount(day)).messages = n
        message_total += n
        thumbs["up"] += up
        thumbs["down"] += down
    per_day = _fill_days(days)

    bot_messages = messages.filter(role=Message.Role.BOT)
    latency = bot_messages.aggregate(
        ttft_p50=PercentileCont("time_to_first_token_ms", 0.5, filter=Q(time_to_first_token_ms__isnull=False)),
        ttft_p95=PercentileCont("time_to_first_token_ms", 0.95, filter=Q(time_to_first_token_ms__isnull=False)),
        total_p50=PercentileCont("total_time_ms", 0.5, filter=Q(total_time_ms__isnull=False)),
        total_p95=PercentileCont("total_time_ms", 0.95, filter=Q(total_time_ms__isnull=False)),
    )

    # Turn intent (selectors.turn_intent_expression) in two grouped lookups instead of joining every
    # visitor message to its reply: own intent; else, for the few without one, the reply's intent.
    intent_counts: dict[str, int] = {}
    visitor = messages.filter(role=Message.Role.USER)
    for name, n in visitor.exclude(intent="").order_by().values_list("intent").annotate(n=Count("id")):
        intent_counts[name] = intent_counts.get(name, 0) + n
    for name, n in (
        visitor.filter(intent="")
        .exclude(reply__intent="")
        .filter(reply__isnull=False)
        .order_by()
        .values_list("reply__intent")
        .annotate(n=Count("id"))
    ):
        intent_counts[name] = intent_counts.get(name, 0) + n
    top_intents = [
        {"turn_intent": name, "count": n}
        for name, n in sorted(intent_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    ]
    clusters = unrecognised_clusters(conversations=scoped, limit=top)

    return Metrics(
        conversations=total,
        engaged=engaged,
        outcomes=outcomes,
        containment_rate=_rate(outcomes[Outcome.CONTAINED], engaged),
        fallback_rate=_rate(outcomes[Outcome.FALLBACK], engaged),
        handoff_rate=_rate(outcomes[Outcome.HANDOFF], engaged),
        messages=message_total,
        per_day=per_day,
        csat_average=float(csat["avg"]) if csat["avg"] is not None else None,
        csat_responses=csat["n"],
        csat_distribution=distribution,
        thumbs_up=thumbs["up"],
        thumbs_down=thumbs["down"],
        thumbs_up_share=_rate(thumbs["up"], thumbs["up"] + thumbs["down"]),
        ttft_p50_ms=latency["ttft_p50"],
        ttft_p95_ms=latency["ttft_p95"],
        total_time_p50_ms=latency["total_p50"],
        total_time_p95_ms=latency["total_p95"],
        top_intents=[{"intent": row["turn_intent"], "count": row["count"]} for row in top_intents],
        top_unrecognised=[
            {
                "text": c.representative,
                "count": c.count,
                "bot_id": c.bot_id,
                "example_message_id": c.example_message_id,
                "conversation_id": c.example.conversation_id if c.example else None,
            }
            for c in clusters
        ],
    )


def _fill_days(days: dict[date, DayCount], max_days: int = 366) -> list[DayCount]:
    """Consecutive days (zeros included) so a chart's x axis is honest; capped to the last year shown."""
    if not days:
        return []
    first, last = min(days), max(days)
    if (last - first).days >= max_days:
        first = last - timedelta(days=max_days - 1)
    out = []
    day = first
    while day <= last:
        out.append(days.get(day, DayCount(day)))
        day += timedelta(days=1)
    return out


def metrics_cached(*, conversations: QuerySet[Conversation], top: int = 10) -> Metrics:
    """`metrics_compute`, cached briefly (see analytics/caching.py): what the page and the API call."""
    return cached("metrics", conversations, lambda: metrics_compute(conversations=conversations, top=top), top)
