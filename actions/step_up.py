"""The step-up of identity: a verified visitor confirms a one-time code before an action that needs
more than the widget's identity runs (an account's address, a change to an order).

The platform makes the code and checks it; the business's own endpoint delivers it (by SMS or
e-mail, to the person behind the verified id): the bot's action marked "sends step-up codes",
called with `{step_up_code}` and `{identity_user_id}`. The state travels in the conversation's
tracker (`ActionRequest.step_up` in, `ActionResult.step_up` out), so a turn needs no database
while it runs: the code only as an HMAC keyed with the server's secret, its expiry and the tries
left, bound to the verified id it was sent to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from engine.types import ActionRequest, ActionResult, ActionStatus

from .execution import ActionConfig, Caller

CODE_DIGITS = 6
CODE_TTL_S = 600  # long enough for an SMS to arrive, short enough that a leaked code goes stale
CONFIRMED_S = 900  # after a right code, step-up actions run without a new one for this long
MAX_TRIES = 5  # wrong codes before the code is void: 5 guesses in 10**6 is a 1 in 200,000 chance

Run = Callable[[ActionConfig, ActionRequest, Caller], ActionResult]


def code_digest(*, key: bytes, caller: Caller, nonce: str, code: str) -> str:
    message = f"{caller.conversation_id}\x00{caller.user_id}\x00{nonce}\x00{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def step_up_run(
    config: ActionConfig,
    request: ActionRequest,
    caller: Caller,
    *,
    sender: ActionConfig | None,
    run: Run,
    key: bytes,
    now: float,
) -> ActionResult:
    """Run a `step_up` action: at once when this visitor confirmed a code lately; with a code just
    typed, check it; otherwise have the sender deliver a new code and ask for it."""
    state = dict(request.step_up)
    action_request = replace(request, code="")
    if not caller.user_id:
        return run(config, action_request, caller)  # the runner's identity gate: "please sign in"
    confirmed = state.get("confirmed") or {}
    if confirmed.get("user_id") == caller.user_id and float(confirmed.get("until") or 0) > now:
        return run(config, action_request, replace(caller, step_up_confirmed=True))
    if request.code:
        return _code_checked(config, action_request, caller, state=state, code=request.code, run=run, key=key, now=now)
    if sender is None:
        return _result(config, "identity_required", state, error="no action of this bot sends step-up codes")
    return _code_sent(config, request, caller, sender=sender, run=run, key=key, now=now)


def _code_checked(
    config: ActionConfig,
    request: ActionRequest,
    caller: Caller,
    *,
    state: dict[str, Any],
    code: str,
    run: Run,
    key: bytes,
    now: float,
) -> ActionResult:
    pending = state.get("pending") or {}
    others = {k: v for k, v in state.items() if k != "pending"}
    if (
        pending.get("user_id") != caller.user_id
        or pending.get("action") != config.name
        or float(pending.get("expires_at") or 0) <= now
    ):
        return _result(config, "code_expired", others, error="no valid code is waiting")
    expected = str(pending.get("digest") or "")
    if not hmac.compare_digest(expected, code_digest(key=key, caller=caller, nonce=str(pending["nonce"]), code=code)):
        tries = int(pending.get("tries") or 0) + 1
        if tries >= MAX_TRIES:
            return _result(config, "code_expired", others, error=f"{tries} wrong codes: this one is void")
        return _result(
            config, "code_wrong", {**others, "pending": {**pending, "tries": tries}}, error=f"wrong code ({tries})"
        )
    result = run(config, request, replace(caller, step_up_confirmed=True))
    return replace(result, step_up={"confirmed": {"user_id": caller.user_id, "until": now + CONFIRMED_S}})


def _code_sent(
    config: ActionConfig,
    request: ActionRequest,
    caller: Caller,
    *,
    sender: ActionConfig,
    run: Run,
    key: bytes,
    now: float,
) -> ActionResult:
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    sent = run(sender, ActionRequest(name=sender.name, intent=request.intent, slots={}, code=code), caller)
    trace = {**sent.trace, "step_up_for": config.name}
    if sent.status != "ok":
        # The code could not be sent: say so, as any failed call (a "limited" sender stays limited).
        status: ActionStatus = "limited" if sent.status == "limited" else "failed"
        return ActionResult(status=status, trace={**trace, "status": status})
    nonce = secrets.token_hex(8)
    pending = {
        "action": config.name,
        "intent": request.intent,
        "user_id": caller.user_id,
        "nonce": nonce,
        "digest": code_digest(key=key, caller=caller, nonce=nonce, code=code),
        "expires_at": now + CODE_TTL_S,
        "tries": 0,
    }
    return ActionResult(status="code_sent", trace={**trace, "status": "code_sent"}, step_up={"pending": pending})


def _result(config: ActionConfig, status: ActionStatus, step_up: dict[str, Any], *, error: str) -> ActionResult:
    trace = {"action": config.name, "action_id": config.id, "status": status, "error": error}
    return ActionResult(status=status, trace=trace, step_up=step_up)
