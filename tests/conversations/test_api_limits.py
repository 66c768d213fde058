"""Limits and malformed input of the OpenAI-compatible and parse APIs (security issue #9, items 3, 4, 10).

Per-key quotas (429 + Retry-After, OpenAI-shaped on /v1), history bounds validated before anything
is stored, body size/encoding, and a clean 4xx (never a 500) for every malformed input.
"""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from bots.models import Conversation, Message
from bots.services.api_keys import api_key_create, api_key_throttle

pytestmark = [pytest.mark.django_db(transaction=True)]

USER = {"role": "user", "content": "hi"}


def _bearer(raw_key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}


def _away_from_window_edge() -> None:
    """The live server counts in real, clock-aligned minute windows: do not start a test that fills
    a window in its last seconds (the count would reset under it)."""
    left = 60 - time.time() % 60
    if left < 5:
        time.sleep(left + 0.1)


@pytest.fixture
def fake_parse(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answer parse tasks without a worker: these tests are about the limits, not the NLU."""
    texts: list[str] = []

    class _Result:
        def __init__(self, text: str) -> None:
            self.text = text

        def get(self, timeout: float) -> dict:  # type: ignore[type-arg]
            return {
                "text": self.text,
                "intent": {"name": None, "confidence": 0.0},
                "intent_ranking": [],
                "entities": [],
            }

    def delay(bot_id: int, text: str) -> _Result:
        texts.append(text)
        return _Result(text)

    monkeypatch.setattr("nlu.tasks.nlu_parse.delay", delay)
    return texts


@pytest.fixture
def llm_key(llm_bot) -> str:
    return api_key_create(name="limits", bots=[llm_bot])[1]


@pytest.fixture
def http(live_server_url: str, llm_key: str):
    # A short timeout: a request that is wrongly accepted would wait for a worker that is not there.
    with httpx.Client(base_url=live_server_url, timeout=15, headers={"Authorization": f"Bearer {llm_key}"}) as client:
        yield client


def _assert_openai_error(
    response: httpx.Response, status: int, *, param: str | None = None, code: str | None = None
) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"} and error["message"]
    if param is not None:
        assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error


# --- quotas (item 3) -------------------------------------------------------------------------------


def test_official_client_gets_rate_limit_error_with_retry_after(live_server_url, llm_bot, llm_key) -> None:
    from django.conf import settings

    from bots.services.api_keys import api_key_authenticate

    _away_from_window_edge()
    api_key = api_key_authenticate(raw_key=llm_key)
    for _ in range(settings.API_REQUESTS_PER_MINUTE):  # the key's whole minute, spent here (same Redis)
        assert api_key_throttle(api_key=api_key) is None
    client = openai.OpenAI(base_url=f"{live_server_url}/v1", api_key=llm_key, max_retries=0, timeout=15)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model=llm_bot.slug, messages=[USER])
    assert limited.value.status_code == 429
    assert limited.value.body == {
        "message": limited.value.body["message"],
        "type": "requests",
        "code": "rate_limit_exceeded",
        "param": None,
    }
    assert 1 <= int(limited.value.response.headers["Retry-After"]) <= 60
    with pytest.raises(openai.RateLimitError):
        client.models.list()
    assert Conversation.objects.count() == 0
    # Another key has its own quota.
    other = api_key_create(name="other", bots=[llm_bot])[1]
    assert [
        m.id for m in openai.OpenAI(base_url=f"{live_server_url}/v1", api_key=other, max_retries=0).models.list()
    ] == [llm_bot.slug]


def test_quota_is_per_key_over_every_v1_endpoint(client, settings, llm_bot, frozen_rate_window) -> None:
    settings.API_REQUESTS_PER_MINUTE = 2
    _, key = api_key_create(name="a", bots=[llm_bot])
    _, other = api_key_create(name="b", bots=[llm_bot])
    assert client.get("/v1/models", **_bearer(key)).status_code == 200
    assert (
        client.post("/v1/chat/completions", "{}", content_type="application/json", **_bearer(key)).status_code == 400
    )  # a refused request still counts
    limited = client.get("/v1/models", **_bearer(key))
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    # Throttled before the body is even read: nothing is created.
    body = {"model": llm_bot.slug, "messages": [USER]}
    assert client.post("/v1/chat/completions", body, content_type="application/json", **_bearer(key)).status_code == 429
    assert Conversation.objects.count() == 0
    assert client.get("/v1/models", **_bearer(other)).status_code == 200


def test_with_redis_down_every_key_endpoint_fails_closed_with_503_and_retry_after(
    client, demo_bot, fake_parse, dead_cache
) -> None:
    """The quota cannot be counted: nothing runs unmetered (row 21 of the reliability matrix)."""
    from conversations.services.conversations import conversation_start

    _, key = api_key_create(name="outage", bots=[demo_bot])
    conversation = conversation_start(bot=demo_bot, visitor_id="v-outage")
    models = client.get("/v1/models", **_bearer(key))
    assert models.status_code == 503 and models["Retry-After"] == "5"
    assert models.json()["error"]["code"] == "quota_unavailable"
    completion = client.post(
        "/v1/chat/completions",
        {"model": demo_bot.slug, "messages": [USER]},
        content_type="application/json",
        **_bearer(key),
    )
    assert completion.status_code == 503 and completion.json()["error"]["code"] == "quota_unavailable"
    parse = client.post(
        f"/api/v1/bots/{demo_bot.slug}/parse", {"text": "hi"}, content_type="application/json", **_bearer(key)
    )
    assert parse.status_code == 503 and parse["Retry-After"] == "5"
    assert parse.json() == {"detail": "The request quota cannot be checked just now. Try again shortly."}
    handoff = client.post(
        f"/api/v1/bots/{demo_bot.slug}/conversations/{conversation.pk}/handoff",
        {},
        content_type="application/json",
        **_bearer(key),
    )
    assert handoff.status_code == 503 and handoff["Retry-After"] == "5"
    assert fake_parse == [] and Conversation.objects.get(pk=conversation.pk).status == Conversation.Status.BOT
    assert not Conversation.objects.filter(bot=demo_bot, channel=Conversation.Channel.API).exists()


def test_parse_quota_per_key_and_per_user_is_drf_shaped(
    client, settings, demo_bot, fake_parse, frozen_rate_window
) -> None:
    from tests.analytics.factories import UserFactory

    settings.API_REQUESTS_PER_MINUTE = 2
    url = f"/api/v1/bots/{demo_bot.slug}/parse"
    _, key = api_key_create(name="nlu", bots=[demo_bot])
    for _ in range(2):
        assert client.post(url, {"text": "hi"}, content_type="application/json", **_bearer(key)).status_code == 200
    limited = client.post(url, {"text": "hi"}, content_type="application/json", **_bearer(key))
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert set(limited.json()) == {"detail"}
    assert len(fake_parse) == 2
    # The same key's /v1 quota is the same minute.
    assert client.get("/v1/models", **_bearer(key)).status_code == 429
    # A logged-in admin has a quota of their own.
    client.force_login(UserFactory(username="parse_admin", is_staff=True, is_superuser=True))
    assert [client.post(url, {"text": "hi"}, content_type="application/json").status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]


# --- history bounds, validated before anything is stored (item 4) ----------------------------------


def _chat(http: httpx.Client, model: str, messages: list, **extra) -> httpx.Response:  # type: ignore[type-arg]
    return http.post("/v1/chat/completions", json={"model": model, "messages": messages, **extra})


def test_too_long_history_is_refused_and_nothing_is_stored(http, llm_bot) -> None:
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(1200)]
    response = _chat(http, llm_bot.slug, [*history, USER])
    _assert_openai_error(response, 400, param="messages", code="too_many_messages")
    assert Conversation.objects.count() == 0 and Message.objects.count() == 0


def test_history_at_the_limit_is_accepted_by_the_service(llm_bot, settings) -> None:
    from conversations.openai.protocol import parse_chat_request

    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"}
        for i in range(settings.API_MAX_HISTORY_MESSAGES)
    ]
    chat = parse_chat_request({"model": llm_bot.slug, "messages": [{"role": "system", "content": "x"}, *history, USER]})
    assert len(chat.history) == settings.API_MAX_HISTORY_MESSAGES


def test_oversized_assistant_turn_is_refused_with_its_index(http, llm_bot, settings) -> None:
    big = "a" * (settings.API_MAX_ASSISTANT_MESSAGE_CHARS + 1)
    response = _chat(http, llm_bot.slug, [USER, {"role": "assistant", "content": big}, USER])
    _assert_openai_error(response, 400, param="messages.1.content", code="message_too_long")
    long_user = "u" * (settings.CHAT_MAX_MESSAGE_CHARS + 1)
    response = _chat(
        http, llm_bot.slug, [{"role": "user", "content": long_user}, {"role": "assistant", "content": "ok"}, USER]
    )
    _assert_openai_error(response, 400, param="messages.0.content", code="message_too_long")
    response = _chat(http, llm_bot.slug, [{"role": "user", "content": "\x00\u202e  "}])
    _assert_openai_error(response, 400, param="messages.0.content", code="empty_message")
    assert Conversation.objects.count() == 0


def test_oversized_body_gets_413_and_nothing_is_stored(http, llm_bot) -> None:
    huge = "b" * 1_500_000  # the 1.5 MB assistant turn of the report
    response = _chat(http, llm_bot.slug, [USER, {"role": "assistant", "content": huge}, USER])
    _assert_openai_error(response, 413, code="request_too_large")
    assert Conversation.objects.count() == 0


def test_service_refuses_unbounded_history_too(llm_bot, settings) -> None:
    """conversation_history_import does not trust its caller: same bounds, nothing stored."""
    from conversations.services.conversations import conversation_start
    from conversations.services.messages import MessageRejected, conversation_history_import

    conversation = conversation_start(bot=llm_bot, channel=Conversation.Channel.API)
    with pytest.raises(MessageRejected):
        conversation_history_import(
            conversation=conversation, history=[("user", "x")] * (settings.API_MAX_HISTORY_MESSAGES + 1)
        )
    with pytest.raises(MessageRejected):
        conversation_history_import(
            conversation=conversation, history=[("assistant", "x" * (settings.API_MAX_ASSISTANT_MESSAGE_CHARS + 1))]
        )
    assert not conversation.messages.exists()
    conversation_history_import(
        conversation=conversation,
        history=[("user", "hi\x00"), ("assistant", "he\x00llo\ud800 \u202e"), ("assistant", "\x00")],
    )
    assert list(conversation.messages.order_by("seq").values_list("seq", "role", "text")) == [
        (1, "user", "hi"),
        (2, "bot", "hello"),
    ]


# --- malformed input: always a clean 4xx (item 10) -------------------------------------------------


def _raw(body: str) -> bytes:
    return body.encode()


MALFORMED_BODIES: list[tuple[str, bytes]] = [
    ("empty body", b""),
    ("not json", b"hello"),
    ("invalid utf-8", b'{"model": "llm-only", "messages": [{"role": "user", "content": "\xff\xfe"}]}'),
    ("utf-16", json.dumps({"model": "llm-only", "messages": [USER]}).encode("utf-16")),
    ("json null", b"null"),
    ("json list", b"[1, 2]"),
    ("json string", b'"hi"'),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
    ("5000-digit number", b'{"model": "llm-only", "messages": [], "max_tokens": ' + b"9" * 5000 + b"}"),
    ("model number", _raw('{"model": 5, "messages": [{"role": "user", "content": "hi"}]}')),
    ("model list", _raw('{"model": ["llm-only"], "messages": [{"role": "user", "content": "hi"}]}')),
    ("model NUL", _raw('{"model": "llm-only\\u0000", "messages": [{"role": "user", "content": "hi"}]}')),
    ("model surrogate", _raw('{"model": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}')),
    ("model huge", _raw('{"model": "' + "m" * 100_000 + '", "messages": [{"role": "user", "content": "hi"}]}')),
    ("messages object", _raw('{"model": "llm-only", "messages": {"role": "user"}}')),
    ("messages string", _raw('{"model": "llm-only", "messages": "hi"}')),
    ("message not a dict", _raw('{"model": "llm-only", "messages": ["hi"]}')),
    ("message null", _raw('{"model": "llm-only", "messages": [null]}')),
    ("role list", _raw('{"model": "llm-only", "messages": [{"role": ["user"], "content": "hi"}]}')),
    ("role dict", _raw('{"model": "llm-only", "messages": [{"role": {}, "content": "hi"}]}')),
    ("role NUL", _raw('{"model": "llm-only", "messages": [{"role": "user\\u0000", "content": "hi"}]}')),
    ("role surrogate", _raw('{"model": "llm-only", "messages": [{"role": "\\udfff", "content": "hi"}]}')),
    ("content number", _raw('{"model": "llm-only", "messages": [{"role": "user", "content": 5}]}')),
    ("content dict", _raw('{"model": "llm-only", "messages": [{"role": "user", "content": {"text": "hi"}}]}')),
    ("content null", _raw('{"model": "llm-only", "messages": [{"role": "user", "content": null}]}')),
    ("content missing", _raw('{"model": "llm-only", "messages": [{"role": "user"}]}')),
    ("content only NUL", _raw('{"model": "llm-only", "messages": [{"role": "user", "content": "\\u0000\\ud800"}]}')),
    (
        "image part",
        _raw(
            '{"model": "llm-only", "messages": [{"role": "user", "content": [{"type": "image_url", '
            '"image_url": {"url": "data:,"}}]}]}'
        ),
    ),
    (
        "text part number",
        _raw('{"model": "llm-only", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}'),
    ),
    ("part not a dict", _raw('{"model": "llm-only", "messages": [{"role": "user", "content": ["hi"]}]}')),
    (
        "assistant content number",
        _raw(
            '{"model": "llm-only", "messages": [{"role": "assistant", "content": 1}, '
            '{"role": "user", "content": "hi"}]}'
        ),
    ),
    (
        "last from assistant",
        _raw(
            '{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}, '
            '{"role": "assistant", "content": null}]}'
        ),
    ),
    ("only system", _raw('{"model": "llm-only", "messages": [{"role": "system", "content": "hi"}]}')),
    (
        "temperature string",
        _raw('{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}'),
    ),
    (
        "temperature huge",
        _raw('{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}], "temperature": 1e400}'),
    ),
    (
        "temperature NaN",
        _raw('{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}'),
    ),
    (
        "temperature bool",
        _raw('{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}], "temperature": true}'),
    ),
    (
        "max_tokens huge",
        _raw(
            '{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}], '
            '"max_tokens": 100000000000000000000000}'
        ),
    ),
    (
        "max_tokens float",
        _raw('{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5.5}'),
    ),
    (
        "max_tokens negative",
        _raw('{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": -1}'),
    ),
    ("stream string", _raw('{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}')),
    (
        "stream_options string",
        _raw(
            '{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}], '
            '"stream": true, "stream_options": "usage"}'
        ),
    ),
    (
        "include_usage string",
        _raw(
            '{"model": "llm-only", "messages": [{"role": "user", "content": "hi"}], '
            '"stream": true, "stream_options": {"include_usage": "yes"}}'
        ),
    ),
]


@pytest.mark.parametrize("name,body", MALFORMED_BODIES, ids=[name for name, _ in MALFORMED_BODIES])
def test_malformed_chat_request_gets_a_clean_4xx(http, llm_bot, name: str, body: bytes) -> None:
    assert llm_bot.slug == "llm-only"  # the bodies name it
    response = http.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:300])
    _assert_openai_error(response, response.status_code)
    assert Conversation.objects.count() == 0


JUNK_AUTHORIZATION: list[bytes] = [
    b"",
    b"Bearer",
    b"Bearer ",
    b"Bearer    ",
    b"Basic dXNlcjpwYXNz",
    b"bearer cp_nope",
    b"Bearer cp_\xff\xfe",
    b"Bearer cp_" + b"x" * 8000,
    b"Bearer cp_a b c",
    b"Token abc",
    b"Bearer \xc3\xa9\xe2\x80\xae",
    b"cp_nope",
    b"Bearer cp_\x01\x02",
]


@pytest.mark.parametrize("header", JUNK_AUTHORIZATION, ids=lambda h: repr(h[:24]))
def test_junk_authorization_gets_401_on_v1(client, header: bytes) -> None:
    # In process: HTTP clients refuse to send some of these (trailing spaces, control characters);
    # the ASGI server decodes header bytes as latin-1, as here.
    for response in (
        client.get("/v1/models", HTTP_AUTHORIZATION=header.decode("latin-1")),
        client.post(
            "/v1/chat/completions",
            b'{"model": "x", "messages": []}',
            content_type="application/json",
            HTTP_AUTHORIZATION=header.decode("latin-1"),
        ),
    ):
        assert response.status_code == 401, (header[:24], response.status_code, response.content[:300])
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_junk_authorization_over_http_gets_401(live_server_url) -> None:
    with httpx.Client(base_url=live_server_url, timeout=15) as client:
        for header in (
            b"Bearer cp_\xff\xfe",
            b"Bearer cp_" + b"x" * 8000,
            b"Basic dXNlcjpwYXNz",
            b"Bearer \xc3\xa9\xe2\x80\xae",
        ):
            request = client.build_request("GET", "/v1/models")
            request.headers["Authorization"] = header.decode("latin-1")
            _assert_openai_error(client.send(request), 401, code="invalid_api_key")


def test_wrong_method_and_models_junk(http) -> None:
    _assert_openai_error(http.post("/v1/models", content=b"\xff"), 405)
    _assert_openai_error(http.get("/v1/chat/completions"), 405)
    assert http.get("/v1/models", params={"x": "\x00"}).status_code == 200


PARSE_BODIES: list[tuple[str, bytes]] = [
    ("empty body", b""),
    ("not json", b"text=hi"),
    ("invalid utf-8", b'{"text": "\xff\xfe"}'),
    ("json list", b'["hi"]'),
    ("json null", b"null"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
    ("huge number", b'{"text": ' + b"9" * 5000 + b"}"),
    ("text number", b'{"text": 5}'),
    ("text list", b'{"text": ["hi"]}'),
    ("text dict", b'{"text": {"a": 1}}'),
    ("text null", b'{"text": null}'),
    ("text missing", b'{"txt": "hi"}'),
    ("text only junk", b'{"text": "\\u0000\\ud800\\u202e  "}'),
    ("text too long", b'{"text": "' + b"a" * 4001 + b'"}'),
    ("body too large", b'{"text": "hi", "pad": "' + b"p" * 1_100_000 + b'"}'),
]


@pytest.mark.parametrize("name,body", PARSE_BODIES, ids=[name for name, _ in PARSE_BODIES])
def test_malformed_parse_request_gets_a_clean_4xx(client, demo_bot, fake_parse, name: str, body: bytes) -> None:
    _, key = api_key_create(name="nlu", bots=[demo_bot])
    response = client.post(f"/api/v1/bots/{demo_bot.slug}/parse", body, content_type="application/json", **_bearer(key))
    assert 400 <= response.status_code < 500, (name, response.status_code, response.content[:300])
    assert "detail" in response.json() or "text" in response.json() or "non_field_errors" in response.json()
    assert fake_parse == []
    if name == "body too large":
        assert response.status_code == 413


@pytest.mark.parametrize(
    "header",
    [
        "Token \x00abc",
        "Token " + "a" * 5000,
        "Token é",
        "Token a b",
        "Token",
        "Bearer cp_\x00",
        "Bearer \x00",
        "Basic \x00",
    ],
)
def test_junk_authorization_on_parse_is_refused_cleanly(client, demo_bot, fake_parse, header: str) -> None:
    response = client.post(
        f"/api/v1/bots/{demo_bot.slug}/parse",
        {"text": "hi"},
        content_type="application/json",
        HTTP_AUTHORIZATION=header,
    )
    assert response.status_code in (401, 403), (header[:20], response.status_code, response.content[:300])
    assert fake_parse == []
