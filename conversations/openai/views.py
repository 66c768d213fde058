"""POST /v1/chat/completions and GET /v1/models, shaped like OpenAI's, so the official client works.

A request is one turn through the same turn service as the widget: the view stores the
conversation (a new API conversation holding the history the client sent), enqueues the turn
through `user_message_receive`, and relays the worker's events from the channel layer: as SSE
chunks when `stream` is true, as one JSON body otherwise. No model runs in the web process.

Every request is checked before anything is stored (docs/api.md, "Limits"): the key and its
per-minute quota (429 + Retry-After), the body (size, UTF-8, JSON), then every message, cleaned
like widget text and bounded in number and size. Malformed input gets an OpenAI-shaped 4xx.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from bots.models import ApiKey, Bot, Conversation, Message
from bots.services.api_keys import api_key_bot, api_key_bots, api_key_throttle
from chatplatform.access.api_keys import api_key_from_request
from chatplatform.json_input import json_loads_bounded
from chatplatform.ratelimit import RateLimitUnavailable
from conversations.openai.protocol import (
    ChatCompletionRequest,
    OpenAIError,
    chunk_body,
    completion_body,
    model_entry,
    parse_chat_request,
    usage_chunk_body,
)
from conversations.services.conversations import conversation_start
from conversations.services.messages import (
    MessageRejected,
    conversation_history_import,
    text_scrub,
    user_message_receive,
)
from conversations.ws.groups import CHANNEL_LAYER_ERRORS, ConversationGroups, GroupUnavailable

log = structlog.get_logger(__name__)
RECEIVE_SLICE_SECONDS = 2.0


def _error(exc: OpenAIError) -> JsonResponse:
    response = JsonResponse(exc.body(), status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return response


async def _authenticate(request: HttpRequest) -> ApiKey:
    """The request's API key, counted against its quota. Raises OpenAIError (401, 429, and 503
    while Redis cannot count: the quota fails closed)."""
    try:
        api_key, retry_after = await database_sync_to_async(_key_and_quota)(request)
    except RateLimitUnavailable as exc:
        raise OpenAIError.quota_unavailable() from exc
    if api_key is None:
        raise OpenAIError(
            401,
            "Missing or invalid API key. Send 'Authorization: Bearer <key>'.",
            type_="invalid_request_error",
            code="invalid_api_key",
        )
    if retry_after is not None:
        raise OpenAIError.rate_limited(retry_after)
    return api_key


def _key_and_quota(request: HttpRequest) -> tuple[ApiKey | None, int | None]:
    api_key = api_key_from_request(request)
    return api_key, (api_key_throttle(api_key=api_key) if api_key is not None else None)


def _json_body(request: HttpRequest) -> Any:
    """The request body as JSON. Raises OpenAIError: 413 over API_MAX_REQUEST_BYTES, 400 for
    anything that is not UTF-8 JSON (never a 500: deep nesting and 5,000-digit numbers included)."""
    limit = settings.API_MAX_REQUEST_BYTES
    too_large = OpenAIError(413, f"The request body is limited to {limit} bytes.", code="request_too_large")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large  # refused before it is read into memory
    try:
        raw = request.body
    except RequestDataTooBig as exc:  # over DATA_UPLOAD_MAX_MEMORY_SIZE
        raise too_large from exc
    if len(raw) > limit:  # a body without (or with a wrong) Content-Length
        raise too_large
    try:
        return json_loads_bounded(raw.decode("utf-8") if raw else "null")
    except UnicodeDecodeError as exc:
        raise OpenAIError(400, "The body is not valid UTF-8.") from exc
    except ValueError as exc:  # JsonTooDeep included: "[[[[..." nested thousands deep
        raise OpenAIError(400, "The body is not valid JSON.") from exc


@csrf_exempt
async def models_list(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return _error(OpenAIError(405, "Use GET."))
    try:
        api_key = await _authenticate(request)
    except OpenAIError as exc:
        return _error(exc)
    bots = await database_sync_to_async(api_key_bots)(api_key=api_key)
    return JsonResponse({"object": "list", "data": [model_entry(b.slug, int(b.created_at.timestamp())) for b in bots]})


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    if request.method != "POST":
        return _error(OpenAIError(405, "Use POST."))
    try:
        api_key = await _authenticate(request)
        # The whole request is validated and cleaned here, before any row exists: a refused
        # request leaves no conversation behind.
        chat = parse_chat_request(_json_body(request))
        bot = await database_sync_to_async(api_key_bot)(api_key=api_key, slug=chat.model)
        if bot is None:
            raise OpenAIError(
                404,
                f"The model '{text_scrub(chat.model)}' does not exist or this key may not use it.",
                code="model_not_found",
                param="model",
            )
    except OpenAIError as exc:
        return _error(exc)

    layer = get_channel_layer()
    channel = await layer.new_channel()
    conversation = await database_sync_to_async(conversation_start)(bot=bot, channel=Conversation.Channel.API)
    groups = ConversationGroups(layer, channel)
    # Listen before the turn is enqueued, so not even a template reply can be missed. The join
    # retries past a stale pooled connection (a restarted Redis); a Redis that stays down is a 503.
    try:
        await groups.join(conversation.pk)
    except GroupUnavailable:
        return _error(
            OpenAIError(503, "The chat service is busy; retry shortly.", type_="server_error", code="unavailable")
        )
    try:
        user_message = await database_sync_to_async(_store_turn)(conversation=conversation, chat=chat)
    except OpenAIError as exc:
        await groups.leave(conversation.pk)
        return _error(exc)
    events = _turn_events(
        layer=layer, channel=channel, groups=groups, conversation_id=conversation.pk, user_message_id=user_message.pk
    )
    if chat.stream:
        response = StreamingHttpResponse(
            _sse(events, chat=chat, bot=bot, user_message_id=user_message.pk), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    reply: Message | None = None
    async for kind, payload in events:
        if kind == "final":
            reply = payload
        elif kind == "error":
            return _error(OpenAIError(502, payload, type_="server_error", code="reply_failed"))
    assert reply is not None
    return JsonResponse(completion_body(reply=reply, model=bot.slug))


def _store_turn(*, conversation: Conversation, chat: ChatCompletionRequest) -> Message:
    try:
        # One transaction: never a conversation with half its history; the turn is enqueued on commit.
        with transaction.atomic():
            if chat.history:
                conversation_history_import(conversation=conversation, history=chat.history)
            received = user_message_receive(
                conversation=conversation,
                client_id=uuid.uuid4().hex,
                text=chat.user_text,
                turn_options={"temperature": chat.temperature, "max_tokens": chat.max_tokens},
            )
    except MessageRejected as exc:  # not expected: parse_chat_request applies the same rules first
        raise OpenAIError(400, exc.detail, code=exc.code, param="messages") from exc
    return received.message


async def _turn_events(
    *, layer: Any, channel: str, groups: ConversationGroups, conversation_id: int, user_message_id: int
) -> AsyncIterator[tuple[str, Any]]:
    """Yields ("delta", text) in order without repeats, then ("final", Message) or ("error", detail).

    The channel layer may drop events; the database is the truth, so every quiet slice checks
    whether the reply is already stored.
    """
    sent = 0
    deadline = asyncio.get_running_loop().time() + settings.TURN_HARD_TIME_LIMIT + 10
    try:
        while asyncio.get_running_loop().time() < deadline:
            try:
                event = await asyncio.wait_for(layer.receive(channel), timeout=RECEIVE_SLICE_SECONDS)
            except TimeoutError:  # a quiet slice (TimeoutError is an OSError: it goes first)
                event = None
            except CHANNEL_LAYER_ERRORS as exc:  # live events are lost meanwhile; the database is not
                log.warning("openai_channel_layer_lost", error=repr(exc))
                await asyncio.sleep(0.2)
                await groups.rejoin(conversation_id)
                event = None
            if event is None:
                reply = await _stored_reply(user_message_id)
                if reply is not None:
                    if len(reply.text) > sent:
                        yield "delta", reply.text[sent:]
                    yield "final", reply
                    return
                continue
            frame = event.get("frame") or {}
            if frame.get("type") == "delta" and frame.get("reply_to") == user_message_id:
                offset, text = int(frame["offset"]), str(frame["text"])
                fresh = text[max(0, sent - offset) :] if offset <= sent else ""
                if fresh:
                    sent += len(fresh)
                    yield "delta", fresh
            elif frame.get("type") == "error" and frame.get("reply_to") == user_message_id:
                yield "error", str(frame.get("detail"))
                return
            elif frame.get("type") == "message" and frame.get("reply_to") == user_message_id:
                reply = await _stored_reply(user_message_id)
                assert reply is not None
                if len(reply.text) > sent:
                    yield "delta", reply.text[sent:]
                yield "final", reply
                return
        yield "error", "The reply timed out."
    finally:
        await groups.leave(conversation_id)


@database_sync_to_async
def _stored_reply(user_message_id: int) -> Message | None:
    return Message.objects.filter(reply_to_id=user_message_id).first()


async def _sse(
    events: AsyncIterator[tuple[str, Any]], *, chat: ChatCompletionRequest, bot: Bot, user_message_id: int
) -> AsyncIterator[str]:
    def data(body: dict[str, Any]) -> str:
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    # The role rides on the first chunk that carries text, as vLLM sends it: a role-only chunk up
    # front would come before the model produced anything, and clients timing the first chunk
    # would report a time to first token the visitor never saw.
    role_sent = False

    def delta(content: str) -> str:
        nonlocal role_sent
        body = {"content": content} if role_sent else {"role": "assistant", "content": content}
        role_sent = True
        return data(chunk_body(user_message_id=user_message_id, model=bot.slug, delta=body))

    async for kind, payload in events:
        if kind == "delta":
            yield delta(payload)
        elif kind == "error":
            yield data(OpenAIError(502, payload, type_="server_error", code="reply_failed").body())
            break
        elif kind == "final":
            if not role_sent:
                yield delta("")
            yield data(chunk_body(user_message_id=user_message_id, model=bot.slug, delta={}, finish_reason="stop"))
            if chat.include_usage:
                yield data(usage_chunk_body(reply=payload, model=bot.slug))
    yield "data: [DONE]\n\n"
