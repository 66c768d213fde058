"""The admin's own change log (django.contrib.admin's LogEntry, written for every add, change and
delete made in the admin) copied into the audit log, so one search covers the admin and the API.
Connected from audit/admin.py: the admin loads it in every process that can write a LogEntry."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.core.exceptions import ObjectDoesNotExist
from django.db.models.signals import post_save
from django.dispatch import receiver

from audit.models import AuditEntry
from audit.services import audit_record

VERBS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


def _bot_slug(entry: LogEntry) -> str:
    """The bot the edited object belongs to, when it still exists and has one."""
    if entry.action_flag == DELETION:
        return ""
    try:
        edited = entry.get_edited_object()
    except (ObjectDoesNotExist, AttributeError):  # the object or its model is gone: the entry names it
        return ""
    is_bot = entry.content_type is not None and entry.content_type.model == "bot"
    bot = edited if is_bot else getattr(edited, "bot", None)
    return str(getattr(bot, "slug", "") or "")


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_change")
def admin_change_recorded(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    content_type = instance.content_type
    model = f"{content_type.app_label}.{content_type.model}" if content_type else "?"
    audit_record(
        action=AuditEntry.Action.ADMIN_CHANGE,
        actor=instance.user,
        target=f"{model} {instance.object_id} {instance.object_repr}",
        summary=f"{VERBS.get(instance.action_flag, 'edited')}: {instance.get_change_message() or '-'}",
        bot_slug=_bot_slug(instance),
        details={"model": model, "object_id": instance.object_id, "flag": instance.action_flag},
    )
