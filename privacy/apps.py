from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Retention and erasure: transcripts kept only as long as the bot says, and one person's data
    deleted on request, with a receipt."""

    name = "privacy"
    verbose_name = "Privacy"
