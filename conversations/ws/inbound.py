"""The frames a client sends (docs/protocol.md), as pydantic models: one per `type`, one union.

Strict on purpose: JSON `true` is not an integer and `"5"` is not a score, as the protocol says.
Unknown fields are ignored (newer widgets may send more). The text of `message` frames and the
identity fields of `hello` stay loosely typed here: their checks live in services (messages,
identity), which give them their own error codes.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args

from django.core.exceptions import ImproperlyConfigured
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, TypeAdapter, ValidationError

from bots.models import Message
from conversations.frames import SUPPORTED_VERSIONS

# Largest integer a client may send where the server expects one (PostgreSQL bigint): bigger ones
# are refused as bad frames instead of reaching a query.
MAX_CLIENT_INT = 2**63 - 1

Rating = Literal["up", "down"]
if set(get_args(Rating)) != set(Message.Feedback.values):  # one list of ratings, kept in step
    raise ImproperlyConfigured("inbound.Rating differs from Message.Feedback")
Seq = Annotated[StrictInt, Field(ge=0, le=MAX_CLIENT_INT)]
_SEQ_DETAIL = "last_seq must be a non-negative integer (at most 2**63 - 1)."


class FrameInvalid(Exception):
    """A frame of a known type whose fields do not fit it; becomes a `bad_frame` error."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StrictFrame(BaseModel):
    """The base of every socket frame model (the widget's here, the inbox's in inbox.ws.inbound)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)
    # The error detail per offending field; `_default` when the field has none.
    details: ClassVar[dict[str, str]] = {}


class HelloFrame(StrictFrame):
    type: Literal["hello"]
    # Compared with ==, as before: a client sending 1.0 speaks v1 too. Omitted: v1 (the old default
    # was the only version there was).
    v: Any = 1
    last_seq: Seq | None = None
    visitor_token: StrictStr | None = None
    locale: StrictStr | None = None
    user_id: Any = None
    user_hash: Any = None
    user_hash_expires: Any = None  # checked with the hash (conversations/services/identity.py)
    details: ClassVar[dict[str, str]] = {
        "last_seq": _SEQ_DETAIL,
        "visitor_token": "visitor_token must be a string.",
        "locale": "locale must be a string.",
    }

    @property
    def version(self) -> int | None:
        """The supported version the client speaks, or None."""
        return next((v for v in SUPPORTED_VERSIONS if self.v == v), None)

    @property
    def version_supported(self) -> bool:
        return self.version is not None


class MessageFrame(StrictFrame):
    type: Literal["message"]
    client_id: Any = None
    text: Any = None


class ResumeFrame(StrictFrame):
    type: Literal["resume"]
    last_seq: Seq | None = None
    details: ClassVar[dict[str, str]] = {"last_seq": _SEQ_DETAIL}


class TypingFrame(StrictFrame):
    type: Literal["typing"]
    on: StrictBool = False
    details: ClassVar[dict[str, str]] = {"_default": "typing needs a boolean 'on'."}


class FeedbackFrame(StrictFrame):
    type: Literal["feedback"]
    # Any integer parses; one outside a bigint is answered `not_found` like an unknown id.
    message_id: StrictInt
    rating: Rating
    comment: StrictStr | None = None
    details: ClassVar[dict[str, str]] = {
        "_default": "feedback needs an integer message_id and rating 'up' or 'down'.",
        "comment": "comment must be a string.",
    }


class CsatFrame(StrictFrame):
    type: Literal["csat"]
    score: Annotated[StrictInt, Field(ge=1, le=5)]
    details: ClassVar[dict[str, str]] = {"_default": "csat needs an integer score from 1 to 5."}


class PingFrame(StrictFrame):
    type: Literal["ping"]


class OfflineTicketFrame(StrictFrame):
    """The offline form (nobody can come now). Field checks live in services/tickets.py."""

    type: Literal["offline_ticket"]
    client_id: Any = None
    name: Any = ""
    email: Any = None
    message: Any = None


InboundFrame = Annotated[
    HelloFrame | MessageFrame | ResumeFrame | TypingFrame | FeedbackFrame | CsatFrame | PingFrame | OfflineTicketFrame,
    Field(discriminator="type"),
]
_MODELS: dict[str, type[StrictFrame]] = {
    "hello": HelloFrame,
    "message": MessageFrame,
    "resume": ResumeFrame,
    "typing": TypingFrame,
    "feedback": FeedbackFrame,
    "csat": CsatFrame,
    "ping": PingFrame,
    "offline_ticket": OfflineTicketFrame,
}
FRAME_TYPES = frozenset(_MODELS)
_ADAPTER: TypeAdapter[InboundFrame] = TypeAdapter(InboundFrame)


def frame_validate(frame: dict[str, Any]) -> InboundFrame:
    """The typed frame; FrameInvalid if a field does not fit. `frame["type"]` must be in FRAME_TYPES."""
    try:
        return _ADAPTER.validate_python(frame)
    except ValidationError as exc:
        details = _MODELS[frame["type"]].details
        # loc is (tag, field, ...): the first offending field names the detail.
        fields = [str(error["loc"][1]) for error in exc.errors() if len(error["loc"]) > 1]
        field = fields[0] if fields else ""
        raise FrameInvalid(
            details.get(field) or details.get("_default") or f"{frame['type']} frame: {field or 'invalid'}."
        ) from exc
