"""The agent inbox's own tables. Conversations, their events and the agents' profiles live in
`bots.models` (the turn and the widget need them); what only the inbox uses lives here."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from bots.models import AgentTeam, Bot, Conversation

SHORTCUT_PATTERN = r"^/[a-z0-9][a-z0-9_\-]{0,39}$"


class AgentNote(models.Model):
    """A private note on a conversation: agents and analysts read it, the visitor never does."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="agent_notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "created_at", "id"]
        # The inbox's one permission (the agent role has it): it sits here because the app needs a
        # model to hang it on, not because it is about notes.
        permissions = [("use_inbox", "Can use the agent inbox")]

    def __str__(self) -> str:
        return f"note on {self.conversation_id}"


class CannedReply(models.Model):
    """A prepared answer an agent sends by typing its shortcut ("/refund"). For one team, one bot,
    both, or (neither) everyone; the most specific one wins when shortcuts collide."""

    team = models.ForeignKey(AgentTeam, null=True, blank=True, on_delete=models.CASCADE, related_name="canned_replies")
    bot = models.ForeignKey(Bot, null=True, blank=True, on_delete=models.CASCADE, related_name="canned_replies")
    shortcut = models.CharField(
        max_length=41,
        validators=[RegexValidator(SHORTCUT_PATTERN, _('A slash and up to 40 of a-z 0-9 _ -, e.g. "/refund".'))],
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shortcut", "id"]
        verbose_name_plural = _("canned replies")
        constraints = [
            # NULLs are distinct in a plain unique index: coalesced so "no team" collides with "no team".
            models.UniqueConstraint(
                Coalesce(F("team"), Value(0)),
                Coalesce(F("bot"), Value(0)),
                F("shortcut"),
                name="canned_reply_unique_shortcut",
            ),
            models.CheckConstraint(condition=Q(shortcut__regex=SHORTCUT_PATTERN), name="canned_reply_shortcut_form"),
        ]

    def __str__(self) -> str:
        return self.shortcut


class ReadMark(models.Model):
    """How far an agent has read a conversation (unread counts are visitor messages after it)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="read_marks")
    last_seq = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "conversation"], name="read_mark_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} to {self.last_seq}"
