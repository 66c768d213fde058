"""Reads of the copilot: the brief and the suggestion as the inbox shows them, and their numbers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import Aggregate, Avg, Count, FloatField, Q

from bots.models import Conversation, Message
from copilot.models import HandoffBrief, ReplySuggestion

BRIEF_TURNS_LIMIT = 100  # visitor turns listed next to the summary (the newest)


class _PercentileCont(Aggregate):
    """PostgreSQL's interpolated percentile (analytics has the same one; copilot sits below analytics
    and may not import it)."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, percentile: float, **extra: Any) -> None:
        # A float we control, formatted into the SQL: never user input.
        super().__init__(expression, percentile=repr(float(percentile)), **extra)


def brief_latest(*, conversation_id: int) -> HandoffBrief | None:
    return HandoffBrief.objects.filter(conversation_id=conversation_id).order_by("-created_at", "-pk").first()


def brief_for(conversation_id: int) -> dict[str, Any] | None:
    """The newest brief of the conversation (None until one is written), with the facts that need no
    LLM read now: the NLU annotations of each visitor turn, the slots, the verified identity."""
    brief = brief_latest(conversation_id=conversation_id)
    if brief is None:
        return None
    conversation = Conversation.objects.only("tracker", "user_id").get(pk=conversation_id)
    turns = list(
        Message.objects.filter(conversation_id=conversation_id, role=Message.Role.USER)
        .order_by("-seq")
        .values("seq", "text", "intent", "confidence", "entities")[:BRIEF_TURNS_LIMIT]
    )
    turns.reverse()
    slots = (conversation.tracker or {}).get("slots") or {}
    return {
        "kind": "brief",
        "conversation_id": conversation_id,
        "summary": brief.summary,
        "created_at": brief.created_at.isoformat(),
        "for_seq": brief.for_seq,
        "turns": [
            {
                "seq": t["seq"],
                "text": t["text"],
                "intent": t["intent"] or None,
                "confidence": t["confidence"],
                "entities": list(t["entities"] or []),
            }
            for t in turns
        ],
        "slots": {k: v for k, v in sorted(slots.items()) if v is not None and str(v).strip()},
        "identity": {"user_id": conversation.user_id} if conversation.user_id else None,
    }


def suggestion_dict(suggestion: ReplySuggestion) -> dict[str, Any]:
    return {
        "kind": "suggestion",
        "id": suggestion.pk,
        "conversation_id": suggestion.conversation_id,
        "text": suggestion.text,
        "for_message_id": suggestion.for_message_id,
        "created_at": suggestion.created_at.isoformat(),
    }


def visitor_message_newest(*, conversation_id: int) -> Message | None:
    return Message.objects.filter(conversation_id=conversation_id, role=Message.Role.USER).order_by("-seq").first()


def suggestion_pending_for(*, message_id: int) -> ReplySuggestion | None:
    return (
        ReplySuggestion.objects.filter(for_message_id=message_id, outcome=ReplySuggestion.Outcome.PENDING)
        .order_by("-created_at", "-pk")
        .first()
    )


def suggestion_latest(conversation_id: int) -> dict[str, Any] | None:
    """The pending suggestion for the conversation's newest visitor message; None when there is none
    (an older message's suggestion is stale: the visitor has said more since)."""
    newest = visitor_message_newest(conversation_id=conversation_id)
    if newest is None:
        return None
    suggestion = suggestion_pending_for(message_id=newest.pk)
    return suggestion_dict(suggestion) if suggestion is not None else None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def copilot_stats(bot_ids: Iterable[int], since: datetime | None, until: datetime | None) -> dict[str, Any]:
    """Copilot numbers for suggestions created in [since, until) on these bots (None: unbounded).

    - suggestions: every suggestion written; sent / edited / discarded: what the agent did with it;
      pending: neither yet (the agent answered in their own words, or has not answered).
    - acceptance_rate = (sent + edited) / suggestions: an ignored suggestion was not accepted either.
    - edit_distance_p50 / _mean: characters changed (Levenshtein) over sent (0) and edited ones.
    """
    rows = ReplySuggestion.objects.filter(conversation__bot_id__in=list(bot_ids))
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    outcome = ReplySuggestion.Outcome
    used = Q(outcome__in=[outcome.SENT, outcome.EDITED])
    numbers = rows.aggregate(
        suggestions=Count("id"),
        sent=Count("id", filter=Q(outcome=outcome.SENT)),
        edited=Count("id", filter=Q(outcome=outcome.EDITED)),
        discarded=Count("id", filter=Q(outcome=outcome.DISCARDED)),
        pending=Count("id", filter=Q(outcome=outcome.PENDING)),
        distance_p50=_PercentileCont("edit_distance", 0.5, filter=used),
        distance_mean=Avg("edit_distance", filter=used),
    )
    p50, mean = numbers["distance_p50"], numbers["distance_mean"]
    return {
        "suggestions": numbers["suggestions"],
        "sent": numbers["sent"],
        "edited": numbers["edited"],
        "discarded": numbers["discarded"],
        "pending": numbers["pending"],
        "acceptance_rate": _rate(numbers["sent"] + numbers["edited"], numbers["suggestions"]),
        "edit_distance_p50": float(p50) if p50 is not None else None,
        "edit_distance_mean": round(float(mean), 2) if mean is not None else None,
    }
