"""The step-up of identity, without a network: which outcome each situation gets, what the sender
is asked to deliver, and what the tracker keeps (never the code itself)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from actions.execution import ActionConfig, Caller, run_action
from actions.step_up import CODE_TTL_S, CONFIRMED_S, MAX_TRIES, step_up_run
from engine.types import ActionRequest, ActionResult, ActionStatus

KEY = b"server-secret"
NOW = 1_800_000_000.0
ACCOUNT = ActionConfig(
    id=1, bot_id=1, name="account_details", method="GET", url="https://shop/a", required_identity="step_up"
)
SENDER = ActionConfig(
    id=2, bot_id=1, name="send_code", method="POST", url="https://shop/c", required_identity="verified"
)
ALICE = Caller(conversation_id=7, user_id="cust-alice")


class Calls:
    """A stand-in for run_action: records each call and answers with `status` (per action name)."""

    def __init__(self, **statuses: ActionStatus) -> None:
        self.statuses = statuses
        self.seen: list[tuple[str, ActionRequest, Caller]] = []

    def __call__(self, config: ActionConfig, request: ActionRequest, caller: Caller) -> ActionResult:
        self.seen.append((config.name, request, caller))
        status = self.statuses.get(config.name, "ok")
        if config.name == ACCOUNT.name and not caller.step_up_confirmed:
            status = "identity_required"  # what the real runner's gate says
        return ActionResult(status=status, trace={"action": config.name, "status": status})


def _ask(
    calls: Calls,
    *,
    step_up: dict[str, Any] | None = None,
    code: str = "",
    caller: Caller = ALICE,
    sender: ActionConfig | None = SENDER,
    now: float = NOW,
) -> ActionResult:
    request = ActionRequest(name=ACCOUNT.name, intent="account", slots={}, step_up=step_up or {}, code=code)
    return step_up_run(ACCOUNT, request, caller, sender=sender, run=calls, key=KEY, now=now)


def _sent(calls: Calls) -> tuple[str, dict[str, Any]]:
    """Ask once with no code: (the code the sender was given, the tracker state)."""
    result = _ask(calls)
    assert result.status == "code_sent" and result.step_up is not None
    name, request, caller = calls.seen[-1]
    assert name == SENDER.name and caller == ALICE
    return request.code, result.step_up


def test_the_code_is_sent_by_the_businesss_endpoint_and_kept_only_as_a_digest() -> None:
    calls = Calls()
    code, state = _sent(calls)
    assert len(code) == 6 and code.isdigit()
    pending = state["pending"]
    assert (pending["action"], pending["user_id"], pending["tries"]) == ("account_details", "cust-alice", 0)
    assert pending["expires_at"] == NOW + CODE_TTL_S
    assert code not in json.dumps(state)
    assert [name for name, _, _ in calls.seen] == ["send_code"]  # the account was not read


def test_the_right_code_runs_the_action_and_confirms_the_visitor_for_a_while() -> None:
    calls = Calls()
    code, state = _sent(calls)
    result = _ask(calls, step_up=state, code=code, now=NOW + 60)
    assert result.status == "ok"
    name, request, caller = calls.seen[-1]
    assert name == "account_details" and caller.step_up_confirmed and request.code == ""
    assert result.step_up == {"confirmed": {"user_id": "cust-alice", "until": NOW + 60 + CONFIRMED_S}}
    again = _ask(calls, step_up=result.step_up, now=NOW + 120)
    assert again.status == "ok" and [n for n, _, _ in calls.seen].count("send_code") == 1
    later = _ask(calls, step_up=result.step_up, now=NOW + 61 + CONFIRMED_S)
    assert later.status == "code_sent"  # the confirmation ran out: a new code


def test_wrong_codes_count_and_the_last_try_voids_the_code() -> None:
    calls = Calls()
    code, state = _sent(calls)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for tries in range(1, MAX_TRIES):
        result = _ask(calls, step_up=state, code=wrong)
        assert result.status == "code_wrong" and result.step_up is not None
        state = result.step_up
        assert state["pending"]["tries"] == tries
    void = _ask(calls, step_up=state, code=wrong)
    assert void.status == "code_expired" and void.step_up == {}
    assert _ask(calls, step_up=void.step_up, code=code).status == "code_expired"  # even the right one now
    assert "account_details" not in [n for n, _, _ in calls.seen]


@pytest.mark.parametrize(
    "change",
    [
        {"now": NOW + CODE_TTL_S + 1},  # too late
        {"caller": Caller(conversation_id=7, user_id="cust-bob")},  # another verified person
        {"caller": Caller(conversation_id=8, user_id="cust-alice")},  # another conversation
    ],
)
def test_a_code_works_only_in_time_for_its_person_and_conversation(change: dict[str, Any]) -> None:
    calls = Calls()
    code, state = _sent(calls)
    result = _ask(calls, step_up=state, code=code, **change)
    assert result.status in ("code_expired", "code_wrong")
    assert "account_details" not in [n for n, _, _ in calls.seen]


def test_anonymous_visitors_and_bots_without_a_sender_never_get_a_code() -> None:
    calls = Calls()
    anonymous = _ask(calls, caller=Caller(conversation_id=7))
    assert anonymous.status == "identity_required" and [n for n, _, _ in calls.seen] == ["account_details"]
    no_sender = _ask(Calls(), sender=None)
    assert no_sender.status == "identity_required" and "no action" in no_sender.trace["error"]


@pytest.mark.parametrize(
    ("sender_status", "expected"), [("failed", "failed"), ("limited", "limited"), ("not_found", "failed")]
)
def test_a_code_that_cannot_be_sent_is_said_so(sender_status: ActionStatus, expected: str) -> None:
    result = _ask(Calls(send_code=sender_status))
    assert result.status == expected and result.step_up is None  # nothing waits for a code
    assert result.trace["step_up_for"] == "account_details"


def test_a_code_sender_delivers_the_code_in_its_body_and_masks_it_in_the_transcript(settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = []
    sender = replace(
        SENDER, body_template='{"to": "{identity_user_id}", "code": "{step_up_code}"}', url="http://127.0.0.1:9/x"
    )
    result = run_action(sender, ActionRequest(name="send_code", intent="", slots={}, code="123456"), ALICE)
    # Refused by the SSRF guard here, but the recorded arguments show what would have been sent.
    assert result.trace["arguments"] == {"identity_user_id": "cust-alice", "step_up_code": "••••••"}
