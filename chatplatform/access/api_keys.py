"""Bearer API keys (`Authorization: Bearer cp_...`) for the OpenAI-compatible and NLU endpoints."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from rest_framework import authentication, exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.request import Request

from bots.models import ApiKey, Bot
from bots.services.api_keys import KEY_PREFIX, api_key_authenticate, api_key_bot
from chatplatform.access.scoping import bots_visible_to


def bearer_token(request: HttpRequest) -> str | None:
    """The token of `Authorization: Bearer <token>`, else None. Junk (any bytes a client sends) is
    refused later by `api_key_authenticate`, never raised on."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def api_key_from_request(request: HttpRequest) -> ApiKey | None:
    token = bearer_token(request)
    return api_key_authenticate(raw_key=token) if token else None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """DRF authentication: request.auth is the ApiKey, request.user stays anonymous."""

    def authenticate(self, request: Any) -> tuple[Any, ApiKey] | None:
        token = bearer_token(request)
        if token is None or not token.startswith(KEY_PREFIX):
            return None
        api_key = api_key_authenticate(raw_key=token)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        from django.contrib.auth.models import AnonymousUser

        return AnonymousUser(), api_key

    def authenticate_header(self, request: Any) -> str:
        return "Bearer"


class StrictTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing keys that cannot be a token before they reach the
    database: a NUL in `Authorization: Token ...` made PostgreSQL's driver raise (a 500)."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        if not (len(key) <= 64 and key.isascii() and key.isalnum()):  # DRF issues 40 hex digits
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)


# The same scheme on the wire as DRF's TokenAuthentication: drf-spectacular's TokenScheme matches
# subclasses, so both land in one "tokenAuth" component; this says that is intended.
StrictTokenAuthentication._spectacular_annotation = {"suppress_collision_warning": True}  # type: ignore[attr-defined]


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
        target_class = "chatplatform.access.api_keys.ApiKeyAuthentication"
        name = "apiKey"

        def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
            return {"type": "http", "scheme": "bearer", "description": "API key created with create_api_key"}
except ImportError:  # pragma: no cover - drf-spectacular is a runtime dependency
    pass


def bot_for_api_request(request: Request, slug: str) -> Bot:
    """The bot an API call (parse, knowledge search) names: an API key's bot, or one a staff user
    can see. A key outside its scope gets 403 whether or not the bot exists (it learns nothing);
    a user gets 404 for another bot, exactly like a bot that does not exist."""
    if isinstance(request.auth, ApiKey):
        bot = api_key_bot(api_key=request.auth, slug=slug)
        if bot is None:
            raise exceptions.PermissionDenied("This API key may not use that bot.")
        return bot
    user = request.user
    if user and user.is_authenticated and user.is_staff:
        # The same scoping rule as transcripts and metrics: an analyst of bot B parsing with bot A
        # would read A's intents and entities.
        found = bots_visible_to(user).filter(slug=slug).first()
        if found is None:
            raise Http404
        return found
    raise exceptions.PermissionDenied("Send an API key (Authorization: Bearer ...) or log in as staff.")
