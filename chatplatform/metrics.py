"""The platform's own Prometheus metrics: what the turn engine, the LLM client, the chat sockets, the
NLU and the knowledge base do, from every process that does it.

One module of metric objects so every name is defined once (docs/observability.md lists them, the
Grafana dashboard in docs/grafana/ plots them). Processes that fork or run side by side (the Celery
worker, the NLU service, several web processes) write to `PROMETHEUS_MULTIPROC_DIR` when it is
set, and `/metrics` aggregates them; gauges say how (`livesum`: add the live processes' values).

The queue depth is not written by any process: it is read from the broker (Redis `LLEN`) when
`/metrics` is scraped (`queue_depth_exposition`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

import redis
import structlog
from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.backoff import NoBackoff
from redis.retry import Retry

log = structlog.get_logger(__name__)


def multiprocess_dir() -> str | None:
    """The directory every process writes its metrics to, or None (one process, the plain registry).

    prometheus_client picks its value class at import time from the same variable, so it must be in
    the environment before the process starts (the launcher, compose and k8s set it).
    """
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _own_stale_live_gauges_drop() -> None:
    """Before this process creates its gauges: drop `live*` gauge files that carry its pid. They
    belong to a dead process whose pid it reuses (pid 1 of a restarted container keeps its
    emptyDir), and this process would otherwise go on adding to that one's turns in flight."""
    path = multiprocess_dir()
    if path:
        multiprocess.mark_process_dead(os.getpid(), path)


_own_stale_live_gauges_drop()

# Latency buckets (seconds): first tokens and parses are tens of milliseconds to seconds.
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TURN = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 90.0)

TURNS = Counter(
    "chatplatform_turns_total",
    "Turns answered, by the reply's action and the outcome (ok, llm_error, conflict, duplicate).",
    ["action", "outcome"],
)
TURN_TTFT = Histogram(
    "chatplatform_turn_ttft_seconds",
    "From the turn's start in the worker to the reply's first text (template or first token).",
    buckets=_FAST,
)
TURN_DURATION = Histogram(
    "chatplatform_turn_duration_seconds", "From the turn's start in the worker to the stored reply.", buckets=_TURN
)
TURN_QUEUE_WAIT = Histogram(
    "chatplatform_turn_queue_wait_seconds",
    "From the visitor message being stored to its turn starting in a worker.",
    buckets=_FAST,
)
TURNS_IN_FLIGHT = Gauge("chatplatform_turns_in_flight", "Turns being answered right now.", multiprocess_mode="livesum")
TURN_CONFLICTS = Counter(
    "chatplatform_turn_conflicts_total",
    "Turns that found a concurrent change when storing (tracker edited meanwhile, lease lost).",
    ["kind"],
)
LLM_TOKENS_PER_SECOND = Histogram(
    "chatplatform_llm_tokens_per_second",
    "Completion tokens per second of streaming, per generated reply.",
    buckets=(1, 5, 10, 20, 40, 80, 160, 320, 640),
)
UNANSWERED_SWEPT = Counter(
    "chatplatform_unanswered_swept_total",
    "Visitor messages found unanswered in PostgreSQL and enqueued again (their turn was lost).",
)
LLM_REQUESTS = Counter(
    "chatplatform_llm_requests_total", "Completion requests by backend and outcome.", ["backend", "outcome"]
)
LLM_ERRORS = Counter(
    "chatplatform_llm_errors_total",
    "LLM failures by kind (unavailable, timeout, bad_response, stream_interrupted) and backend.",
    ["kind", "backend"],
)
WEBSOCKETS_OPEN = Gauge(
    "chatplatform_websockets_open", "Chat WebSocket connections open now.", multiprocess_mode="livesum"
)
NLU_PARSE = Histogram(
    "chatplatform_nlu_parse_seconds",
    "One NLU parse, by where it ran (inprocess, service, queue).",
    ["path"],
    buckets=_FAST,
)
RETRIEVAL = Histogram("chatplatform_retrieval_seconds", "One knowledge retrieval for a turn.", buckets=_FAST)


# --- Scrape-time metrics and exposition --------------------------------------------------------

# conversations.services.messages.TURN_TASK (not imported: the services import this module).
TURN_TASK_NAME = "conversations.turn_run"
# Scraping must stay fast when Redis is slow or down: give up on the broker after this long.
BROKER_TIMEOUT_SECONDS = 0.5


_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


class LiveAwareMultiProcessCollector(multiprocess.MultiProcessCollector):
    """MultiProcessCollector that first drops the live gauges of processes that are gone without
    saying so (a pool child killed by the hard time limit or the OOM killer), so a killed turn does
    not stay "in flight" for ever. Needs one directory per PID namespace (per container), which is
    how the launcher, compose and k8s set PROMETHEUS_MULTIPROC_DIR up."""

    def __init__(self, registry: CollectorRegistry | None, path: str) -> None:
        super().__init__(registry, path=path)
        self._live_path = path

    def collect(self) -> Iterable[Metric]:
        for name in os.listdir(self._live_path):
            match = _LIVE_GAUGE_FILE.match(name)
            if match and not _pid_alive(int(match.group(1))):
                multiprocess.mark_process_dead(int(match.group(1)), self._live_path)
        return super().collect()


def metrics_registry() -> CollectorRegistry:
    """What this process exposes: every process's metrics (django-prometheus' included) aggregated
    from PROMETHEUS_MULTIPROC_DIR when it is set, else this process's default registry."""
    path = multiprocess_dir()
    if not path:
        return REGISTRY
    registry = CollectorRegistry()
    LiveAwareMultiProcessCollector(registry, path=path)
    return registry


def process_dead_mark(pid: int) -> None:
    """Drop a finished process's `live*` gauge files (turns in flight, open sockets): their values
    would otherwise stay in the sum. Counters and histograms keep counting what it did."""
    path = multiprocess_dir()
    if path:
        multiprocess.mark_process_dead(pid, path)


def turn_queue_keys() -> list[str]:
    """The Redis lists holding the turn queue: kombu keeps one list per priority step (the queue's
    name for priority 0, then the name, kombu's separator and the step)."""
    routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
    route = routes.get(TURN_TASK_NAME) if isinstance(routes, dict) else None
    queue = (route or {}).get("queue") or getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    prefix = options.get("global_keyprefix", "")
    sep = options.get("sep", "\x06\x16")
    steps = options.get("priority_steps", [0, 3, 6, 9])
    return [f"{prefix}{queue}{sep}{step}" if step else f"{prefix}{queue}" for step in steps]


@lru_cache(maxsize=4)
def _broker(url: str) -> redis.Redis:
    # One small pool per process, short timeouts: a scrape never waits on a slow broker for long.
    return redis.Redis.from_url(
        url,
        socket_timeout=BROKER_TIMEOUT_SECONDS,
        socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
        retry_on_timeout=False,
        # One immediate retry (a pooled connection may be stale after a Redis restart), no backoff.
        retry=Retry(NoBackoff(), 1),
        max_connections=4,
    )


class TurnQueueDepthCollector(Collector):
    """`chatplatform_turn_queue_depth`: messages waiting in the broker's turn queue, read at scrape
    time (one pipelined `LLEN` per priority list). `chatplatform_broker_up` says whether the read
    worked: with Redis down the depth is left out (not reported as 0) and /metrics still answers."""

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [
            GaugeMetricFamily("chatplatform_turn_queue_depth", "Turns waiting in the broker queue."),
            GaugeMetricFamily("chatplatform_broker_up", "1 if the broker answered the queue-depth read."),
        ]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("chatplatform_broker_up", "1 if the broker answered the queue-depth read.")
        try:
            pipe = _broker(str(settings.CELERY_BROKER_URL)).pipeline(transaction=False)
            for key in turn_queue_keys():
                pipe.llen(key)
            depth = sum(int(n) for n in pipe.execute())
        except (redis.RedisError, OSError) as exc:
            log.warning("metrics_queue_depth_failed", error=f"{type(exc).__name__}: {exc}"[:200])
            up.add_metric([], 0)
            yield up
            return
        gauge = GaugeMetricFamily("chatplatform_turn_queue_depth", "Turns waiting in the broker queue.")
        gauge.add_metric([], depth)
        yield gauge
        up.add_metric([], 1)
        yield up


# Not a Gauge that processes set: in multiprocess mode a stale value from a process that scraped
# earlier would win. Its own registry, so only /metrics (not the worker's port) reads the broker.
TURN_QUEUE_DEPTH = TurnQueueDepthCollector()
QUEUE_REGISTRY = CollectorRegistry()
QUEUE_REGISTRY.register(TURN_QUEUE_DEPTH)


def metrics_exposition(*, queue_depth: bool = True) -> bytes:
    """The text exposition /metrics serves: this process's (or every process's) metrics, and the
    queue depth read from the broker."""
    body = generate_latest(metrics_registry())
    if queue_depth:
        body += generate_latest(QUEUE_REGISTRY)
    return body
