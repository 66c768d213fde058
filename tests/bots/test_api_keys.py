"""API key scoping (security issue #9, item 1): an empty scope is no bot, "every bot" is the
explicit `all_bots` flag, and a key never widens when its bots are deactivated or deleted."""

from __future__ import annotations

import importlib
import io

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from bots.models import ApiKey, Bot, Conversation
from bots.services.api_keys import api_key_authenticate, api_key_bots, api_key_create

pytestmark = [pytest.mark.django_db(transaction=True)]


def _bearer(raw_key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}


def test_key_of_a_deactivated_bot_reaches_no_other_bot(demo_bot, llm_bot) -> None:
    api_key, _ = api_key_create(name="crm", bots=[llm_bot])
    assert api_key_bots(api_key=api_key) == [llm_bot]
    Bot.objects.filter(pk=llm_bot.pk).update(is_active=False)
    # Before the fix the empty scope fell back to every active bot: the demo bot.
    assert api_key_bots(api_key=api_key) == []


def test_key_of_a_deleted_bot_reaches_no_other_bot(demo_bot, llm_bot) -> None:
    api_key, _ = api_key_create(name="crm", bots=[llm_bot])
    llm_bot.delete()
    assert api_key_bots(api_key=api_key) == []


def test_key_of_a_deactivated_bot_lists_chats_and_parses_nothing(client, demo_bot, llm_bot, no_turns) -> None:
    _, raw_key = api_key_create(name="crm", bots=[llm_bot])
    Bot.objects.filter(pk=llm_bot.pk).update(is_active=False)
    models = client.get("/v1/models", **_bearer(raw_key))
    assert models.status_code == 200 and models.json()["data"] == []
    chat = client.post(
        "/v1/chat/completions",
        {"model": demo_bot.slug, "messages": [{"role": "user", "content": "hi"}]},
        content_type="application/json",
        **_bearer(raw_key),
    )
    assert chat.status_code == 404 and chat.json()["error"]["code"] == "model_not_found"
    parse = client.post(
        f"/api/v1/bots/{demo_bot.slug}/parse", {"text": "hi"}, content_type="application/json", **_bearer(raw_key)
    )
    assert parse.status_code == 403
    assert Conversation.objects.count() == 0 and no_turns == []


def test_all_bots_key_reaches_every_active_bot_including_later_ones(demo_bot, llm_bot) -> None:
    api_key, _ = api_key_create(name="ops", all_bots=True)
    assert {b.slug for b in api_key_bots(api_key=api_key)} == {demo_bot.slug, llm_bot.slug}
    later = Bot.objects.create(slug="later", name="Later")
    Bot.objects.filter(pk=llm_bot.pk).update(is_active=False)
    assert {b.slug for b in api_key_bots(api_key=api_key)} == {demo_bot.slug, later.slug}


def test_a_key_needs_bots_or_all_bots_but_not_both(llm_bot) -> None:
    with pytest.raises(ValueError):
        api_key_create(name="nothing")
    with pytest.raises(ValueError):
        api_key_create(name="both", bots=[llm_bot], all_bots=True)
    assert ApiKey.objects.count() == 0


def test_create_api_key_command_needs_an_explicit_scope(demo_bot, llm_bot) -> None:
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    with pytest.raises(CommandError, match="--all-bots"):
        call_command("create_api_key", "nothing", **quiet)
    with pytest.raises(CommandError):  # argparse: the two options are mutually exclusive
        call_command("create_api_key", "both", "--bots", demo_bot.slug, "--all-bots", **quiet)
    assert ApiKey.objects.count() == 0
    out = io.StringIO()
    call_command("create_api_key", "ops", "--all-bots", stdout=out, stderr=io.StringIO())
    api_key = api_key_authenticate(raw_key=out.getvalue().strip())
    assert api_key is not None and api_key.all_bots and not api_key.bots.exists()


def test_migration_keeps_old_unscoped_keys_open_and_scoped_keys_scoped(demo_bot, llm_bot) -> None:
    """Keys created before the flag with no bots meant "every bot": the data migration keeps that."""
    migration = importlib.import_module("bots.migrations.0004_apikey_all_bots")
    old_unscoped, _ = api_key_create(name="old", all_bots=True)
    ApiKey.objects.filter(pk=old_unscoped.pk).update(all_bots=False)  # as the column's default left it
    scoped, _ = api_key_create(name="scoped", bots=[llm_bot])
    migration.keep_unscoped_keys_open(apps, None)
    assert ApiKey.objects.get(pk=old_unscoped.pk).all_bots is True
    assert ApiKey.objects.get(pk=scoped.pk).all_bots is False


def test_admin_shows_the_flag_and_refuses_an_empty_scope(admin_client, llm_bot) -> None:
    form = admin_client.get("/admin/bots/apikey/add/").content.decode()
    assert 'name="all_bots"' in form
    refused = admin_client.post("/admin/bots/apikey/add/", {"name": "empty", "is_active": "on"})
    assert refused.status_code == 200 and not ApiKey.objects.exists()  # the form again, with the error
    admin_client.post("/admin/bots/apikey/add/", {"name": "ops", "is_active": "on", "all_bots": "on"})
    assert ApiKey.objects.get(name="ops").all_bots
    listing = admin_client.get("/admin/bots/apikey/").content.decode()
    assert "all bots" in listing


def test_junk_bearer_tokens_are_refused_not_raised_on(client) -> None:
    for token in ("cp_" + "x" * 5000, "cp_\x00\x01", "cp_é", "cp_ spaced", "cp_\ud800"):
        assert api_key_authenticate(raw_key=token) is None
