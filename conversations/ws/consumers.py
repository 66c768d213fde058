"""The widget's WebSocket: parses frames, dispatches on `type`, turns domain errors into error frames.

Thin on purpose: storage, tokens, limits and the turn live in services and selectors; ORM work
runs in `database_sync_to_async`. Per-connection state is only what the connection is bound to
(bot, conversation), kept on the instance, never on the class. Protocol: docs/protocol.md.
"""

from __future__ import annotations

import asyncio
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
from kombu.exceptions import OperationalError as BrokerUnavailable
from redis.exceptions import RedisError

from bots import selectors as bot_selectors
from bots.models import Bot, Conversation, Message
from chatplatform import ratelimit
from conversations import selectors as conversation_selectors
from conversations import visitor_tokens
from conversations.services import conversations as conversation_services
from conversations.services import limits
from conversations.services.identity import user_hash_valid
from conversations.services.messages import MessageRejected, text_scrub, user_message_receive
from conversations.ws import frames

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
# Largest integer a client may send where the server expects one (PostgreSQL bigint): bigger ones
# are refused as bad frames instead of reaching a query.
MAX_CLIENT_INT = 2**63 - 1


class FrameError(Exception):
    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra


class ChatConsumer(AsyncWebsocketConsumer):
    bot: Bot
    conversation: Conversation | None
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
            except (RedisError, OSError) as exc:
                log.warning("ws_channel_layer_lost", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                await self._group_join(quiet=True)
                continue
            return message

    async def _group_join(self, *, quiet: bool = False) -> None:
        """(Re-)join the bound conversation's group. Idempotent; also refreshes the group expiry."""
        if self.conversation is None:
            return
        try:
            await self.channel_layer.group_add(frames.conversation_group(self.conversation.pk), self.channel_name)
        except (RedisError, OSError) as exc:
            if not quiet:
                raise
            log.warning("ws_group_join_failed", error=repr(exc))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per-connection state only (one consumer instance per socket).
        self.conversation = None
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

    async def disconnect(self, code: int) -> None:
        if self.conversation is not None:
            try:
                await self.channel_layer.group_discard(
                    frames.conversation_group(self.conversation.pk), self.channel_name
                )
            except (RedisError, OSError) as exc:  # the membership expires on its own (group_expiry)
                log.warning("ws_group_discard_failed", error=repr(exc))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            # Counted before parsing: junk costs as much of the budget as a real frame.
            retry_after = self._frame_budget.hit()
            if retry_after is not None:
                raise FrameError("rate_limited", "Too many frames on this connection.", retry_after=retry_after)
            frame = self._parse(text_data, bytes_data)
            handler = self._handlers().get(frame["type"])
            if handler is None:
                raise FrameError("unknown_type", f"Unknown frame type {frame['type'][:40]!r}.")
            if frame["type"] not in ("hello", "ping") and self.conversation is None:
                raise FrameError("hello_required", "Send a hello frame first.")
            await handler(frame)
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

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[None]]]:
        return {
            "hello": self._on_hello,
            "message": self._on_message,
            "resume": self._on_resume,
            "typing": self._on_typing,
            "feedback": self._on_feedback,
            "csat": self._on_csat,
            "ping": self._on_ping,
        }

    # -- handlers -----------------------------------------------------------------------------

    async def _on_hello(self, frame: dict[str, Any]) -> None:
        if frame.get("v", frames.PROTOCOL_VERSION) != frames.PROTOCOL_VERSION:
            raise FrameError(
                "bad_frame", f"Unsupported protocol version; this server speaks v{frames.PROTOCOL_VERSION}."
            )
        last_seq = _int_field(frame, "last_seq", default=0)
        token = _optional_str_field(frame, "visitor_token")
        locale = text_scrub(_optional_str_field(frame, "locale") or "")[:16]
        user_id, user_hash = frame.get("user_id"), frame.get("user_hash")
        verified = user_id is not None and user_hash_valid(bot=self.bot, user_id=user_id, user_hash=user_hash)
        if user_id is not None and not verified:
            raise FrameError("forbidden", "user_hash does not match user_id.")
        if self.bot.require_identity_verification and not verified:
            raise FrameError("identity_required", "This bot requires identity verification (user_id, user_hash).")
        # Before unbinding: a refused hello leaves the connection as it was.
        retry_after = self._hello_budget.hit()
        if retry_after is None:
            retry_after = await database_sync_to_async(self._hello_throttled)(starts_conversation=not token)
        if retry_after is not None:
            raise FrameError(
                "rate_limited",
                "Too many hellos or new conversations; wait before trying again.",
                retry_after=retry_after,
            )
        if self.conversation is not None:
            try:
                await self.channel_layer.group_discard(
                    frames.conversation_group(self.conversation.pk), self.channel_name
                )
            except (RedisError, OSError) as exc:
                log.warning("ws_group_discard_failed", error=repr(exc))
            self.conversation = None
        welcome = await database_sync_to_async(self._hello_sync)(
            token=token, last_seq=last_seq, locale=locale, user_id=user_id if verified else ""
        )
        self.conversation = welcome.pop("_conversation")
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

    def _hello_sync(self, *, token: str | None, last_seq: int, locale: str, user_id: str) -> dict[str, Any]:
        if token:
            try:
                conversation = conversation_selectors.conversation_from_visitor_token(bot=self.bot, token=token)
            except conversation_selectors.VisitorTokenExpired as exc:
                # The code the protocol gives for an expired token: the widget forgets it and starts over.
                raise FrameError(
                    "not_found",
                    "The visitor token has expired; start a new conversation by sending hello without a token.",
                ) from exc
            except conversation_selectors.VisitorTokenInvalid as exc:
                raise FrameError(
                    "forbidden",
                    "The visitor token is not valid for this bot; start a new "
                    "conversation by sending hello without a token.",
                ) from exc
            # A conversation opened with a verified identity belongs to that user: another user's
            # identity, or none (a token left behind after logout), does not reopen it.
            if conversation.user_id and conversation.user_id != user_id:
                raise FrameError("forbidden", "This conversation belongs to another user.")
        else:
            conversation = conversation_services.conversation_start(
                bot=self.bot, user_id=user_id, locale=locale, channel=self.conversation_channel
            )
        # Join before reading the replay: a reply stored in between arrives twice rather than never;
        # the client dedupes by seq.
        from asgiref.sync import async_to_sync

        for attempt in range(3):
            try:
                async_to_sync(self.channel_layer.group_add)(
                    frames.conversation_group(conversation.pk), self.channel_name
                )
                break
            except (RedisError, OSError) as exc:
                # The first command after a Redis restart fails on a stale pooled connection.
                if attempt == 2:
                    log.warning("ws_hello_group_join_failed", conversation_id=conversation.pk, error=repr(exc))
                    raise _unavailable("The chat cannot deliver replies right now; send hello again shortly.") from exc
                time.sleep(0.2 * (attempt + 1))
        replay = conversation_selectors.messages_after(conversation_id=conversation.pk, after_seq=last_seq)
        welcome = frames.welcome_frame(
            conversation=conversation,
            visitor_token=visitor_tokens.visitor_token_issue(conversation=conversation),
            last_seq=conversation_selectors.conversation_last_seq(conversation_id=conversation.pk),
            replay=replay,
        )
        welcome["_conversation"] = conversation
        return welcome

    async def _on_message(self, frame: dict[str, Any]) -> None:
        assert self.conversation is not None
        client_id = frame.get("client_id")
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
                conversation=self.conversation, client_id=client_id, text=frame.get("text")
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
        await self._group_join(quiet=True)
        if received.created:
            self._sent_here.append(received.message.pk)
            # Other tabs of this visitor show the message at once.
            try:
                await self.channel_layer.group_send(
                    frames.conversation_group(self.conversation.pk), frames.message_event(received.message)
                )
            except (RedisError, OSError) as exc:  # stored and acked; other tabs get it on resume
                log.warning("ws_broadcast_failed", error=repr(exc))

    async def _on_resume(self, frame: dict[str, Any]) -> None:
        assert self.conversation is not None
        replay = await database_sync_to_async(conversation_selectors.messages_after)(
            conversation_id=self.conversation.pk, after_seq=_int_field(frame, "last_seq", default=0)
        )
        for message in replay:
            await self._send_frame(frames.message_frame(message))

    async def _on_typing(self, frame: dict[str, Any]) -> None:
        """Accepted for the future human-agent inbox; nothing listens yet."""
        if not isinstance(frame.get("on", False), bool):
            raise FrameError("bad_frame", "typing needs a boolean 'on'.")

    async def _on_feedback(self, frame: dict[str, Any]) -> None:
        assert self.conversation is not None
        message_id, rating = frame.get("message_id"), frame.get("rating")
        if (
            not isinstance(message_id, int)
            or isinstance(message_id, bool)
            or not isinstance(rating, str)
            or rating not in Message.Feedback.values
        ):
            raise FrameError("bad_frame", "feedback needs an integer message_id and rating 'up' or 'down'.")
        comment = text_scrub(_optional_str_field(frame, "comment") or "").strip()
        if not 0 < message_id <= MAX_CLIENT_INT:
            raise FrameError("not_found", "No such bot message in this conversation.")
        await self._feedback_throttled()
        try:
            await database_sync_to_async(conversation_services.message_feedback_record)(
                conversation=self.conversation, message_id=message_id, rating=rating, comment=comment
            )
        except Message.DoesNotExist as exc:
            raise FrameError("not_found", "No such bot message in this conversation.") from exc
        await self._send_frame({"type": "feedback_ack", "message_id": message_id, "rating": rating})

    async def _on_csat(self, frame: dict[str, Any]) -> None:
        assert self.conversation is not None
        score = frame.get("score")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise FrameError("bad_frame", "csat needs an integer score from 1 to 5.")
        await self._feedback_throttled()
        await database_sync_to_async(conversation_services.conversation_csat_record)(
            conversation=self.conversation, score=score
        )
        await self._send_frame({"type": "csat_ack", "score": score})

    async def _feedback_throttled(self) -> None:
        """feedback and csat are database writes: limited together per conversation (fails open)."""
        assert self.conversation is not None
        retry_after = await database_sync_to_async(limits.feedback_throttle)(conversation=self.conversation)
        if retry_after is not None:
            raise FrameError("rate_limited", "Too many ratings; wait before rating again.", retry_after=retry_after)

    async def _on_ping(self, frame: dict[str, Any]) -> None:
        await self._send_frame({"type": "pong"})
        await self._group_join(quiet=True)

    # -- channel-layer events from the worker -------------------------------------------------

    async def chat_delta(self, event: dict[str, Any]) -> None:
        await self._send_frame(event["frame"])

    async def chat_frame(self, event: dict[str, Any]) -> None:
        frame = event["frame"]
        if frame.get("type") == "message" and frame.get("role") == "user" and frame.get("id") in self._sent_here:
            return
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
_JSON_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _json_depth(text: str) -> int:
    """Deepest bracket nesting outside strings (an upper bound is enough: this only guards parsing)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth = depth + 1 if bracket in "[{" else depth - 1
        deepest = max(deepest, depth)
    return deepest


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _unavailable(detail: str, **extra: Any) -> FrameError:
    return FrameError("unavailable", detail, retry_after=UNAVAILABLE_RETRY_AFTER, **extra)


def _echoable_client_id(client_id: object) -> str | None:
    """The client_id to echo in an error: only what could be one (not a 10 KB string or an object)."""
    return client_id if isinstance(client_id, str) and len(client_id) <= 64 else None


def _optional_str_field(frame: dict[str, Any], name: str) -> str | None:
    value = frame.get(name)
    if value is not None and not isinstance(value, str):
        raise FrameError("bad_frame", f"{name} must be a string.")
    return value


def _int_field(frame: dict[str, Any], name: str, *, default: int) -> int:
    value = frame.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_CLIENT_INT:
        raise FrameError("bad_frame", f"{name} must be a non-negative integer (at most 2**63 - 1).")
    return value
