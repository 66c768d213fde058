"""`manage.py seed_demo`: the demo bot's agent team, its agent (logins printed), the hands-off intent."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from bots.models import AgentProfile, AgentTeam, Bot, Intent
from bots.services.demo import (
    DEMO_AGENT_USERNAME,
    DEMO_CANNED_REPLIES,
    DEMO_HANDOFF_INTENT,
    DEMO_SLUG,
    DEMO_TEAM_NAME,
)
from bots.services.demo_zh import DEMO_ZH_SLUG
from chatplatform.access.scoping import bots_handled_by, may_handle
from conversations.selectors import agents_online, handoff_available

pytestmark = pytest.mark.django_db


def _seed(tmp_path: Path) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo",
        "--credentials-file",
        str(tmp_path / "admin.txt"),
        "--agent-credentials-file",
        str(tmp_path / "agent.txt"),
        stdout=out,
    )
    return out.getvalue()


def _login_line(output: str, who: str) -> tuple[str, str]:
    line = next(line for line in output.splitlines() if line.startswith(f"{who} login: "))
    username, password = line.removeprefix(f"{who} login: ").split(" / ")
    return username, password


def test_seed_creates_the_team_and_an_offline_agent_with_a_printed_login(tmp_path: Path) -> None:
    output = _seed(tmp_path)
    bot = Bot.objects.get(slug=DEMO_SLUG)
    bot_zh = Bot.objects.get(slug=DEMO_ZH_SLUG)  # the Chinese twin joins the same team
    team = AgentTeam.objects.get(name=DEMO_TEAM_NAME)
    assert list(team.bots.order_by("pk")) == [bot, bot_zh]
    username, password = _login_line(output, "agent")
    assert username == DEMO_AGENT_USERNAME and len(password) >= 16
    assert _login_line(output, "admin")[1] != password
    agent = get_user_model().objects.get(username=DEMO_AGENT_USERNAME)
    assert list(team.members.all()) == [agent]
    # Role agent: the inbox, the demo bot's visitors, nothing of the configuration or the analytics.
    assert list(agent.groups.values_list("name", flat=True)) == ["agent"]
    assert agent.has_perm("inbox.use_inbox") and not agent.has_perm("analytics.view_transcripts")
    assert not agent.is_staff and not agent.is_superuser
    assert set(bots_handled_by(agent)) == {bot, bot_zh} and may_handle(agent, bot.pk) and may_handle(agent, bot_zh.pk)
    # Offline until they open the inbox: the bot offers no person yet (the offline form instead).
    profile = AgentProfile.objects.get(user=agent)
    assert profile.presence == AgentProfile.Presence.OFFLINE and profile.last_seen_at is None
    assert profile.display_name
    assert not agents_online(bot_id=bot.pk).exists() and not handoff_available(bot=bot)
    # The printed password works, and is kept in a file only the owner can read.
    assert agent.check_password(password)
    mode = stat.S_IMODE((tmp_path / "agent.txt").stat().st_mode)
    assert mode == 0o600
    assert "/inbox/" in output


def test_seed_flags_a_complaint_intent_hands_off(tmp_path: Path) -> None:
    _seed(tmp_path)
    bot = Bot.objects.get(slug=DEMO_SLUG)
    complaint = Intent.objects.get(bot=bot, name=DEMO_HANDOFF_INTENT["name"])
    assert complaint.hands_off
    assert complaint.training_phrases.count() == len(DEMO_HANDOFF_INTENT["phrases"])
    assert complaint.responses.count() == 1
    # The other demo intents still answer themselves.
    assert not Intent.objects.filter(bot=bot, hands_off=True).exclude(pk=complaint.pk).exists()
    # Training data changed after the bot was made: the data version moved on (a retrain follows).
    assert bot.nlu_data_version >= 2


def test_seed_is_idempotent_and_keeps_the_agents_password(tmp_path: Path) -> None:
    first = _seed(tmp_path)
    bot = Bot.objects.get(slug=DEMO_SLUG)
    version = bot.nlu_data_version
    complaint = Intent.objects.get(bot=bot, name="complaint")
    complaint.hands_off = False  # an admin changed their mind: a rerun keeps their choice
    complaint.save()
    second = _seed(tmp_path)
    assert _login_line(first, "agent") == _login_line(second, "agent")
    assert AgentTeam.objects.count() == 1 and get_user_model().objects.filter(username="agent").count() == 1
    assert AgentProfile.objects.count() == 1
    assert Intent.objects.filter(bot=bot, name="complaint").count() == 1
    assert not Intent.objects.get(pk=complaint.pk).hands_off
    bot.refresh_from_db()
    assert bot.nlu_data_version == version  # nothing to retrain


def test_a_presence_the_agent_set_survives_a_rerun(tmp_path: Path) -> None:
    _seed(tmp_path)
    AgentProfile.objects.filter(user__username="agent").update(presence=AgentProfile.Presence.AWAY)
    _seed(tmp_path)
    assert AgentProfile.objects.get(user__username="agent").presence == AgentProfile.Presence.AWAY


def test_canned_reply_shortcuts_are_valid_for_the_inbox() -> None:
    # The inbox writes them (bots may not import it); its model's shortcut form: "/" + a-z 0-9 _ -.
    assert DEMO_CANNED_REPLIES
    for shortcut, text in DEMO_CANNED_REPLIES:
        assert shortcut.startswith("/") and shortcut[1:].replace("_", "").replace("-", "").isalnum()
        assert shortcut == shortcut.lower() and len(shortcut) <= 41 and text
