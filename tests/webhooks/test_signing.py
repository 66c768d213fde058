"""Our signatures are Standard Webhooks signatures: the published test vector, the secret format,
and the reference library verifying what we send."""

from __future__ import annotations

import base64
import json
import time

from standardwebhooks.webhooks import Webhook

from webhooks.services.signing import secret_new, signature, signed_headers


def test_published_test_vector() -> None:
    # https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
    assert (
        signature(
            secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp=1614265330,
            body='{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_new_secrets_are_whsec_and_24_random_bytes() -> None:
    secrets = {secret_new() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24


def test_the_reference_library_verifies_our_headers_with_either_secret_during_a_rotation() -> None:
    old, new = secret_new(), secret_new()
    body = json.dumps({"type": "message.created", "data": {"text": "héllo"}}, ensure_ascii=False)
    headers = signed_headers(secrets=[new, old], msg_id="evt_1", timestamp=int(time.time()), body=body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(body.encode(), headers)["data"]["text"] == "héllo"
    assert Webhook(old).verify(body.encode(), headers)["type"] == "message.created"
