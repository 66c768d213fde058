"""The ONE filter definition for transcripts: the list page, the API, exports and metrics.

Every parameter lives in the URL (GET), so a filtered view can be shared as a link.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics import selectors
from analytics.labels import outcome_choices
from bots.models import Bot, Conversation


def _visible_bots(request: Any) -> QuerySet[Bot]:
    return selectors.bots_visible_to(getattr(request, "user", None))


def _day_start(day: Any) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


FEEDBACK_CHOICES = (
    ("up", _("Has thumbs up")),
    ("down", _("Has thumbs down")),
    ("any", _("Any rating")),
    ("none", _("No rating")),
)
CSAT_CHOICES = tuple((str(i), str(i)) for i in range(1, 6)) + (("any", _("Any score")), ("none", _("No score")))
HANDED_OFF_CHOICES = (
    ("yes", _("Handed to a person")),
    ("no", _("Never handed to a person")),
)
SORT_CHOICES = (
    ("newest", _("Newest first")),
    ("oldest", _("Oldest first")),
    ("active", _("Recently active")),
)


class ConversationFilter(django_filters.FilterSet):
    bot = django_filters.ModelChoiceFilter(
        queryset=_visible_bots, field_name="bot", to_field_name="slug", label=_("Bot"), empty_label=_("All bots")
    )
    date_from = django_filters.DateFilter(
        method="filter_date_from", label=_("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = django_filters.DateFilter(
        method="filter_date_to", label=_("To (inclusive)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    intent = django_filters.CharFilter(method="filter_intent", label=_("Intent"))
    outcome = django_filters.ChoiceFilter(
        choices=outcome_choices(), method="filter_outcome", label=_("Outcome"), empty_label=_("Any outcome")
    )
    status = django_filters.ChoiceFilter(
        choices=Conversation.Status.choices, method="filter_status", label=_("Status"), empty_label=_("Any status")
    )
    handed_off = django_filters.ChoiceFilter(
        choices=HANDED_OFF_CHOICES, method="filter_handed_off", label=_("Handed off"), empty_label=_("Any")
    )
    feedback = django_filters.ChoiceFilter(
        choices=FEEDBACK_CHOICES, method="filter_feedback", label=_("Feedback"), empty_label=_("Any")
    )
    csat = django_filters.ChoiceFilter(
        choices=CSAT_CHOICES, method="filter_csat", label=_("CSAT"), empty_label=_("Any")
    )
    tag = django_filters.CharFilter(method="filter_tag", label=_("Tag"))
    q = django_filters.CharFilter(method="filter_search", label=_("Search messages"))
    sort = django_filters.ChoiceFilter(choices=SORT_CHOICES, method="filter_sort", label=_("Sort"), empty_label=None)

    class Meta:
        model = Conversation
        fields: list[str] = []

    def filter_date_from(self, qs: QuerySet, name: str, value: date) -> QuerySet:
        return qs.filter(started_at__gte=_day_start(value))

    def filter_date_to(self, qs: QuerySet, name: str, value: date) -> QuerySet:
        return qs.filter(started_at__lt=_day_start(value + timedelta(days=1)))

    def filter_intent(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.conversations_with_intent(qs, value.strip())

    def filter_outcome(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.conversations_with_outcome(qs, value)

    def filter_status(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.conversations_with_status(qs, value)

    def filter_handed_off(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.conversations_handed_off(qs, value)

    def filter_feedback(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.conversations_with_feedback(qs, value)

    def filter_csat(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        if value == "any":
            return qs.filter(csat__isnull=False)
        if value == "none":
            return qs.filter(csat__isnull=True)
        return qs.filter(csat=int(value))

    def filter_tag(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.conversations_with_tag(qs, value.strip())

    def filter_search(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.conversations_matching(qs, value)

    def filter_sort(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return selectors.ordered(qs, value or selectors.DEFAULT_SORT)


def filter_period(filterset: ConversationFilter) -> tuple[datetime | None, datetime | None]:
    """The [since, until) of the filterset's date range (None: open), for numbers that are counted by
    their own time rather than by the conversation's start (the copilot's suggestions). Like the
    FilterSet itself, an invalid other field does not drop a valid date."""
    filterset.form.is_valid()  # cleans: cleaned_data then holds the valid fields (none if unbound)
    cleaned = getattr(filterset.form, "cleaned_data", {})
    date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
    return (
        _day_start(date_from) if date_from else None,
        _day_start(date_to + timedelta(days=1)) if date_to else None,
    )


def filtered_conversations(*, request: Any, params: Any = None) -> tuple[ConversationFilter, QuerySet[Conversation]]:
    """Scope to the user's bots, then apply the URL's filters. Invalid fields are ignored (and reported)."""
    data = request.GET if params is None else params
    filterset = ConversationFilter(data, queryset=selectors.conversations_visible_to(request.user), request=request)
    return filterset, filterset.qs
