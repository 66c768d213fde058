"""The widget's WebSocket: parses frames, dispatches on `type`, turns domain errors into error frames.

Thin on purpose: frame shapes are the pydantic models of `inbound`, channel-layer calls go
through `groups`, hello's rules live in `services/hello.py`; storage, tokens, limits and the turn
live in services and selectors; ORM work runs in `database_sync_to_async`. Per-connection state is
only what the connection is bound to (bot, visitor, verified user, conversation), kept on the
instance, never on the class. Protocol: docs/protocol.md.

Protocol v2: a hello binds the connection to a visitor, not (yet) to a conversation; the row is
created with the visitor's first message (`conversation_first_message_receive`) and its token comes
back in that message's ack. v1 clients still get a conversation at hello.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import Error as DatabaseError
from kombu.exceptions import OperationalError as BrokerUnavailable
from redis.exceptions import RedisError

from bots import selectors as bot_selectors
from bots.models import Bot, Conversation, Message
from chatplatform import ratelimit
from chatplatform.json_input import json_depth as _json_depth
from chatplatform.metrics import WEBSOCKETS_OPEN
from conversations import frames, visitor_tokens
from conversations import selectors as conversation_selectors
from conversations.services import conversations as conversation_services
from conversations.services import hello as hello_services
from conversations.services import limits
from conversations.services.messages import MessageRejected, text_scrub, user_message_receive
from conversations.services.tickets import offline_ticket_leave
from conversations.ws import inbound
from conversations.ws.groups import CHANNEL_LAYER_ERRORS, ConversationGroups, GroupUnavailable

log = structlog.get_logger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
# Frames this many times over the limit are abuse, not a mistake: close instead of answering.
ABUSIVE_FRAME_FACTOR = 4
# This many error frames within the window and the connection is closed with 1008: a widget makes
# the odd mistake, a script hammering the socket makes many.
ABUSE_MAX_ERRORS = 20
ABUSE_WINDOW_SECONDS = 60.0
_PUBLIC_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
# `retry_after` of an `unavailable` error (Redis unreachable): about how long a restart takes, and
# as long as a stored-but-unqueued message waits before a resend queues its turn again.
UNAVAILABLE_RETRY_AFTER = 5


class FrameError(Exception):
    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra


class ChatConsumer(AsyncWebsocketConsumer):
    bot: Bot
    conversation: Conversation | None
    # Set by a welcomed hello: the visitor (and cleaned locale) the connection speaks for, and the
    # verified user id ("" if anonymous), written to the conversation row when it is created.
    visitor: hello_services.HelloOpened | None
    user_id: str
    conversation_channel: str = Conversation.Channel.WIDGET  # a constant per subclass, not state

    # Channels' base class assigns `self.channel_receive` (the channel-layer read loop) in
    # `__call__` and a Redis error there would kill the consumer and drop the visitor's socket.
    # The property wraps whatever is assigned in a loop that rides out a Redis restart and then
    # re-joins the conversation group (a restarted Redis has forgotten every group).
    @property
    def channel_receive(self) -> Callable[[], Awaitable[dict[str, Any]]]:
        return self._channel_receive_resilient

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._channel_receive_raw = receive

    async def _channel_receive_resilient(self) -> dict[str, Any]:
        delay = 0.1
        while True:
            try:
                message = await self._channel_receive_raw()
            except CHANNEL_LAYER_ERRORS as exc:
                log.warning("ws_channel_layer_lost", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                await self._group_rejoin()
                continue
            return message

    @property
    def _groups(self) -> ConversationGroups:
        return ConversationGroups(self.channel_layer, self.channel_name)

    async def _group_rejoin(self) -> None:
        """Best-effort re-join of the bound conversation's group (refreshes its expiry too)."""
        if self.conversation is not None:
            await self._groups.rejoin(self.conversation.pk)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per-connection state only (one consumer instance per socket).
        self.conversation = None
        self.visitor = None
        self.user_id = ""
        self._gauged = False  # counted in WEBSOCKETS_OPEN (decremented once, see accept)
        self._error_times: deque[float] = deque(maxlen=ABUSE_MAX_ERRORS)
        # Ids of visitor messages this socket sent and acked: their broadcast (meant for the
        # visitor's other tabs) is not echoed back here.
        self._sent_here: deque[int] = deque(maxlen=64)
        # In memory, not Redis: they bound one socket without a round trip per frame, and keep
        # bounding it while Redis is down (when the Redis-backed limits of cheap frames fail open).
        self._frame_budget = limits.ConnectionBudget(limit=settings.CHAT_FRAMES_PER_MINUTE)
        self._hello_budget = limits.ConnectionBudget(limit=settings.CHAT_HELLOS_PER_MINUTE_PER_CONNECTION)

    async def connect(self) -> None:
        public_key = self.scope["url_route"]["kwargs"]["public_key"]
        origin = _header(self.scope, b"origin")
        bot = None
        # Keys are "pk_" + URL-safe base64; anything else (NUL bytes, huge strings) never reaches SQL.
        if _PUBLIC_KEY.fullmatch(public_key):
            bot = await database_sync_to_async(bot_selectors.bot_get_active_by_public_key)(public_key=public_key)
        if bot is None or not bot_selectors.bot_origin_allowed(bot=bot, origin=origin):
            log.info("ws_refused", public_key=public_key[:80], origin=(origin or "")[:200], bot_found=bot is not None)
            await self.close(code=CLOSE_FORBIDDEN)  # before accept: the handshake gets HTTP 403
            return
        self.bot = bot
        await self.accept()

    # WEBSOCKETS_OPEN: +1 when the socket is accepted (here, for every subclass), -1 exactly once
    # when it ends: on disconnect, or when the consumer ends without one (a crashed handler).
    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol=subprotocol, headers=headers)
        if not self._gauged:
            self._gauged = True
            WEBSOCKETS_OPEN.inc()

    def _gauge_close(self) -> None:
        if self._gauged:
            self._gauged = False
            WEBSOCKETS_OPEN.dec()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._gauge_close()

    async def disconnect(self, code: int) -> None:
        self._gauge_close()
        if self.conversation is not None:
            await self._groups.leave(self.conversation.pk)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            # Counted before parsing: junk costs as much of the budget as a real frame.
            retry_after = self._frame_budget.hit()
            if retry_after is not None:
                raise FrameError("rate_limited", "Too many frames on this connection.", retry_after=retry_after)
            raw = self._parse(text_data, bytes_data)
            if raw["type"] not in inbound.FRAME_TYPES:
                raise FrameError("unknown_type", f"Unknown frame type {raw['type'][:40]!r}.")
            if raw["type"] not in ("hello", "ping") and self.visitor is None:
                raise FrameError("hello_required", "Send a hello frame first.")
            try:
                frame = inbound.frame_validate(raw)
            except inbound.FrameInvalid as exc:
                raise FrameError("bad_frame", exc.detail) from exc
            try:
                await self._dispatch(frame)
            except DatabaseError as exc:
                # PostgreSQL restarting or unreachable: nothing was acked, so nothing is lost; the
                # widget resends after retry_after and the client id keeps the resend single.
                log.warning("ws_database_unavailable", error=type(exc).__name__, frame_type=raw["type"])
                raise _unavailable(
                    "The service is briefly unavailable; resend shortly.",
                    client_id=_echoable_client_id(raw.get("client_id")),
                ) from exc
        except FrameError as exc:
            close = exc.extra.pop("close", False)
            await self._send_frame(frames.error_frame(exc.code, exc.detail, **exc.extra))
            if exc.code == "too_large" and close:
                await self.close(code=CLOSE_TOO_BIG)
            elif self._abusive():
                log.info("ws_abuse_closed", conversation_id=getattr(self.conversation, "pk", None))
                await self.close(code=CLOSE_POLICY)

    def _abusive(self) -> bool:
        """Count one error frame; True once ABUSE_MAX_ERRORS fell within the window."""
        now = time.monotonic()
        self._error_times.append(now)
        return len(self._error_times) == ABUSE_MAX_ERRORS and now - self._error_times[0] <= ABUSE_WINDOW_SECONDS

    # -- parsing ------------------------------------------------------------------------------

    def _parse(self, text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
        if text_data is None:
            raise FrameError("bad_frame", "Binary frames are not supported; send JSON text.")
        size = len(text_data.encode("utf-8", "surrogatepass"))
        if size > settings.CHAT_MAX_FRAME_BYTES:
            raise FrameError(
                "too_large",
                f"Frames are limited to {settings.CHAT_MAX_FRAME_BYTES} bytes.",
                close=size > ABUSIVE_FRAME_FACTOR * settings.CHAT_MAX_FRAME_BYTES,
            )
        if _json_depth(text_data) > MAX_JSON_DEPTH:
            # Refused before parsing: a RecursionError inside CPython 3.11's C JSON scanner leaves
            # the thread's recursion accounting broken (later ast/compile calls fail).
            raise FrameError("bad_frame", f"Frames may nest at most {MAX_JSON_DEPTH} levels deep.")
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError) as exc:
            raise FrameError("bad_json", "The frame is not valid JSON.") from exc
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise FrameError("bad_frame", "A frame is a JSON object with a string 'type'.")
        return frame

    async def _dispatch(self, frame: inbound.InboundFrame) -> None:
        match frame:
            case inbound.HelloFrame():
                await self._on_hello(frame)
            case inbound.MessageFrame():
                await self._on_message(frame)
            case inbound.ResumeFrame():
                await self._on_resume(frame)
            case inbound.TypingFrame():
                await self._on_typing(frame)
            case inbound.OfflineTicketFrame():
                await self._on_offline_ticket(frame)
            case inbound.FeedbackFrame():
                await self._on_feedback(frame)
            case inbound.CsatFrame():
                await self._on_csat(frame)
            case inbound.PingFrame():
                await self._on_ping()

    # -- handlers -----------------------------------------------------------------------------

    async def _on_hello(self, frame: inbound.HelloFrame) -> None:
        version = frame.version
        if version is None:
            raise FrameError(
                "bad_frame",
                "Unsupported protocol version; this server speaks "
                + " and ".join(f"v{v}" for v in frames.SUPPORTED_VERSIONS)
                + ".",
            )
        try:
            user_id = hello_services.hello_identity_check(
                bot=self.bot,
                user_id=frame.user_id,
                user_hash=frame.user_hash,
                user_hash_expires=frame.user_hash_expires,
            )
        except hello_services.HelloRefused as exc:
            raise FrameError(exc.code, exc.detail) from exc
        # v1 promises a conversation in every welcome; v2 creates it with the first message, where
        # the new-conversation limit is spent instead.
        start = version == 1
        # Before unbinding: a refused hello leaves the connection as it was.
        retry_after = self._hello_budget.hit()
        if retry_after is None:
            retry_after = await database_sync_to_async(self._hello_throttled)(
                starts_conversation=start and not frame.visitor_token
            )
        if retry_after is not None:
            raise FrameError(
                "rate_limited",
                "Too many hellos or new conversations; wait before trying again.",
                retry_after=retry_after,
            )
        if self.conversation is not None:
            await self._groups.leave(self.conversation.pk)
        self.conversation, self.visitor, self.user_id = None, None, ""
        try:
            opened = await database_sync_to_async(hello_services.hello_do)(
                bot=self.bot,
                token=frame.visitor_token,
                user_id=user_id,
                locale=frame.locale,
                channel=self.conversation_channel,
                start=start,
            )
        except hello_services.HelloRefused as exc:
            raise FrameError(exc.code, exc.detail) from exc
        # Join before reading the replay: a reply stored in between arrives twice rather than never;
        # the client dedupes by seq.
        if opened.conversation is not None:
            try:
                await self._groups.join(opened.conversation.pk)
            except GroupUnavailable as exc:
                raise _unavailable("The chat cannot deliver replies right now; send hello again shortly.") from exc
        welcome = await database_sync_to_async(_welcome)(
            bot=self.bot, opened=opened, last_seq=frame.last_seq or 0, version=version
        )
        self.conversation, self.visitor, self.user_id = opened.conversation, opened, user_id
        await self._send_frame(welcome)

    def _hello_throttled(self, *, starts_conversation: bool) -> int | None:
        try:
            return limits.hello_throttle(bot=self.bot, client_ip=self._client_ip()) or (
                limits.conversation_start_throttle(bot=self.bot, client_ip=self._client_ip())
                if starts_conversation
                else None
            )
        except ratelimit.RateLimitUnavailable as exc:
            raise _unavailable("New conversations cannot be started right now; try again shortly.") from exc

    def _client_ip(self) -> str:
        return str((self.scope.get("client") or ["unknown"])[0])

    async def _on_message(self, frame: inbound.MessageFrame) -> None:
        if self.conversation is None:
            await self._on_first_message(frame)
            return
        client_id = frame.client_id
        echo_id = _echoable_client_id(client_id)
        try:
            retry_after = await database_sync_to_async(limits.message_send_throttle)(
                conversation=self.conversation, client_ip=self._client_ip()
            )
        except ratelimit.RateLimitUnavailable as exc:
            # Fail closed (issue #17): without the limit a script could queue turns without bound.
            raise _unavailable(
                "Messages cannot be accepted right now; nothing was stored. Resend shortly.", client_id=echo_id
            ) from exc
        if retry_after is not None:
            raise FrameError(
                "rate_limited", "You are sending messages too fast.", retry_after=retry_after, client_id=echo_id
            )
        try:
            received = await database_sync_to_async(user_message_receive)(
                conversation=self.conversation, client_id=client_id, text=frame.text
            )
        except MessageRejected as exc:
            raise FrameError(exc.code, exc.detail, client_id=echo_id) from exc
        except (BrokerUnavailable, RedisError, OSError) as exc:
            # Stored, but its turn could not be queued (the broker is Redis). No ack: the widget
            # resends the same client_id, which answers the stored message and queues the turn again.
            log.warning("ws_turn_enqueue_failed", conversation_id=self.conversation.pk, error=repr(exc))
            raise _unavailable("The message could not be queued; resend it shortly.", client_id=echo_id) from exc
        await self._send_frame(
            frames.ack_frame(
                client_id=received.message.client_id or "", message=received.message, duplicate=not received.created
            )
        )
        # Cheap insurance that the reply reaches this socket live even if Redis lost the group.
        await self._group_rejoin()
        if received.created:
            self._sent_here.append(received.message.pk)
            # Other tabs of this visitor show the message at once (if Redis is down, on resume).
            await self._groups.broadcast(self.conversation.pk, frames.message_event(received.message))

    async def _on_first_message(self, frame: inbound.MessageFrame) -> None:
        """The message that opens the visitor's conversation (v2): row and message in one
        transaction, then the ack carries `conversation_id` and the conversation's visitor token."""
        assert self.visitor is not None
        echo_id = _echoable_client_id(frame.client_id)
        try:
            first = await database_sync_to_async(conversation_services.conversation_first_message_receive)(
                bot=self.bot,
                visitor_id=self.visitor.visitor_id,
                user_id=self.user_id,
                locale=self.visitor.locale,
                channel=self.conversation_channel,
                client_id=frame.client_id,
                text=frame.text,
                client_ip=self._client_ip(),
            )
        except MessageRejected as exc:
            raise FrameError(exc.code, exc.detail, client_id=echo_id) from exc
        except conversation_services.ConversationThrottled as exc:
            detail = (
                "Too many new conversations; wait before trying again."
                if exc.starting
                else "You are sending messages too fast."
            )
            raise FrameError("rate_limited", detail, retry_after=exc.retry_after, client_id=echo_id) from exc
        except conversation_services.ConversationForbidden as exc:
            raise FrameError("forbidden", str(exc), client_id=echo_id) from exc
        except ratelimit.RateLimitUnavailable as exc:
            raise _unavailable(
                "Messages cannot be accepted right now; nothing was stored. Resend shortly.", client_id=echo_id
            ) from exc
        except (BrokerUnavailable, RedisError, OSError) as exc:
            # Committed (conversation and message), turn not queued: the resend of this client_id
            # finds both (a duplicate) and queues the turn again, as for any message.
            log.warning("ws_turn_enqueue_failed", visitor_first_message=True, error=repr(exc))
            raise _unavailable("The message could not be queued; resend it shortly.", client_id=echo_id) from exc
        conversation, received = first.conversation, first.received
        self.conversation = conversation
        if first.started:
            log.info("ws_conversation_started", conversation_id=conversation.pk)
        # Logged if it fails; stored all the same: `ping` re-joins, a reconnect replays the reply.
        with contextlib.suppress(GroupUnavailable):
            await self._groups.join(conversation.pk)
        await self._send_frame(
            frames.ack_frame(
                client_id=received.message.client_id or "",
                message=received.message,
                duplicate=not received.created,
                conversation=conversation,
                visitor_token=visitor_tokens.visitor_token_issue(conversation=conversation),
            )
        )
        # The turn was queued at commit, before the join: whatever was stored after this message
        # meanwhile is sent now (the client dedupes by id and seq).
        for message in await database_sync_to_async(conversation_selectors.messages_after)(
            conversation_id=conversation.pk, after_seq=received.message.seq
        ):
            await self._send_frame(frames.message_frame(message))
        if received.created:
            self._sent_here.append(received.message.pk)
            await self._groups.broadcast(conversation.pk, frames.message_event(received.message))

    async def _on_resume(self, frame: inbound.ResumeFrame) -> None:
        if self.conversation is None:
            return  # nothing stored yet: nothing to replay
        replay = await database_sync_to_async(conversation_selectors.messages_after)(
            conversation_id=self.conversation.pk, after_seq=frame.last_seq or 0
        )
        for message in replay:
            await self._send_frame(frames.message_frame(message))

    async def _on_feedback(self, frame: inbound.FeedbackFrame) -> None:
        if self.conversation is None:
            raise _no_conversation()
        comment = text_scrub(frame.comment or "").strip()
        if not 0 < frame.message_id <= inbound.MAX_CLIENT_INT:
            raise FrameError("not_found", "No such bot message in this conversation.")
        await self._feedback_throttled()
        try:
            await database_sync_to_async(conversation_services.message_feedback_record)(
                conversation=self.conversation, message_id=frame.message_id, rating=frame.rating, comment=comment
            )
        except Message.DoesNotExist as exc:
            raise FrameError("not_found", "No such bot message in this conversation.") from exc
        await self._send_frame({"type": "feedback_ack", "message_id": frame.message_id, "rating": frame.rating})

    async def _on_csat(self, frame: inbound.CsatFrame) -> None:
        if self.conversation is None:
            raise _no_conversation()
        await self._feedback_throttled()
        await database_sync_to_async(conversation_services.conversation_csat_record)(
            conversation=self.conversation, score=frame.score
        )
        await self._send_frame({"type": "csat_ack", "score": frame.score})

    async def _feedback_throttled(self) -> None:
        """feedback and csat are database writes: limited together per conversation (fails open)."""
        assert self.conversation is not None
        retry_after = await database_sync_to_async(limits.feedback_throttle)(conversation=self.conversation)
        if retry_after is not None:
            raise FrameError("rate_limited", "Too many ratings; wait before rating again.", retry_after=retry_after)

    async def _on_typing(self, frame: inbound.TypingFrame) -> None:
        """To the agents reading along (inbox pages join the conversation's group); dropped before
        the first message (nobody to tell). The widget throttles it; the frame budget bounds it."""
        if self.conversation is not None:
            await self._groups.broadcast(self.conversation.pk, frames.typing_from_event(role="visitor", on=frame.on))

    async def _on_offline_ticket(self, frame: inbound.OfflineTicketFrame) -> None:
        assert self.visitor is not None
        echo_id = _echoable_client_id(frame.client_id)
        if self.conversation is None:  # the form is offered by a bot reply: there is a conversation
            raise FrameError("no_conversation", "Send a message first.", client_id=echo_id)
        await self._feedback_throttled()
        try:
            await database_sync_to_async(offline_ticket_leave)(
                bot=self.bot,
                visitor_id=self.visitor.visitor_id,
                conversation=self.conversation,
                client_id=frame.client_id,
                name=frame.name,
                email=frame.email,
                message=frame.message,
            )
        except MessageRejected as exc:
            raise FrameError(exc.code, exc.detail, client_id=echo_id) from exc
        await self._send_frame({"type": "offline_ticket_ack", "client_id": echo_id})

    async def _on_ping(self) -> None:
        await self._send_frame({"type": "pong"})
        await self._group_rejoin()

    # -- channel-layer events from the worker -------------------------------------------------

    async def chat_delta(self, event: dict[str, Any]) -> None:
        await self._send_frame(event["frame"])

    async def chat_frame(self, event: dict[str, Any]) -> None:
        frame = event["frame"]
        if frame.get("type") == "message" and frame.get("role") == "user" and frame.get("id") in self._sent_here:
            return
        if frame.get("type") == "typing" and frame.get("role") == "visitor":
            return  # for the agents; the visitor knows they are typing
        await self._send_frame(frame)

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # An echoed client value held a lone surrogate: the server could not encode the frame
            # as UTF-8. The escaped form is still valid JSON and valid UTF-8.
            text = json.dumps(frame, ensure_ascii=True)
        await self.send(text_data=text)


MAX_JSON_DEPTH = 16


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _welcome(*, bot: Bot, opened: hello_services.HelloOpened, last_seq: int, version: int) -> dict[str, Any]:
    conversation = opened.conversation
    if conversation is None:  # v2, no visitor message yet: nothing to replay, a visitor token
        return frames.welcome_frame(
            bot=bot,
            conversation=None,
            visitor_token=visitor_tokens.visitor_token_issue_pending(bot_id=bot.pk, visitor_id=opened.visitor_id),
            last_seq=0,
            replay=[],
            v=version,
        )
    replay = conversation_selectors.messages_after(conversation_id=conversation.pk, after_seq=last_seq)
    return frames.welcome_frame(
        bot=conversation.bot,
        conversation=conversation,
        visitor_token=visitor_tokens.visitor_token_issue(conversation=conversation),
        last_seq=conversation_selectors.conversation_last_seq(conversation_id=conversation.pk),
        replay=replay,
        v=version,
        handoff=conversation_selectors.handoff_state(conversation=conversation),
    )


def _no_conversation() -> FrameError:
    return FrameError("no_conversation", "There is no conversation to rate yet: send a message first.")


def _unavailable(detail: str, **extra: Any) -> FrameError:
    return FrameError("unavailable", detail, retry_after=UNAVAILABLE_RETRY_AFTER, **extra)


def _echoable_client_id(client_id: object) -> str | None:
    """The client_id to echo in an error: only what could be one (not a 10 KB string or an object)."""
    return client_id if isinstance(client_id, str) and len(client_id) <= 64 else None
