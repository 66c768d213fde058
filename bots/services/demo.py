"""The demo bot `make run` creates: enough intents to show templates, a form, and generation."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from django.db import transaction

from bots.models import Bot, EntityType, FormSlot, Intent, KnowledgeChunk, ResponseTemplate, TrainingPhrase
from knowledge.services.changes import knowledge_changed

DEMO_SLUG = "acme-support"


class _DemoIntent(TypedDict):
    name: str
    phrases: list[str]
    responses: list[tuple[str, list[str]]]  # (text, quick replies)
    mode: NotRequired[str]
    slots: NotRequired[list[tuple[str, str, str]]]  # (name, entity, prompt)


DEMO_INTENTS: list[_DemoIntent] = [
    {
        "name": "greet",
        "phrases": ["hi", "hello", "hey there", "good morning", "hello, anyone there?", "hiya"],
        "responses": [
            (
                "Hi! I'm the Acme assistant. I can help with orders, returns and opening hours.",
                ["Track my order", "Opening hours", "Return an item"],
            )
        ],
    },
    {
        "name": "goodbye",
        "phrases": ["bye", "goodbye", "see you later", "thanks, that's all", "that's everything, bye"],
        "responses": [("Thanks for chatting with Acme. Have a great day!", [])],
    },
    {
        "name": "opening_hours",
        "phrases": [
            "what are your opening hours",
            "when are you open",
            "are you open on sunday",
            "what time do you close",
            "store hours please",
            "when does the shop open",
        ],
        "responses": [("We're open Monday to Saturday, 9:00-18:00, and Sunday 10:00-16:00.", [])],
    },
    {
        "name": "track_order",
        "phrases": [
            "where is my order",
            "track my order",
            "I want to track my package",
            "my order hasn't arrived",
            "order status",
            "has my parcel shipped",
        ],
        "responses": [("Order {order_number} is on its way and should arrive within 2 business days.", [])],
        "slots": [("order_number", "order_number", "Sure! What's your order number? It looks like AC-12345.")],
    },
    {
        "name": "shipping_info",
        "mode": "generate",
        "phrases": [
            "how long does shipping take",
            "do you ship to Canada",
            "how much is express delivery",
            "when will my package arrive if I order today",
            "do you deliver internationally",
            "what are the shipping costs",
        ],
        "responses": [],
    },
    {
        "name": "return_item",
        "phrases": [
            "I want to return an item",
            "how do I return something",
            "return policy",
            "can I get a refund",
            "send back a product",
            "refund my purchase",
        ],
        "responses": [
            (
                "You can return any item within 30 days. Start a return at acme.example/returns and we'll "
                "email you a prepaid label.",
                [],
            )
        ],
    },
]


DEMO_KNOWLEDGE = [
    (
        "Shipping",
        "https://acme.example/help/shipping",
        "Orders ship from our warehouse in Denver within one business day. Standard delivery takes 3-5 business "
        "days in the US; express delivery (1-2 days) costs $12. International shipping is available to Canada and "
        "the EU and takes 7-12 business days.",
    ),
    (
        "Tent care",
        "https://acme.example/help/tent-care",
        "Dry your tent completely before storing it to prevent mildew. Clean it with lukewarm water and a sponge, "
        "never in a washing machine. Re-seal seams every two seasons with the seam sealer sold in our shop.",
    ),
    (
        "Warranty",
        "https://acme.example/help/warranty",
        "All Acme-brand gear has a lifetime warranty against manufacturing defects. Normal wear and tear is not "
        "covered. To claim, email photos of the defect and your order number to warranty@acme.example.",
    ),
]


@transaction.atomic
def demo_bot_ensure(*, extra_origins: list[str]) -> Bot:
    bot, created = Bot.objects.get_or_create(
        slug=DEMO_SLUG,
        defaults={
            "name": "Acme Support",
            "persona": (
                "You are the customer-service assistant of Acme Outdoor Gear, an online shop for hiking and "
                "camping equipment. Answer briefly and politely in the visitor's language. If you do not know "
                "something about an order, say so and offer to connect a person."
            ),
            "greeting": "Hi! I'm the Acme assistant. How can I help you today?",
            "widget_title": "Acme Support",
        },
    )
    origins = sorted(set(bot.allowed_origins) | set(extra_origins))
    if origins != bot.allowed_origins:
        bot.allowed_origins = origins
        bot.save(update_fields=["allowed_origins"])
    if not created:
        return bot
    EntityType.objects.create(bot=bot, name="order_number", kind=EntityType.Kind.REGEX, pattern=r"\bAC-\d{5}\b")
    KnowledgeChunk.objects.bulk_create(
        KnowledgeChunk(bot=bot, title=t, source_url=u, text=x) for t, u, x in DEMO_KNOWLEDGE
    )
    knowledge_changed(bot_id=bot.pk)
    for spec in DEMO_INTENTS:
        intent = Intent.objects.create(
            bot=bot, name=str(spec["name"]), response_mode=str(spec.get("mode", Intent.ResponseMode.TEMPLATE))
        )
        TrainingPhrase.objects.bulk_create(TrainingPhrase(intent=intent, text=t) for t in spec["phrases"])
        for position, (text, quick) in enumerate(spec["responses"]):
            ResponseTemplate.objects.create(intent=intent, text=text, quick_replies=quick, position=position)
        for position, (name, entity, prompt) in enumerate(spec.get("slots", [])):
            FormSlot.objects.create(intent=intent, name=name, entity=entity, prompt=prompt, position=position)
    return bot
