"""What of a system's answer the transcript keeps: the shape and the harmless values.

Values under keys that name credentials or personal data are replaced, long strings are cut, and
the whole record is bounded, so an order system that returns a customer's address or a token does
not copy it into every analyst's view and export.
"""

from __future__ import annotations

import json
import re
from typing import Any

REDACTED = "[redacted]"
MAX_STRING = 200
MAX_ITEMS = 20
MAX_DEPTH = 5
MAX_CHARS = 4000
_SENSITIVE = re.compile(
    r"pass(word)?|secret|token|auth|api[_-]?key|cookie|session|e-?mail|phone|mobile|address|street|postcode|zip"
    r"|card|iban|account|ssn|birth|dob|passport|tax",
    re.IGNORECASE,
)


def _redact(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:MAX_ITEMS]
        return {str(k): REDACTED if _SENSITIVE.search(str(k)) else _redact(v, depth + 1) for k, v in items}
    if isinstance(value, list):
        return [_redact(v, depth + 1) for v in value[:MAX_ITEMS]]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + "…"
    return value


def redact(data: Any) -> Any:
    cleaned = _redact(data, 0)
    if len(json.dumps(cleaned, ensure_ascii=False)) > MAX_CHARS:
        return {"truncated": True, "keys": sorted(cleaned)[:MAX_ITEMS] if isinstance(cleaned, dict) else []}
    return cleaned
