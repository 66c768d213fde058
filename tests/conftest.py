"""Shared fixtures: LLM servers (stub and real), an in-process Celery worker, bots.

The embedded PostgreSQL and Redis come from tests/plugins/embedded_services.py (started before
Django is configured).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatplatform.launcher.embedded import SMOLLM2_TOOL_CALLING_ARGS, free_port, start_vllm
from chatplatform.launcher.model import prepare_smollm2
from inference_worker.client import reset_llm_client
from tests.plugins.embedded_services import EmbeddedServices, services_key
from tests.support.live_server import LiveASGIServer
from tests.support.stub_llm import StubLLMServer
from tests.support.worker_idle import worker_idle_wait

REPO = Path(__file__).resolve().parents[1]
REAL_MODEL_NAME = "SmolLM2-135M-Instruct"


@pytest.fixture(scope="session")
def embedded_services(request: pytest.FixtureRequest) -> EmbeddedServices:
    return request.config.stash[services_key]


@pytest.fixture(scope="session")
def stub_llm_server() -> Iterator[StubLLMServer]:
    server = StubLLMServer().start()
    yield server
    server.stop()


@pytest.fixture
def stub_llm(stub_llm_server: StubLLMServer, settings) -> Iterator[StubLLMServer]:
    """Point the platform at the stub (fresh behaviour per test)."""
    stub_llm_server.reset()
    settings.VLLM_BASE_URL = stub_llm_server.base_url
    settings.VLLM_MODEL = stub_llm_server.behaviour.model
    settings.VLLM_READ_TIMEOUT = 5.0
    settings.VLLM_TOTAL_TIMEOUT = 15.0
    reset_llm_client()
    yield stub_llm_server
    reset_llm_client()


@pytest.fixture(scope="session")
def real_vllm_url() -> Iterator[str]:
    """The real vLLM engine with SmolLM2, shared by the whole session (~40 s to start)."""
    external = os.environ.get("TEST_VLLM_BASE_URL")
    if external:
        yield external.rstrip("/")
        return
    model_dir = prepare_smollm2(REPO / "var" / "models" / "smollm2-135m-instruct")
    log = REPO / "var" / "log" / "test-vllm.log"
    # With tool calling on (a template identical to SmolLM2's own when no tools are sent), so the
    # real engine's tool calls can be tested too.
    managed, base_url = start_vllm(
        model_dir=model_dir,
        served_name=REAL_MODEL_NAME,
        port=free_port(),
        log=log,
        extra_args=SMOLLM2_TOOL_CALLING_ARGS,
    )
    yield base_url
    managed.stop()


@pytest.fixture
def real_llm(real_vllm_url: str, settings) -> Iterator[str]:
    settings.VLLM_BASE_URL = real_vllm_url
    settings.VLLM_MODEL = REAL_MODEL_NAME
    reset_llm_client()
    yield real_vllm_url
    reset_llm_client()


@pytest.fixture(scope="session")
def celery_session_worker_thread(django_db_setup: None, django_db_blocker) -> Iterator[object]:
    """A real Celery worker (threads pool) in this process, consuming from the real Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from chatplatform.celery import app

    app.conf.task_always_eager = False
    with start_worker(
        app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10
    ) as worker:
        yield worker
    # Worker threads (and the channel-layer thread) may still hold connections to the test
    # database, which would stop pytest-django from dropping it.
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def own_turn_queue(monkeypatch: pytest.MonkeyPatch) -> str:
    """Send this test's turns to a queue of its own, for worker subprocesses started with
    `start_worker(queue=...)`: the in-process session worker (if an earlier test started it) only
    consumes the default queue, so it cannot answer a turn the test means a subprocess to answer."""
    from chatplatform.celery import app
    from conversations.services import messages

    queue = "tests-own-turns"

    def send(name: str, *args: object, countdown: float | None = None) -> None:
        app.send_task(name, args=args, queue=queue, countdown=countdown)

    monkeypatch.setattr(messages, "task_send", send)
    return queue


@pytest.fixture
def celery_worker(celery_session_worker_thread: object, transactional_db: None) -> Iterator[object]:
    """Tests using the worker need committed data: the worker's threads use their own connections.
    Torn down before the database flush, after the tasks the test started have finished."""
    from chatplatform.celery import app

    yield celery_session_worker_thread
    worker_idle_wait(app)


@pytest.fixture(scope="session")
def live_asgi_server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveASGIServer]:
    server = LiveASGIServer(log=tmp_path_factory.mktemp("live-server") / "uvicorn.log").start()
    yield server
    server.stop()


@pytest.fixture
def live_server_url(live_asgi_server: LiveASGIServer, transactional_db: None) -> str:
    return live_asgi_server.url


@pytest.fixture
def allowed_origin() -> str:
    return "https://shop.example.com"


@pytest.fixture
def llm_bot(db: None, allowed_origin: str):
    """A bot without intents: every message goes to the LLM."""
    from bots.models import Bot

    return Bot.objects.create(
        slug="llm-only",
        name="LLM only",
        allowed_origins=[allowed_origin],
        persona="You are a helpful assistant for a test shop.",
    )


@pytest.fixture
def demo_bot(db: None, allowed_origin: str):
    from bots.services.demo import demo_bot_ensure

    return demo_bot_ensure(extra_origins=[allowed_origin])


@pytest.fixture
def demo_orders_api(demo_bot, settings, tmp_path: Path):
    """The pretend shop's orders API on loopback, wired to the demo's track_order as `make run` does
    (signed requests; the API refuses unsigned ones). Yields the server; `.shutdown()` takes it down."""
    from bots.services.demo_actions import demo_order_lookup_ensure
    from chatplatform.launcher.demo_site import demo_site_start_in_thread

    settings.OUTBOUND_ALLOW_PRIVATE = ["127.0.0.1"]
    port = free_port()
    secret = demo_order_lookup_ensure(bot=demo_bot, orders_api=f"http://127.0.0.1:{port}")
    server = demo_site_start_in_thread(port=port, directory=tmp_path, secrets=[secret])
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def demo_shop_api(demo_bot, settings, tmp_path: Path):
    """The pretend shop as `make run` seeds it: order lookup, the signed-in customer's actions
    (my_orders, account_details with a one-time code) and its sign-in with the bot's secret."""
    from bots.services.demo_actions import demo_account_actions_ensure, demo_order_lookup_ensure
    from chatplatform.launcher.demo_site import demo_site_start_in_thread

    settings.OUTBOUND_ALLOW_PRIVATE = ["127.0.0.1"]
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    secrets = [
        demo_order_lookup_ensure(bot=demo_bot, orders_api=api),
        *demo_account_actions_ensure(bot=demo_bot, shop_api=api),
    ]
    server = demo_site_start_in_thread(port=port, directory=tmp_path, secrets=secrets, identity_secret=demo_bot.secret)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_turns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Record enqueued turns instead of sending them to the broker (tests without a worker)."""
    enqueued: list[int] = []
    monkeypatch.setattr(
        "conversations.services.messages.turn_enqueue", lambda *, user_message_id, **_: enqueued.append(user_message_id)
    )
    yield enqueued
