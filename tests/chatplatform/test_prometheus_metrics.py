"""The platform's Prometheus metrics: a real turn shows up on /metrics, several processes add up
through PROMETHEUS_MULTIPROC_DIR, the worker serves its own port, the queue depth comes from the
broker (and a dead broker does not break the scrape), and /metrics stays closed to strangers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy
import openai
import pytest
import redis
from celery.signals import worker_process_shutdown
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bots.models import EMBEDDING_DIMENSIONS
from bots.services.api_keys import api_key_create
from chatplatform.launcher.embedded import free_port, port_is_open
from chatplatform.metrics import QUEUE_REGISTRY, metrics_registry
from knowledge import selectors as knowledge_selectors
from tests.support import processes

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token"
STRANGER = "203.0.113.5"  # outside the default allowlist (loopback)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(body: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def names(samples: Samples) -> set[str]:
    return {n for n, _ in samples}


def scrape(client, settings) -> Samples:
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", REMOTE_ADDR=STRANGER, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


# --- A real turn ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_real_turn_through_the_worker_shows_on_metrics(
    client, settings, live_server_url, llm_bot, stub_llm, celery_worker
) -> None:
    before = scrape(client, settings)
    stub_llm.behaviour.reply = "We are open nine to five."
    _, raw_key = api_key_create(name="metrics", bots=[llm_bot])
    api = openai.OpenAI(base_url=f"{live_server_url}/v1", api_key=raw_key, max_retries=0, timeout=30)
    completion = api.chat.completions.create(model=llm_bot.slug, messages=[{"role": "user", "content": "Hours?"}])
    assert completion.choices[0].message.content == "We are open nine to five."

    after = scrape(client, settings)
    assert (
        total(after, "chatplatform_turns_total", outcome="ok")
        == total(before, "chatplatform_turns_total", outcome="ok") + 1
    )
    for histogram in (
        "chatplatform_turn_ttft_seconds_count",
        "chatplatform_turn_duration_seconds_count",
        "chatplatform_turn_queue_wait_seconds_count",
    ):
        assert total(after, histogram) == total(before, histogram) + 1, histogram
    assert total(after, "chatplatform_llm_requests_total") > total(before, "chatplatform_llm_requests_total")
    assert total(after, "chatplatform_turns_in_flight") == 0
    # The broker's queue depth is read at scrape time; django-prometheus' own metrics are still there.
    assert total(after, "chatplatform_broker_up") == 1
    assert ("chatplatform_turn_queue_depth", frozenset()) in after
    assert "django_http_requests_total_by_view_transport_method_total" in names(after)


class FakeEmbedder:
    def encode(self, texts: list[str]) -> numpy.ndarray:
        return numpy.full((len(texts), EMBEDDING_DIMENSIONS), 0.1, dtype="float32")


def test_retrieval_is_timed(llm_bot, monkeypatch) -> None:
    monkeypatch.setattr(knowledge_selectors, "worker_embedder", lambda: FakeEmbedder())
    count = REGISTRY.get_sample_value("chatplatform_retrieval_seconds_count") or 0
    assert knowledge_selectors.knowledge_retrieve(bot=llm_bot, text="where is my order") == []  # no chunks
    assert REGISTRY.get_sample_value("chatplatform_retrieval_seconds_count") == count + 1


# --- Several processes -------------------------------------------------------------------------

BUMP = """
import os, shutil, sys
if sys.argv[2].startswith("reuse:"):  # pose as a process that got a dead one's pid
    stale = sys.argv[2].removeprefix("reuse:")
    shutil.copy(stale, os.path.join(os.path.dirname(stale), f"gauge_livesum_{os.getpid()}.db"))
    sys.argv[2] = "stay"
from chatplatform.metrics import TURNS, TURNS_IN_FLIGHT
if sys.argv[2] == "http":
    import django
    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment
    setup_test_environment()
    Client().get("/multiprocess-probe-not-found")
TURNS.labels(action="generate", outcome="ok").inc(int(sys.argv[1]))
TURNS_IN_FLIGHT.inc(2)
print("ready", flush=True)
if sys.argv[2] == "stay":
    sys.stdin.read()
"""


def _bump(directory: Path, amount: int, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "DATABASE_URL": processes.test_database_url()}
    process = subprocess.Popen(
        [sys.executable, "-c", BUMP, str(amount), mode],
        cwd=processes.REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def test_metrics_add_up_across_processes_and_dead_ones_leave_the_live_gauges(
    client, settings, tmp_path, monkeypatch
) -> None:
    staying = _bump(tmp_path, 3, "stay")
    try:
        leaving = _bump(tmp_path, 4, "http")
        assert leaving.wait(timeout=60) == 0
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

        samples = scrape(client, settings)
        assert total(samples, "chatplatform_turns_total", action="generate", outcome="ok") == 7
        # The process that exited without saying so is dropped from the live sum; the other counts.
        assert total(samples, "chatplatform_turns_in_flight") == 2
        # django-prometheus' metrics of the other process are aggregated too.
        assert total(samples, "django_http_responses_total_by_status_total", status="404") >= 1

        # A pool child's shutdown signal drops its live gauges even while its pid still exists.
        worker_process_shutdown.send(sender=None, pid=staying.pid, exitcode=0)
        samples = scrape(client, settings)
        assert total(samples, "chatplatform_turns_in_flight") == 0
        assert total(samples, "chatplatform_turns_total", action="generate", outcome="ok") == 7
    finally:
        staying.communicate(timeout=30)


def test_without_the_directory_metrics_are_this_process_only(client, settings, tmp_path, monkeypatch) -> None:
    _bump(tmp_path, 5, "exit").wait(timeout=60)
    labels = {"action": "generate", "outcome": "ok"}
    ours = REGISTRY.get_sample_value("chatplatform_turns_total", labels)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    # Only this process's registry: the other process's 5 turns are not in it.
    assert total(scrape(client, settings), "chatplatform_turns_total", **labels) == (ours or 0)
    assert "process_cpu_seconds_total" in names(scrape(client, settings))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert total(scrape(client, settings), "chatplatform_turns_total", **labels) == 5


def test_a_process_reusing_a_dead_ones_pid_does_not_inherit_its_live_gauges(
    client, settings, tmp_path, monkeypatch
) -> None:
    dead = _bump(tmp_path, 1, "stay")
    dead.communicate(timeout=30)
    stale = tmp_path / f"gauge_livesum_{dead.pid}.db"
    assert stale.exists()
    kept = tmp_path / "stale-copy.db"
    stale.rename(kept)
    reborn = _bump(tmp_path, 1, f"reuse:{kept}")
    try:
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
        kept.unlink()
        # Its own 2 in flight, not 2 + the dead process's 2.
        assert total(scrape(client, settings), "chatplatform_turns_in_flight") == 2
    finally:
        reborn.communicate(timeout=30)


@pytest.fixture
def prefork_worker(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    port = free_port()
    log = tmp_path / "worker.log"
    process = processes.start_worker(
        log=log,
        extra_env={
            "PROMETHEUS_MULTIPROC_DIR": str(directory),
            "WORKER_METRICS_PORT": str(port),
            "WORKER_METRICS_ADDR": "127.0.0.1",
        },
        concurrency=1,
        queue=f"metrics-test-{uuid.uuid4().hex}",  # consumes nothing the other tests send
        pool="prefork",
    )
    try:
        deadline = time.monotonic() + 90
        while not port_is_open(port):
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        yield process, port, directory
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_the_worker_serves_its_processes_metrics_and_marks_them_dead_on_shutdown(prefork_worker) -> None:
    process, port, directory = prefork_worker
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples = parse(body)
    assert ("chatplatform_turns_in_flight", frozenset()) in samples
    assert "chatplatform_turn_ttft_seconds_count" in names(samples)
    assert "chatplatform_turn_queue_depth" not in names(samples)  # read by the web's /metrics only
    # The main process writes; a pool child writes its own file once it touches a value.
    assert (directory / f"gauge_livesum_{process.pid}.db").exists()

    process.send_signal(signal.SIGTERM)  # warm shutdown: the child's and the main process's signals
    assert process.wait(timeout=60) == 0
    assert not list(directory.glob("gauge_livesum_*.db"))
    assert list(directory.glob("histogram_*.db"))  # what they counted stays


# --- Queue depth ---------------------------------------------------------------------------------


def test_queue_depth_counts_every_priority_list_of_the_turn_queue(client, settings) -> None:
    queue = f"metrics-depth-{uuid.uuid4().hex}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        broker.rpush(queue, "a", "b", "c")
        broker.rpush(f"{queue}\x06\x163", "d", "e")
        samples = scrape(client, settings)
        assert samples[("chatplatform_turn_queue_depth", frozenset())] == 5
        assert samples[("chatplatform_broker_up", frozenset())] == 1
    finally:
        broker.delete(queue, f"{queue}\x06\x163")


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """Accepts connections and never answers (a hung Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()


@pytest.mark.parametrize("broker", ["refused", "silent"])
def test_a_broken_broker_does_not_break_metrics(client, settings, broker, silent_broker) -> None:
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0" if broker == "refused" else silent_broker
    samples = scrape(client, settings)
    assert samples[("chatplatform_broker_up", frozenset())] == 0
    assert "chatplatform_turn_queue_depth" not in names(samples)  # unknown, not 0
    assert "django_http_requests_total_by_view_transport_method_total" in names(samples)
    assert ("chatplatform_turns_in_flight", frozenset()) in samples


# --- Access --------------------------------------------------------------------------------------


@pytest.mark.parametrize("multiprocess", [False, True])
def test_metrics_still_refused_without_the_token_or_the_allowlist(
    client, settings, tmp_path, monkeypatch, multiprocess
) -> None:
    if multiprocess:
        _bump(tmp_path, 1, "exit").wait(timeout=60)  # a turn counted by another process
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    settings.METRICS_TOKEN = TOKEN
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_X_FORWARDED_FOR": "127.0.0.1"}):
        response = client.get("/metrics", REMOTE_ADDR=STRANGER, **headers)
        assert response.status_code == 403
        assert b"chatplatform_" not in response.content
    settings.METRICS_ALLOWED_IPS = ["203.0.113.0/24"]
    allowed = client.get("/metrics", REMOTE_ADDR=STRANGER)
    assert allowed.status_code == 200 and b"chatplatform_turns_total" in allowed.content


# --- The dashboard -------------------------------------------------------------------------------


def _exported_names() -> set[str]:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    exported: set[str] = set()
    for family in [*metrics_registry().collect(), *QUEUE_REGISTRY.collect()]:
        exported.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return exported


def test_the_grafana_dashboard_plots_only_metrics_that_exist(client) -> None:
    client.get("/no-such-page")  # django-prometheus creates its metrics with its middleware
    dashboard = json.loads((processes.REPO / "docs" / "grafana" / "chatplatform.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    used = {
        name
        for panel in panels
        for target in panel["targets"]
        for name in re.findall(r"\b(?:chatplatform|django)_[a-z_]+", target["expr"])
    }
    assert used and used <= _exported_names(), used - _exported_names()
    # Every domain metric of chatplatform.metrics is on the dashboard.
    domain = {n.removesuffix("_bucket") for n in used if n.startswith("chatplatform_")}
    for family in metrics_registry().collect():
        if family.name.startswith("chatplatform_"):
            assert any(n.startswith(family.name) for n in domain), family.name
    assert all(t["datasource"]["uid"] == "${datasource}" for p in panels for t in p["targets"])
