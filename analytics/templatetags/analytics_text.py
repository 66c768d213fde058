"""Template filters of the analyst workspace: `{% load analytics_text %}`."""

from __future__ import annotations

from typing import Any

from django import template

from analytics import labels
from analytics.invisible import reveal_invisible

register = template.Library()


@register.filter(is_safe=True)
def reveal(value: Any) -> Any:
    """Bidi/invisible controls in transcript text, tags, notes and ids shown as `⟨U+202E⟩`.

    For element content, not attribute values that are posted back (a tag name in a hidden input must
    stay the stored name). `is_safe`: the labels add no HTML-significant character, so safe input stays
    safe and plain input is still autoescaped afterwards. Non-strings (None, numbers) pass through.
    """
    if not isinstance(value, str):
        return value
    return reveal_invisible(value)  # Django re-marks the result safe when the input was (is_safe)


@register.filter
def outcome_label(value: Any) -> Any:
    """A conversation's outcome (`analytics.selectors.Outcome`) in the page's language: "contained" -> "Contained"."""
    return labels.outcome_label(value) if isinstance(value, str) else value
