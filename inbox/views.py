"""The agents' inbox page: a shell; everything live comes over /ws/inbox/ (inbox/ws/consumers.py)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def inbox_page(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("inbox.use_inbox"):
        raise PermissionDenied("The inbox is for agents. Ask an admin to give you the agent role.")
    return render(request, "inbox/inbox.html")
