"""DRF permissions: the same role rules as the pages (Django permissions + bot scoping)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission


def workspace_permission(*perms: str) -> type[BasePermission]:
    """A permission class requiring every one of `perms` (e.g. "analytics.view_transcripts")."""

    class HasWorkspacePerms(BasePermission):
        message = "You do not have permission to do this."

        def has_permission(self, request: Any, view: Any) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(perms))

    HasWorkspacePerms.__name__ = "Has_" + "_".join(p.split(".")[-1] for p in perms)
    return HasWorkspacePerms


class BotConfigPermission(BasePermission):
    """Bot configuration is for admins: the `bots` model permissions, reads included.

    Checked before any lookup, so a non-admin gets 403 whether or not the bot exists.
    The view names its model in `perm_model`.
    """

    actions = {
        "GET": ("view",),
        "HEAD": ("view",),
        "OPTIONS": ("view",),
        "POST": ("add",),
        "PUT": ("change",),
        "PATCH": ("change",),
        "DELETE": ("delete",),
    }

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        meta = view.perm_model._meta
        wanted = self.actions.get(request.method)
        if wanted is None:
            return False
        return user.has_perms([f"{meta.app_label}.{action}_{meta.model_name}" for action in wanted])


class ApiDocsPermission(BasePermission):
    """The OpenAPI document and Swagger UI: staff always; everyone only with API_DOCS_PUBLIC (off
    by default), since the schema lists every endpoint and field to whoever asks."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if settings.API_DOCS_PUBLIC:
            return True
        user = getattr(request, "user", None)
        return bool(user and user.is_authenticated and user.is_staff)
