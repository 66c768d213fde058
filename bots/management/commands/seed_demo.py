"""Create (or update) the demo bot and its Chinese twin, an admin user and a demo agent; print what a newcomer needs to log in."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from bots.services.demo import (
    DEMO_AGENT_USERNAME,
    demo_bot_ensure,
    demo_handoff_intent_ensure,
    demo_help_center_ensure,
    demo_team_ensure,
)
from bots.services.demo_actions import demo_account_actions_ensure, demo_order_lookup_ensure
from bots.services.demo_zh import demo_bot_zh_ensure, demo_help_center_zh_ensure, demo_team_zh_join


class Command(BaseCommand):
    help = "Create the demo bot, an admin user and a demo agent in the bot's agent team (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--origin", action="append", default=[], help="Extra allowed origin for the demo bot.")
        parser.add_argument("--credentials-file", default=str(settings.VAR_DIR / "admin-credentials.txt"))
        parser.add_argument("--agent-credentials-file", default=str(settings.VAR_DIR / "agent-credentials.txt"))
        parser.add_argument(
            "--orders-api", default="", help="The pretend shop's orders API the demo's order tracking calls."
        )
        parser.add_argument(
            "--orders-secret-file",
            default=str(settings.VAR_DIR / "demo-orders-secret"),
            help="Where the demo actions' signing secrets go (one a line), for the shop's API to check.",
        )
        parser.add_argument(
            "--identity-secret-file",
            default=str(settings.VAR_DIR / "demo-identity-secret"),
            help="Where the bot's identity secret goes, for the pretend shop's sign-in to sign visitors with.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bot = demo_bot_ensure(extra_origins=[settings.PUBLIC_BASE_URL, *options["origin"]])
        demo_handoff_intent_ensure(bot=bot)
        uploaded = demo_help_center_ensure(bot=bot)
        if uploaded:
            self.stdout.write(f"help center: {uploaded} documents queued for indexing")
        if options["orders_api"]:
            api = options["orders_api"]
            secrets = [
                demo_order_lookup_ensure(bot=bot, orders_api=api),
                *demo_account_actions_ensure(bot=bot, shop_api=api),
            ]
            _secret_write(Path(options["orders_secret_file"]), "\n".join(secrets))
            _secret_write(Path(options["identity_secret_file"]), bot.secret)
            self.stdout.write(f"shop API: {api} (track_order, my_orders and account_details call it, signed)")
        # The Chinese twin (same intents, in Simplified Chinese); its NLU retrains after commit when new.
        bot_zh = demo_bot_zh_ensure(extra_origins=[settings.PUBLIC_BASE_URL, *options["origin"]])
        uploaded_zh = demo_help_center_zh_ensure(bot=bot_zh)
        if uploaded_zh:
            self.stdout.write(f"help center (zh): {uploaded_zh} documents queued for indexing")
        username, password = self._admin_user(Path(options["credentials_file"]))
        team, agent_password = self._agent_user(bot, Path(options["agent_credentials_file"]))
        demo_team_zh_join(bot=bot_zh)
        self.stdout.write(f"demo bot: {bot.name} (slug {bot.slug}, public key {bot.public_key})")
        self.stdout.write(
            f"demo bot (zh): {bot_zh.name} (slug {bot_zh.slug}, public key {bot_zh.public_key}; "
            f"widget demo page /demo/?bot={bot_zh.slug})"
        )
        self.stdout.write(f"admin login: {username} / {password}")
        self.stdout.write(f"agent login: {DEMO_AGENT_USERNAME} / {agent_password}")
        self.stdout.write(f"agent team: {team.name} (the inbox is at /inbox/)")

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
        _credentials_write(credentials_file, "admin", password)
        return "admin", password

    def _agent_user(self, bot: Any, credentials_file: Path) -> tuple[Any, str]:
        """Like the admin: a generated password, kept in a 0600 file so a rerun prints the same one."""
        if credentials_file.exists() and get_user_model().objects.filter(username=DEMO_AGENT_USERNAME).exists():
            password = credentials_file.read_text().strip().split(":", 1)[1]
            team, _agent = demo_team_ensure(bot=bot, agent_password=None)
            return team, password
        password = secrets.token_urlsafe(12)
        team, _agent = demo_team_ensure(bot=bot, agent_password=password)
        _credentials_write(credentials_file, DEMO_AGENT_USERNAME, password)
        return team, password


def _credentials_write(path: Path, username: str, password: str) -> None:
    _secret_write(path, f"{username}:{password}")


def _secret_write(path: Path, text: str) -> None:
    """Created 0600 (never readable by others, not even for a moment); an existing file is narrowed too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    path.chmod(0o600)
