"""Masking of personal data in transcripts: ONE function for pages, API and exports.

Deliberately over-eager: a masked order number is a small loss, a leaked card number is not.
"""

from __future__ import annotations

import re
from typing import Any

EMAIL_MASK = "[email]"
CARD_MASK = "[card]"
PHONE_MASK = "[phone]"

_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+", re.UNICODE)
# 13-19 digits, optionally grouped by spaces or dashes (every card brand's length).
_CARD = re.compile(r"(?<![\w])(?:\d[ \-]?){12,18}\d(?![\w])")
# An optional +country code, then 7-15 digits with the usual separators: (555) 123-4567, +44 20 7946 0958.
_PHONE = re.compile(r"(?<![\w+])\+?(?:\(?\d[\d()]*\)?[ .\-/]?){6,14}\d(?![\w])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}")


def mask_pii(text: str) -> str:
    """Replace e-mail addresses, card-like numbers and phone numbers in `text`."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _CARD.sub(CARD_MASK, text)
    return _PHONE.sub(_phone_or_keep, text)


def _phone_or_keep(match: re.Match[str]) -> str:
    found = match.group(0)
    if _DATE.fullmatch(found):
        return found
    digits = sum(ch.isdigit() for ch in found)
    return PHONE_MASK if 7 <= digits <= 15 else found


def mask_value(value: Any) -> Any:
    """`mask_pii` applied to every string inside JSON-like data (entities, citations)."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    return value


def should_mask(user: Any, *, requested: bool = True) -> bool:
    """Mask unless the user may see PII *and* did not ask for masking."""
    return requested or not user.has_perm("analytics.view_pii")
