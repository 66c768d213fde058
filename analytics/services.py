"""Writes of the analyst workspace: tags, notes, intent corrections, roles and assignments.

Views and API endpoints are thin callers. Domain errors are `django.core.exceptions.ValidationError`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import BotAssignment, ConversationTag, IntentSuggestion, MessageTag, Note, Tag
from bots.models import Bot, Conversation, Intent, Message, TrainingPhrase
from chatplatform.access.roles import ROLES
from conversations.services.messages import text_scrub
from nlu.services.scheduling import nlu_training_data_changed

logger = logging.getLogger(__name__)


# --- Roles and scoping -------------------------------------------------------------------------


def user_set_role(*, user: Any, role: str) -> None:
    """Put `user` in exactly one role group (admin / analyst / agent)."""
    if role not in ROLES:
        raise ValidationError(_("Unknown role %(role)s.") % {"role": role})
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
    user.groups.add(Group.objects.get(name=role))


def bot_assignment_create(*, user: Any, bot: Bot) -> BotAssignment:
    assignment, _created = BotAssignment.objects.get_or_create(user=user, bot=bot)
    return assignment


# --- Tags and notes ----------------------------------------------------------------------------


def tag_get_or_create(*, name: str) -> Tag:
    # Scrubbed like visitor text (no bidi/invisible controls in a shared vocabulary), then validated.
    name = " ".join(text_scrub(name).split())
    tag = Tag(name=name)
    tag.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            return Tag.objects.get_or_create(name=name)[0]
    except IntegrityError:  # a concurrent create won
        return Tag.objects.get(name=name)


def conversation_tag_add(*, conversation: Conversation, name: str, user: Any) -> ConversationTag:
    tag = tag_get_or_create(name=name)
    return ConversationTag.objects.get_or_create(conversation=conversation, tag=tag, defaults={"created_by": user})[0]


def conversation_tag_remove(*, conversation: Conversation, name: str) -> bool:
    deleted, _detail = ConversationTag.objects.filter(conversation=conversation, tag__name=name).delete()
    return bool(deleted)


def message_tag_add(*, message: Message, name: str, user: Any) -> MessageTag:
    tag = tag_get_or_create(name=name)
    return MessageTag.objects.get_or_create(message=message, tag=tag, defaults={"created_by": user})[0]


def message_tag_remove(*, message: Message, name: str) -> bool:
    deleted, _detail = MessageTag.objects.filter(message=message, tag__name=name).delete()
    return bool(deleted)


def note_create(*, conversation: Conversation, author: Any, text: str, message: Message | None = None) -> Note:
    # Analysts' notes are shown to other analysts: the same scrub as visitor text (bidi controls, junk).
    text = text_scrub(text).strip()
    if not text:
        raise ValidationError({"text": _("A note cannot be empty.")})
    if message is not None and message.conversation_id != conversation.pk:
        raise ValidationError({"message": _("That message is not part of this conversation.")})
    note = Note(conversation=conversation, message=message, author=author, text=text)
    note.full_clean()
    note.save()
    return note


# --- The correction loop -----------------------------------------------------------------------


def intent_suggestion_create(
    *, message: Message, user: Any, intent: Intent | None = None, new_intent_name: str = "", text: str | None = None
) -> IntentSuggestion:
    """An analyst says which intent a visitor message should have had. Replaces a pending one."""
    if message.role != Message.Role.USER:
        raise ValidationError(_("Only visitor messages can be corrected."))
    bot_id = message.conversation.bot_id
    new_intent_name = new_intent_name.strip()
    if intent is None and not new_intent_name:
        raise ValidationError({"intent": _("Pick an intent or name a new one.")})
    if intent is not None and new_intent_name:
        raise ValidationError({"intent": _("Pick an intent or name a new one, not both.")})
    if intent is not None and intent.bot_id != bot_id:
        raise ValidationError({"intent": _("That intent belongs to another bot.")})
    if new_intent_name:
        existing = Intent.objects.filter(bot_id=bot_id, name=new_intent_name).first()
        if existing is not None:
            intent, new_intent_name = existing, ""
    # The phrase becomes training data: never with bidi/invisible controls (older rows may hold them).
    phrase = text_scrub(text if text is not None else message.text).strip()[:1000]
    if not phrase:
        raise ValidationError({"text": _("The training phrase cannot be empty.")})
    suggestion = IntentSuggestion(
        bot_id=bot_id, message=message, text=phrase, intent=intent, new_intent_name=new_intent_name, created_by=user
    )
    suggestion.full_clean(exclude=["message"], validate_constraints=False)
    with transaction.atomic():
        IntentSuggestion.objects.filter(message=message, status=IntentSuggestion.Status.PENDING).delete()
        suggestion.save()
    return suggestion


def intent_suggestion_accept(*, suggestion_id: int, user: Any) -> TrainingPhrase:
    """Admin accepts: create the intent if new, add the training phrase, bump the data version.

    Locks the suggestion row so two admins clicking at once add the phrase once.
    """
    with transaction.atomic():
        suggestion = IntentSuggestion.objects.select_for_update().get(pk=suggestion_id)
        if suggestion.status != IntentSuggestion.Status.PENDING:
            raise ValidationError(_("This suggestion was already reviewed."))
        intent = suggestion.intent
        if intent is None:
            intent, _created = Intent.objects.get_or_create(bot_id=suggestion.bot_id, name=suggestion.new_intent_name)
        phrase, created = TrainingPhrase.objects.get_or_create(intent=intent, text=suggestion.text)
        suggestion.status = IntentSuggestion.Status.ACCEPTED
        suggestion.intent = intent
        suggestion.new_intent_name = ""
        suggestion.training_phrase = phrase
        suggestion.reviewed_by = user
        suggestion.reviewed_at = timezone.now()
        suggestion.save(
            update_fields=["status", "intent", "new_intent_name", "training_phrase", "reviewed_by", "reviewed_at"]
        )
        if created:
            nlu_training_data_changed(bot_id=suggestion.bot_id)
    return phrase


def intent_suggestion_reject(*, suggestion_id: int, user: Any) -> IntentSuggestion:
    with transaction.atomic():
        suggestion = IntentSuggestion.objects.select_for_update().get(pk=suggestion_id)
        if suggestion.status != IntentSuggestion.Status.PENDING:
            raise ValidationError(_("This suggestion was already reviewed."))
        suggestion.status = IntentSuggestion.Status.REJECTED
        suggestion.reviewed_by = user
        suggestion.reviewed_at = timezone.now()
        suggestion.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    return suggestion
