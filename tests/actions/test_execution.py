"""One HTTP action against a real local server: gating, limits, signing, retries, the breaker."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from actions.execution import ActionConfig, Caller, run_action
from engine.types import ActionRequest

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_ids = itertools.count(random.randrange(10**6, 10**9))


class _Shop(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    plan: list[int] = []  # status codes to answer with, in order (then 200)
    delay_s = 0.0

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:
        type(self).requests.append({"path": self.path, "headers": dict(self.headers.items())})
        if self.delay_s:
            time.sleep(self.delay_s)
        status = type(self).plan.pop(0) if type(self).plan else 200
        if self.path.endswith("/AC-00000"):
            status = 404
        body = json.dumps(
            {"status": "shipped", "eta": "4 December", "customer": {"email": "a@b.example", "name": "Ann"}}
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def shop(settings) -> Iterator[str]:
    settings.OUTBOUND_ALLOW_PRIVATE = ["127.0.0.1"]
    _Shop.requests, _Shop.plan, _Shop.delay_s = [], [], 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _config(base: str, **changes: Any) -> ActionConfig:
    config = ActionConfig(
        id=next(_ids),
        bot_id=1,
        name="order_lookup",
        method="GET",
        url=base + "/api/orders/{order_number}",
        response_mapping={"order_status": "$.status", "eta": "$.eta"},
        reply_template="Order {order_number} is {order_status}.",
        signing_secret=SECRET,
        allowed_hosts=("127.0.0.1",),
        retries=0,
    )
    return replace(config, **changes)


def _run(config: ActionConfig, order: str = "AC-12345", **caller: Any) -> Any:
    request = ActionRequest(name=config.name, intent="track_order", slots={"order_number": order})
    return run_action(config, request, Caller(conversation_id=next(_ids), **caller))


def test_answer_is_mapped_into_slots_and_the_request_is_signed(shop: str) -> None:
    result = _run(_config(shop))
    assert result.status == "ok"
    assert result.slots == {"order_status": "shipped", "eta": "4 December"}
    assert result.template == "Order {order_number} is {order_status}."
    (request,) = _Shop.requests
    assert request["path"] == "/api/orders/AC-12345"
    # The receiver's side: the published library accepts our signature (empty body for a GET).
    Webhook(SECRET).verify("", request["headers"], json_parse=False)
    assert request["headers"]["webhook-id"] == result.trace["call_id"]
    trace = result.trace
    assert trace["arguments"] == {"order_number": "AC-12345"} and trace["http_status"] == 200
    assert trace["response"]["customer"] == {"email": "[redacted]", "name": "Ann"}
    assert trace["latency_ms"] >= 0 and trace["attempts"] == 1


def test_a_forged_signature_does_not_verify(shop: str) -> None:
    _run(_config(shop, signing_secret="whsec_" + "A" * 32))
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify("", _Shop.requests[0]["headers"], json_parse=False)


def test_unknown_order_is_not_found(shop: str) -> None:
    result = _run(_config(shop, not_found_text="No order {order_number}."), order="AC-00000")
    assert result.status == "not_found" and result.template == "No order {order_number}."


def test_verified_actions_ask_anonymous_visitors_to_sign_in_and_call_nothing(shop: str) -> None:
    config = _config(shop, required_identity="verified", url=shop + "/api/customers/{identity_user_id}/orders")
    assert _run(config).status == "identity_required"
    assert _Shop.requests == []
    assert _run(config, user_id="cust 42/../admin").status == "ok"
    assert _Shop.requests[0]["path"] == "/api/customers/cust%2042%2F..%2Fadmin/orders"
    step_up = _config(shop, required_identity="step_up")
    assert _run(step_up, user_id="cust-42").status == "identity_required"


def test_a_5xx_is_retried_with_the_same_id(shop: str) -> None:
    _Shop.plan = [503]
    result = _run(_config(shop, retries=1))
    assert result.status == "ok" and result.trace["attempts"] == 2
    first, second = _Shop.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]


def test_a_slow_system_is_a_timeout_answered_honestly(shop: str) -> None:
    _Shop.delay_s = 1.5
    began = time.monotonic()
    result = _run(_config(shop, timeout_seconds=0.5, retries=2))
    assert result.status == "failed" and "timeout" in result.trace["error"]
    assert time.monotonic() - began < 1.4  # one deadline for the call and its retries


def test_the_breaker_stops_calling_a_dead_endpoint(settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = ["127.0.0.1"]
    config = _config("http://127.0.0.1:9", timeout_seconds=1)
    errors = [_run(config).trace["error"] for _ in range(6)]
    assert all("connection" in e or "timeout" in e for e in errors[:5])
    assert errors[5].startswith("circuit open")


def test_private_addresses_need_the_explicit_allowance(shop: str, settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = []
    result = _run(_config(shop))
    assert result.status == "failed" and "refused" in result.trace["error"] and _Shop.requests == []


def test_hosts_off_the_bots_list_are_refused(shop: str) -> None:
    result = _run(_config(shop, allowed_hosts=("api.shop.example",)))
    assert result.status == "failed" and "allowed hosts" in result.trace["error"]


def test_calls_per_conversation_are_capped(shop: str) -> None:
    config = _config(shop, max_calls_per_conversation=2)
    request = ActionRequest(name=config.name, intent="track_order", slots={"order_number": "AC-12345"})
    caller = Caller(conversation_id=next(_ids))
    statuses = [run_action(config, request, caller).status for _ in range(3)]
    assert statuses == ["ok", "ok", "limited"] and len(_Shop.requests) == 2


def test_arguments_are_checked_against_the_schema_before_calling(shop: str) -> None:
    schema = {"type": "object", "properties": {"order_number": {"type": "string", "pattern": "^AC-[0-9]{5}$"}}}
    result = _run(_config(shop, parameters_schema=schema), order="AC-1/../../admin")
    assert result.status == "not_found" and _Shop.requests == []
