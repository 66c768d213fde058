"""The built-in "I want a person" intent, in English and Chinese, recognised before any bot intent.

Patterns rather than a trained intent: every bot has it from the first message, with no phrases
to write, and a visitor who asks for a human must never be answered by the bot's best guess at an
FAQ. The patterns ask for a person explicitly ("talk to a human", "real person", "转人工",
"人工客服"); words that merely mention service ("customer service phone number", "客服电话",
"人工智能") do not match. Bots can add their own intent flagged "hands off" for anything else.
"""

from __future__ import annotations

import re

_PERSON = r"(?:human(?:\s+being)?|person|agent|someone|somebody|representative|rep|operator|staff member|real one)"
_ARTICLE = r"(?:(?:a|an|the|some|your|one\s+of\s+your|a\s+real|a\s+live|an\s+actual|real|live)\s+)?"
_ENGLISH = re.compile(
    # talk / speak / chat to a person; connect / transfer / put me through to one
    r"\b(?:talk|speak|chat)\s+(?:to|with)\s+" + _ARTICLE + _PERSON + r"\b"
    r"|\b(?:connect|transfer|put)\s+me\s+(?:through\s+)?(?:to|with)\s+" + _ARTICLE + _PERSON + r"\b"
    r"|\b(?:get|give)\s+me\s+" + _ARTICLE + _PERSON + r"\b"
    r"|\b(?:need|want|would\s+like)\s+(?:a|an)\s+(?:real\s+|live\s+|actual\s+)?(?:human|person|agent|representative|operator)\b"
    r"|\b(?:real|live|actual)\s+(?:person|human|agent|people)\s+please\b"
    r"|^\s*(?:a\s+)?(?:human|agent|operator|representative|real person)(?:\s+please)?\s*[.!?]*\s*$",
    re.IGNORECASE,
)
_CHINESE = re.compile(r"转人工|人工(?!智能)|(?<!是)真人|(?:找|联系|接通|转接|要)客服|客服人员|人工服务")
# Questions about the bot ("are you a real person?", "am I talking to a human?") are not requests.
_NOT_A_REQUEST = re.compile(r"\b(?:are\s+you|am\s+i|if\s+you\s+are|you\s+a\s+real|be\s+a\s+real)\b", re.IGNORECASE)


def asks_for_person(text: str) -> bool:
    if _CHINESE.search(text):
        return True
    return bool(_ENGLISH.search(text)) and not _NOT_A_REQUEST.search(text)
