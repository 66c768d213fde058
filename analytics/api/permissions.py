"""DRF permissions: the same role rules as the pages (Django permissions + bot scoping)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission, DjangoModelPermissions


def workspace_permission(*perms: str) -> type[BasePermission]:
    """A permission class requiring every one of `perms` (e.g. "analytics.view_transcripts")."""

    class HasWorkspacePerms(BasePermission):
        message = "You do not have permission to do this."

        def has_permission(self, request: Any, view: Any) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(perms))

    HasWorkspacePerms.__name__ = "Has_" + "_".join(p.split(".")[-1] for p in perms)
    return HasWorkspacePerms


class BotConfigPermission(DjangoModelPermissions):
    """Bot configuration is for admins: model permissions of `bots`, reads included."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }
