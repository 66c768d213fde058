"""Writes on webhook endpoints: the signing secret (issued, rotated) and re-enabling after failures."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chatplatform.encryption import InvalidToken, decrypt, encrypt, mask
from webhooks.models import WebhookEndpoint
from webhooks.services.signing import secret_new


def endpoint_secret_issue(endpoint: WebhookEndpoint) -> str:
    """Give a new (unsaved) endpoint its secret; the plaintext is returned to be shown once."""
    secret = secret_new()
    endpoint.secret_encrypted = encrypt(secret)
    return secret


def endpoint_create(
    *, url: str, bot_id: int | None, event_types: list[str], description: str = "", enabled: bool = True
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (plaintext, the only time anyone sees it)."""
    endpoint = WebhookEndpoint(
        url=url, bot_id=bot_id, event_types=list(event_types), description=description, enabled=enabled
    )
    secret = endpoint_secret_issue(endpoint)
    endpoint.full_clean()
    endpoint.save()
    return endpoint, secret


@transaction.atomic
def endpoint_secret_rotate(*, endpoint_id: int) -> str:
    """A new secret signs from now on; the old one also signs for WEBHOOK_SECRET_OVERLAP_S, so the
    receiver can switch to the new one without rejecting deliveries meanwhile."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    secret = secret_new()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(seconds=settings.WEBHOOK_SECRET_OVERLAP_S)
    endpoint.secret_encrypted = encrypt(secret)
    endpoint.save(update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_expires_at"])
    return secret


def endpoint_enable(*, endpoint_id: int) -> None:
    """Back on after it was disabled: the failure count starts over; its pending deliveries resume."""
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        enabled=True, consecutive_failures=0, disabled_at=None, disabled_reason="", updated_at=timezone.now()
    )


def endpoint_signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    found = [decrypt(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > timezone.now():
        found.append(decrypt(endpoint.previous_secret_encrypted))
    return found


def endpoint_secret_masked(endpoint: WebhookEndpoint) -> str:
    """What screens show of the secret after it was issued."""
    try:
        return mask(decrypt(endpoint.secret_encrypted))
    except InvalidToken:  # a lost encryption key: shown as such, never raised
        return "(unreadable: the encryption key changed)"
