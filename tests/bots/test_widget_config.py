"""GET /api/v1/widget/<public key>/config: the bot's widget theming, public, CORS for allowed origins."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_config_carries_the_admin_theming_and_cors_for_allowed_origins(client, llm_bot, allowed_origin) -> None:
    llm_bot.widget_color, llm_bot.widget_position, llm_bot.widget_title = "#14532d", "left", "Trail help"
    llm_bot.language = "zh-hans"
    llm_bot.save()
    response = client.get(f"/api/v1/widget/{llm_bot.public_key}/config", HTTP_ORIGIN=allowed_origin)
    assert response.status_code == 200
    assert response.json() == {
        "name": llm_bot.name,
        "title": "Trail help",
        "color": "#14532d",
        "position": "left",
        "avatar_url": "",
        "greeting": llm_bot.greeting,
        "language": "zh-hans",
    }
    assert response["Access-Control-Allow-Origin"] == allowed_origin
    other = client.get(f"/api/v1/widget/{llm_bot.public_key}/config", HTTP_ORIGIN="https://evil.example")
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other


def test_unknown_or_inactive_bot_is_404(client, llm_bot) -> None:
    assert client.get("/api/v1/widget/pk_nope/config").status_code == 404
    llm_bot.is_active = False
    llm_bot.save()
    assert client.get(f"/api/v1/widget/{llm_bot.public_key}/config").status_code == 404
