"""The agent role (issue #12): inbox yes, bot configuration no, analytics no; admins have the inbox
too; databases migrated before the inbox get the permission on their role groups."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, Permission
from django.db import connection

from analytics.services import user_set_role
from tests.factories import BotFactory, UserFactory

pytestmark = pytest.mark.django_db


def _perms(group_name: str) -> set[str]:
    return {
        f"{app}.{code}"
        for app, code in Group.objects.get(name=group_name).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_the_migrated_groups_give_the_inbox_to_agents_and_admins_only() -> None:
    assert "inbox.use_inbox" in _perms("agent") and "inbox.use_inbox" in _perms("admin")
    assert "inbox.use_inbox" not in _perms("analyst")
    assert _perms("agent") == {"inbox.use_inbox"}  # no bot configuration, no analytics
    assert {"inbox.add_cannedreply", "inbox.change_cannedreply"} <= _perms("admin")


def test_a_database_whose_groups_predate_the_inbox_gets_the_permission() -> None:
    for name in ("agent", "admin"):
        Group.objects.get(name=name).permissions.remove(Permission.objects.get(codename="use_inbox"))
    migration = importlib.import_module("inbox.migrations.0004_roles_reapply")
    migration.roles_reapply(django_apps, connection.schema_editor())
    assert "inbox.use_inbox" in _perms("agent") and "inbox.use_inbox" in _perms("admin")
    assert "inbox.use_inbox" not in _perms("analyst")


def test_an_agent_has_the_inbox_but_not_the_bot_configuration(client) -> None:
    bot = BotFactory()
    agent = UserFactory(is_staff=True)  # even as staff
    user_set_role(user=agent, role="agent")
    assert agent.has_perm("inbox.use_inbox") and not agent.has_perm("analytics.view_transcripts")
    client.force_login(agent)
    for url in (
        "/admin/bots/bot/",
        f"/admin/bots/bot/{bot.pk}/change/",
        "/admin/bots/intent/",
        "/admin/inbox/cannedreply/",
    ):
        assert client.get(url).status_code == 403, url
    assert client.get("/api/v1/bots/").status_code == 403
    assert client.get("/api/v1/inbox/conversations").status_code == 200


def test_an_agent_without_staff_is_sent_to_the_admin_login(client) -> None:
    agent = UserFactory()
    user_set_role(user=agent, role="agent")
    client.force_login(agent)
    response = client.get("/admin/bots/bot/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_admin_manages_canned_replies_in_the_admin(client) -> None:
    admin = UserFactory(is_staff=True)
    user_set_role(user=admin, role="admin")
    client.force_login(admin)
    assert client.get("/admin/inbox/cannedreply/add/").status_code == 200
    response = client.post("/admin/inbox/cannedreply/add/", {"shortcut": "Refund!", "text": "x"})
    assert response.status_code == 200 and "A slash" in response.content.decode()  # the form says what is wrong
