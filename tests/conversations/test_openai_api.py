"""The OpenAI-compatible API, driven by the official `openai` client against a live server."""

from __future__ import annotations

import openai
import pytest

from bots.models import Conversation, Message
from bots.services.api_keys import api_key_create

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def api_client(live_server_url, llm_bot):
    _, raw_key = api_key_create(name="tests", bots=[llm_bot])
    return openai.OpenAI(base_url=f"{live_server_url}/v1", api_key=raw_key, max_retries=0, timeout=30)


def test_models_lists_the_bots_the_key_may_use(api_client, llm_bot, demo_bot) -> None:
    ids = [m.id for m in api_client.models.list()]
    assert ids == [llm_bot.slug]  # scoped to one bot: the demo bot is not listed


def test_non_streaming_completion_runs_the_turn_service(api_client, llm_bot, stub_llm, celery_worker) -> None:
    stub_llm.behaviour.reply = "We are open nine to five."
    completion = api_client.chat.completions.create(
        model=llm_bot.slug,
        temperature=0.2,
        max_tokens=40,
        messages=[
            {"role": "system", "content": "ignored: the bot's persona is the system prompt"},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "When are you open?"},
        ],
    )
    assert completion.choices[0].message.content == "We are open nine to five."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 11 and completion.usage.total_tokens > 11
    sent = stub_llm.behaviour.requests[-1]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 40
    assert "ignored" not in str(sent["messages"])
    conversation = Conversation.objects.get(channel="api")
    assert list(conversation.messages.values_list("role", "text")) == [
        ("user", "Hi"),
        ("bot", "Hello! How can I help?"),
        ("user", "When are you open?"),
        ("bot", "We are open nine to five."),
    ]


def test_streaming_completion_yields_chunks_that_add_up(api_client, llm_bot, stub_llm, celery_worker) -> None:
    stub_llm.behaviour.reply = "Streaming works one coalesced chunk at a time, in order."
    stream = api_client.chat.completions.create(
        model=llm_bot.slug,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Stream please"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == stub_llm.behaviour.reply
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    assert Message.objects.filter(role="bot", text=stub_llm.behaviour.reply).count() == 1


def test_the_first_streamed_chunk_carries_the_role_and_the_first_text(
    api_client, llm_bot, stub_llm, celery_worker
) -> None:
    """As vLLM streams it: no role-only chunk before the model has produced anything (a client timing
    the first chunk would otherwise report a time to first token nobody saw)."""
    stub_llm.behaviour.reply = "First words arrive with the role."
    stub_llm.behaviour.first_token_delay = 0.3
    stream = api_client.chat.completions.create(
        model=llm_bot.slug, stream=True, messages=[{"role": "user", "content": "Say something"}]
    )
    chunks = [c for c in stream if c.choices]
    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content and stub_llm.behaviour.reply.startswith(first.content)
    assert all(c.choices[0].delta.role is None for c in chunks[1:])
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == stub_llm.behaviour.reply


def test_errors_are_openai_shaped(live_server_url, api_client, llm_bot) -> None:
    bad = openai.OpenAI(base_url=f"{live_server_url}/v1", api_key="cp_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as auth_error:
        bad.models.list()
    assert auth_error.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as not_found:
        api_client.chat.completions.create(model="no-such-bot", messages=[{"role": "user", "content": "hi"}])
    assert not_found.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad_request:
        api_client.chat.completions.create(model=llm_bot.slug, messages=[{"role": "assistant", "content": "x"}])
    assert bad_request.value.body["param"] == "messages"


def test_dead_llm_gives_a_server_error_not_a_hang(api_client, llm_bot, settings, celery_worker) -> None:
    from inference_worker.client import reset_llm_client

    settings.VLLM_BASE_URL = "http://127.0.0.1:9/v1"
    settings.VLLM_MAX_RETRIES = 0
    reset_llm_client()
    with pytest.raises(openai.APIStatusError) as failure:
        api_client.chat.completions.create(model=llm_bot.slug, messages=[{"role": "user", "content": "hi"}])
    assert failure.value.status_code == 502 and failure.value.body["code"] == "reply_failed"
    reset_llm_client()


def test_dirty_history_is_cleaned_like_widget_text_not_a_500(
    live_server_url, api_client, llm_bot, stub_llm, celery_worker
) -> None:
    """Security issue #9, item 4: a NUL or a lone surrogate in an assistant turn gave a 500 (and an
    orphan conversation). Every turn is scrubbed like widget text, the assistant ones too."""
    import httpx

    stub_llm.behaviour.reply = "Clean reply."
    # Raw bytes: the JSON escapes \u0000 and \ud800 are valid JSON, and no client library sends them.
    body = (
        b'{"model": "%s", "messages": [{"role": "user", "content": "Hi\\u0000"}, '
        b'{"role": "assistant", "content": "Hel\\u0000lo\\ud800 \\u202ethere"}, '
        b'{"role": "assistant", "content": [{"type": "text", "text": "\\u0000"}]}, '
        b'{"role": "user", "content": [{"type": "text", "text": "Open\\udfff?"}]}]}'
    ) % llm_bot.slug.encode()
    response = httpx.post(
        f"{live_server_url}/v1/chat/completions",
        content=body,
        timeout=30,
        headers={"Authorization": f"Bearer {api_client.api_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    conversation = Conversation.objects.get(channel="api")
    assert list(conversation.messages.order_by("seq").values_list("role", "text")) == [
        ("user", "Hi"),
        ("bot", "Hello there"),
        ("user", "Open?"),
        ("bot", "Clean reply."),
    ]
