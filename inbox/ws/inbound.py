"""The frames an inbox page sends (the inbox WebSocket of the handoff contract), as pydantic models:
one per `type`, one union. Strict like the widget's (`conversations.ws.inbound`): JSON `true` is
not an id and `"5"` is not a seq. Unknown fields are ignored. Texts stay loosely typed here: the
services clean them and say what is wrong.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, StrictBool, StrictInt, StrictStr, TypeAdapter, ValidationError

from bots.models import AgentProfile
from conversations.ws.inbound import MAX_CLIENT_INT, FrameInvalid, Seq, StrictFrame

Id = Annotated[StrictInt, Field(gt=0, le=MAX_CLIENT_INT)]
View = Literal["mine", "unassigned", "all", "bot"]
Presence = Literal["online", "away", "offline"]
if set(get_args(Presence)) != set(AgentProfile.Presence.values):  # one list of presences, kept in step
    raise RuntimeError("inbound.Presence differs from AgentProfile.Presence")


class HelloFrame(StrictFrame):
    type: Literal["hello"]


class HeartbeatFrame(StrictFrame):
    type: Literal["heartbeat"]


class PresenceFrame(StrictFrame):
    type: Literal["presence"]
    presence: Presence


class ListFrame(StrictFrame):
    type: Literal["list"]
    view: View = "unassigned"
    bot_id: Id | None = None
    cursor: Annotated[StrictStr, Field(max_length=512)] | None = None


class OpenFrame(StrictFrame):
    type: Literal["open"]
    conversation_id: Id


class CloseConversationFrame(StrictFrame):
    type: Literal["close_conversation"]


class TransitionFrame(StrictFrame):
    type: Literal["claim", "return_to_bot", "resolve", "reopen"]
    conversation_id: Id


class TransferFrame(StrictFrame):
    type: Literal["transfer"]
    conversation_id: Id
    to_agent_id: Id | None = None
    to_team_id: Id | None = None


class ReplyFrame(StrictFrame):
    type: Literal["reply"]
    conversation_id: Id
    text: Any = None
    client_id: Any = None
    suggestion_id: Id | None = None


class NoteFrame(StrictFrame):
    type: Literal["note"]
    conversation_id: Id
    text: Any = None


class TypingFrame(StrictFrame):
    type: Literal["typing"]
    conversation_id: Id
    on: StrictBool = True


class SuggestFrame(StrictFrame):
    type: Literal["suggest"]
    conversation_id: Id


class SuggestionDiscardFrame(StrictFrame):
    type: Literal["suggestion_discard"]
    suggestion_id: Id


class ReadFrame(StrictFrame):
    type: Literal["read"]
    conversation_id: Id
    seq: Seq


class TicketDoneFrame(StrictFrame):
    type: Literal["ticket_done"]
    ticket_id: Id


InboundFrame = Annotated[
    HelloFrame
    | HeartbeatFrame
    | PresenceFrame
    | ListFrame
    | OpenFrame
    | CloseConversationFrame
    | TransitionFrame
    | TransferFrame
    | ReplyFrame
    | NoteFrame
    | TypingFrame
    | SuggestFrame
    | SuggestionDiscardFrame
    | ReadFrame
    | TicketDoneFrame,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[InboundFrame] = TypeAdapter(InboundFrame)
FRAME_TYPES = frozenset(
    t
    for model in (
        HelloFrame,
        HeartbeatFrame,
        PresenceFrame,
        ListFrame,
        OpenFrame,
        CloseConversationFrame,
        TransitionFrame,
        TransferFrame,
        ReplyFrame,
        NoteFrame,
        TypingFrame,
        SuggestFrame,
        SuggestionDiscardFrame,
        ReadFrame,
        TicketDoneFrame,
    )
    for t in get_args(model.model_fields["type"].annotation)
)


def frame_validate(raw: dict[str, Any]) -> InboundFrame:
    """The typed frame; FrameInvalid naming the first offending field."""
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"][1:]) or "frame"
        raise FrameInvalid(f"{field}: {error['msg']}") from exc
