"""ASGI entry point: HTTP goes to Django; WebSockets to the chat consumer.

The consumer itself checks the Origin against the bot's allowed origins (per bot, so a global
AllowedHostsOriginValidator would be both too loose and too strict).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (after Django is set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from bots.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    # Sessions for the admin's test console; the widget's consumer ignores the user.
    "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
})
