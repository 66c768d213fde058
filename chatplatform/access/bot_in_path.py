"""The bot of an API path `/api/v1/bots/<bot_slug>/...`, for the viewsets nested under it."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from bots.models import Bot
from chatplatform.access.scoping import bots_visible_to


class BotInPathMixin:
    """`get_bot()`: the path's bot if the user may see it, else 404 (no hint that it exists).
    Looked up once per request."""

    kwargs: dict[str, Any]
    request: Any

    def get_bot(self) -> Bot:
        if not hasattr(self, "_bot"):
            found = bots_visible_to(self.request.user).filter(slug=self.kwargs["bot_slug"]).first()
            if found is None:
                raise Http404
            self._bot = found
        return self._bot
