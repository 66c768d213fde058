"""Server-rendered pages of the bots app: the landing page and the widget demo page."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from bots import selectors
from bots.models import Bot
from bots.selectors import bot_display_config


def home(request: HttpRequest) -> HttpResponse:
    bots = Bot.objects.filter(is_active=True).only("slug", "name", "public_key")[:50]
    return render(request, "home.html", {"bots": bots, "public_base_url": settings.PUBLIC_BASE_URL})


def demo_page(request: HttpRequest) -> HttpResponse:
    """A page that embeds the widget exactly as a customer's site would (one script tag)."""
    slug = request.GET.get("bot")
    bots = Bot.objects.filter(is_active=True)
    bot = bots.filter(slug=slug).first() if slug else bots.order_by("pk").first()
    if bot is None:
        raise Http404("No active bot. Create one in the admin first.")
    return render(request, "demo.html", {"bot": bot, "widget_src": "/static/widget/chatplatform.js"})


@require_GET
def widget_config(request: HttpRequest, public_key: str) -> JsonResponse:
    """Public theming for the widget (the same object the `welcome` frame carries): lets an embed
    read colour, position, title, avatar, greeting and language before opening a socket.
    Readable cross-origin only by the bot's allowed origins."""
    bot = selectors.bot_get_active_by_public_key(public_key=public_key)
    if bot is None:
        raise Http404("No such bot.")
    response = JsonResponse(bot_display_config(bot))
    origin = request.headers.get("Origin")
    if selectors.bot_origin_allowed(bot=bot, origin=origin):
        response["Access-Control-Allow-Origin"] = cast(str, origin)  # allowed implies present
    response["Vary"] = "Origin"
    response["Cache-Control"] = "public, max-age=60"
    return response
