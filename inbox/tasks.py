from __future__ import annotations

from celery import shared_task

from inbox import services


@shared_task(name="inbox.conversation_route")
def conversation_route(conversation_id: int) -> None:
    services.conversation_route(conversation_id=conversation_id)
