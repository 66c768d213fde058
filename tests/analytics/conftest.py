from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from analytics.services import bot_assignment_create
from tests.analytics.factories import BotFactory, ConversationFactory, UserFactory, turn


@pytest.fixture
def bot_a(db):
    return BotFactory(slug="bot-a", name="Bot A")


@pytest.fixture
def bot_b(db):
    return BotFactory(slug="bot-b", name="Bot B")


@pytest.fixture
def analyst_a(bot_a):
    user = UserFactory(username="analyst_a", role="analyst")
    bot_assignment_create(user=user, bot=bot_a)
    return user


@pytest.fixture
def analyst_b(bot_b):
    user = UserFactory(username="analyst_b", role="analyst")
    bot_assignment_create(user=user, bot=bot_b)
    return user


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin_role", role="admin")


@pytest.fixture
def conv_a(bot_a):
    conv = ConversationFactory(bot=bot_a, user_id="jane@example.com", csat=4)
    turn(
        conv,
        "Where is my order? mail jane@example.com",
        "Let me check.",
        intent="order_status",
        time_to_first_token_ms=100,
        total_time_ms=300,
    )
    turn(conv, "blorp the frobnicator", "Sorry, I didn't understand that.", action="fallback")
    return conv


@pytest.fixture
def conv_b(bot_b):
    conv = ConversationFactory(bot=bot_b)
    turn(conv, "hello there", "Hi!", intent="greet", action="greet")
    return conv


def api_client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
