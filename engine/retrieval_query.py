"""The text a turn searches the knowledge base with.

A follow-up ("and how much is it?", "what about Canada?", "那运费呢？") names nothing it could be
found by, so it is searched together with the visitor's previous message. A follow-up is a short
message that leans on what came before: it opens with a continuation ("and", "what about", "还")
or refers back ("it", "that", "那个"). A rule, not an LLM rewrite: it costs nothing and cannot
invent; a short message with no such word ("what is love") is taken to stand on its own, so a
greeting before it does not dilute the search.
"""

from __future__ import annotations

import re

from .types import ChatMessage

# Short enough to lean on what came before: "and how much is it?" is 5 words, "那运费呢" 4 characters.
FOLLOW_UP_MAX_WORDS = 8
FOLLOW_UP_MAX_CJK_CHARS = 12

_REFERS_BACK_EN = frozenset(
    [
        "it",
        "its",
        "it's",
        "that",
        "this",
        "these",
        "those",
        "they",
        "them",
        "their",
        "there",
        "one",
        "ones",
        "same",
        "also",
        "too",
        "else",
    ]
)
_CONTINUES_EN = ("and ", "but ", "so ", "or ", "what about", "how about", "and?", "also ")
_REFERS_BACK_ZH = ("它", "那", "这", "还", "呢", "其", "该", "同样", "也")

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W_]+")


def is_follow_up(text: str) -> bool:
    stripped = text.strip().lower()
    cjk = _CJK.findall(stripped)
    if cjk:
        return len(cjk) <= FOLLOW_UP_MAX_CJK_CHARS and any(cue in stripped for cue in _REFERS_BACK_ZH)
    words = _WORD.findall(stripped)
    if not 0 < len(words) <= FOLLOW_UP_MAX_WORDS:
        return False
    return stripped.startswith(_CONTINUES_EN) or any(word in _REFERS_BACK_EN for word in words)


def retrieval_query(user_text: str, history: list[ChatMessage]) -> str:
    """`user_text`, preceded by the previous visitor message when it is a follow-up."""
    if not is_follow_up(user_text):
        return user_text
    current = user_text.strip()
    for message in reversed(history):
        if message.role == "user" and message.content.strip() and message.content.strip() != current:
            return f"{message.content.strip()}\n{current}"
    return user_text
