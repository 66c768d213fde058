"""Requests built from templates over slot values a visitor typed: no value can change their shape.

- URL: slots only in the path and query, each value percent-encoded whole (`/`, `?`, `#`, `@`
  included), so "../admin" or "x?role=admin" stays one path segment or one query value. The scheme,
  host and port come from the admin's template alone.
- Headers: values rendered as text; a CR, LF or other control character in the result is refused
  (no header injection).
- Body: the template is parsed as JSON first; a string that is exactly "{slot}" becomes the slot's
  value with its JSON type, other strings get the value inserted as text. The body is then
  serialised by `json.dumps`, so a quote or brace in a value is data, never syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from engine.nlg import render_template

_WHOLE_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ORIGIN = re.compile(r"^https?://[^/?#]+", re.IGNORECASE)


class TemplateError(ValueError):
    """The admin's template is unusable, or a value would break the request's shape."""


def _encode_url_value(value: str) -> str:
    return quote(value, safe="")


def render_url(template: str, values: Mapping[str, Any]) -> str:
    """The URL with every placeholder's value percent-encoded; placeholders in the scheme, host or
    port are a configuration error (a visitor's words must not pick the server)."""
    origin = _ORIGIN.match(template)
    if origin is None or "{" in origin.group(0) or "}" in origin.group(0):
        raise TemplateError(
            "the URL must start with http:// or https:// and a fixed host: slots may appear only in the "
            "path and query, not in the scheme or host"
        )
    return render_template(template, values, encode=_encode_url_value)


def render_headers(templates: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, template in templates.items():
        if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
            raise TemplateError(f"{name!r} is not a valid header name")
        value = render_template(template, values)
        if _CONTROL.search(value):
            raise TemplateError(f"the value of header {name} would contain a control character")
        headers[name] = value
    return headers


def _fill(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        whole = _WHOLE_PLACEHOLDER.match(node)
        if whole:
            return values.get(whole.group(1))
        return render_template(node, values)
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _fill(item, values) for key, item in node.items()}
    return node


def render_body(template: str, values: Mapping[str, Any]) -> bytes | None:
    """The JSON body, or None for an empty template."""
    if not template.strip():
        return None
    try:
        shape = json.loads(template)
    except json.JSONDecodeError as error:
        raise TemplateError(f"the body template is not JSON: {error.msg} (line {error.lineno})") from error
    return json.dumps(_fill(shape, values), ensure_ascii=False, separators=(",", ":")).encode()


STEP_UP_CODE = "step_up_code"


def template_values(slots: Mapping[str, Any], *, user_id: str, step_up_code: str = "") -> dict[str, Any]:
    """What templates may use: the slots by name, `identity_user_id`, the verified visitor's id
    (empty for an anonymous one), and for the action that sends step-up codes `step_up_code`.
    Set last, so no slot of the same name can stand in for them."""
    values: dict[str, Any] = dict(slots)
    values["identity_user_id"] = user_id
    if step_up_code:
        values[STEP_UP_CODE] = step_up_code
    return values
