"""The demo bot's order tracking, for real: an HTTP action against the pretend shop's orders API
(chatplatform/launcher/demo_site.py) on loopback, signed with a secret the shop's server checks."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.db import transaction

from actions.models import HttpAction
from actions.services.configuration import action_signing_secret_rotate
from bots.models import Bot, Intent

DEMO_ORDER_ACTION = "order_lookup"


@transaction.atomic
def demo_order_lookup_ensure(*, bot: Bot, orders_api: str) -> str:
    """Point the demo's `track_order` at `orders_api` (e.g. http://127.0.0.1:8001). Returns the
    signing secret, rotated on every run, for the orders API to verify requests with."""
    host = urlsplit(orders_api).hostname or ""
    if host and host not in bot.action_allowed_hosts:
        bot.action_allowed_hosts = [*bot.action_allowed_hosts, host]
        bot.save(update_fields=["action_allowed_hosts"])
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
    return action_signing_secret_rotate(action=action)
