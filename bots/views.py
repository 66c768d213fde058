"""Server-rendered pages of the bots app: the landing page and the widget demo page."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from bots.models import Bot


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
