"""The agents' inbox socket (`/ws/inbox/`): the queue live, one open conversation, every action.

Thin: frames are parsed with the platform's bounded JSON reader, actions call the handoff service
(`conversations.services.handoff`) and the inbox services, reads come from `inbox.selectors`.
Who may connect: a logged-in user with `inbox.use_inbox`, from this site's own origin (a
cross-site page must not drive an agent's session). Live input: `inbox.bot.<id>` for each bot the
agent handles (queue changes), `inbox.agent.<id>` (their assignments), and for the open
conversation its widget group (messages, deltas, typing, handoff frames) plus
`inbox.conversation.<id>` (notes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model

from bots.models import AgentProfile, AgentTeam, Conversation
from chatplatform.json_input import json_depth
from conversations import frames
from conversations.selectors import agent_display
from conversations.services import handoff
from conversations.services.messages import MessageRejected
from conversations.ws.groups import CHANNEL_LAYER_ERRORS
from inbox import selectors, services

log = structlog.get_logger(__name__)

CLOSE_FORBIDDEN = 4403
MAX_FRAME_BYTES = 16384
MAX_DEPTH = 8
ACTIONS = ("claim", "return_to_bot", "resolve", "reopen", "transfer", "reply", "note", "typing")


def conversation_inbox_group(conversation_id: int) -> str:
    return f"inbox.conversation.{conversation_id}"


class InboxError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


class InboxConsumer(AsyncWebsocketConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user: Any = None
        self.bot_ids: list[int] = []
        self.open_id: int | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        allowed = await database_sync_to_async(_may_use_inbox)(user)
        if not allowed or not _same_origin(self.scope):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # A plain user row, not the session's lazy proxy: it goes into foreign keys and queries.
        self.user = await database_sync_to_async(get_user_model().objects.get)(pk=user.pk)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self._groups():
            await self._leave(group)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        action = None
        try:
            frame = _parse(text_data)
            action = frame["type"]
            await self._dispatch(action, frame)
        except InboxError as exc:
            await self._send({"type": "error", "code": exc.code, "detail": exc.detail, "action": action})
        except handoff.HandoffRefused as exc:
            await self._send({"type": "error", "code": exc.code, "detail": exc.detail, "action": action})
        except MessageRejected as exc:
            await self._send({"type": "error", "code": exc.code, "detail": exc.detail, "action": action})

    async def _dispatch(self, action: str, frame: dict[str, Any]) -> None:
        if action == "hello":
            await self._on_hello()
        elif action == "heartbeat":
            await database_sync_to_async(services.presence_heartbeat)(user=self.user)
            await self._send({"type": "pong"})
        elif action == "presence":
            presence = frame.get("presence")
            if presence not in AgentProfile.Presence.values:
                raise InboxError("bad_frame", "presence is online, away or offline.")
            await database_sync_to_async(services.presence_set)(user=self.user, presence=presence)
            await self._send({"type": "presence_ack", "presence": presence})
        elif action == "list":
            await self._on_list(frame)
        elif action == "open":
            await self._on_open(_conversation_id(frame))
        elif action == "close_conversation":
            await self._close_open()
        elif action in ACTIONS:
            conversation_id = _conversation_id(frame)
            await self._on_action(action, conversation_id, frame)
            if action != "typing":
                await self._send({"type": "ack", "action": action, "conversation_id": conversation_id})
        else:
            raise InboxError("unknown_type", f"Unknown frame type {action[:40]!r}.")

    # -- handlers ---------------------------------------------------------------------------

    async def _on_hello(self) -> None:
        welcome = await database_sync_to_async(_welcome)(self.user)
        self.bot_ids = [b["id"] for b in welcome["bots"]]
        for bot_id in self.bot_ids:
            await self._join(frames.inbox_group(bot_id))
        await self._join(frames.agent_group(self.user.pk))
        await self._send(welcome)

    async def _on_list(self, frame: dict[str, Any]) -> None:
        view = frame.get("view", "unassigned")
        if view not in selectors.VIEWS:
            raise InboxError("bad_frame", "view is mine, unassigned or all.")
        bot_id = frame.get("bot_id")
        if bot_id is not None and not isinstance(bot_id, int):
            raise InboxError("bad_frame", "bot_id is an integer or null.")
        cursor = frame.get("cursor") if isinstance(frame.get("cursor"), str) else None
        page = await database_sync_to_async(selectors.inbox_page)(
            user=self.user, view=view, bot_id=bot_id, cursor=cursor
        )
        await self._send({"type": "list", "view": view, **page})

    async def _on_open(self, conversation_id: int) -> None:
        await self._close_open()
        # Join first, then read: a message stored in between arrives twice rather than never.
        await self._join(frames.conversation_group(conversation_id))
        await self._join(conversation_inbox_group(conversation_id))
        detail = await database_sync_to_async(selectors.inbox_conversation)(
            user=self.user, conversation_id=conversation_id
        )
        if detail is None:
            await self._leave(frames.conversation_group(conversation_id))
            await self._leave(conversation_inbox_group(conversation_id))
            raise InboxError("not_found", "No such conversation in your inbox.")
        self.open_id = conversation_id
        await self._send({"type": "conversation", "conversation": detail})

    async def _close_open(self) -> None:
        if self.open_id is not None:
            await self._leave(frames.conversation_group(self.open_id))
            await self._leave(conversation_inbox_group(self.open_id))
            self.open_id = None

    async def _on_action(self, action: str, conversation_id: int, frame: dict[str, Any]) -> None:
        if action == "typing":
            await self._require_open(conversation_id)
            author = agent_display(await database_sync_to_async(_with_profile)(self.user))
            event = frames.typing_from_event(role="agent", on=bool(frame.get("on")), author=author)
            event["frame"]["agent_id"] = self.user.pk
            await self._broadcast(frames.conversation_group(conversation_id), event)
            return
        if action == "note":
            note = await database_sync_to_async(services.note_add)(
                conversation_id=conversation_id, author=self.user, text=frame.get("text")
            )
            payload = await database_sync_to_async(selectors.note_frame)(note)
            await self._broadcast(
                conversation_inbox_group(conversation_id), {"type": "inbox.update", "update": payload}
            )
            return
        call = await database_sync_to_async(_action_call)(self.user, action, conversation_id, frame)
        await database_sync_to_async(call)()

    async def _require_open(self, conversation_id: int) -> None:
        if self.open_id != conversation_id:
            raise InboxError("bad_frame", "Open the conversation first.")

    # -- channel-layer events -----------------------------------------------------------------

    async def chat_frame(self, event: dict[str, Any]) -> None:
        frame = event["frame"]
        if frame.get("type") == "typing" and frame.get("agent_id") == getattr(self.user, "pk", None):
            return  # our own typing
        await self._send({**frame, "conversation_id": self.open_id})

    async def chat_delta(self, event: dict[str, Any]) -> None:
        await self._send({**event["frame"], "conversation_id": self.open_id})

    async def inbox_update(self, event: dict[str, Any]) -> None:
        update = event["update"]
        if update.get("type") == "note":
            await self._send(update)
            return
        await self._send({"type": "update", "update": update})
        if update.get("kind") == "assigned" and update.get("status") == "assigned":
            agent = await database_sync_to_async(_assigned_to)(update.get("conversation_id"))
            if agent == self.user.pk:
                await self._send(
                    {"type": "notification", "kind": "assigned", "conversation_id": update.get("conversation_id")}
                )

    # -- plumbing ---------------------------------------------------------------------------

    def _groups(self) -> list[str]:
        groups = [frames.inbox_group(b) for b in self.bot_ids]
        if self.user is not None:
            groups.append(frames.agent_group(self.user.pk))
        if self.open_id is not None:
            groups += [frames.conversation_group(self.open_id), conversation_inbox_group(self.open_id)]
        return groups

    async def _join(self, group: str) -> None:
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except CHANNEL_LAYER_ERRORS as exc:
            log.warning("inbox_group_join_failed", group=group, error=repr(exc))

    async def _leave(self, group: str) -> None:
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except CHANNEL_LAYER_ERRORS as exc:
            log.warning("inbox_group_leave_failed", group=group, error=repr(exc))

    async def _broadcast(self, group: str, event: dict[str, Any]) -> None:
        try:
            await self.channel_layer.group_send(group, event)
        except CHANNEL_LAYER_ERRORS as exc:
            log.warning("inbox_broadcast_failed", group=group, error=repr(exc))

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False, default=str))


def _parse(text_data: str | None) -> dict[str, Any]:
    if text_data is None or len(text_data.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        raise InboxError("bad_frame", f"Send JSON text frames of at most {MAX_FRAME_BYTES} bytes.")
    if json_depth(text_data) > MAX_DEPTH:
        raise InboxError("bad_frame", f"Frames may nest at most {MAX_DEPTH} levels deep.")
    try:
        frame = json.loads(text_data)
    except ValueError as exc:
        raise InboxError("bad_json", "The frame is not valid JSON.") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise InboxError("bad_frame", "A frame is a JSON object with a string 'type'.")
    return frame


def _conversation_id(frame: dict[str, Any]) -> int:
    value = frame.get("conversation_id")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        raise InboxError("bad_frame", "conversation_id must be a positive integer.")
    return value


def _may_use_inbox(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm("inbox.use_inbox"))


def _same_origin(scope: dict[str, Any]) -> bool:
    headers = dict(scope.get("headers", []))
    origin, host = headers.get(b"origin", b"").decode("latin-1"), headers.get(b"host", b"").decode("latin-1")
    return bool(origin and host) and origin.split("://", 1)[-1] == host


def _welcome(user: Any) -> dict[str, Any]:
    profile, _ = AgentProfile.objects.get_or_create(user=user)
    return {
        "type": "welcome",
        "agent": {"id": user.pk, "presence": profile.presence, **(agent_display(_with_profile(user)) or {})},
        **selectors.agent_directory(user=user),
        "counts": selectors.inbox_counts(user=user),
        "sla_seconds": settings.INBOX_SLA_SECONDS,
    }


def _with_profile(user: Any) -> Any:
    return get_user_model().objects.select_related("agent_profile").get(pk=user.pk)


def _assigned_to(conversation_id: Any) -> int | None:
    return Conversation.objects.filter(pk=conversation_id).values_list("assigned_agent_id", flat=True).first()


def _action_call(user: Any, action: str, conversation_id: int, frame: dict[str, Any]) -> Callable[[], Any]:
    """The handoff service call for an action frame (checked and bound here, run by the caller)."""
    if action == "claim":
        return lambda: handoff.handoff_claim(conversation_id=conversation_id, agent=user)
    if action == "return_to_bot":
        return lambda: handoff.handoff_return_to_bot(conversation_id=conversation_id, actor=user)
    if action == "resolve":
        return lambda: handoff.handoff_resolve(conversation_id=conversation_id, actor=user)
    if action == "reopen":
        return lambda: handoff.handoff_reopen(conversation_id=conversation_id, actor=user)
    if action == "reply":
        raw_text = frame.get("text")
        text: str = raw_text if isinstance(raw_text, str) else ""
        client_id = frame.get("client_id")
        return lambda: handoff.agent_message_send(
            conversation_id=conversation_id, agent=user, text=text, client_id=client_id
        )
    # transfer
    to_agent_id, to_team_id = frame.get("to_agent_id"), frame.get("to_team_id")
    to_agent = get_user_model().objects.filter(pk=to_agent_id).first() if isinstance(to_agent_id, int) else None
    to_team = AgentTeam.objects.filter(pk=to_team_id).first() if isinstance(to_team_id, int) else None
    if to_agent is None and to_team is None:
        raise InboxError("bad_frame", "transfer needs an existing to_agent_id or to_team_id.")
    return lambda: handoff.handoff_transfer(
        conversation_id=conversation_id, actor=user, to_agent=to_agent, to_team=to_team
    )
