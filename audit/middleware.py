"""Records every successful change made through the configuration API (bots, their intents,
entities, knowledge, actions, webhooks, erasures), and makes the client address available to
entries written without a request (audit.context).

After the view: DRF authenticates inside the view (token or session) and sets the user on the
request, so the entry names the API key's owner. Reads are not recorded here (the views that show
personal data unmasked or export it record themselves); nor are the query endpoints that only read
through a POST (parse, knowledge search) and a conversation's handoff."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.context import request_ip
from audit.models import AuditEntry
from audit.services import audit_record_request
from chatplatform.middleware import client_ip

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CONFIG_API_PREFIXES = ("/api/v1/bots/", "/api/v1/webhooks/")
# Written through a POST but not configuration: queries that only read, and a conversation's handoff.
NOT_CONFIGURATION = frozenset({"bot-parse", "knowledge-search", "api-bot-conversation-handoff"})


class AuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = request_ip.set(client_ip(request))
        try:
            response = self.get_response(request)
            if self._is_config_change(request, response):
                match = request.resolver_match
                audit_record_request(
                    request,
                    action=AuditEntry.Action.API_CHANGE,
                    target=request.path,
                    summary=f"{request.method} {request.path} -> {response.status_code}",
                    bot_slug=str(match.kwargs.get("bot_slug") or match.kwargs.get("slug") or "") if match else "",
                    details={"method": request.method, "status": response.status_code},
                )
            return response
        finally:
            request_ip.reset(token)

    @staticmethod
    def _is_config_change(request: HttpRequest, response: HttpResponse) -> bool:
        if request.method not in WRITE_METHODS or not 200 <= response.status_code < 300:
            return False
        if not request.path.startswith(CONFIG_API_PREFIXES):
            return False
        match = request.resolver_match
        if match is not None and match.url_name in NOT_CONFIGURATION:
            return False
        return bool(getattr(getattr(request, "user", None), "is_authenticated", False))
