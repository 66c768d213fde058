"""Agents' presence: what they chose (online / away / offline) and the heartbeat of their open page.

Presence is stored, so it survives reloads and reconnects. Whether an "online" agent counts is the
heartbeat's business (`conversations.selectors.agents_online`): a page that stopped beating for
AGENT_HEARTBEAT_FRESH counts as offline, whatever the stored presence says.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from bots.models import AgentProfile
from conversations.selectors import AGENT_HEARTBEAT_FRESH
from inbox.services.routing import queued_route_for

Presence = AgentProfile.Presence


class PresenceInvalid(ValueError):
    pass


def presence_set(*, user: Any, presence: str) -> AgentProfile:
    """Store the agent's presence (and count it as a heartbeat). Coming online routes the queue of
    their bots again: conversations that waited for somebody may now go to them."""
    if presence not in Presence.values:
        raise PresenceInvalid(f"presence is one of {', '.join(Presence.values)}")
    with transaction.atomic():
        profile, _ = AgentProfile.objects.update_or_create(
            user=user, defaults={"presence": presence, "last_seen_at": timezone.now()}
        )
        if presence == Presence.ONLINE:
            queued_route_for(user=user)  # after commit
    return profile


def presence_heartbeat(*, user: Any) -> AgentProfile:
    """The open inbox page is still there. An online agent whose heartbeat had lapsed (a laptop
    that slept) is back on duty with this beat, so the queue is routed again for them too."""
    now = timezone.now()
    with transaction.atomic():
        profile, created = AgentProfile.objects.select_for_update().get_or_create(
            user=user, defaults={"last_seen_at": now}
        )
        lapsed = profile.last_seen_at is None or now - profile.last_seen_at >= AGENT_HEARTBEAT_FRESH
        if not created:
            profile.last_seen_at = now
            profile.save(update_fields=["last_seen_at"])
        if lapsed and profile.presence == Presence.ONLINE:
            queued_route_for(user=user)  # after commit
    return profile
