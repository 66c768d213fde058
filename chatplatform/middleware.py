"""Request plumbing every page shares: the request id, Host validation, the client's address, the
per-request parts of the Content-Security-Policy, and the login lockout page.

Every log line of one request carries its request id.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render

log = structlog.get_logger(__name__)

# A caller's X-Request-Id is echoed into our logs and the response, so only a plain token is kept
# (no control characters or escape sequences in log lines, no 8 KB ids); anything else gets a new id.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        response = self.get_response(request)
        response["X-Request-Id"] = request_id
        return response


class HostValidationMiddleware:
    """Answer a Host that is not in ALLOWED_HOSTS (or not a host name at all) with a plain 400.

    Django raises DisallowedHost from the first `request.get_host()` and logs it with a full
    traceback on `django.security.DisallowedHost`: scanners and junk bytes (`Host: caf\\xe9`) would
    fill the server log with tracebacks. One warning line says the same.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.get_host()
        except DisallowedHost:
            log.warning(
                "http_disallowed_host",
                host=request.META.get("HTTP_HOST", "")[:200],
                path=request.path[:200],
                client=request.META.get("REMOTE_ADDR"),
            )
            return HttpResponseBadRequest("Bad Request: invalid Host header.\n", content_type="text/plain")
        return self.get_response(request)


def parse_ip(value: str) -> IPAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[::1]:8000"
        value = value[1 : value.index("]")]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def ip_in(address: IPAddress | None, networks: list[str]) -> bool:
    """Whether `address` is one of `networks` (addresses or CIDR ranges, validated in settings)."""
    if address is None:
        return False
    for network in networks:
        net = ipaddress.ip_network(network, strict=False)
        if address.version == net.version and address in net:
            return True
    return False


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or what TRUSTED_PROXIES say in X-Forwarded-For.

    X-Forwarded-For is read only when REMOTE_ADDR is a configured proxy, from the right (the entry
    the nearest proxy appended) leftwards, skipping our own proxies: the left-most entries are
    whatever the client chose to send. None when the address is not an address at all.
    Also django-axes' AXES_CLIENT_IP_CALLABLE, so the lockout and /metrics see the same client.
    """
    remote = parse_ip(request.META.get("REMOTE_ADDR") or "")
    proxies: list[str] = settings.TRUSTED_PROXIES
    if remote is None or not ip_in(remote, proxies):
        return str(remote) if remote is not None else None
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    address = remote
    for hop in reversed(hops):
        hop_address = parse_ip(hop)
        if hop_address is None:
            return None
        address = hop_address
        if not ip_in(hop_address, proxies):
            break
    return str(address)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, plus this host's ws:// or wss:// origin in connect-src.

    The admin's test console opens a WebSocket to the page's own host. CSP 3 lets 'self' match it,
    but browsers that predate that rule (Safari before 15.4) need the ws(s) origin spelled out, and
    it can only be spelled out per request (the host is the one the browser used).
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:
            return parts
        scheme = "wss" if request.is_secure() else "ws"
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), f"{scheme}://{host}"]
        parts.update = update
        return parts


def login_lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """django-axes' AXES_LOCKOUT_CALLABLE: a clear 429 page, and one log line saying who and from where."""
    username = str((credentials or {}).get("username") or request.POST.get("username", ""))[:150]
    minutes = settings.AXES_COOLOFF_TIME.total_seconds() / 60
    log.warning(
        "login_locked_out",
        username=username,
        client=client_ip(request),
        path=request.path[:200],
        failure_limit=settings.AXES_FAILURE_LIMIT,
        lockout_minutes=minutes,
    )
    response = render(
        request,
        "admin/lockout.html",
        {
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "lockout_minutes": round(minutes),
            "title": "Too many failed logins",
        },
        status=429,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
