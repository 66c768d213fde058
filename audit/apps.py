from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit log: who exported transcripts, who saw personal data unmasked, who changed a bot.
    Append-only (the database refuses updates and deletes), searchable by admins, never editable."""

    name = "audit"
    verbose_name = "Audit log"
