"""What the LLM wrote for the agents: handoff briefs and reply suggestions (with what became of them)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bots.models import Conversation, Message


class HandoffBrief(models.Model):
    """The LLM's summary of a conversation up to `for_seq`, for the agent who takes it over. Only the
    summary is stored: the NLU annotations, slots and identity shown next to it are read live
    (`copilot.selectors.brief_for`), so they are never stale."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="briefs")
    summary = models.TextField()
    model = models.CharField(max_length=200, blank=True)
    for_seq = models.PositiveIntegerField(help_text=_("The last message the summary covers."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "-created_at"], name="brief_conv_newest")]

    def __str__(self) -> str:
        return f"brief of #{self.conversation_id} up to {self.for_seq}"


class ReplySuggestion(models.Model):
    """A reply the LLM drafted for the newest visitor message; the agent sends, edits or discards it."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent as is")
        EDITED = "edited", _("Sent after editing")
        DISCARDED = "discarded", _("Discarded")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="reply_suggestions")
    for_message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="reply_suggestions", help_text=_("The visitor message.")
    )
    text = models.TextField()
    outcome = models.CharField(max_length=9, choices=Outcome.choices, default=Outcome.PENDING)
    sent_text = models.TextField(blank=True, help_text=_("What the agent sent, when it differs from the text."))
    edit_distance = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Characters changed (Levenshtein) between the suggestion and what was sent.")
    )
    model = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "-created_at"], name="suggestion_conv_newest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=["pending", "sent", "edited", "discarded"]), name="suggestion_outcome_valid"
            ),
            # Sent and edited suggestions have a distance (0 for sent), the others none.
            models.CheckConstraint(
                condition=(Q(outcome__in=["sent", "edited"]) & Q(edit_distance__isnull=False))
                | (Q(outcome__in=["pending", "discarded"]) & Q(edit_distance__isnull=True)),
                name="suggestion_distance_iff_sent",
            ),
        ]

    def __str__(self) -> str:
        return f"suggestion for message {self.for_message_id} ({self.outcome})"
