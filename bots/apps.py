from django.apps import AppConfig

from bots import signals


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = "Bots"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        signals.connect()  # the configuration stamp the turn's spec cache relies on (bots/signals.py)
