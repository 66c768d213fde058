"""Canned replies in the admin (admins: the inbox app's model permissions come with the role)."""

from __future__ import annotations

from django.contrib import admin

from inbox.models import CannedReply


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ("shortcut", "bot", "team", "short_text")
    list_filter = ("bot", "team")
    search_fields = ("shortcut", "text")

    @admin.display(description="Text")
    def short_text(self, reply: CannedReply) -> str:
        return reply.text[:80]
