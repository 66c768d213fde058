"""The agents' inbox page: a shell; everything live comes over /ws/inbox/ (inbox/ws/consumers.py).

The page carries no data of its own: static/inbox/inbox.js reads the socket path and the language
from data-* attributes (the platform's CSP allows no inline script) and renders every frame as text.
The language is the request's (LocaleMiddleware: the switcher's cookie, else Accept-Language).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

INBOX_PERMISSION = "inbox.use_inbox"
INBOX_SOCKET_PATH = "/ws/inbox/"


@require_GET
@login_required
def inbox_page(request: HttpRequest) -> HttpResponse:
    """Anonymous -> the login page; signed in without the agent role -> a 403 page that says why."""
    if not request.user.has_perm(INBOX_PERMISSION):
        return render(request, "inbox/forbidden.html", status=403)
    return render(
        request,
        "inbox/inbox.html",
        {
            "ws_path": INBOX_SOCKET_PATH,
            "can_view_analytics": request.user.has_perm("analytics.view_transcripts"),
        },
    )
