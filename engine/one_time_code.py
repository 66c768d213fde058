"""A one-time code typed into the chat while an action waits for one (the step-up of identity).

The action runner sends the code and checks it (actions/step_up.py); the engine only has to notice
that this message is the code, so it goes to the waiting action instead of the NLU's guess."""

from __future__ import annotations

import re
import unicodedata

from .types import Tracker

# 4-10 digits, spaces or dashes between them allowed ("123 456"), not part of a word or an order
# number ("AC-12345"); in a short message ("123456", "code: 123456", "验证码是123456").
_CODE = re.compile(r"(?<![A-Za-z0-9-])\d(?:[ -]?\d){3,9}(?![A-Za-z0-9])")
MAX_CODE_MESSAGE = 40


def typed_code(text: str) -> str:
    """The digits of a short message that carries one code ('' otherwise). NFKC folds full-width
    digits, so "１２３４５６" from a Chinese keyboard counts."""
    folded = unicodedata.normalize("NFKC", text).strip()
    found = _CODE.findall(folded) if len(folded) <= MAX_CODE_MESSAGE else []
    return re.sub(r"\D", "", found[0]) if len(found) == 1 else ""


def code_waiting_action(tracker: Tracker) -> tuple[str, str] | None:
    """(action, intent) of the action that waits for a code in this conversation, or None."""
    pending = tracker.step_up.get("pending")
    if not isinstance(pending, dict) or not pending.get("action"):
        return None
    return str(pending["action"]), str(pending.get("intent") or "")
