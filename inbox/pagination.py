"""Keyset pagination for the inbox's lists: constant cost however deep the page, and stable while
conversations come and go (an offset would skip or repeat rows as the queue moves).

A list is ordered by a few columns, each ascending or descending, the last one unique (the pk). The
cursor is the last row's values of those columns, opaque to clients (base64 of JSON); the next page
is every row that sorts after it. Columns must not be NULL (callers coalesce them).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Q

from chatplatform.json_input import json_loads_bounded

MAX_CURSOR_CHARS = 512


class CursorInvalid(ValueError):
    """Not a cursor this list handed out (tampered, from another view, or from an older release)."""


@dataclass(frozen=True)
class SortKey:
    field: str  # a model field or an annotation
    descending: bool = False
    kind: type = int  # int or datetime: how the cursor stores it

    @property
    def order_by(self) -> str:
        return f"-{self.field}" if self.descending else self.field


def keyset_after(keys: tuple[SortKey, ...], values: list[Any]) -> Q:
    """Rows that sort strictly after `values` in the order `keys`."""
    parts = []
    equal = Q()
    for key, value in zip(keys, values, strict=True):
        lookup = "lt" if key.descending else "gt"
        parts.append(equal & Q(**{f"{key.field}__{lookup}": value}))
        equal &= Q(**{key.field: value})
    return reduce(or_, parts)


def cursor_encode(name: str, keys: tuple[SortKey, ...], row: Any) -> str:
    values = []
    for key in keys:
        value = getattr(row, key.field)
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    raw = json.dumps([name, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(name: str, keys: tuple[SortKey, ...], cursor: str) -> list[Any]:
    """The values a cursor holds, typed; CursorInvalid for anything else."""
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR_CHARS or not cursor.isascii():
        raise CursorInvalid("cursor is malformed")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        decoded = json_loads_bounded(raw, max_depth=2)
    except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError and JsonTooDeep are ValueErrors
        raise CursorInvalid("cursor is malformed") from exc
    if not isinstance(decoded, list) or len(decoded) != len(keys) + 1 or decoded[0] != name:
        raise CursorInvalid("cursor belongs to another list")
    values: list[Any] = []
    for key, value in zip(keys, decoded[1:], strict=True):
        if key.kind is datetime:
            values.append(_datetime(value))
        elif type(value) is int and abs(value) < 2**63:
            values.append(value)
        else:
            raise CursorInvalid("cursor is malformed")
    return values


def _datetime(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise CursorInvalid("cursor is malformed")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CursorInvalid("cursor is malformed") from exc
    if parsed.tzinfo is None:
        raise CursorInvalid("cursor is malformed")
    return parsed
