"""The vLLM client's policy against the real stub HTTP server: what is retried (only before the first
text chunk), what is final, the total deadline, and the request it sends."""

from __future__ import annotations

import dataclasses

import pytest

from chatplatform.launcher.embedded import free_port
from engine.types import ChatMessage, CompletionRequest, ContextOverflow
from inference_worker.client import LLMClient, LLMClientConfig, get_llm_client, reset_llm_client
from inference_worker.errors import (
    LLMBadResponse,
    LLMContextOverflow,
    LLMStreamInterrupted,
    LLMTimeout,
    LLMUnavailable,
)

REQUEST = CompletionRequest(
    messages=[ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="hello")],
    max_tokens=40,
    temperature=0.2,
    stop=("\nUser:", "a", "b", "c", "d"),
    affinity_key="conversation-1",
)


def client_for(**overrides: object) -> LLMClient:
    return LLMClient(dataclasses.replace(LLMClientConfig.from_settings(), **overrides))


def collect(client: LLMClient, request: CompletionRequest = REQUEST) -> tuple[list[str], object]:
    chunks: list[str] = []
    result = client.stream(request)
    try:
        for chunk in result:
            chunks.append(chunk.text)
    finally:
        client.close()
    return chunks, result


def test_streams_text_usage_and_the_backend_that_served_it(stub_llm) -> None:
    client = get_llm_client()
    result = client.stream(REQUEST)
    text = "".join(c.text for c in result)
    assert text == stub_llm.behaviour.reply
    assert result.usage is not None and result.usage.prompt_tokens == 11 and result.usage.model == "stub-model"
    assert result.usage.completion_tokens == -(-len(text) // stub_llm.behaviour.chunk_size)  # one per chunk
    assert result.backend == stub_llm.base_url
    (body,) = stub_llm.behaviour.requests
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "stub-model" and body["max_tokens"] == 40 and body["temperature"] == 0.2
    assert body["stop"] == ["\nUser:", "a", "b", "c"]  # at most 4 (the API's limit)
    assert body["repetition_penalty"] == 1.1  # vLLM's own parameter (VLLM_REPETITION_PENALTY)
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
    assert client.list_models() == ["stub-model"]
    reset_llm_client()


@pytest.mark.parametrize("status", [503, 500, 429])
def test_server_errors_before_the_first_token_are_retried(stub_llm, status: int) -> None:
    stub_llm.behaviour.fail_times, stub_llm.behaviour.fail_status = 2, status
    chunks, result = collect(client_for())
    assert "".join(chunks) == stub_llm.behaviour.reply
    assert len(stub_llm.behaviour.requests) == 3


def test_retries_are_capped(stub_llm) -> None:
    stub_llm.behaviour.fail_times, stub_llm.behaviour.fail_status = 10, 429
    with pytest.raises(LLMUnavailable, match="429"):
        collect(client_for(max_retries=3))
    assert len(stub_llm.behaviour.requests) == 4


def test_a_4xx_is_final(stub_llm) -> None:
    stub_llm.behaviour.fail_times, stub_llm.behaviour.fail_status = 5, 400
    with pytest.raises(LLMBadResponse, match="400"):
        collect(client_for())
    assert len(stub_llm.behaviour.requests) == 1


def test_a_prompt_over_the_context_is_a_context_overflow_not_retried_as_is(stub_llm) -> None:
    stub_llm.behaviour.max_prompt_chars = 5
    with pytest.raises(LLMContextOverflow, match="maximum context length") as refused:
        collect(client_for())
    assert isinstance(refused.value, ContextOverflow)  # what the processor trims for
    assert len(stub_llm.behaviour.requests) == 1
    stub_llm.behaviour.fail_times = 1  # any other 400 stays a plain bad response
    stub_llm.behaviour.fail_status, stub_llm.behaviour.max_prompt_chars = 400, None
    with pytest.raises(LLMBadResponse) as other:
        collect(client_for())
    assert not isinstance(other.value, ContextOverflow)


def test_death_after_text_is_final_and_not_retried(stub_llm) -> None:
    stub_llm.behaviour.die_after_chunks = 2
    chunks: list[str] = []
    client = client_for()
    with pytest.raises(LLMStreamInterrupted):
        for chunk in client.stream(REQUEST):
            chunks.append(chunk.text)
    client.close()
    assert "".join(chunks) == stub_llm.behaviour.reply[:12]  # exactly the two chunks, never repeated
    assert len(stub_llm.behaviour.requests) == 1


def test_a_stream_that_ends_before_any_text_is_retried_as_unavailable(stub_llm) -> None:
    stub_llm.behaviour.die_after_chunks = 0  # closes without text and without a finish_reason
    with pytest.raises(LLMUnavailable, match="ended early"):
        collect(client_for(max_retries=2))
    assert len(stub_llm.behaviour.requests) == 3


def test_a_trickling_stream_is_cut_at_the_total_deadline(stub_llm) -> None:
    stub_llm.behaviour.reply = "x" * 600  # 100 chunks
    stub_llm.behaviour.chunk_delay = 0.05
    chunks: list[str] = []
    client = client_for(total_timeout=1.0, read_timeout=5.0)
    with pytest.raises(LLMTimeout, match="total deadline"):
        for chunk in client.stream(REQUEST):
            chunks.append(chunk.text)
    client.close()
    assert chunks and len("".join(chunks)) < 600
    assert len(stub_llm.behaviour.requests) == 1


def test_a_slow_first_token_beyond_the_read_timeout_is_a_timeout(stub_llm) -> None:
    stub_llm.behaviour.first_token_delay = 1.0
    with pytest.raises(LLMTimeout):
        collect(client_for(read_timeout=0.3, max_retries=0))


def test_nothing_listening_is_unavailable(settings) -> None:
    settings.VLLM_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMUnavailable):
        collect(client_for(connect_timeout=0.5))


def test_several_urls_from_settings(settings) -> None:
    settings.VLLM_BASE_URLS = ["http://a:1/v1", "http://b:2/v1"]
    config = LLMClientConfig.from_settings()
    assert config.urls == ("http://a:1/v1", "http://b:2/v1")
    settings.VLLM_BASE_URLS = ["http://stale:1/v1"]
    settings.VLLM_BASE_URL = "http://override:3/v1"
    assert LLMClientConfig.from_settings().urls == ("http://override:3/v1",)


def test_a_full_connection_pool_is_a_timeout_that_does_not_mark_the_backend_down(stub_llm) -> None:
    stub_llm.behaviour.first_token_delay = 1.0
    client = client_for(max_connections=1, connect_timeout=0.3, max_retries=0)
    try:
        holding = iter(client.stream(REQUEST))
        first = next(holding)  # holds the only connection while it streams
        with pytest.raises(LLMTimeout, match="no free connection"):
            collect_without_close(client)
        assert client.pool.backends[0].is_up
        assert first.text + "".join(c.text for c in holding) == stub_llm.behaviour.reply
    finally:
        client.close()


def collect_without_close(client: LLMClient) -> str:
    return "".join(c.text for c in client.stream(REQUEST))
