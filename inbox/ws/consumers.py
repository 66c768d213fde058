"""The agents' inbox socket (`/ws/inbox/`): the queue live, one open conversation, every action.

Thin: frames are parsed with the platform's bounded JSON reader and validated as the pydantic
models of `inbound`; actions call the inbox services (`inbox.services.*`, which go through
`conversations.services.handoff` for every change of hands); reads come from `inbox.selectors`;
ORM work runs in `database_sync_to_async`. Domain refusals become error frames. Per-connection
state is only what the socket is bound to (its user, the groups it joined, the open conversation)
and its frame budget, kept on the instance.

Who may connect: a logged-in, active user with `inbox.use_inbox`, from this site's own origin (a
cross-site page must not drive an agent's session): anything else is refused with 4403 before the
handshake completes.

Live input (channel-layer groups): `inbox.bot.<id>` for each bot the agent handles (queue and
conversation changes), `inbox.agent.<id>` (changes that concern them), and for the open conversation
the widget's `conversation.<id>` (messages, deltas, typing, handoff frames) plus
`inbox.conversation.<id>` (the copilot's brief and suggestions). One change reaches a page through
its bot group and its agent group alike: the copy is dropped here.

Closing the page loses nothing: presence is stored, and without heartbeats an "online" agent soon
counts as offline for routing (`conversations.selectors.agents_online`).
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any, cast

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _

from bots.models import Conversation
from chatplatform.json_input import JsonTooDeep, json_loads_bounded
from conversations import frames
from conversations.selectors import agent_display
from conversations.services.handoff import HandoffRefused
from conversations.services.limits import ConnectionBudget
from conversations.services.messages import MessageRejected
from conversations.ws.groups import CHANNEL_LAYER_ERRORS
from copilot.publishing import inbox_conversation_group
from copilot.services import SuggestionRefused
from inbox import selectors
from inbox.pagination import CursorInvalid
from inbox.services import handling, notes, presence, reads, replies, tickets
from inbox.ws import inbound

log = structlog.get_logger(__name__)

CLOSE_FORBIDDEN = 4403
MAX_JSON_DEPTH = 8
# An agent's page sends a heartbeat every 30 s, typing while they type, and re-lists after each
# update: far below this. A runaway script on a logged-in session is not.
FRAMES_PER_MINUTE = 600
GROUP_REFRESH_S = 600.0  # heartbeats re-join the groups this often (channels_redis expires memberships)
DUPLICATE_WINDOW_S = 2.0  # the same update through the bot group and the agent group
# Frames from the widget's group an agent's page shows; errors there are the visitor's.
FORWARDED_FRAMES = ("message", "delta", "typing", "handoff")
NOTIFY_QUEUED = ("handoff_requested",)
NOTIFY_ASSIGNED = ("assigned", "transferred")


class InboxError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


class InboxConsumer(AsyncWebsocketConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user: Any = None
        self.language = settings.LANGUAGE_CODE  # the agent's page language, for the texts the socket writes
        self.open_id: int | None = None
        self._groups: set[str] = set()
        self._bot_groups: set[str] = set()
        self._groups_refreshed = 0.0
        self._budget = ConnectionBudget(limit=FRAMES_PER_MINUTE)
        self._recent_updates: deque[tuple[float, str]] = deque(maxlen=64)

    async def connect(self) -> None:
        user = await database_sync_to_async(_inbox_user)(self.scope.get("user"))
        if user is None or not _same_origin(self.scope):
            log.info("inbox_ws_refused", user_id=getattr(self.scope.get("user"), "pk", None), has_user=user is not None)
            await self.close(code=CLOSE_FORBIDDEN)  # before accept: the handshake gets HTTP 403
            return
        self.user = user
        self.language = handshake_language(self.scope)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in list(self._groups):
            await self._leave(group)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        action: str | None = None
        conversation_id: int | None = None
        try:
            retry_after = self._budget.hit()
            if retry_after is not None:
                raise InboxError("rate_limited", f"Too many frames on this connection; wait {retry_after} s.")
            raw = _parse(text_data)
            action = raw["type"][:40]
            if isinstance(raw.get("conversation_id"), int):
                conversation_id = raw["conversation_id"]
            if raw["type"] not in inbound.FRAME_TYPES:
                raise InboxError("bad_frame", f"Unknown frame type {action!r}.")
            try:
                frame = inbound.frame_validate(raw)
            except inbound.FrameInvalid as exc:
                raise InboxError("bad_frame", exc.detail) from exc
            await self._dispatch(frame)
        except InboxError as exc:
            await self._error(exc.code, exc.detail, action, conversation_id)
        except HandoffRefused as exc:
            await self._error(_refusal_code(exc.code), exc.detail, action, conversation_id)
        except SuggestionRefused as exc:
            await self._error(exc.code, exc.detail, action, conversation_id)
        except MessageRejected as exc:  # empty or oversized text, a bad client_id
            await self._error("bad_frame", exc.detail, action, conversation_id)
        except CursorInvalid as exc:
            await self._error("bad_frame", str(exc), action, conversation_id)

    async def _dispatch(self, frame: inbound.InboundFrame) -> None:
        user = self.user
        match frame:
            case inbound.HelloFrame():
                await self._on_hello()
            case inbound.HeartbeatFrame():
                await database_sync_to_async(presence.presence_heartbeat)(user=user)
                await self._groups_refresh()
                await self._send({"type": "pong"})
            case inbound.PresenceFrame():
                await database_sync_to_async(presence.presence_set)(user=user, presence=frame.presence)
                await self._ack("presence", None, presence=frame.presence)
            case inbound.ListFrame():
                await self._on_list(frame)
            case inbound.OpenFrame():
                await self._on_open(frame.conversation_id)
            case inbound.CloseConversationFrame():
                closed = self.open_id
                await self._close_open()
                await self._ack("close_conversation", closed)
            case inbound.TransitionFrame():
                await database_sync_to_async(_TRANSITIONS[frame.type])(conversation_id=frame.conversation_id, user=user)
                await self._ack(frame.type, frame.conversation_id)
            case inbound.TransferFrame():
                await database_sync_to_async(handling.conversation_transfer)(
                    conversation_id=frame.conversation_id,
                    actor=user,
                    to_agent_id=frame.to_agent_id,
                    to_team_id=frame.to_team_id,
                )
                await self._ack("transfer", frame.conversation_id)
            case inbound.ReplyFrame():
                message = await database_sync_to_async(replies.agent_reply_send)(
                    conversation_id=frame.conversation_id,
                    agent=user,
                    text=frame.text,
                    client_id=frame.client_id,
                    suggestion_id=frame.suggestion_id,
                )
                await self._ack("reply", frame.conversation_id, message_id=message.pk, seq=message.seq)
            case inbound.NoteFrame():
                note = await database_sync_to_async(notes.note_add)(
                    conversation_id=frame.conversation_id, author=user, text=frame.text
                )
                await self._ack("note", frame.conversation_id, note_id=note.pk)
            case inbound.TypingFrame():
                await self._on_typing(frame)
            case inbound.SuggestFrame():
                await database_sync_to_async(replies.suggestion_ask)(conversation_id=frame.conversation_id, agent=user)
                await self._ack("suggest", frame.conversation_id)
            case inbound.SuggestionDiscardFrame():
                conversation_id = await database_sync_to_async(replies.suggestion_discard)(
                    suggestion_id=frame.suggestion_id, agent=user
                )
                await self._ack("suggestion_discard", conversation_id, suggestion_id=frame.suggestion_id)
            case inbound.ReadFrame():
                seq = await database_sync_to_async(reads.read_mark)(
                    user=user, conversation_id=frame.conversation_id, seq=frame.seq
                )
                await self._ack("read", frame.conversation_id, seq=seq)
            case inbound.TicketDoneFrame():
                await database_sync_to_async(tickets.ticket_done)(user=user, ticket_id=frame.ticket_id)
                await self._ack("ticket_done", None, ticket_id=frame.ticket_id)

    # -- handlers ---------------------------------------------------------------------------

    async def _on_hello(self) -> None:
        welcome = await database_sync_to_async(_welcome)(self.user)
        bot_groups = {frames.inbox_group(b["id"]) for b in welcome["bots"]}
        for group in self._bot_groups - bot_groups:  # a second hello after the agent's teams changed
            await self._leave(group)
        for group in bot_groups | {frames.agent_group(self.user.pk)}:
            await self._join(group)
        self._bot_groups = bot_groups
        self._groups_refreshed = time.monotonic()
        await self._send(welcome)

    async def _on_list(self, frame: inbound.ListFrame) -> None:
        page = await database_sync_to_async(_list)(self.user, frame.view, frame.bot_id, frame.cursor)
        await self._send({"type": "list", "view": frame.view, "bot_id": frame.bot_id, "cursor": frame.cursor, **page})

    async def _on_open(self, conversation_id: int) -> None:
        found = await database_sync_to_async(selectors.handled_conversation)(
            user=self.user, conversation_id=conversation_id
        )
        if found is None:
            raise InboxError("not_found", "No such conversation in your inbox.")
        if self.open_id != conversation_id:
            await self._close_open()
            # Join first, then read: a message stored in between arrives twice rather than never
            # (the page dedupes by id and seq).
            await self._join(frames.conversation_group(conversation_id))
            await self._join(inbox_conversation_group(conversation_id))
            self.open_id = conversation_id
        detail = await database_sync_to_async(selectors.inbox_conversation)(
            user=self.user, conversation_id=conversation_id
        )
        if detail is None:  # access lost in between
            await self._close_open()
            raise InboxError("not_found", "No such conversation in your inbox.")
        await self._send({"type": "conversation", "conversation": detail})

    async def _close_open(self) -> None:
        if self.open_id is not None:
            await self._leave(frames.conversation_group(self.open_id))
            await self._leave(inbox_conversation_group(self.open_id))
            self.open_id = None

    async def _on_typing(self, frame: inbound.TypingFrame) -> None:
        """Agent typing reaches the visitor (and other agents watching) through the widget's group.
        Only the agent who has the conversation types to the visitor."""
        author = await database_sync_to_async(_typing_author)(self.user, frame.conversation_id)
        event = frames.typing_from_event(role="agent", on=frame.on, author=author)
        # The sender rides next to the frame, not in it: the widget forwards only `frame`.
        event["sender"] = self.channel_name
        await self._broadcast(frames.conversation_group(frame.conversation_id), event)
        await self._ack("typing", frame.conversation_id)

    # -- channel-layer events -----------------------------------------------------------------

    async def chat_frame(self, event: dict[str, Any]) -> None:
        """The widget's frames of the open conversation (this socket's own typing excepted)."""
        frame = event["frame"]
        if self.open_id is None or event.get("sender") == self.channel_name:
            return
        if frame.get("type") not in FORWARDED_FRAMES:
            return
        open_id = self.open_id
        # A message of the previous conversation may still be in this channel's buffer after a
        # switch: checked, so it never shows up under the conversation now open.
        if frame.get("type") == "message" and not await database_sync_to_async(_message_in)(frame.get("id"), open_id):
            return
        await self._send({**frame, "conversation_id": open_id})

    async def chat_delta(self, event: dict[str, Any]) -> None:
        if self.open_id is not None:
            await self._send({**event["frame"], "conversation_id": self.open_id})

    async def inbox_update(self, event: dict[str, Any]) -> None:
        update = event.get("update") or {}
        kind, conversation_id = update.get("kind"), update.get("conversation_id")
        if kind in ("brief", "suggestion"):
            if conversation_id == self.open_id:
                await self._send({"type": "assist", "assist": update})
            return
        if kind == "note":
            if conversation_id == self.open_id and isinstance(update.get("note_id"), int):
                note = await database_sync_to_async(selectors.note_for)(user=self.user, note_id=update["note_id"])
                if note is not None:
                    await self._send({"type": "note", **note})
            return
        if self._seen(update):
            return
        await self._send(
            {"type": "update", "update": {k: update[k] for k in ("kind", "conversation_id", "status") if k in update}}
        )
        if not isinstance(conversation_id, int):
            return
        status = update.get("status")
        if kind in NOTIFY_ASSIGNED and status == Conversation.Status.ASSIGNED:
            # Given to this agent by someone else (the router, a transfer, a supervisor); their own
            # claim is no news to them.
            if update.get("assignee_id") == self.user.pk and update.get("actor_id") != self.user.pk:
                with translation.override(self.language):
                    title = _("A conversation was assigned to you")
                await self._notify("assigned", conversation_id, title, update)
        elif kind in NOTIFY_QUEUED or (kind == "transferred" and status == Conversation.Status.QUEUED):
            with translation.override(self.language):
                title = _("A visitor is waiting for a person")
            await self._notify("queued", conversation_id, title, update)

    # -- plumbing ---------------------------------------------------------------------------

    def _seen(self, update: dict[str, Any]) -> bool:
        """True for the second copy of an update within DUPLICATE_WINDOW_S (bot group + agent group)."""
        now = time.monotonic()
        key = json.dumps(update, sort_keys=True, default=str)
        while self._recent_updates and now - self._recent_updates[0][0] > DUPLICATE_WINDOW_S:
            self._recent_updates.popleft()
        if any(seen == key for _t, seen in self._recent_updates):
            return True
        self._recent_updates.append((now, key))
        return False

    async def _notify(self, kind: str, conversation_id: int, title: str, update: dict[str, Any]) -> None:
        notice = update.get("notice")
        if not isinstance(notice, dict):
            return
        bot, text = str(notice.get("bot", "")), str(notice.get("text", ""))
        body = f"{bot}: {text}" if text else bot
        await self._send(
            {"type": "notification", "kind": kind, "conversation_id": conversation_id, "title": title, "body": body}
        )

    async def _groups_refresh(self) -> None:
        if time.monotonic() - self._groups_refreshed < GROUP_REFRESH_S:
            return
        self._groups_refreshed = time.monotonic()
        for group in list(self._groups):
            await self._join(group)

    async def _join(self, group: str) -> None:
        try:
            await self.channel_layer.group_add(group, self.channel_name)
            self._groups.add(group)
        except CHANNEL_LAYER_ERRORS as exc:  # live updates pause; the page re-reads on reconnect
            log.warning("inbox_group_join_failed", group=group, error=repr(exc))

    async def _leave(self, group: str) -> None:
        self._groups.discard(group)
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except CHANNEL_LAYER_ERRORS as exc:  # the membership expires on its own
            log.warning("inbox_group_leave_failed", group=group, error=repr(exc))

    async def _broadcast(self, group: str, event: dict[str, Any]) -> None:
        try:
            await self.channel_layer.group_send(group, event)
        except CHANNEL_LAYER_ERRORS as exc:
            log.warning("inbox_broadcast_failed", group=group, error=repr(exc))

    async def _ack(self, action: str, conversation_id: int | None, **extra: Any) -> None:
        await self._send({"type": "ack", "action": action, "conversation_id": conversation_id, **extra})

    async def _error(self, code: str, detail: str, action: str | None, conversation_id: int | None) -> None:
        await self._send(
            {"type": "error", "code": code, "detail": detail, "action": action, "conversation_id": conversation_id}
        )

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False, default=str))


# --- sync helpers (run in database_sync_to_async) -------------------------------------------------


def _inbox_user(user: Any) -> Any:
    """A plain user row for an active user with the inbox permission, else None. Not the session's
    lazy proxy: it goes into foreign keys and queries for the life of the socket."""
    if not (user and user.is_authenticated and user.is_active and user.has_perm("inbox.use_inbox")):
        return None
    return get_user_model().objects.filter(pk=user.pk, is_active=True).first()


def _welcome(user: Any) -> dict[str, Any]:
    presence.presence_heartbeat(user=user)  # a reload of an online agent's page is a heartbeat
    return {
        "type": "welcome",
        "agent": selectors.agent_self(user=user),
        **selectors.agent_directory(user=user),
        "counts": selectors.inbox_counts(user=user),
        "sla_seconds": settings.INBOX_SLA_SECONDS,
        "canned_replies": selectors.canned_replies_for(user=user),
        "tickets": selectors.tickets_open(user=user),
    }


def _list(user: Any, view: str, bot_id: int | None, cursor: str | None) -> dict[str, Any]:
    return {
        **selectors.inbox_page(user=user, view=view, bot_id=bot_id, cursor=cursor),
        "counts": selectors.inbox_counts(user=user),
    }


def _typing_author(user: Any, conversation_id: int) -> dict[str, str] | None:
    conversation = selectors.handled_conversation(user=user, conversation_id=conversation_id)
    if conversation is None:
        raise HandoffRefused("not_found", "No such conversation in your inbox.")
    if conversation.status != Conversation.Status.ASSIGNED or conversation.assigned_agent_id != user.pk:
        raise HandoffRefused("not_assigned_to_you", "Only the agent who has the conversation types to the visitor.")
    return agent_display(conversation.assigned_agent)


def _message_in(message_id: Any, conversation_id: int) -> bool:
    if not isinstance(message_id, int):
        return False
    return bool(
        Conversation.objects.filter(pk=conversation_id, messages__pk=message_id).values_list("pk", flat=True)[:1]
    )


def _claim(*, conversation_id: int, user: Any) -> Any:
    return handling.conversation_claim(conversation_id=conversation_id, agent=user)


def _return_to_bot(*, conversation_id: int, user: Any) -> Any:
    return handling.conversation_return_to_bot(conversation_id=conversation_id, actor=user)


def _resolve(*, conversation_id: int, user: Any) -> Any:
    return handling.conversation_resolve(conversation_id=conversation_id, actor=user)


def _reopen(*, conversation_id: int, user: Any) -> Any:
    return handling.conversation_reopen(conversation_id=conversation_id, actor=user)


_TRANSITIONS = {"claim": _claim, "return_to_bot": _return_to_bot, "resolve": _resolve, "reopen": _reopen}


def _refusal_code(code: str) -> str:
    """The handoff service's codes, as the inbox protocol names them."""
    return "bad_frame" if code == "bad_request" else code


def _parse(text_data: str | None) -> dict[str, Any]:
    if text_data is None:
        raise InboxError("bad_frame", "Binary frames are not supported; send JSON text.")
    if len(text_data.encode("utf-8", "surrogatepass")) > settings.CHAT_MAX_FRAME_BYTES:
        raise InboxError("bad_frame", f"Frames are limited to {settings.CHAT_MAX_FRAME_BYTES} bytes.")
    try:
        frame = json_loads_bounded(text_data, max_depth=MAX_JSON_DEPTH)
    except JsonTooDeep as exc:
        raise InboxError("bad_frame", f"Frames may nest at most {MAX_JSON_DEPTH} levels deep.") from exc
    except ValueError as exc:
        raise InboxError("bad_frame", "The frame is not valid JSON.") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise InboxError("bad_frame", "A frame is a JSON object with a string 'type'.")
    return cast(dict[str, Any], frame)


def handshake_language(scope: dict[str, Any]) -> str:
    """The language LocaleMiddleware gives the agent's pages, from the handshake: the switcher's cookie,
    else Accept-Language, else the default (no LocaleMiddleware runs for a WebSocket)."""
    request = HttpRequest()
    request.COOKIES = dict(scope.get("cookies") or {})
    headers = dict(scope.get("headers", []))
    request.META["HTTP_ACCEPT_LANGUAGE"] = headers.get(b"accept-language", b"").decode("latin-1")
    return translation.get_language_from_request(request)


def _same_origin(scope: dict[str, Any]) -> bool:
    """Cross-site WebSocket hijacking guard: browsers send Origin; it must be this host."""
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin", b"").decode("latin-1")
    host = headers.get(b"host", b"").decode("latin-1")
    return bool(origin and host) and origin.split("://", 1)[-1] == host
