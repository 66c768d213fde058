"""The analyst workspace: who sees which bot, tags, notes and intent corrections.

Transcripts themselves live in `bots` (Conversation, Message); this app only adds what analysts
write about them. Scoping by bot is decided in one place: `analytics.selectors.bots_visible_to`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bots.models import Bot, Conversation, Intent, Message, TrainingPhrase


class Rights(models.Model):
    """Holds the workspace's custom permissions; no table.

    Permissions need a content type; an unmanaged model without default permissions gives them
    one without a table. The data migration `0002_roles` hands them to the role groups.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_transcripts", _("Can read transcripts of assigned bots")),
            ("annotate_transcripts", _("Can tag and annotate transcripts")),
            ("suggest_intents", _("Can suggest intent corrections")),
            ("review_suggestions", _("Can accept or reject intent suggestions")),
            ("export_transcripts", _("Can export transcripts")),
            ("view_metrics", _("Can see the metrics dashboard")),
            ("view_pii", _("Can see personal data unmasked")),
            ("view_all_bots", _("Sees every bot without an assignment")),
        ]


class BotAssignment(models.Model):
    """An analyst (or agent) may see this bot's transcripts."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bot_assignments")
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="analyst_assignments")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "bot"]
        constraints = [models.UniqueConstraint(fields=["user", "bot"], name="bot_assignment_unique")]

    def __str__(self) -> str:
        return f"{self.user} → {self.bot}"


class Tag(models.Model):
    name = models.CharField(
        max_length=60,
        unique=True,
        validators=[RegexValidator(r"^[\w .:/\-]+$", _("Letters, digits, space, _ . : / - only."))],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConversationTag(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="analytics_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="conversation_tags")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tag__name"]
        constraints = [models.UniqueConstraint(fields=["conversation", "tag"], name="conversation_tag_unique")]
        indexes = [models.Index(fields=["tag", "conversation"], name="conversation_tag_by_tag")]


class MessageTag(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="analytics_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="message_tags")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tag__name"]
        constraints = [models.UniqueConstraint(fields=["message", "tag"], name="message_tag_unique")]
        indexes = [models.Index(fields=["tag", "message"], name="message_tag_by_tag")]


class Note(models.Model):
    """A free-text note on a conversation, optionally pinned to one of its messages."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="analytics_notes")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="analytics_notes"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="note_conversation_created")]

    def __str__(self) -> str:
        return self.text[:40]


class IntentSuggestion(models.Model):
    """An analyst's correction of one visitor message: "this should have been intent X".

    Pending until an admin accepts it (it becomes a TrainingPhrase and the bot retrains) or
    rejects it. Either `intent` or `new_intent_name` is set, never both.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending review")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="intent_suggestions")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="intent_suggestions"
    )
    text = models.CharField(max_length=1000, help_text=_("The training phrase to add."))
    intent = models.ForeignKey(Intent, null=True, blank=True, on_delete=models.CASCADE, related_name="suggestions")
    new_intent_name = models.CharField(
        max_length=120, blank=True, validators=[RegexValidator(r"^[\w.\-:/]+$", _("Letters, digits, _ . - : / only."))]
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    training_phrase = models.ForeignKey(
        TrainingPhrase, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(intent__isnull=False) & Q(new_intent_name=""))
                | (Q(intent__isnull=True) & ~Q(new_intent_name="")),
                name="suggestion_one_target",
            ),
            # One open correction per message: a second suggestion replaces the first.
            models.UniqueConstraint(
                fields=["message"], condition=Q(status="pending"), name="suggestion_one_pending_per_message"
            ),
        ]
        indexes = [models.Index(fields=["bot", "status", "-created_at"], name="suggestion_bot_status")]

    if TYPE_CHECKING:
        display_text: str  # set by the suggestion review view for its template

    @property
    def intent_name(self) -> str:
        if self.intent_id:
            assert self.intent is not None  # an intent_id loads its row (or raises DoesNotExist)
            return self.intent.name
        return self.new_intent_name

    def __str__(self) -> str:
        return f"{self.text[:40]} → {self.intent_name}"
