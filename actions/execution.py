"""Running one HTTP action for a turn: gate, limit, build, sign, send, map, and say what happened.

The order of the checks is the order of what a visitor may learn: identity first (an anonymous
visitor is asked to sign in before anything is looked up), then the limits, then the circuit
breaker, then the call. Every outcome is an `ActionResult` with a trace for the transcript; no
exception reaches the turn, because a reply must always be sent.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jsonpath
import jsonschema
import structlog
from standardwebhooks.webhooks import Webhook

from chatplatform.outbound_http import OutboundFailed, OutboundRefused, OutboundResponse, send
from chatplatform.ratelimit import RateLimitUnavailable, rate_limit_hit_strict
from engine.types import ActionRequest, ActionResult, ActionStatus

from .circuit import breaker_is_open, breaker_record
from .redaction import redact
from .templating import STEP_UP_CODE, TemplateError, render_body, render_headers, render_url, template_values

log = structlog.get_logger(__name__)

CONVERSATION_WINDOW_S = 24 * 3600
RETRY_PAUSE_S = 0.3


@dataclass(frozen=True)
class ActionConfig:
    """An HttpAction row as the worker needs it, secrets decrypted (actions/selectors.py)."""

    id: int
    bot_id: int
    name: str
    method: str
    url: str
    body_template: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    parameters_schema: Mapping[str, Any] = field(default_factory=dict)
    required_identity: str = "anonymous"
    timeout_seconds: float = 5.0
    retries: int = 1
    response_mapping: Mapping[str, str] = field(default_factory=dict)
    reply_template: str = ""
    not_found_text: str = ""
    failure_text: str = ""
    rate_limit_per_minute: int = 60
    max_calls_per_conversation: int = 10
    signing_secret: str = ""
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Caller:
    """Who the action runs for: the conversation, and the visitor's verified id ('' = anonymous)."""

    conversation_id: int
    user_id: str = ""
    step_up_confirmed: bool = False


def _identity_allows(config: ActionConfig, caller: Caller) -> bool:
    if config.required_identity == "anonymous":
        return True
    if config.required_identity == "verified":
        return bool(caller.user_id)
    return bool(caller.user_id) and caller.step_up_confirmed


def _arguments(config: ActionConfig, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values the templates use, for the transcript (headers are never recorded, a one-time
    code is masked)."""
    used = config.url + config.body_template
    return {k: "••••••" if k == STEP_UP_CODE else v for k, v in values.items() if "{" + k + "}" in used}


def _signed_headers(
    config: ActionConfig, body: bytes | None, call_id: str, values: Mapping[str, Any]
) -> dict[str, str]:
    headers = render_headers(config.headers, values)
    headers.setdefault("User-Agent", "chatplatform-actions/1")
    headers["Accept"] = "application/json"
    if body is not None:
        headers["Content-Type"] = "application/json"
    if config.signing_secret:
        # Standard Webhooks: the same id on every retry, so the receiver can drop a duplicate.
        now = datetime.now(tz=UTC)
        signature = Webhook(config.signing_secret).sign(call_id, now, (body or b"").decode())
        headers.update(
            {
                "webhook-id": call_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            }
        )
    return headers


def _map_response(mapping: Mapping[str, str], data: Any) -> dict[str, Any]:
    slots: dict[str, Any] = {}
    for slot, path in mapping.items():
        found = jsonpath.findall(path, data)
        if found:
            value = found[0] if len(found) == 1 else ", ".join(str(v) for v in found)
            slots[slot] = value if isinstance(value, str | int | float | bool) else json.dumps(value)
    return slots


class _Outcome(Exception):
    def __init__(self, status: ActionStatus, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def _send_with_retries(
    config: ActionConfig, url: str, headers: dict[str, str], body: bytes | None, trace: dict[str, Any]
) -> OutboundResponse:
    deadline = time.monotonic() + config.timeout_seconds
    attempts = 0
    while True:
        attempts += 1
        trace["attempts"] = attempts
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise OutboundFailed("timeout", f"no answer within {config.timeout_seconds:g} s")
            response = send(
                config.method,
                url,
                headers=headers,
                content=body,
                timeout=remaining,
                allowed_hosts=config.allowed_hosts,
            )
        except OutboundRefused as refused:
            raise _Outcome("failed", f"refused: {refused}") from refused
        except OutboundFailed as failed:
            if attempts > config.retries or time.monotonic() + RETRY_PAUSE_S >= deadline:
                raise _Outcome("failed", f"{failed.code}: {failed}") from failed
            time.sleep(RETRY_PAUSE_S * attempts)
            continue
        if response.status_code >= 500 and attempts <= config.retries and time.monotonic() + RETRY_PAUSE_S < deadline:
            time.sleep(RETRY_PAUSE_S * attempts)
            continue
        return response


def run_action(config: ActionConfig, request: ActionRequest, caller: Caller) -> ActionResult:
    began = time.monotonic()
    values = template_values(request.slots, user_id=caller.user_id, step_up_code=request.code)
    trace: dict[str, Any] = {
        "action": config.name,
        "action_id": config.id,
        "arguments": _arguments(config, values),
        "attempts": 0,
        "http_status": None,
    }

    def result(status: ActionStatus, *, error: str = "", slots: dict[str, Any] | None = None) -> ActionResult:
        trace.update(status=status, error=error, latency_ms=round((time.monotonic() - began) * 1000))
        templates = {"ok": config.reply_template, "not_found": config.not_found_text, "failed": config.failure_text}
        if status != "ok":
            log.info(
                "action_not_ok", action=config.name, status=status, error=error, conversation=caller.conversation_id
            )
        return ActionResult(status=status, slots=slots or {}, template=templates.get(status, ""), trace=trace)

    if not _identity_allows(config, caller):
        return result("identity_required", error=f"needs a {config.required_identity} visitor")
    if config.parameters_schema:
        try:
            jsonschema.validate(values, dict(config.parameters_schema))
        except jsonschema.ValidationError as invalid:
            return result("not_found", error=f"arguments do not match the schema: {invalid.message}")
        except jsonschema.SchemaError as bad_schema:
            return result("failed", error=f"the parameters schema is invalid: {bad_schema.message}")
    try:
        if rate_limit_hit_strict(key=f"action:{config.id}", limit=config.rate_limit_per_minute) is not None:
            return result("limited", error="the action's calls per minute are used up")
        per_conversation = rate_limit_hit_strict(
            key=f"action:{config.id}:conversation:{caller.conversation_id}",
            limit=config.max_calls_per_conversation,
            window_seconds=CONVERSATION_WINDOW_S,
        )
        if per_conversation is not None:
            return result("limited", error="the conversation's calls of this action are used up")
        if breaker_is_open(config.id):
            return result("failed", error="circuit open: the endpoint failed repeatedly, not called for now")
    except RateLimitUnavailable:
        return result("failed", error="limits unavailable (Redis unreachable): not called")
    call_id = f"act_{secrets.token_hex(12)}"
    trace["call_id"] = call_id
    try:
        url = render_url(config.url, values)
        body = render_body(config.body_template, values)
        headers = _signed_headers(config, body, call_id, values)
        response = _send_with_retries(config, url, headers, body, trace)
    except TemplateError as error:
        return result("failed", error=f"template: {error}")
    except _Outcome as outcome:
        breaker_record(config.id, ok=False)
        return result(outcome.status, error=outcome.error)
    trace["http_status"] = response.status_code
    if response.status_code == 404:
        breaker_record(config.id, ok=True)  # the system answered: it is up
        return result("not_found", error="404 from the endpoint")
    if not 200 <= response.status_code < 300:
        breaker_record(config.id, ok=response.status_code < 500)
        return result("failed", error=f"HTTP {response.status_code} from the endpoint")
    breaker_record(config.id, ok=True)
    try:
        data = json.loads(response.body) if response.body.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return result("failed", error="the answer is not JSON")
    trace["response"] = redact(data)
    try:
        slots = _map_response(config.response_mapping, data)
    except jsonpath.JSONPathError as error:
        return result("failed", error=f"response mapping: {error}")
    return result("ok", slots=slots)
