"""The NLU service (`python -m nlu.service`) as a real subprocess against the test database, and the
parse API calling it: same answers as the in-process parse, no Celery round trip, 503 + Retry-After
when it is down or stuck, its token, its bounded and validated body."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings
from prometheus_client import REGISTRY

from bots.services.api_keys import api_key_create
from chatplatform.launcher.embedded import free_port, tail, wait_until
from nlu.api import views
from nlu.service import client as service_client
from nlu.services.parsing import nlu_parse
from nlu.services.training import nlu_model_train
from tests.support import processes

TOKEN = "test-nlu-service-token"
TEXTS = ["where is my order AC-12345", "what are your opening hours", "the mitochondria is the powerhouse of the cell"]


@pytest.fixture(scope="session")
def nlu_service(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("nlu-service") / "nlu-service.log"
    env = {
        **os.environ,
        "DATABASE_URL": processes.test_database_url(),
        "REDIS_URL": django_settings.REDIS_URL,
        "NLU_SERVICE_TOKEN": TOKEN,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "nlu.service", "--port", str(port), "--threads", "2", "--log-level", "info"],
        cwd=processes.REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
            timeout=120,
            what="the NLU service",
            process=process,
            log=log,
        )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(tail(Path(log)))


@pytest.fixture(autouse=True)
def _fresh_client() -> Iterator[None]:
    service_client.reset_nlu_service_client()
    yield
    service_client.reset_nlu_service_client()


@pytest.fixture
def trained_demo_bot(demo_bot, transactional_db: None):
    """The demo bot with a stored model (committed: the service reads it from its own connection)."""
    nlu_model_train(bot=demo_bot)
    return demo_bot


@pytest.fixture
def via_service(settings, nlu_service: str) -> str:
    settings.NLU_SERVICE_URL = nlu_service
    settings.NLU_SERVICE_TOKEN = TOKEN
    return nlu_service


@pytest.fixture
def no_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any Celery round trip fails the test (and no worker runs: it would time out anyway)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the parse API went through the queue")

    monkeypatch.setattr("nlu.tasks.nlu_parse.delay", refuse)


def _api_parse(client, bot, key: str, text: str):
    return client.post(
        f"/api/v1/bots/{bot.slug}/parse",
        {"text": text},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def _service_count() -> float:
    return REGISTRY.get_sample_value("chatplatform_nlu_parse_seconds_count", {"path": "service"}) or 0.0


def test_service_answers_like_the_in_process_parse(trained_demo_bot, nlu_service: str) -> None:
    for text in TEXTS:
        expected = nlu_parse(bot=trained_demo_bot, text=text).as_rasa_dict()
        answer = httpx.post(
            f"{nlu_service}/parse",
            json={"bot_id": trained_demo_bot.pk, "text": text},
            headers={"X-NLU-Service-Token": TOKEN},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["text"] == expected["text"] == text
        assert body["intent"]["name"] == expected["intent"]["name"]
        assert body["intent"]["confidence"] == pytest.approx(expected["intent"]["confidence"], abs=1e-4)
        assert [r["name"] for r in body["intent_ranking"]] == [r["name"] for r in expected["intent_ranking"]]
        assert body["entities"] == expected["entities"]
    assert body["intent"]["name"] is None  # the last text is below the threshold: same rule as in-process


def test_parse_api_goes_through_the_service_without_any_worker(
    client, trained_demo_bot, via_service: str, no_queue: None
) -> None:
    _, key = api_key_create(name="nlu", bots=[trained_demo_bot])
    before = _service_count()
    response = _api_parse(client, trained_demo_bot, key, "where is my order AC-12345")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["intent"]["name"] == "track_order"
    assert {"entity": "order_number", "value": "AC-12345"}.items() <= body["entities"][0].items()
    assert set(body) == {"text", "intent", "intent_ranking", "entities"}
    assert _service_count() == before + 1
    # A second parse reuses the pooled keep-alive connection and still answers.
    assert _api_parse(client, trained_demo_bot, key, "what are your opening hours").status_code == 200


def test_parse_api_keeps_its_auth_and_scoping_with_the_service(
    client, trained_demo_bot, llm_bot, via_service: str, no_queue: None
) -> None:
    _, other_key = api_key_create(name="other", bots=[llm_bot])
    assert _api_parse(client, trained_demo_bot, other_key, "hi").status_code == 403
    url = f"/api/v1/bots/{trained_demo_bot.slug}/parse"
    assert client.post(url, {"text": "hi"}, content_type="application/json").status_code in (401, 403)


def test_service_down_is_a_503_with_retry_after(client, demo_bot, settings, no_queue: None) -> None:
    settings.NLU_SERVICE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens
    _, key = api_key_create(name="nlu", bots=[demo_bot])
    response = _api_parse(client, demo_bot, key, "where is my order")
    assert response.status_code == 503
    assert response["Retry-After"] == str(views.NLU_SERVICE_RETRY_AFTER_SECONDS)
    assert "unreachable" in response.json()["detail"]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers (a stuck service)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_service_stuck_is_a_503_not_a_hang(
    client, demo_bot, settings, silent_server: str, monkeypatch: pytest.MonkeyPatch, no_queue: None
) -> None:
    settings.NLU_SERVICE_URL = silent_server
    monkeypatch.setattr(service_client, "NLU_SERVICE_TIMEOUT", httpx.Timeout(0.3))
    _, key = api_key_create(name="nlu", bots=[demo_bot])
    response = _api_parse(client, demo_bot, key, "where is my order")
    assert response.status_code == 503
    assert response["Retry-After"] == str(views.NLU_SERVICE_RETRY_AFTER_SECONDS)
    assert "in time" in response.json()["detail"]


def test_service_requires_its_token(client, trained_demo_bot, nlu_service: str, settings, no_queue: None) -> None:
    body = {"bot_id": trained_demo_bot.pk, "text": "where is my order"}
    assert httpx.post(f"{nlu_service}/parse", json=body, timeout=10).status_code == 401
    wrong = httpx.post(f"{nlu_service}/parse", json=body, headers={"X-NLU-Service-Token": "nope"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
    # The health check carries no data and needs no token (the launcher and probes poll it).
    assert httpx.get(f"{nlu_service}/healthz", timeout=10).json() == {"status": "ok"}
    # A web process configured with the wrong token: 503 for the API client, not a 401 leak or a 500.
    settings.NLU_SERVICE_URL, settings.NLU_SERVICE_TOKEN = nlu_service, "nope"
    _, key = api_key_create(name="nlu", bots=[trained_demo_bot])
    response = _api_parse(client, trained_demo_bot, key, "where is my order")
    assert response.status_code == 503 and "Retry-After" in response


def test_unknown_bot_is_404(nlu_service: str, transactional_db: None) -> None:
    answer = httpx.post(
        f"{nlu_service}/parse",
        json={"bot_id": 987654321, "text": "hi"},
        headers={"X-NLU-Service-Token": TOKEN},
        timeout=10,
    )
    assert answer.status_code == 404 and answer.json()["code"] == "unknown_bot"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "parse_error"),
        (b"\xff\xfe", "parse_error"),
        (b"[" * 5000 + b"]" * 5000, "parse_error"),
        (b'{"bot_id": true, "text": "hi"}', "invalid"),
        (b'{"bot_id": "1", "text": "hi"}', "invalid"),
        (b'{"bot_id": 1, "text": 5}', "invalid"),
        (b'{"bot_id": 1}', "invalid"),
        (b'{"bot_id": 1, "text": "hi", "extra": 1}', "invalid"),
        (b'[{"bot_id": 1, "text": "hi"}]', "invalid"),
    ],
)
def test_malformed_body_is_a_400_with_a_json_error(nlu_service: str, content: bytes, code: str) -> None:
    answer = httpx.post(
        f"{nlu_service}/parse",
        content=content,
        headers={"X-NLU-Service-Token": TOKEN, "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == code and answer.json()["detail"]


def test_oversized_body_is_refused_before_parsing(nlu_service: str) -> None:
    headers = {"X-NLU-Service-Token": TOKEN}
    too_long_text = "a" * (django_settings.CHAT_MAX_MESSAGE_CHARS + 1)
    answer = httpx.post(f"{nlu_service}/parse", json={"bot_id": 1, "text": too_long_text}, headers=headers, timeout=10)
    assert answer.status_code == 400 and answer.json()["code"] == "invalid"
    huge = b'{"bot_id": 1, "text": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    answer = httpx.post(f"{nlu_service}/parse", content=huge, headers=headers, timeout=10)
    assert answer.status_code == 413 and answer.json()["code"] == "request_too_large"

    # Streamed without a Content-Length (chunked): counted while read, refused all the same.
    def chunks() -> Iterator[bytes]:
        yield b'{"bot_id": 1, "text": "'
        for _ in range(64):
            yield b"a" * 32768
        yield b'"}'

    answer = httpx.post(f"{nlu_service}/parse", content=chunks(), headers=headers, timeout=10)
    assert answer.status_code == 413
    # The service still serves after refusing.
    assert httpx.get(f"{nlu_service}/healthz", timeout=10).status_code == 200
