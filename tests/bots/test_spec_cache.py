"""The turn's view of a bot is cached by the bot row's stamp; every kind of edit moves the stamp."""

from __future__ import annotations

import pytest

from actions.models import HttpAction
from bots.models import Bot, FormSlot, Intent, ResponseTemplate
from bots.selectors import bot_spec
from tests.factories import BotFactory, IntentFactory

pytestmark = pytest.mark.django_db


def fresh(bot: Bot) -> Bot:
    """The bot row as the next turn's claim reads it."""
    return Bot.objects.get(pk=bot.pk)


@pytest.fixture
def bot() -> Bot:
    bot = BotFactory()
    intent = IntentFactory(bot=bot, name="greet")
    ResponseTemplate.objects.create(intent=intent, text="Hello!")
    return fresh(bot)


def test_a_second_turn_reads_no_configuration(bot: Bot, django_assert_num_queries) -> None:
    first = bot_spec(bot=bot)
    with django_assert_num_queries(0):
        again = bot_spec(bot=bot)
    assert again is first
    assert [r.text for r in first.intents["greet"].responses] == ["Hello!"]


def test_a_response_edit_reaches_the_next_turn(bot: Bot) -> None:
    bot_spec(bot=bot)
    response = ResponseTemplate.objects.get(intent__bot=bot)
    response.text = "Hi there!"
    response.save()
    assert [r.text for r in bot_spec(bot=fresh(bot)).intents["greet"].responses] == ["Hi there!"]
    response.delete()
    assert bot_spec(bot=fresh(bot)).intents["greet"].responses == ()


def test_intents_and_form_slots_reach_the_next_turn(bot: Bot) -> None:
    bot_spec(bot=bot)
    order = IntentFactory(bot=bot, name="order")
    assert set(bot_spec(bot=fresh(bot)).intents) == {"greet", "order"}
    FormSlot.objects.create(intent=order, name="order_id", entity="number", prompt="Which order?")
    assert [s.name for s in bot_spec(bot=fresh(bot)).intents["order"].form_slots] == ["order_id"]
    Intent.objects.get(pk=order.pk).delete()
    assert set(bot_spec(bot=fresh(bot)).intents) == {"greet"}


def test_an_action_switched_off_reaches_the_next_turn(bot: Bot) -> None:
    action = HttpAction.objects.create(bot=bot, name="order_status", url="https://shop.example/orders")
    Intent.objects.filter(bot=bot, name="greet").update(action=action)  # a bulk write: no signal...
    action.save()  # ...the action's own save moves the stamp
    assert bot_spec(bot=fresh(bot)).intents["greet"].action == "order_status"
    action.is_active = False
    action.save()
    assert bot_spec(bot=fresh(bot)).intents["greet"].action is None


def test_the_bot_settings_reach_the_next_turn(bot: Bot) -> None:
    bot_spec(bot=bot)
    bot.persona = "A cheerful florist."
    bot.save()
    assert bot_spec(bot=fresh(bot)).persona == "A cheerful florist."


def test_other_bots_are_not_confused(bot: Bot) -> None:
    other = BotFactory()
    IntentFactory(bot=other, name="bye")
    assert set(bot_spec(bot=bot).intents) == {"greet"}
    assert set(bot_spec(bot=fresh(other)).intents) == {"bye"}
