"""The demo bot `make run` creates: enough intents to show templates, a form, and generation; and the
people behind it (an agent team with one agent, a complaint intent that hands off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NotRequired, TypedDict

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from bots.models import (
    AgentProfile,
    AgentTeam,
    Bot,
    EntityType,
    FormSlot,
    Intent,
    ResponseTemplate,
    TrainingPhrase,
)
from chatplatform.access.roles import AGENT
from knowledge.services.documents import document_upload
from nlu.services.scheduling import nlu_training_data_changed

DEMO_SLUG = "acme-support"
DEMO_TEAM_NAME = "Acme Support agents"
DEMO_AGENT_USERNAME = "agent"
DEMO_AGENT_DISPLAY_NAME = "Alex from Acme"


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
        # Used only while no orders API is connected (`make run` connects the demo's: HttpAction
        # order_lookup answers instead). Honest: without a lookup the bot knows nothing of the order.
        "responses": [
            (
                "I can't look up order {order_number} from this chat right now. Its status is in your "
                "confirmation e-mail, or ask me for a person.",
                [],
            )
        ],
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


# The pretend shop's help center: real Markdown pages and a CSV of curated FAQs, imported through
# the same path as a customer's documents (the worker parses, chunks and embeds them).
DEMO_HELP_CENTER = Path(__file__).resolve().parent.parent / "demo_help_center"


@transaction.atomic
def demo_bot_ensure(*, extra_origins: list[str]) -> Bot:
    bot, created = demo_bot_get_or_create(
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
        extra_origins=extra_origins,
    )
    if created:
        for spec in DEMO_INTENTS:
            demo_intent_create(bot, spec)
    return bot


def demo_bot_get_or_create(*, slug: str, defaults: dict[str, Any], extra_origins: list[str]) -> tuple[Bot, bool]:
    """A demo bot by slug, created with `defaults` and the order-number entity its forms ask for; a
    rerun only adds allowed origins (an admin's edits to the rest stay)."""
    bot, created = Bot.objects.get_or_create(slug=slug, defaults=defaults)
    origins = sorted(set(bot.allowed_origins) | set(extra_origins))
    if origins != bot.allowed_origins:
        bot.allowed_origins = origins
        bot.save(update_fields=["allowed_origins"])
    if created:
        EntityType.objects.create(bot=bot, name="order_number", kind=EntityType.Kind.REGEX, pattern=r"\bAC-\d{5}\b")
    return bot, created


def demo_intent_create(bot: Bot, spec: _DemoIntent, *, hands_off: bool = False) -> Intent:
    """An intent with its phrases, response variants and form slots, as the spec lists them."""
    intent = Intent.objects.create(
        bot=bot,
        name=str(spec["name"]),
        response_mode=str(spec.get("mode", Intent.ResponseMode.TEMPLATE)),
        hands_off=hands_off,
    )
    TrainingPhrase.objects.bulk_create(TrainingPhrase(intent=intent, text=t) for t in spec["phrases"])
    for position, (text, quick) in enumerate(spec["responses"]):
        ResponseTemplate.objects.create(intent=intent, text=text, quick_replies=quick, position=position)
    for position, (name, entity, prompt) in enumerate(spec.get("slots", [])):
        FormSlot.objects.create(intent=intent, name=name, entity=entity, prompt=prompt, position=position)
    return intent


@transaction.atomic
def demo_help_center_ensure(*, bot: Bot) -> int:
    """Upload the help center's pages the bot does not have yet (by file name); the worker parses,
    chunks and embeds them after commit. Returns how many were uploaded. Separate from the bot, so
    tests of the dialogue alone do not index documents in the background."""
    have = set(bot.knowledge_documents.values_list("filename", flat=True))
    pages = [page for page in sorted(DEMO_HELP_CENTER.iterdir()) if page.name not in have]
    for page in pages:
        document_upload(bot=bot, filename=page.name, data=page.read_bytes())
    return len(pages)


# A complaint is what a person should hear: recognising it queues the conversation (Intent.hands_off).
# Kept out of DEMO_INTENTS so the bot of the dialogue tests keeps the intents those tests were written for.
DEMO_HANDOFF_INTENT: _DemoIntent = {
    "name": "complaint",
    "phrases": [
        "I want to make a complaint",
        "I'm very unhappy with your service",
        "this is unacceptable",
        "my tent arrived broken and nobody answers my emails",
        "I want to complain about my order",
        "your product is terrible and I want my money back now",
    ],
    "responses": [("I'm sorry to hear that. Let me get a colleague who can sort this out with you.", [])],
}


@transaction.atomic
def demo_handoff_intent_ensure(*, bot: Bot) -> Intent:
    """The demo's hands-off intent, created once (an admin who later unflags it keeps their choice)."""
    spec = DEMO_HANDOFF_INTENT
    intent, created = Intent.objects.get_or_create(bot=bot, name=spec["name"], defaults={"hands_off": True})
    if created:
        TrainingPhrase.objects.bulk_create(TrainingPhrase(intent=intent, text=t) for t in spec["phrases"])
        for position, (text, quick) in enumerate(spec["responses"]):
            ResponseTemplate.objects.create(intent=intent, text=text, quick_replies=quick, position=position)
        nlu_training_data_changed(bot_id=bot.pk)
    return intent


# Shortcuts for the demo team's canned replies. bots may not import the inbox (pyproject's layering
# contract), so the inbox's seeding writes them (inbox.models.CannedReply) from this list.
DEMO_CANNED_REPLIES: list[tuple[str, str]] = [
    ("/hello", "Hi, I'm from the Acme support team. I've read your conversation with our assistant."),
    ("/order", "I'm looking at your order in our system now; this takes a minute."),
    ("/return", "You can return any item within 30 days at acme.example/returns; we'll email you a prepaid label."),
    ("/bye", "Is there anything else I can help with? If not, have a great day!"),
]


@transaction.atomic
def demo_team_ensure(*, bot: Bot, agent_password: str | None) -> tuple[AgentTeam, Any]:
    """The demo bot's agent team with one agent: role `agent`, offline until they open the inbox (the
    inbox page's presence and heartbeat bring them online), so the bot offers a person only then.

    `agent_password` sets the agent's password (None: keep it). Idempotent."""
    team, _created = AgentTeam.objects.get_or_create(name=DEMO_TEAM_NAME)
    team.bots.add(bot)
    agent, _created = get_user_model().objects.get_or_create(
        username=DEMO_AGENT_USERNAME, defaults={"email": "agent@example.com", "first_name": "Alex"}
    )
    if agent_password is not None:
        agent.set_password(agent_password)
        agent.save(update_fields=["password"])
    # The role's group (made by the roles migration) carries the inbox permission.
    agent.groups.add(Group.objects.get(name=AGENT))
    AgentProfile.objects.get_or_create(
        user=agent, defaults={"display_name": DEMO_AGENT_DISPLAY_NAME, "presence": AgentProfile.Presence.OFFLINE}
    )
    team.members.add(agent)
    return team, agent
