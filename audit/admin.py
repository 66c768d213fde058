"""The audit log in the admin: searchable and filterable, never added to, changed or deleted."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEntry
from audit.receivers import admin_change_recorded

# Imported for its signal connection: the admin's change log goes into the audit log.
RECEIVERS = (admin_change_recorded,)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_username", "action", "bot_slug", "target", "ip_address")
    list_filter = ("action", "bot_slug")
    search_fields = ("actor_username", "target", "summary", "bot_slug", "ip_address")
    date_hierarchy = "created_at"
    readonly_fields = (
        "created_at",
        "action",
        "actor_id",
        "actor_username",
        "ip_address",
        "bot_slug",
        "target",
        "summary",
        "details",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
