"""Which messages are follow-ups searched with the previous question."""

from __future__ import annotations

import pytest

from engine.retrieval_query import is_follow_up, retrieval_query
from engine.types import ChatMessage


@pytest.mark.parametrize(
    "text",
    ["and how much is it?", "What about Canada?", "Is that free?", "how about express", "那运费呢？", "它多少钱"],
)
def test_follow_ups(text: str) -> None:
    assert is_follow_up(text)


@pytest.mark.parametrize(
    "text",
    [
        "what is love",  # short but stands on its own
        "How long does shipping to Canada take and what does it cost for a heavy parcel?",  # long
        "运费多少",  # names its topic
        "",
        "   ",
    ],
)
def test_standalone_messages(text: str) -> None:
    assert not is_follow_up(text)


def test_the_previous_visitor_message_is_joined_not_the_bots() -> None:
    history = [
        ChatMessage("user", "Do you ship to Canada?"),
        ChatMessage("assistant", "Yes, in 5 days."),
    ]
    assert retrieval_query("and is it free?", history) == "Do you ship to Canada?\nand is it free?"
    assert retrieval_query("and is it free?", []) == "and is it free?"
    assert retrieval_query("Do you ship to Canada?", history) == "Do you ship to Canada?"
