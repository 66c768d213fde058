"""The demo bot's actions, for real: HTTP actions against the pretend shop's API
(chatplatform/launcher/demo_site.py) on loopback, signed with secrets the shop's server checks.

- `order_lookup` (anyone with an order number): `track_order`'s form calls it.
- `my_orders` (a verified visitor: the demo page's "sign in"): a signed-in customer's orders.
- `account_details` (verified, plus a one-time code): the address and e-mail on file; the code
  is delivered by `send_step_up_code`, the shop's own endpoint."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.db import transaction

from actions.models import HttpAction
from actions.services.configuration import action_signing_secret_rotate
from bots.models import Bot, Intent, TrainingPhrase
from bots.signals import bot_config_touch
from nlu.services.scheduling import nlu_training_data_changed

DEMO_ORDER_ACTION = "order_lookup"


@transaction.atomic
def demo_order_lookup_ensure(*, bot: Bot, orders_api: str) -> str:
    """Point the demo's `track_order` at `orders_api` (e.g. http://127.0.0.1:8001). Returns the
    signing secret, rotated on every run, for the orders API to verify requests with."""
    _host_allow(bot, orders_api)
    action, _created = HttpAction.objects.update_or_create(
        bot=bot,
        name=DEMO_ORDER_ACTION,
        defaults={
            "description": "Look up an order's status by its number (AC- and five digits).",
            "method": HttpAction.Method.GET,
            "url": orders_api.rstrip("/") + "/api/orders/{order_number}",
            "parameters_schema": {
                "type": "object",
                "properties": {"order_number": {"type": "string", "pattern": "^AC-[0-9]{5}$"}},
                "required": ["order_number"],
            },
            "response_mapping": {"order_status": "$.status", "order_summary": "$.summary"},
            "reply_template": "Order {order_number} {order_summary}.",
            "not_found_text": (
                "I can't find order {order_number}. Please check the number on your confirmation e-mail "
                "(it looks like AC-12345) and tell me again."
            ),
            "timeout_seconds": 5.0,
            "retries": 1,
        },
    )
    Intent.objects.filter(bot=bot, name="track_order").update(action=action)
    bot_config_touch(bot_id=bot.pk)  # a bulk update sends no signal: the turn's spec cache must see it
    return action_signing_secret_rotate(action=action)


def _host_allow(bot: Bot, api: str) -> None:
    host = urlsplit(api).hostname or ""
    if host and host not in bot.action_allowed_hosts:
        bot.action_allowed_hosts = [*bot.action_allowed_hosts, host]
        bot.save(update_fields=["action_allowed_hosts"])


# Intents only a signed-in customer gets answers to. Kept out of DEMO_INTENTS, like the complaint
# intent, so the bot of the dialogue tests keeps the intents those tests were written for.
DEMO_ACCOUNT_INTENTS: dict[str, list[str]] = {
    "my_orders": [
        "show me my orders",
        "what have I ordered",
        "list all my orders",
        "my order history",
        "what did I buy from you",
        "which orders do I have",
    ],
    "account_details": [
        "what address do you have for me",
        "what's my delivery address on file",
        "show my account details",
        "which email is on my account",
        "what personal details do you have about me",
        "check my shipping address",
    ],
}


def _action(bot: Bot, name: str, **fields: object) -> str:
    action, _created = HttpAction.objects.update_or_create(bot=bot, name=name, defaults=fields)
    return action_signing_secret_rotate(action=action)


@transaction.atomic
def demo_account_actions_ensure(*, bot: Bot, shop_api: str) -> list[str]:
    """The signed-in customer's actions and their intents on the demo bot. Returns the actions'
    signing secrets (rotated on every run) for the shop's API to verify requests with."""
    _host_allow(bot, shop_api)
    base = shop_api.rstrip("/")
    secrets = [
        _action(
            bot,
            "my_orders",
            description="The signed-in customer's orders and their status.",
            method=HttpAction.Method.GET,
            url=base + "/api/customers/{identity_user_id}/orders",
            required_identity=HttpAction.Identity.VERIFIED,
            response_mapping={"customer_name": "$.name", "order_list": "$.orders[*].line"},
            reply_template="Here are your orders, {customer_name}: {order_list}.",
            not_found_text="I can't find any orders for your account.",
        ),
        _action(
            bot,
            "send_step_up_code",
            description="Sends the customer a one-time code by SMS.",
            method=HttpAction.Method.POST,
            url=base + "/api/step-up/codes",
            body_template='{"user_id": "{identity_user_id}", "code": "{step_up_code}"}',
            required_identity=HttpAction.Identity.VERIFIED,
            sends_step_up_code=True,
            reply_template="(not used: the bot asks for the code)",
            max_calls_per_conversation=5,
        ),
        _action(
            bot,
            "account_details",
            description="The address and e-mail on the signed-in customer's account.",
            method=HttpAction.Method.GET,
            url=base + "/api/customers/{identity_user_id}/account",
            required_identity=HttpAction.Identity.STEP_UP,
            response_mapping={"address": "$.address", "email": "$.email"},
            reply_template="We deliver to {address} and write to {email}. To change them, reply 'talk to a person'.",
        ),
    ]
    changed = False
    for name, phrases in DEMO_ACCOUNT_INTENTS.items():
        action = HttpAction.objects.get(bot=bot, name=name)
        intent, created = Intent.objects.get_or_create(bot=bot, name=name, defaults={"action": action})
        if created:
            TrainingPhrase.objects.bulk_create(TrainingPhrase(intent=intent, text=t) for t in phrases)
            changed = True
        elif intent.action_id != action.pk:
            intent.action = action
            intent.save(update_fields=["action"])
    if changed:
        nlu_training_data_changed(bot_id=bot.pk)
    return secrets
