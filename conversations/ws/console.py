"""The admin's test console: the widget protocol, for staff, with the pipeline's view of each turn.

Same consumer, same turn service as the widget; only who may connect differs (a staff session
with permission to change the bot, from the platform's own origin, instead of the bot's allowed
origins) and bot messages carry `details` (intent, confidence, entities, action, timings).
"""

from __future__ import annotations

from typing import Any, cast

from channels.db import database_sync_to_async

from bots.models import Bot, Conversation, Message
from conversations.ws.consumers import CLOSE_FORBIDDEN, ChatConsumer, _header


def _same_origin(scope: dict[str, Any]) -> bool:
    """Cross-site WebSocket hijacking guard: browsers send Origin; it must be this host."""
    origin, host = _header(scope, b"origin"), _header(scope, b"host")
    return bool(origin and host) and cast(str, origin).split("://", 1)[-1] == host


@database_sync_to_async
def _bot_for_staff(user: Any, bot_id: int) -> Bot | None:
    if not (user and user.is_authenticated and user.is_staff and user.has_perm("bots.change_bot")):
        return None
    return Bot.objects.filter(pk=bot_id).first()


@database_sync_to_async
def turn_details(message_id: int) -> dict[str, Any]:
    reply = Message.objects.select_related("reply_to").get(pk=message_id)
    return {
        "intent": reply.intent or None,
        "confidence": reply.confidence,
        "entities": reply.entities,
        "action": reply.action,
        "model": reply.model or None,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "time_to_first_token_ms": reply.time_to_first_token_ms,
        "total_time_ms": reply.total_time_ms,
    }


class ConsoleConsumer(ChatConsumer):
    conversation_channel = Conversation.Channel.CONSOLE

    async def connect(self) -> None:
        bot = await _bot_for_staff(self.scope.get("user"), int(self.scope["url_route"]["kwargs"]["bot_id"]))
        if bot is None or not _same_origin(self.scope):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.bot = bot
        await self.accept()

    async def chat_frame(self, event: dict[str, Any]) -> None:
        frame = event["frame"]
        if frame.get("type") == "message" and frame.get("role") == "bot":
            frame = {**frame, "details": await turn_details(frame["id"])}
        await self._send_frame(frame)
