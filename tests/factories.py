"""factory_boy factories for the domain models; shared by every test package."""

from __future__ import annotations

import factory
from django.utils import timezone

from bots.models import (
    AgentProfile,
    AgentTeam,
    Bot,
    Conversation,
    EntityType,
    EntityValue,
    Intent,
    Message,
    TrainingPhrase,
)


class BotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bot

    slug = factory.Sequence(lambda n: f"bot-{n}")
    name = factory.Sequence(lambda n: f"Bot {n}")


class IntentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Intent

    bot = factory.SubFactory(BotFactory)
    name = factory.Sequence(lambda n: f"intent_{n}")


class TrainingPhraseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingPhrase

    intent = factory.SubFactory(IntentFactory)
    text = factory.Sequence(lambda n: f"example phrase number {n}")


class EntityTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EntityType

    bot = factory.SubFactory(BotFactory)
    name = factory.Sequence(lambda n: f"entity_{n}")
    kind = EntityType.Kind.LOOKUP
    pattern = ""


class EntityValueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EntityValue

    entity_type = factory.SubFactory(EntityTypeFactory)
    value = factory.Sequence(lambda n: f"value {n}")
    synonyms = factory.LazyFunction(list)


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    bot = factory.SubFactory(BotFactory)
    visitor_id = factory.Sequence(lambda n: f"visitor-{n}")


class MessageFactory(factory.django.DjangoModelFactory):
    """A visitor message by default; pass role=Message.Role.BOT (and reply_to) for a reply."""

    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    seq = factory.Sequence(lambda n: n + 1)
    role = Message.Role.USER
    text = factory.Sequence(lambda n: f"message {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"Agent{n}")


class AgentTeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentTeam

    name = factory.Sequence(lambda n: f"Team {n}")


class AgentProfileFactory(factory.django.DjangoModelFactory):
    """An agent on duty: online with a fresh heartbeat."""

    class Meta:
        model = AgentProfile

    user = factory.SubFactory(UserFactory)
    presence = AgentProfile.Presence.ONLINE
    last_seen_at = factory.LazyFunction(timezone.now)


def agent_on_duty(bot: Bot, *, team: AgentTeam | None = None, **profile: object) -> AgentProfile:
    """A user in a team of `bot`, online: what makes `handoff_available(bot)` true."""
    team = team or AgentTeamFactory()
    team.bots.add(bot)
    agent = AgentProfileFactory(**profile)
    team.members.add(agent.user)
    return agent
