"""What was deleted, kept as proof: an erasure's receipt and a retention run's record. Neither names
the person (a receipt holds a digest of the id), and neither is editable."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bots.models import Bot


class ErasureReceipt(models.Model):
    """One erasure request carried out: whose (as a digest), what was deleted, by whom, how."""

    class Subject(models.TextChoices):
        VISITOR = "visitor_id", _("Widget visitor id")
        USER = "user_id", _("Verified customer id")

    class Via(models.TextChoices):
        API = "api", _("REST API")
        ADMIN = "admin", _("Admin")
        COMMAND = "command", _("Management command")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="erasure_receipts")
    subject_kind = models.CharField(max_length=10, choices=Subject.choices)
    subject_digest = models.CharField(
        max_length=64, help_text=_("SHA-256 of the id: proves which id was erased without keeping it.")
    )
    deleted = models.JSONField(default=dict, help_text=_("Rows deleted, by kind."))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=8, choices=Via.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.bot})"


class RetentionRun(models.Model):
    """One pass of the retention job over one bot: the cutoff and what it deleted (or would have)."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="retention_runs")
    keep_days = models.PositiveIntegerField()
    cutoff = models.DateTimeField(help_text=_("Conversations last active before this were deleted."))
    dry_run = models.BooleanField(default=False)
    deleted = models.JSONField(default=dict, help_text=_("Rows deleted (or, for a dry run, that would be)."))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"retention {self.bot} {self.created_at:%Y-%m-%d}"
