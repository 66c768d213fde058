"""Analytics test helpers: users with roles, and whole turns; domain factories come from tests/factories.py."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from bots.models import Conversation, Message
from tests.factories import BotFactory, ConversationFactory, IntentFactory, MessageFactory

__all__ = ["BotFactory", "ConversationFactory", "IntentFactory", "MessageFactory", "UserFactory", "turn"]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = "!"  # unusable; tests log in with force_login (no slow hashing)

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


def turn(
    conversation: Conversation,
    text: str,
    reply: str,
    *,
    intent: str = "",
    action: str = "utter_template",
    confidence: float | None = 0.9,
    **reply_fields,
) -> tuple[Message, Message]:
    """A visitor message and the bot's reply, with the NLU result on both (as the turn service stores it)."""
    seq = (conversation.messages.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    user = Message.objects.create(
        conversation=conversation,
        seq=seq,
        role=Message.Role.USER,
        text=text,
        intent=intent,
        confidence=confidence if intent else None,
    )
    bot = Message.objects.create(
        conversation=conversation,
        seq=seq + 1,
        role=Message.Role.BOT,
        text=reply,
        reply_to=user,
        intent=intent,
        confidence=confidence if intent else None,
        action=action,
        **reply_fields,
    )
    return user, bot
