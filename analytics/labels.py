"""Translated display labels of values the selectors compute (they are not model fields with choices).

`analytics.selectors.Outcome` keeps the machine values (and English labels for the API schema); the pages
show these, in the request's language: the list and detail pages (`{{ value|outcome_label }}`), the
outcome filter and the metrics chart.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from analytics.selectors import Outcome

OUTCOME_LABELS: dict[str, Promise] = {
    Outcome.CONTAINED: _("Contained"),
    Outcome.FALLBACK: _("Fallback"),
    Outcome.HANDOFF: _("Handoff offered"),
    Outcome.EMPTY: _("No visitor message"),
}


def outcome_label(value: str) -> str:
    """The label of an outcome value; an unknown value (a newer outcome without a label yet) as is."""
    label = OUTCOME_LABELS.get(value)
    return str(label) if label is not None else value


def outcome_choices() -> tuple[tuple[str, Promise | str], ...]:
    """`Outcome.CHOICES` with translated labels, in the same order (lazy: evaluated per request)."""
    return tuple((value, OUTCOME_LABELS.get(value, label)) for value, label in Outcome.CHOICES)
