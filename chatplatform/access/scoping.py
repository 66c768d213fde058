"""Which bots and conversations a user may see: the one scoping rule every page, API and export uses."""

from __future__ import annotations

from typing import Any

from django.db.models import (
    QuerySet,
)

from bots.models import Bot, Conversation


def sees_all_bots(user: Any) -> bool:
    """Admins (and whoever holds view_all_bots) see every bot, present and future."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_superuser or user.has_perm("analytics.view_all_bots"))


def bots_visible_to(user: Any) -> QuerySet[Bot]:
    """The bots whose transcripts `user` may see: all for admins, assigned ones for analysts."""
    if not user or not user.is_authenticated or not user.is_active:
        return Bot.objects.none()
    if sees_all_bots(user):
        return Bot.objects.all()
    return Bot.objects.filter(analyst_assignments__user=user)


def conversations_visible_to(user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(bot__in=bots_visible_to(user).values("pk"))


def bots_handled_by(user: Any) -> QuerySet[Bot]:
    """The bots whose visitors `user` may answer in the inbox: all for admins, their teams' for agents."""
    if not user or not user.is_authenticated or not user.is_active:
        return Bot.objects.none()
    if sees_all_bots(user):
        return Bot.objects.all()
    return Bot.objects.filter(agent_teams__members=user).distinct()


def may_handle(user: Any, bot_id: int) -> bool:
    return bots_handled_by(user).filter(pk=bot_id).exists()
