"""POST /api/v1/bots/<slug>/parse: Rasa's /model/parse shape, computed by the worker."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from bots.services.api_keys import api_key_authenticate, api_key_create

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_parse_returns_rasa_shape_with_entities(client, demo_bot, celery_worker) -> None:  # type: ignore[no-untyped-def]
    _, key = api_key_create(name="nlu", bots=[demo_bot])
    response = client.post(f"/api/v1/bots/{demo_bot.slug}/parse", {"text": "where is my order AC-12345"},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["intent"]["name"] == "track_order" and body["intent"]["confidence"] >= demo_bot.nlu_threshold
    assert body["intent_ranking"][0]["name"] == "track_order"
    assert [r["confidence"] for r in body["intent_ranking"]] == sorted(
        (r["confidence"] for r in body["intent_ranking"]), reverse=True)
    assert {"entity": "order_number", "value": "AC-12345"}.items() <= body["entities"][0].items()


def test_parse_below_threshold_has_no_intent_name(client, demo_bot, celery_worker) -> None:  # type: ignore[no-untyped-def]
    _, key = api_key_create(name="nlu", bots=[demo_bot])
    body = client.post(f"/api/v1/bots/{demo_bot.slug}/parse", {"text": "the mitochondria is the powerhouse of the cell"},
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert body["intent"]["name"] is None
    assert body["intent"]["confidence"] < demo_bot.nlu_threshold


def test_parse_refuses_keys_of_other_bots_and_anonymous(client, demo_bot, llm_bot) -> None:  # type: ignore[no-untyped-def]
    _, other_key = api_key_create(name="other", bots=[llm_bot])
    url = f"/api/v1/bots/{demo_bot.slug}/parse"
    assert client.post(url, {"text": "hi"}, content_type="application/json").status_code in (401, 403)
    assert client.post(url, {"text": "hi"}, content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {other_key}").status_code == 403
    assert client.post(url, {"text": "hi"}, content_type="application/json",
                       HTTP_AUTHORIZATION="Bearer cp_forged").status_code == 401


def test_create_api_key_command_prints_the_key_once_and_scopes_it(demo_bot, llm_bot) -> None:  # type: ignore[no-untyped-def]
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "crm", "--bots", demo_bot.slug, stdout=out, stderr=err)
    raw = out.getvalue().strip()
    api_key = api_key_authenticate(raw_key=raw)
    assert api_key is not None and list(api_key.bots.all()) == [demo_bot]
    assert "not shown again" in err.getvalue()
    with pytest.raises(Exception, match="unknown bot"):
        call_command("create_api_key", "x", "--bots", "nope", stdout=io.StringIO(), stderr=io.StringIO())
