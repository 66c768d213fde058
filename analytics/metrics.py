"""Every number on the dashboard, the metrics API and the docs, computed in ONE function.

Input: a queryset of conversations (already scoped to the user's bots and filtered by the same
FilterSet as the transcript list). Definitions are in docs/metrics.md and `DEFINITIONS` below,
which the page prints next to each chart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db.models import (
    Aggregate,
    BigIntegerField,
    BooleanField,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import NullIf, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics.caching import cached
from analytics.selectors import Outcome, engaged_q, unrecognised_clusters, with_outcome
from bots.models import Bot, Conversation, ConversationEvent, Message
from copilot.selectors import copilot_stats


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
        "Engaged conversations where the bot offered a person (a reply with action offer_handoff) or that "
        "were queued for one, divided by engaged conversations (the 'handoff' outcome)."
    ),
    "handed_off_rate": _(
        "Engaged conversations queued for a person at least once (a handoff_requested event, whatever "
        "triggered it), divided by engaged conversations."
    ),
    "human_first_reply": _(
        "For each handoff request: time from the request to the first agent message after it, before the "
        "conversation went back to the bot, was resolved or was requested again; requests nobody answered "
        "are left out (and counted). p50/p95 interpolated, as for latency."
    ),
    "resolution": _(
        "Resolved conversations (status resolved) with at least one agent message count as resolved by a "
        "person; the others as resolved by the bot."
    ),
    "reask_rate": _(
        "Of the conversations handed to a person, the share where the visitor, while people had the "
        "conversation, repeated something the bot already knew before the handoff: an entity value "
        "recognised in an earlier visitor message, or a slot value of the tracker that an earlier visitor "
        "message contained. Lower is better: a good brief spares the visitor."
    ),
    "copilot": _(
        "Reply suggestions written for agents on these bots in the period (by when they were written; the "
        "other filters do not apply): acceptance = (sent as is + sent after editing) / suggestions; edit "
        "distance in characters (Levenshtein) over the sent ones (0 when sent as is)."
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
    # Human handoff (issue #12); definitions in DEFINITIONS and docs/metrics.md.
    handed_off: int = 0
    handed_off_rate: float | None = None
    handoff_requests: int = 0
    handoff_requests_answered: int = 0
    human_first_reply_p50_s: float | None = None
    human_first_reply_p95_s: float | None = None
    resolved: int = 0
    resolved_by_bot: int = 0
    resolved_by_human: int = 0
    resolved_by_human_share: float | None = None
    reasked: int = 0
    reask_rate: float | None = None
    copilot: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["per_day"] = [
            {"day": d.day.isoformat(), "conversations": d.conversations, "messages": d.messages} for d in self.per_day
        ]
        data["csat_distribution"] = {str(k): v for k, v in self.csat_distribution.items()}
        return data


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def metrics_compute(
    *,
    conversations: QuerySet[Conversation],
    top: int = 10,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Metrics:
    """Every metric of the conversations (scoped and filtered by the caller). `since`/`until` are the
    date filter's range, for the numbers counted by their own time (the copilot's suggestions)."""
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
    handoff = handoff_measures(conversations=scoped)
    bot_ids = Bot.objects.filter(Exists(scoped.filter(bot_id=OuterRef("pk")))).values_list("pk", flat=True)

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
        handed_off=handoff.handed_off,
        handed_off_rate=_rate(handoff.handed_off, engaged),
        handoff_requests=handoff.requests,
        handoff_requests_answered=len(handoff.first_reply_seconds),
        human_first_reply_p50_s=percentile_cont(handoff.first_reply_seconds, 0.5),
        human_first_reply_p95_s=percentile_cont(handoff.first_reply_seconds, 0.95),
        resolved=handoff.resolved,
        resolved_by_bot=handoff.resolved - handoff.resolved_by_human,
        resolved_by_human=handoff.resolved_by_human,
        resolved_by_human_share=_rate(handoff.resolved_by_human, handoff.resolved),
        reasked=handoff.reasked,
        reask_rate=_rate(handoff.reasked, handoff.handed_off),
        copilot=copilot_stats(list(bot_ids), since, until),
    )


# --- Human handoff ---------------------------------------------------------------------------------

_REQUESTED = ConversationEvent.Kind.HANDOFF_REQUESTED
# What ends a stretch with people (a new request also ends the previous one and starts the next).
_BACK_FROM_PEOPLE = (ConversationEvent.Kind.RETURNED_TO_BOT, ConversationEvent.Kind.RESOLVED)


@dataclass
class HandoffMeasures:
    handed_off: int = 0  # engaged conversations with at least one request
    requests: int = 0
    first_reply_seconds: list[float] = field(default_factory=list)  # one per answered request
    resolved: int = 0
    resolved_by_human: int = 0
    reasked: int = 0


@dataclass(frozen=True)
class _Stretch:
    """From a handoff request until the bot has the conversation again, it is resolved, or it is
    requested again (end None: still with people)."""

    start: float  # seconds since the epoch (see `_epoch`)
    end: float | None

    def holds(self, at: float) -> bool:
        return self.start < at and (self.end is None or at < self.end)


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont in Python (linear interpolation between the closest ranks)."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


HANDOFF_BATCH = 2000  # handed-off conversations read per round of queries


def handoff_measures(*, conversations: QuerySet[Conversation]) -> HandoffMeasures:
    """Handoff rate, time to the first human reply, resolution by bot or person and the re-ask rate.

    The handed-off conversations are listed once (ids), then read in batches of HANDOFF_BATCH: their
    events, their agent and visitor messages and their slots by primary-key lookups, folded per
    conversation in Python. The cost follows the number of handoffs, not of conversations.
    """
    out = HandoffMeasures()
    resolved = conversations.filter(status=Conversation.Status.RESOLVED)
    out.resolved = resolved.count()
    # An agent can only write while the conversation is assigned to them, and every assignment is an
    # event (conversations/services/handoff.py): looking for agent messages among the conversations
    # with events (a hashed list, a fraction of all) spares an EXISTS probe per resolved conversation.
    out.resolved_by_human = (
        resolved.filter(pk__in=ConversationEvent.objects.values("conversation_id"))
        .filter(Exists(Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.AGENT)))
        .count()
    )
    handed = sorted(
        set(
            ConversationEvent.objects.filter(
                kind=_REQUESTED, conversation__in=conversations.filter(engaged_q()).order_by().values("pk")
            ).values_list("conversation_id", flat=True)
        )
    )
    out.handed_off = len(handed)
    for start in range(0, len(handed), HANDOFF_BATCH):
        _handoff_batch(handed[start : start + HANDOFF_BATCH], out)
    return out


def _handoff_batch(conversation_ids: list[int], out: HandoffMeasures) -> None:
    stretches = _stretches(
        ConversationEvent.objects.filter(
            _any_of("conversation_id", conversation_ids), kind__in=(_REQUESTED, *_BACK_FROM_PEOPLE)
        )
        .annotate(at=_epoch("created_at"))
        .order_by("conversation_id", "created_at", "id")
        .values_list("conversation_id", "kind", "at")
    )
    out.requests += sum(len(s) for s in stretches.values())
    agent_times: dict[int, list[float]] = {}
    said: dict[int, list[tuple[float, str, Any]]] = {}
    for conv_id, role, at, text, entities in (
        Message.objects.filter(
            _any_of("conversation_id", conversation_ids), role__in=(Message.Role.AGENT, Message.Role.USER)
        )
        # Entities NULL when empty: most messages have none, and NULL skips decoding the JSON.
        .annotate(at=_epoch("created_at"), found=NullIf(F("entities"), Value([], output_field=JSONField())))
        .order_by("conversation_id", "seq")
        .values_list("conversation_id", "role", "at", "text", "found")
    ):
        if role == Message.Role.AGENT:
            agent_times.setdefault(conv_id, []).append(at)
        else:
            said.setdefault(conv_id, []).append((at, text, entities))
    for conv_id, conv_stretches in stretches.items():
        replies = sorted(agent_times.get(conv_id, []))
        for stretch in conv_stretches:
            first = next((at for at in replies if stretch.holds(at)), None)
            if first is not None:
                out.first_reply_seconds.append(first - stretch.start)
    slots_of = dict(Conversation.objects.filter(_any_of("id", conversation_ids)).values_list("pk", "tracker__slots"))
    for conv_id, conv_said in said.items():
        slots = slots_of.get(conv_id)
        if reasked(stretches.get(conv_id, []), conv_said, slots if isinstance(slots, dict) else {}):
            out.reasked += 1


class _AnyOf(Func):
    """`column = ANY(%s::bigint[])`: the ids as ONE array parameter. `__in` binds (and Django compiles)
    every value on its own, which for thousands of ids costs more than the query itself."""

    arg_joiner = " = ANY("
    template = "%(expressions)s::bigint[])"
    output_field = BooleanField()


def _any_of(field_name: str, ids: list[int]) -> _AnyOf:
    return _AnyOf(F(field_name), Value(ids, output_field=ArrayField(BigIntegerField())))


def _epoch(field_name: str) -> Func:
    """A timestamp as seconds since the epoch (double precision): thousands of rows are compared and
    subtracted in Python, and a float is far cheaper to read than a timezone-aware datetime."""
    return Func(
        F(field_name),
        function="EXTRACT",
        template="EXTRACT(EPOCH FROM %(expressions)s)::double precision",
        output_field=FloatField(),
    )


def _stretches(rows: Iterable[tuple[int, str, float]]) -> dict[int, list[_Stretch]]:
    out: dict[int, list[_Stretch]] = {}
    open_since: dict[int, float] = {}
    for conv_id, kind, at in rows:
        started = open_since.pop(conv_id, None)
        if started is not None:
            out.setdefault(conv_id, []).append(_Stretch(started, at))
        if kind == _REQUESTED:
            open_since[conv_id] = at
    for conv_id, started in open_since.items():
        out.setdefault(conv_id, []).append(_Stretch(started, None))
    return out


# --- Re-ask: the visitor tells people what the bot already knew ----------------------------------

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
MIN_FACT_CHARS = 3  # shorter values ("2", "ok") repeat by chance; CJK values count from 2 characters


def fact_normalise(value: Any) -> str | None:
    """A known value as it is compared: case-folded, whitespace collapsed; None when it cannot be
    evidence (not a string or number, or too short to repeat other than by chance)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    norm = " ".join(str(value).casefold().split())
    shortest = 2 if _CJK.search(norm) else MIN_FACT_CHARS
    return norm if len(norm) >= shortest else None


def _entity_facts(entities: Any) -> set[str]:
    facts: set[str] = set()
    for entity in entities if isinstance(entities, list) else []:
        if isinstance(entity, dict):
            for key in ("value", "text"):
                norm = fact_normalise(entity.get(key))
                if norm:
                    facts.add(norm)
    return facts


def fact_in_text(fact: str, text: str) -> bool:
    """`fact` (normalised) occurs in the visitor's text as a whole word or phrase; inside CJK text (no
    spaces between words) any occurrence counts."""
    norm = " ".join(text.casefold().split())
    if _CJK.search(fact):
        return fact in norm
    return re.search(rf"(?<!\w){re.escape(fact)}(?!\w)", norm) is not None


def reasked(stretches: list[_Stretch], said: list[tuple[float, str, Any]], slots: dict[str, Any]) -> bool:
    """Whether, in any stretch with people, a visitor message repeats a fact known before that stretch.

    Known before a stretch: the entity values (canonical value and the span typed) of the visitor
    messages sent before the request, and the tracker's slot values that one of those messages
    contained (the tracker holds the latest slots; a slot only counts when it was said before).
    A visitor message in the stretch repeats a fact when one of its entities has that value or span,
    or its text contains it (`fact_in_text`).
    """
    slot_facts = {norm for norm in (fact_normalise(v) for v in slots.values()) if norm}
    for stretch in stretches:
        before = [(text, entities) for at, text, entities in said if at <= stretch.start]
        during = [(text, entities) for at, text, entities in said if stretch.holds(at)]
        if not before or not during:
            continue
        known = set().union(*(_entity_facts(entities) for _text, entities in before))
        known |= {fact for fact in slot_facts - known if any(fact_in_text(fact, text) for text, _e in before)}
        for text, entities in during:
            if known & _entity_facts(entities) or any(fact_in_text(fact, text) for fact in known):
                return True
    return False


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


def metrics_cached(
    *,
    conversations: QuerySet[Conversation],
    top: int = 10,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Metrics:
    """`metrics_compute`, cached briefly (see analytics/caching.py): what the page and the API call."""
    return cached(
        "metrics",
        conversations,
        lambda: metrics_compute(conversations=conversations, top=top, since=since, until=until),
        top,
        since,
        until,
    )
