"""The agent inbox's own tables. Conversations, their events and the agents' profiles live in
`bots.models` (the turn and the widget need them); what only the inbox uses lives here."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from bots.models import Conversation


class AgentNote(models.Model):
    """A private note on a conversation: agents and analysts read it, the visitor never does."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="agent_notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "created_at", "id"]
        permissions = [("use_inbox", "Can use the agent inbox")]

    def __str__(self) -> str:
        return f"note on {self.conversation_id}"
