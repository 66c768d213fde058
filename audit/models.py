"""One audit entry per sensitive act. Entries name people and bots by id and name, not by foreign
key: deleting a user or a bot must not rewrite (or cascade into) the record of what they did."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditEntry(models.Model):
    class Action(models.TextChoices):
        EXPORT = "export", _("Exported transcripts")
        PII_VIEW = "pii_view", _("Viewed personal data unmasked")
        ADMIN_CHANGE = "admin_change", _("Changed something in the admin")
        API_CHANGE = "api_change", _("Changed something through the API")

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=16, choices=Action.choices, db_index=True)
    actor_id = models.IntegerField(null=True, blank=True, help_text=_("The user's id when it was recorded."))
    actor_username = models.CharField(max_length=150, blank=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    bot_slug = models.CharField(max_length=100, blank=True, db_index=True)
    target = models.CharField(max_length=300, blank=True, help_text=_("What was acted on."))
    summary = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_username or '-'} {self.action} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Audit entries are never edited.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("Audit entries are never deleted.")
