"""Create (or update) the demo bot and an admin user; print what a newcomer needs to log in."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from bots.services.demo import demo_bot_ensure


class Command(BaseCommand):
    help = "Create the demo bot and an admin user (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--origin", action="append", default=[], help="Extra allowed origin for the demo bot.")
        parser.add_argument("--credentials-file", default=str(settings.VAR_DIR / "admin-credentials.txt"))

    def handle(self, *args: Any, **options: Any) -> None:
        bot = demo_bot_ensure(extra_origins=[settings.PUBLIC_BASE_URL, *options["origin"]])
        username, password = self._admin_user(Path(options["credentials_file"]))
        self.stdout.write(f"demo bot: {bot.name} (slug {bot.slug}, public key {bot.public_key})")
        self.stdout.write(f"admin login: {username} / {password}")

    def _admin_user(self, credentials_file: Path) -> tuple[str, str]:
        user_model = get_user_model()
        if credentials_file.exists() and user_model.objects.filter(username="admin").exists():
            username, password = credentials_file.read_text().strip().split(":", 1)
            return username, password
        password = secrets.token_urlsafe(12)
        user, _ = user_model.objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        credentials_file.write_text(f"admin:{password}\n")
        credentials_file.chmod(0o600)
        return "admin", password
