"""POST /api/v1/bots/<slug>/parse: Rasa's /model/parse shape, computed by the worker."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from bots.services.api_keys import api_key_authenticate, api_key_create

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_parse_returns_rasa_shape_with_entities(client, demo_bot, celery_worker) -> None:
    _, key = api_key_create(name="nlu", bots=[demo_bot])
    response = client.post(
        f"/api/v1/bots/{demo_bot.slug}/parse",
        {"text": "where is my order AC-12345"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["intent"]["name"] == "track_order" and body["intent"]["confidence"] >= demo_bot.nlu_threshold
    assert body["intent_ranking"][0]["name"] == "track_order"
    assert [r["confidence"] for r in body["intent_ranking"]] == sorted(
        (r["confidence"] for r in body["intent_ranking"]), reverse=True
    )
    assert {"entity": "order_number", "value": "AC-12345"}.items() <= body["entities"][0].items()


def test_parse_below_threshold_has_no_intent_name(client, demo_bot, celery_worker) -> None:
    _, key = api_key_create(name="nlu", bots=[demo_bot])
    body = client.post(
        f"/api/v1/bots/{demo_bot.slug}/parse",
        {"text": "the mitochondria is the powerhouse of the cell"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()
    assert body["intent"]["name"] is None
    assert body["intent"]["confidence"] < demo_bot.nlu_threshold


def test_parse_refuses_keys_of_other_bots_and_anonymous(client, demo_bot, llm_bot) -> None:
    _, other_key = api_key_create(name="other", bots=[llm_bot])
    url = f"/api/v1/bots/{demo_bot.slug}/parse"
    assert client.post(url, {"text": "hi"}, content_type="application/json").status_code in (401, 403)
    assert (
        client.post(
            url, {"text": "hi"}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {other_key}"
        ).status_code
        == 403
    )
    assert (
        client.post(
            url, {"text": "hi"}, content_type="application/json", HTTP_AUTHORIZATION="Bearer cp_forged"
        ).status_code
        == 401
    )


def test_create_api_key_command_prints_the_key_once_and_scopes_it(demo_bot, llm_bot) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "crm", "--bots", demo_bot.slug, stdout=out, stderr=err)
    raw = out.getvalue().strip()
    api_key = api_key_authenticate(raw_key=raw)
    assert api_key is not None and list(api_key.bots.all()) == [demo_bot]
    assert "not shown again" in err.getvalue()
    with pytest.raises(Exception, match="unknown bot"):
        call_command("create_api_key", "x", "--bots", "nope", stdout=io.StringIO(), stderr=io.StringIO())


# --- Bot scoping for logged-in users (security issue #9, item 7) ------------------------------------


@pytest.fixture
def fake_parse(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Answer parse tasks without a worker: these tests are about who may parse, not the NLU."""
    calls: list[tuple[int, str]] = []

    class _Result:
        def __init__(self, bot_id: int, text: str) -> None:
            self.bot_id, self.text = bot_id, text

        def get(self, timeout: float) -> dict:  # type: ignore[type-arg]
            return {
                "text": self.text,
                "intent": {"name": None, "confidence": 0.0},
                "intent_ranking": [],
                "entities": [],
            }

    def delay(bot_id: int, text: str) -> _Result:
        calls.append((bot_id, text))
        return _Result(bot_id, text)

    monkeypatch.setattr("nlu.tasks.nlu_parse.delay", delay)
    return calls


@pytest.fixture
def staff_analysts(demo_bot, llm_bot):
    """Staff analysts (they may use the admin site): one assigned to the demo bot, one to the LLM bot.
    No role groups: a transactional test's flush drops the rows the data migration made; the bot
    assignment is what `bots_visible_to` reads."""
    from analytics.services import bot_assignment_create
    from tests.analytics.factories import UserFactory

    of_demo = UserFactory(username="analyst_demo", is_staff=True)
    bot_assignment_create(user=of_demo, bot=demo_bot)
    of_llm = UserFactory(username="analyst_llm", is_staff=True)
    bot_assignment_create(user=of_llm, bot=llm_bot)
    return of_demo, of_llm


def test_staff_user_parses_only_with_bots_they_can_see(client, demo_bot, staff_analysts, fake_parse) -> None:
    of_demo, of_llm = staff_analysts
    url = f"/api/v1/bots/{demo_bot.slug}/parse"
    client.force_login(of_llm)
    response = client.post(url, {"text": "where is my order"}, content_type="application/json")
    # Another bot's parse is 404, exactly like a bot that does not exist: no existence leak.
    assert response.status_code == 404, response.content
    assert (
        client.post("/api/v1/bots/no-such-bot/parse", {"text": "hi"}, content_type="application/json").status_code
        == 404
    )
    assert fake_parse == []
    client.force_login(of_demo)
    assert client.post(url, {"text": "where is my order"}, content_type="application/json").status_code == 200
    assert fake_parse == [(demo_bot.pk, "where is my order")]


def test_admin_parses_with_every_bot_and_non_staff_is_refused(client, demo_bot, llm_bot, fake_parse) -> None:
    from analytics.services import bot_assignment_create
    from tests.analytics.factories import UserFactory

    admin = UserFactory(username="admin_parse", is_staff=True, is_superuser=True)
    client.force_login(admin)
    for bot in (demo_bot, llm_bot):
        assert (
            client.post(f"/api/v1/bots/{bot.slug}/parse", {"text": "hi"}, content_type="application/json").status_code
            == 200
        )
    not_staff = UserFactory(username="not_staff")
    bot_assignment_create(user=not_staff, bot=demo_bot)
    client.force_login(not_staff)
    assert (
        client.post(f"/api/v1/bots/{demo_bot.slug}/parse", {"text": "hi"}, content_type="application/json").status_code
        == 403
    )


def test_token_auth_follows_the_same_scoping(demo_bot, staff_analysts, fake_parse) -> None:
    from tests.analytics.conftest import api_client_for

    _, of_llm = staff_analysts
    response = api_client_for(of_llm).post(f"/api/v1/bots/{demo_bot.slug}/parse", {"text": "hi"}, format="json")
    assert response.status_code == 404
    assert fake_parse == []


def test_parse_text_is_cleaned_like_widget_text(client, demo_bot, fake_parse) -> None:
    _, key = api_key_create(name="nlu", bots=[demo_bot])
    response = client.post(
        f"/api/v1/bots/{demo_bot.slug}/parse",
        '{"text": "where\\u0000 is my\\u202e order\\ud800"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content
    assert fake_parse == [(demo_bot.pk, "where is my order")]
