"""Standard Webhooks signatures (https://www.standardwebhooks.com): the receiver checks
`v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">` with the endpoint's secret."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def secret_new() -> str:
    """A new signing secret in the Standard Webhooks format: `whsec_` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature(*, secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64>` for one secret; the published test vector checks this (tests/webhooks)."""
    return Webhook(secret).sign(msg_id=msg_id, timestamp=datetime.fromtimestamp(timestamp, tz=UTC), data=body)


def signed_headers(*, secrets: Sequence[str], msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers; several secrets (during a rotation) give several
    space-separated signatures, any one of which the receiver may accept."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body) for secret in secrets if secret
        ),
    }
