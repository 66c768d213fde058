"""The inbound frame models (conversations/ws/inbound.py): strict types, ignored extras, one detail per field."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.ws import inbound


def test_extra_fields_are_ignored() -> None:
    frame = inbound.frame_validate({"type": "ping", "whatever": [1, 2]})
    assert isinstance(frame, inbound.PingFrame)


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "resume", "last_seq": True},
        {"type": "resume", "last_seq": "3"},
        {"type": "resume", "last_seq": 1.0},
        {"type": "resume", "last_seq": -1},
        {"type": "resume", "last_seq": 2**63},
        {"type": "hello", "visitor_token": 5},
        {"type": "hello", "locale": ["en"]},
        {"type": "typing", "on": 1},
        {"type": "typing", "on": None},
        {"type": "feedback", "message_id": True, "rating": "up"},
        {"type": "feedback", "message_id": "1", "rating": "up"},
        {"type": "feedback", "message_id": 1, "rating": "sideways"},
        {"type": "feedback", "message_id": 1, "rating": "up", "comment": 3},
        {"type": "csat", "score": True},
        {"type": "csat", "score": 6},
        {"type": "csat", "score": "5"},
    ],
)
def test_strict_fields_refuse_coercion(raw: dict[str, Any]) -> None:
    with pytest.raises(inbound.FrameInvalid) as exc:
        inbound.frame_validate(raw)
    assert exc.value.detail and len(exc.value.detail) < 200


def test_defaults_and_loose_fields() -> None:
    hello = inbound.frame_validate({"type": "hello", "last_seq": None, "user_id": 5})
    assert isinstance(hello, inbound.HelloFrame)
    assert hello.last_seq is None and hello.user_id == 5 and hello.version_supported
    assert not inbound.HelloFrame.model_validate({"type": "hello", "v": 3}).version_supported
    # Checked by the message service, which has its own codes (empty_message, message_too_long).
    message = inbound.frame_validate({"type": "message", "client_id": {}, "text": 7})
    assert isinstance(message, inbound.MessageFrame) and message.text == 7
    # Out-of-range ids parse: the consumer answers them not_found, like an unknown id.
    feedback = inbound.frame_validate({"type": "feedback", "message_id": 2**70, "rating": "down"})
    assert isinstance(feedback, inbound.FeedbackFrame) and feedback.message_id == 2**70
