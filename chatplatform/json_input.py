"""JSON from outside (WebSocket frames, API bodies) parsed with a nesting limit checked first.

The limit is checked on the text before `json.loads` runs: catching the RecursionError that CPython
3.11's C scanner raises on "[[[[..." nested thousands deep is not enough, because it leaves the
thread's recursion accounting broken (later ast/compile calls in that thread fail). So no caller
may rely on catching it.
"""

from __future__ import annotations

import json
import re
from typing import Any

_JSON_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


class JsonTooDeep(ValueError):
    """The text nests deeper than allowed; it was not parsed."""


def json_depth(text: str) -> int:
    """Deepest bracket nesting outside strings (an upper bound is enough: this only guards parsing)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth = depth + 1 if bracket in "[{" else depth - 1
        deepest = max(deepest, depth)
    return deepest


# Far deeper than any request body we accept (content parts, tool schemas), far below the recursion limit.
MAX_BODY_JSON_DEPTH = 64


def json_loads_bounded(text: str, *, max_depth: int = MAX_BODY_JSON_DEPTH, **loads_options: Any) -> Any:
    """`json.loads`, refusing (JsonTooDeep) text that nests deeper than `max_depth` before parsing.
    Invalid JSON raises ValueError as `json.loads` does."""
    if json_depth(text) > max_depth:
        raise JsonTooDeep(f"JSON may nest at most {max_depth} levels deep.")
    return json.loads(text, **loads_options)
