"""Celery tasks of the inbox: thin, named after the services they call (sent by name)."""

from __future__ import annotations

from celery import shared_task

from inbox.services import routing


@shared_task(name=routing.ROUTE_TASK, ignore_result=True)
def conversation_route(conversation_id: int) -> None:
    """Sent after every queueing: the brief for whoever takes it, then an agent if one has room."""
    routing.conversation_route(conversation_id=conversation_id)


@shared_task(name=routing.QUEUE_ROUTE_TASK, ignore_result=True)
def queue_route(user_id: int) -> None:
    """An agent has room again (online, resolved, returned, transferred): route their bots' queue."""
    routing.queue_route(user_id=user_id)
