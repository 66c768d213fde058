"""The one module that talks HTTP to vLLM's OpenAI-compatible servers, through the official SDK.

One `openai.OpenAI` client per backend (its own pooled, thread-safe `httpx2.Client` - the SDK's HTTP
library - shared by every turn in flight in the process), the SDK's own retries off: the policy is ours.
The SDK builds the request and raises its typed errors (`with_streaming_response`); the streamed
chunks are read as JSON lines (`inference_worker.schemas`) rather than through the SDK's `Stream`,
whose pydantic model per chunk costs ~5x the CPU: with it one threaded worker cannot keep up with 500
streams (bench/worker_streams.py, docs/benchmarks.md "Worker concurrency model").

- Failures before the first text chunk are retried: on the next backend in the request's
  rendezvous order when there is one (at once), or on the same one after a jittered exponential
  backoff. At most `max_retries + 1` attempts across all backends.
- Once text has gone to the visitor a failure is final (`LLMStreamInterrupted`): retrying would
  repeat or contradict it.
- One deadline (`total_timeout`) over all attempts, checked at every chunk: a trickling stream is cut
  with `LLMTimeout`.
- Backend health, affinity and failover live in `inference_worker.backends.BackendPool`.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import structlog
from django.conf import settings

from chatplatform.metrics import LLM_ERRORS, LLM_REQUESTS
from engine.types import CompletionChunk, CompletionRequest, CompletionUsage, ToolCall
from inference_worker.backends import Backend, BackendPool, Outcome
from inference_worker.errors import (
    LLMBadResponse,
    LLMContextOverflow,
    LLMError,
    LLMStreamInterrupted,
    LLMTimeout,
    LLMUnavailable,
)
from inference_worker.schemas import (
    DONE,
    StreamError,
    ToolCallAccumulator,
    chat_messages,
    delta_of,
    stop_sequences,
    stream_event,
    tool_params,
    usage_counts,
)

log = structlog.get_logger(__name__)

BACKOFF_BASE = 0.2  # seconds, doubled per retry, jittered x0.5-1.5
BACKOFF_CAP = 2.0


@dataclass(frozen=True)
class LLMClientConfig:
    base_url: str
    model: str
    api_key: str = ""
    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    total_timeout: float = 90.0
    max_retries: int = 2
    max_connections: int = 64
    # Several backends (affinity + failover); empty: `base_url` alone.
    base_urls: tuple[str, ...] = ()
    probe_timeout: float = 1.0
    cooldown_base: float = 0.5
    cooldown_cap: float = 30.0
    repetition_penalty: float = 1.0  # vLLM's sampling parameter; 1.0: not sent

    @property
    def urls(self) -> tuple[str, ...]:
        return self.base_urls or (self.base_url,)

    @classmethod
    def from_settings(cls) -> LLMClientConfig:
        # A single-entry VLLM_BASE_URLS is VLLM_BASE_URL (its default), which tests and the launcher
        # override on their own; several entries name the backends.
        urls = tuple(settings.VLLM_BASE_URLS) if len(settings.VLLM_BASE_URLS) > 1 else ()
        return cls(
            base_url=urls[0] if urls else settings.VLLM_BASE_URL,
            base_urls=urls,
            model=settings.VLLM_MODEL,
            api_key=settings.VLLM_API_KEY,
            connect_timeout=settings.VLLM_CONNECT_TIMEOUT,
            read_timeout=settings.VLLM_READ_TIMEOUT,
            total_timeout=settings.VLLM_TOTAL_TIMEOUT,
            max_retries=settings.VLLM_MAX_RETRIES,
            max_connections=settings.VLLM_MAX_CONNECTIONS,
            repetition_penalty=settings.VLLM_REPETITION_PENALTY,
        )


class CompletionStreamResult:
    """Iterate for text chunks; `usage` is filled in once the stream is exhausted, `backend` is the
    base URL that served (or last tried) it."""

    def __init__(self, client: LLMClient, request: CompletionRequest) -> None:
        self._client = client
        self._request = request
        self.usage: CompletionUsage | None = None
        self.backend: str = ""
        self.tool_calls: list[ToolCall] = []  # filled in once the stream is exhausted

    def __iter__(self) -> Iterator[CompletionChunk]:
        yield from self._client._stream_with_retries(self._request, self)


class _AttemptFailed(Exception):
    """One attempt failed: the typed error, and whether it says the backend is unhealthy."""

    def __init__(self, error: LLMError, *, unhealthy: bool, deadline: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.unhealthy = unhealthy
        self.deadline = deadline  # the request's total deadline passed: final, even mid-stream


class LLMClient:
    def __init__(self, config: LLMClientConfig) -> None:
        self.config = config
        self.pool = BackendPool(
            config.urls,
            make_client=self._make_backend_client,
            cooldown_base=config.cooldown_base,
            cooldown_cap=config.cooldown_cap,
            probe_timeout=config.probe_timeout,
        )

    @property
    def _sampling_extras(self) -> dict[str, Any]:
        if self.config.repetition_penalty == 1.0:
            return {}
        return {"extra_body": {"repetition_penalty": self.config.repetition_penalty}}

    def close(self) -> None:
        self.pool.close()

    def stream(self, request: CompletionRequest) -> CompletionStreamResult:
        return CompletionStreamResult(self, request)

    def list_models(self) -> list[str]:
        """The models served by the first backend that answers."""
        error: LLMError = LLMUnavailable("no backend")
        for backend in self.pool.order(""):
            try:
                page = backend.sdk.with_options(timeout=2.0).models.list()
                return [m.id for m in page.data]
            except openai.OpenAIError as exc:
                error = _map_error(exc, backend.url).error
        raise error

    # -- internals --------------------------------------------------------------------------

    def _make_backend_client(self, url: str) -> tuple[openai.OpenAI, httpx2.Client]:
        config = self.config
        http = httpx2.Client(
            limits=httpx2.Limits(
                max_connections=config.max_connections, max_keepalive_connections=config.max_connections
            ),
        )
        sdk = openai.OpenAI(
            base_url=url,
            api_key=config.api_key or "EMPTY",
            max_retries=0,
            timeout=self._timeout(config.read_timeout),
            http_client=http,
        )
        return sdk, http

    def _timeout(self, read: float) -> httpx2.Timeout:
        c = self.config
        return httpx2.Timeout(connect=c.connect_timeout, read=read, write=c.read_timeout, pool=c.connect_timeout)

    def _stream_with_retries(
        self, request: CompletionRequest, result: CompletionStreamResult
    ) -> Iterator[CompletionChunk]:
        deadline = time.monotonic() + self.config.total_timeout
        last: _AttemptFailed | None = None
        last_url = ""
        for attempt in range(self.config.max_retries + 1):
            backend = self._next_backend(
                request.affinity_key, attempt=attempt, last=last, last_url=last_url, deadline=deadline
            )
            result.backend = last_url = backend.url
            sent_any = False
            outcome: Outcome = "neutral"
            try:
                for chunk in self._stream_once(backend, request, result, deadline):
                    sent_any = True
                    yield chunk
                outcome = "ok"
                LLM_REQUESTS.labels(backend=backend.url, outcome="ok").inc()
                return
            except _AttemptFailed as failed:
                kind = failed.error.code.removeprefix("llm_")
                if sent_any and not failed.deadline:
                    kind = "stream_interrupted"
                    failed.error = LLMStreamInterrupted(str(failed.error))
                LLM_REQUESTS.labels(backend=backend.url, outcome=kind).inc()
                LLM_ERRORS.labels(kind=kind, backend=backend.url).inc()
                if sent_any or failed.deadline or isinstance(failed.error, LLMBadResponse):
                    raise failed.error from failed.__cause__
                if failed.unhealthy:
                    outcome = "failed"
                last = failed
                log.warning("llm_attempt_failed", attempt=attempt + 1, backend=backend.url, error=str(failed.error))
            finally:
                self.pool.release(backend, outcome)
        assert last is not None
        raise last.error from last.__cause__

    def _next_backend(
        self, key: str, *, attempt: int, last: _AttemptFailed | None, last_url: str, deadline: float
    ) -> Backend:
        """The backend for this attempt: fail fast when none is usable on the first attempt; on a
        retry go to another healthy backend at once, or back off (jittered, exponential) first."""
        backend = self.pool.acquire(key)
        if last is None:
            if backend is None:
                LLM_ERRORS.labels(kind="unavailable", backend="none").inc()
                raise LLMUnavailable(f"every LLM backend is down ({', '.join(self.config.urls)})")
            return backend
        backoff = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
        if backend is not None and backend.url != last_url:
            return backend  # failover: another server, no reason to wait
        if backend is None:
            # Every backend is cooling down: wait for the first to end if that is soon enough.
            wait = self.pool.ready_in()
            if wait > max(backoff, BACKOFF_CAP):
                raise last.error from last.__cause__
            backoff = max(backoff, wait + backoff * 0.25)
        if time.monotonic() + backoff >= deadline:
            if backend is not None:
                self.pool.release(backend, "neutral")
            raise last.error from last.__cause__
        log.info("llm_retry", attempt=attempt + 1, backoff_s=round(backoff, 2), error=str(last.error))
        time.sleep(backoff)
        if backend is None:
            backend = self.pool.acquire(key)
            if backend is None:
                raise last.error from last.__cause__
        return backend

    def _deadline_error(self) -> LLMTimeout:
        return LLMTimeout(f"the completion exceeded its total deadline of {self.config.total_timeout:g} s")

    def _stream_once(
        self, backend: Backend, request: CompletionRequest, result: CompletionStreamResult, deadline: float
    ) -> Iterator[CompletionChunk]:
        model = request.model or self.config.model
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _AttemptFailed(self._deadline_error(), unhealthy=False, deadline=True)
        finished = False
        tool_calls = ToolCallAccumulator()
        try:
            # The SDK builds the request and raises its typed errors; the chunks are parsed here with
            # json.loads instead of one pydantic model per chunk: a fifth of the CPU per chunk
            # (bench/worker_streams.py: what lets one threaded worker hold 500 streams).
            with backend.sdk.chat.completions.with_streaming_response.create(
                model=model,
                messages=chat_messages(request),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stop=stop_sequences(request),
                stream=True,
                stream_options={"include_usage": True},
                timeout=self._timeout(min(self.config.read_timeout, remaining)),
                **tool_params(request),
                **self._sampling_extras,
            ) as response:
                for line in response.iter_lines():
                    if time.monotonic() > deadline:
                        raise _AttemptFailed(self._deadline_error(), unhealthy=False, deadline=True)
                    event = stream_event(line)
                    if event is None:
                        continue
                    if event is DONE:
                        break
                    counts = usage_counts(event)
                    if counts is not None:
                        result.usage = CompletionUsage(
                            prompt_tokens=counts[0], completion_tokens=counts[1], model=str(event.get("model") or model)
                        )
                    text, finish_reason = delta_of(event)
                    if request.tools:
                        tool_calls.feed(event)
                    if finish_reason:
                        finished = True
                    if text:
                        yield CompletionChunk(text=text)
        except httpx2.TimeoutException as exc:  # reading the body (the SDK wraps only the request)
            raise _AttemptFailed(LLMTimeout(f"timed out reading from {backend.url}"), unhealthy=True) from exc
        except httpx2.TransportError as exc:
            raise _AttemptFailed(
                LLMUnavailable(f"{type(exc).__name__} reading from {backend.url}: {exc}"), unhealthy=True
            ) from exc
        except StreamError as exc:
            raise _AttemptFailed(
                LLMUnavailable(f"{backend.url} reported an error mid-stream: {exc}"), unhealthy=False
            ) from exc
        except openai.OpenAIError as exc:
            raise _map_error(exc, backend.url) from exc
        except ValueError as exc:  # an unparsable stream line
            raise _AttemptFailed(
                LLMBadResponse(f"unparsable stream from {backend.url}: {exc}"), unhealthy=False
            ) from exc
        if not finished:
            # The server closed the stream without a finish_reason: the text is truncated, not finished.
            raise _AttemptFailed(
                LLMUnavailable(f"the completion stream from {backend.url} ended early"), unhealthy=True
            )
        result.tool_calls = tool_calls.calls()


# vLLM's 400 for a prompt over max_model_len ("This model's maximum context length is 2048 tokens.
# However, your prompt contains ..."); the other phrasings are OpenAI's and other servers'.
CONTEXT_OVERFLOW = re.compile(r"maximum context length|context_length_exceeded|prompt is too long", re.IGNORECASE)


def _map_error(exc: openai.OpenAIError, url: str) -> _AttemptFailed:
    """SDK exceptions -> our typed errors (and whether the backend looks unhealthy)."""
    error: LLMError
    if isinstance(exc, openai.APITimeoutError) and isinstance(exc.__cause__, httpx2.PoolTimeout):
        # Our own connection pool is full (more streams than VLLM_MAX_CONNECTIONS): not the server's fault.
        error, unhealthy = LLMTimeout(f"no free connection to {url} (raise VLLM_MAX_CONNECTIONS)"), False
    elif isinstance(exc, openai.APITimeoutError):
        error, unhealthy = LLMTimeout(f"timed out talking to {url}"), True
    elif isinstance(exc, openai.APIConnectionError):
        error, unhealthy = LLMUnavailable(f"{type(exc.__cause__ or exc).__name__} talking to {url}: {exc}"), True
    elif isinstance(exc, openai.APIStatusError):
        detail = f"{url} answered {exc.status_code}: {str(exc.message)[:300]}"
        if exc.status_code == 429:
            error, unhealthy = LLMUnavailable(detail), False  # busy, not sick
        elif exc.status_code >= 500:
            error, unhealthy = LLMUnavailable(detail), True
        elif CONTEXT_OVERFLOW.search(str(exc.message)):
            error, unhealthy = LLMContextOverflow(detail), False
        else:
            error, unhealthy = LLMBadResponse(detail), False
    elif isinstance(exc, openai.APIError):  # an error event inside the stream
        error, unhealthy = LLMUnavailable(f"{url} reported an error mid-stream: {str(exc.message)[:300]}"), False
    else:
        error, unhealthy = LLMBadResponse(f"{type(exc).__name__} from {url}: {exc}"), False
    error.__cause__ = exc
    return _AttemptFailed(error, unhealthy=unhealthy)


_client_lock = threading.Lock()
_client: LLMClient | None = None


def get_llm_client() -> LLMClient:
    """The worker process's shared client (created on first use, after fork)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = LLMClient(LLMClientConfig.from_settings())
        return _client


def reset_llm_client() -> None:
    """Tests point the worker at another server by resetting the shared client."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None
