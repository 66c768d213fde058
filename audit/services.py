"""Writing the audit log. One function for every kind of entry, so each carries the same facts:
who (id and name, kept even if the user is deleted), from where, on which bot, what."""

from __future__ import annotations

from typing import Any

import structlog
from django.http import HttpRequest
from rest_framework.request import Request

from audit.context import request_ip
from audit.models import AuditEntry
from chatplatform.middleware import client_ip

log = structlog.get_logger(__name__)

TARGET_MAX = 300


def audit_record(
    *,
    action: str,
    actor: Any,
    target: str = "",
    summary: str = "",
    bot_slug: str = "",
    details: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditEntry:
    authenticated = bool(getattr(actor, "is_authenticated", False))
    entry = AuditEntry.objects.create(
        action=action,
        actor_id=actor.pk if authenticated else None,
        actor_username=actor.get_username() if authenticated else "",
        ip_address=ip_address if ip_address is not None else request_ip.get(),
        bot_slug=bot_slug[:100],
        target=target[:TARGET_MAX],
        summary=summary,
        details=details or {},
    )
    log.info("audit", action=action, actor=entry.actor_username, target=entry.target, bot=bot_slug)
    return entry


def _http(request: HttpRequest | Request) -> HttpRequest:
    """Django's request under DRF's (the user DRF authenticated is set on both)."""
    return request._request if isinstance(request, Request) else request


def audit_record_request(
    request: HttpRequest | Request,
    *,
    action: str,
    target: str = "",
    summary: str = "",
    bot_slug: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """An entry for what this request did, by its user, from its client address."""
    http = _http(request)
    return audit_record(
        action=action,
        actor=getattr(http, "user", None),
        target=target,
        summary=summary,
        bot_slug=bot_slug,
        details=details,
        ip_address=client_ip(http),
    )


def query_params(request: HttpRequest | Request) -> dict[str, str]:
    """The filters a request used (what an export or a view covered), for the entry's details."""
    return {key: str(value)[:200] for key, value in _http(request).GET.items()}
