"""Writes: an action's secrets (headers, signing key) are stored encrypted and never read back out."""

from __future__ import annotations

import base64
import json
import secrets

from django.db import transaction

from actions.models import HttpAction
from chatplatform.encryption import encrypt


def action_headers_set(*, action: HttpAction, headers: dict[str, str]) -> None:
    action.headers_encrypted = encrypt(json.dumps(headers)) if headers else ""
    action.save(update_fields=["headers_encrypted", "updated_at"])


def action_signing_secret_rotate(*, action: HttpAction) -> str:
    """A new Standard Webhooks secret (`whsec_...`), returned once for the admin to copy."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    action.signing_secret_encrypted = encrypt(secret)
    action.save(update_fields=["signing_secret_encrypted", "updated_at"])
    return secret


@transaction.atomic
def action_saved(*, action: HttpAction, headers: dict[str, str] | None) -> str | None:
    """After the admin or the API saved an action: store new headers (None: keep them) and give a
    new action its signing secret. Returns that secret, to be shown once, or None."""
    if headers is not None:
        action_headers_set(action=action, headers=headers)
    if action.signing_secret_encrypted:
        return None
    return action_signing_secret_rotate(action=action)
