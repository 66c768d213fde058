"""JSON Schemas (draft 2020-12) of every event's payload: the public contract receivers code
against (docs/webhooks.md prints them). Tests validate every emitted payload against its schema.
New optional fields may be added to `data` objects; nothing listed here is removed or renamed."""

from __future__ import annotations

from typing import Any

from webhooks.models import EventType

Schema = dict[str, Any]

_NULLABLE_STRING: Schema = {"type": ["string", "null"]}
_ID: Schema = {"type": "integer"}
_BOT: Schema = {
    "type": "object",
    "required": ["id", "slug"],
    "properties": {"id": _ID, "slug": {"type": "string"}},
}
_CONVERSATION: Schema = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": _ID, "channel": {"enum": ["widget", "api", "console"]}, "locale": {"type": "string"}},
}
_AGENT: Schema = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {"id": _ID, "name": {"type": "string"}},
    "additionalProperties": False,
}
_AGENT_OR_NULL: Schema = {"anyOf": [_AGENT, {"type": "null"}]}


def _envelope(
    event_type: str, properties: Schema, *, conversation: bool = True, optional: Schema | None = None
) -> Schema:
    required = ["bot", *(["conversation"] if conversation else []), *properties]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": event_type,
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": event_type},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": {
                "type": "object",
                "required": required,
                "properties": {
                    "bot": _BOT,
                    "conversation": _CONVERSATION if conversation else {"anyOf": [_CONVERSATION, {"type": "null"}]},
                    **properties,
                    **(optional or {}),
                },
            },
        },
    }


SCHEMAS: dict[str, Schema] = {
    EventType.CONVERSATION_STARTED: _envelope(EventType.CONVERSATION_STARTED, {}),
    EventType.MESSAGE_CREATED: _envelope(
        EventType.MESSAGE_CREATED,
        {
            "message": {
                "type": "object",
                "required": ["id", "role", "text", "seq", "reply_to", "author"],
                "properties": {
                    "id": _ID,
                    "role": {"enum": ["visitor", "bot", "agent"]},
                    "text": {"type": "string"},
                    "seq": {"type": "integer", "minimum": 1},
                    "reply_to": {"type": ["integer", "null"]},
                    "author": _AGENT_OR_NULL,
                },
            }
        },
    ),
    EventType.HANDOFF_REQUESTED: _envelope(
        EventType.HANDOFF_REQUESTED,
        {
            "handoff": {
                "type": "object",
                "required": ["reason", "requested_by", "team", "priority"],
                "properties": {
                    "reason": {"type": "string"},
                    "requested_by": _AGENT_OR_NULL,
                    "team": {
                        "anyOf": [
                            {
                                "type": "object",
                                "required": ["id", "name"],
                                "properties": {"id": _ID, "name": {"type": "string"}},
                            },
                            {"type": "null"},
                        ]
                    },
                    "priority": {"type": "integer"},
                },
            }
        },
    ),
    EventType.CONVERSATION_ASSIGNED: _envelope(
        EventType.CONVERSATION_ASSIGNED,
        {"agent": _AGENT, "via": {"enum": ["assigned", "transferred", "reopened"]}},
    ),
    EventType.CONVERSATION_RESOLVED: _envelope(
        EventType.CONVERSATION_RESOLVED, {"resolved_by": _AGENT_OR_NULL, "reason": {"type": "string"}}
    ),
    EventType.FEEDBACK_CREATED: _envelope(
        EventType.FEEDBACK_CREATED,
        {
            "feedback": {
                "type": "object",
                "required": ["message_id", "rating", "comment"],
                "properties": {"message_id": _ID, "rating": {"enum": ["up", "down"]}, "comment": {"type": "string"}},
            }
        },
    ),
    EventType.CSAT_SUBMITTED: _envelope(
        EventType.CSAT_SUBMITTED,
        {
            "csat": {
                "type": "object",
                "required": ["score", "comment"],
                "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": _NULLABLE_STRING},
            }
        },
    ),
    # An HTTP action of a turn failed (actions/): which one, how, and the bot message that said so;
    # never the request, its headers or the answer's body.
    EventType.ACTION_FAILED: _envelope(
        EventType.ACTION_FAILED,
        {
            "action": {
                "type": "object",
                "required": ["name", "error", "message_id"],
                "properties": {
                    "name": {"type": "string"},
                    "error": {"type": "string"},
                    "http_status": {"type": ["integer", "null"]},
                    "attempts": {"type": "integer"},
                    "latency_ms": {"type": ["integer", "null"]},
                    "message_id": _ID,
                },
            }
        },
    ),
}
