from django.apps import AppConfig


class ActionsConfig(AppConfig):
    """HTTP actions: the bot calls the business's own systems (order lookups, tickets)."""

    name = "actions"
    verbose_name = "Actions"
