"""The one module that talks HTTP to vLLM's OpenAI-compatible server.

One pooled `httpx.Client` per worker process (thread-safe, shared by every turn in flight), with
connect/read/total timeouts. Failures before the first token are retried with backoff; once
text has gone to the visitor a failure is final (retrying would repeat or contradict it).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import structlog

from engine.types import CompletionChunk, CompletionRequest, CompletionUsage
from inference_worker.errors import LLMBadResponse, LLMStreamInterrupted, LLMTimeout, LLMUnavailable
from inference_worker.schemas import chat_request_body, delta_text, usage_counts

log = structlog.get_logger(__name__)


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

    @classmethod
    def from_settings(cls) -> LLMClientConfig:
        from django.conf import settings

        return cls(
            base_url=settings.VLLM_BASE_URL,
            model=settings.VLLM_MODEL,
            api_key=settings.VLLM_API_KEY,
            connect_timeout=settings.VLLM_CONNECT_TIMEOUT,
            read_timeout=settings.VLLM_READ_TIMEOUT,
            total_timeout=settings.VLLM_TOTAL_TIMEOUT,
            max_retries=settings.VLLM_MAX_RETRIES,
            max_connections=settings.VLLM_MAX_CONNECTIONS,
        )


class CompletionStreamResult:
    """Iterate for text chunks; `usage` is filled in once the stream is exhausted."""

    def __init__(self, client: LLMClient, request: CompletionRequest) -> None:
        self._client = client
        self._request = request
        self.usage: CompletionUsage | None = None

    def __iter__(self) -> Iterator[CompletionChunk]:
        yield from self._client._stream_with_retries(self._request, self)


class LLMClient:
    def __init__(self, config: LLMClientConfig) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = httpx.Client(
            base_url=config.base_url,
            headers=headers,
            timeout=httpx.Timeout(
                connect=config.connect_timeout,
                read=config.read_timeout,
                write=config.read_timeout,
                pool=config.connect_timeout,
            ),
            limits=httpx.Limits(
                max_connections=config.max_connections, max_keepalive_connections=config.max_connections
            ),
        )

    def close(self) -> None:
        self._http.close()

    def stream(self, request: CompletionRequest) -> CompletionStreamResult:
        return CompletionStreamResult(self, request)

    def list_models(self) -> list[str]:
        try:
            response = self._http.get("/models", timeout=2.0)
            response.raise_for_status()
            return [m["id"] for m in response.json().get("data", [])]
        except httpx.TimeoutException as exc:
            raise LLMTimeout(str(exc)) from exc
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise LLMUnavailable(f"{self.config.base_url}: {exc}") from exc

    # -- internals --------------------------------------------------------------------------

    def _stream_with_retries(
        self, request: CompletionRequest, result: CompletionStreamResult
    ) -> Iterator[CompletionChunk]:
        deadline = time.monotonic() + self.config.total_timeout
        attempt = 0
        while True:
            sent_any = False
            try:
                for chunk in self._stream_once(request, result, deadline):
                    sent_any = True
                    yield chunk
                return
            except (LLMUnavailable, LLMTimeout) as exc:
                if sent_any:
                    raise LLMStreamInterrupted(str(exc)) from exc
                if attempt >= self.config.max_retries or time.monotonic() >= deadline:
                    raise
                attempt += 1
                backoff = min(2.0, 0.2 * 2 ** (attempt - 1)) * (0.5 + random.random())
                log.warning("llm_retry", attempt=attempt, error=str(exc), backoff_s=round(backoff, 2))
                time.sleep(backoff)

    def _stream_once(
        self, request: CompletionRequest, result: CompletionStreamResult, deadline: float
    ) -> Iterator[CompletionChunk]:
        body = chat_request_body(request, default_model=self.config.model, stream=True)
        model = body["model"]
        try:
            with self._http.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    response.read()
                    raise LLMUnavailable(f"vLLM answered {response.status_code}: {response.text[:200]}")
                if response.status_code >= 400:
                    response.read()
                    raise LLMBadResponse(f"vLLM answered {response.status_code}: {response.text[:300]}")
                for line in response.iter_lines():
                    if time.monotonic() > deadline:
                        raise LLMTimeout(f"completion exceeded {self.config.total_timeout:.0f} s")
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    try:
                        event = json.loads(payload)
                    except ValueError as exc:
                        raise LLMBadResponse(f"unparsable stream line: {payload[:200]}") from exc
                    counts = usage_counts(event)
                    if counts is not None:
                        result.usage = CompletionUsage(
                            prompt_tokens=counts[0], completion_tokens=counts[1], model=str(event.get("model") or model)
                        )
                    text = delta_text(event)
                    if text:
                        yield CompletionChunk(text=text)
                # The server closed the stream without [DONE]: the text is truncated, not finished.
                raise LLMUnavailable("the completion stream ended before [DONE]")
        except httpx.TimeoutException as exc:
            raise LLMTimeout(f"{type(exc).__name__} talking to {self.config.base_url}") from exc
        except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
            raise LLMUnavailable(f"{type(exc).__name__} talking to {self.config.base_url}: {exc}") from exc


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
