"""ASGI entry point: HTTP goes to Django; WebSockets to the chat consumer.

The consumer itself checks the Origin against the bot's allowed origins (per bot, so a global
AllowedHostsOriginValidator would be both too loose and too strict).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
django_asgi_app = get_asgi_application()

# After Django is set up: these import models and settings.
import structlog
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import re_path

from conversations.ws.routing import websocket_urlpatterns
from inbox.ws.routing import websocket_urlpatterns as inbox_websocket_urlpatterns

log = structlog.get_logger(__name__)


async def refuse_unknown_websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A WebSocket handshake to a path no consumer serves: refused (HTTP 403), logged in one line.

    Without it channels' URLRouter raises ValueError("No route found"), which the server answers
    with a 500 and a traceback in its log (scanners, `/ws/console/%ff/`, typos).
    """
    message = await receive()
    if message["type"] == "websocket.connect":
        log.info("ws_no_route", path=str(scope.get("path", ""))[:200])
        await send({"type": "websocket.close", "code": 4404})


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Sessions for the admin's test console and the agents' inbox; the widget's consumer ignores the user.
        # The catch-all comes last. (channels routes ASGI apps with Django's re_path, typed for views.)
        "websocket": AuthMiddlewareStack(
            URLRouter(
                [
                    *websocket_urlpatterns,
                    *inbox_websocket_urlpatterns,
                    re_path(r"", refuse_unknown_websocket),  # type: ignore[arg-type]
                ]
            )
        ),
    }
)
