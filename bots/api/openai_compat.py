"""POST /v1/chat/completions and GET /v1/models, shaped like OpenAI's, so the official client works.

A request is one turn through the same turn service as the widget: the view stores the
conversation (a new API conversation holding the history the client sent), enqueues the turn
through `user_message_receive`, and relays the worker's events from the channel layer: as SSE
chunks when `stream` is true, as one JSON body otherwise. No model runs in the web process.
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
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from bots.api.auth import api_key_from_request
from bots.api.openai_schemas import (
    ChatCompletionRequest,
    OpenAIError,
    chunk_body,
    completion_body,
    model_entry,
    parse_chat_request,
    usage_chunk_body,
)
from bots.frames import conversation_group
from bots.models import ApiKey, Bot, Conversation, Message
from bots.services.api_keys import api_key_bot, api_key_bots
from bots.services.conversations import conversation_start
from bots.services.messages import MessageRejected, conversation_history_import, user_message_receive

log = structlog.get_logger(__name__)
RECEIVE_SLICE_SECONDS = 2.0


def _error(exc: OpenAIError) -> JsonResponse:
    return JsonResponse(exc.body(), status=exc.status)


async def _authenticate(request: HttpRequest) -> ApiKey:
    api_key = await database_sync_to_async(api_key_from_request)(request)
    if api_key is None:
        raise OpenAIError(401, "Missing or invalid API key. Send 'Authorization: Bearer <key>'.",
                          type_="invalid_request_error", code="invalid_api_key")
    return api_key


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
async def chat_completions(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _error(OpenAIError(405, "Use POST."))
    try:
        api_key = await _authenticate(request)
        try:
            body = json.loads(request.body or b"null")
        except ValueError as exc:
            raise OpenAIError(400, "The body is not valid JSON.") from exc
        chat = parse_chat_request(body)
        bot = await database_sync_to_async(api_key_bot)(api_key=api_key, slug=chat.model)
        if bot is None:
            raise OpenAIError(404, f"The model '{chat.model}' does not exist or this key may not use it.",
                              code="model_not_found", param="model")
    except OpenAIError as exc:
        return _error(exc)

    layer = get_channel_layer()
    channel = await layer.new_channel()
    conversation = await database_sync_to_async(conversation_start)(bot=bot, channel=Conversation.Channel.API)
    group = conversation_group(conversation.pk)
    # Listen before the turn is enqueued, so not even a template reply can be missed.
    await layer.group_add(group, channel)
    try:
        user_message = await database_sync_to_async(_store_turn)(conversation=conversation, chat=chat)
    except OpenAIError as exc:
        await layer.group_discard(group, channel)
        return _error(exc)
    events = _turn_events(layer=layer, channel=channel, group=group, user_message_id=user_message.pk)
    if chat.stream:
        response = StreamingHttpResponse(_sse(events, chat=chat, bot=bot, user_message_id=user_message.pk),
                                         content_type="text/event-stream")
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
        if chat.history:
            conversation_history_import(conversation=conversation, history=chat.history)
        received = user_message_receive(
            conversation=conversation, client_id=uuid.uuid4().hex, text=chat.user_text,
            turn_options={"temperature": chat.temperature, "max_tokens": chat.max_tokens})
    except MessageRejected as exc:
        raise OpenAIError(400, exc.detail, code=exc.code, param="messages") from exc
    return received.message


async def _turn_events(*, layer: Any, channel: str, group: str,
                       user_message_id: int) -> AsyncIterator[tuple[str, Any]]:
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
            except asyncio.TimeoutError:
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
                fresh = text[max(0, sent - offset):] if offset <= sent else ""
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
        await layer.group_discard(group, channel)


@database_sync_to_async
def _stored_reply(user_message_id: int) -> Message | None:
    return Message.objects.filter(reply_to_id=user_message_id).first()


async def _sse(events: AsyncIterator[tuple[str, Any]], *, chat: ChatCompletionRequest, bot: Bot,
               user_message_id: int) -> AsyncIterator[str]:
    def data(body: dict[str, Any]) -> str:
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield data(chunk_body(user_message_id=user_message_id, model=bot.slug, delta={"role": "assistant", "content": ""}))
    async for kind, payload in events:
        if kind == "delta":
            yield data(chunk_body(user_message_id=user_message_id, model=bot.slug, delta={"content": payload}))
        elif kind == "error":
            yield data(OpenAIError(502, payload, type_="server_error", code="reply_failed").body())
            break
        elif kind == "final":
            yield data(chunk_body(user_message_id=user_message_id, model=bot.slug, delta={}, finish_reason="stop"))
            if chat.include_usage:
                yield data(usage_chunk_body(reply=payload, model=bot.slug))
    yield "data: [DONE]\n\n"
