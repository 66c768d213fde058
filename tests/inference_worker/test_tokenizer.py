"""The worker's token counter: loading LLM_TOKENIZER once per process, and the logged fallback.

A tiny word-level tokenizer.json built here stands in for a model's (the real SmolLM2 one is
exercised in tests/engine/test_token_budget.py), so these tests need no model file.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from engine.nlg import estimate_tokens
from inference_worker import tokenizer as tokenizer_module
from inference_worker.tokenizer import (
    TokenizerLoadError,
    TokenizerTokenCounter,
    load_tokenizer_counter,
    worker_token_counter,
)


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    """A model directory with a tokenizer.json that truncates at 2 tokens, as some exported ones do."""
    tokenizer = Tokenizer(WordLevel({"hello": 0, "world": 1, "[UNK]": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.enable_truncation(max_length=2)
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    return tmp_path


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a new worker process: nothing loaded, nothing logged yet."""
    monkeypatch.setattr(tokenizer_module, "_worker_counters", {})


def test_loads_from_a_file_or_a_model_directory(model_dir: Path) -> None:
    for source in (model_dir, model_dir / "tokenizer.json", str(model_dir)):
        counter = load_tokenizer_counter(source)
        # Five words, not the file's truncation length: budgets need whole counts.
        assert counter("hello world hello world bye") == 5


def test_a_missing_or_broken_tokenizer_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(TokenizerLoadError, match="no tokenizer.json"):
        load_tokenizer_counter(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerLoadError, match="cannot read"):
        load_tokenizer_counter(tmp_path)


def test_worker_loads_the_configured_tokenizer_once(settings, model_dir: Path) -> None:
    settings.LLM_TOKENIZER = str(model_dir)
    counters: list[object] = []
    start = threading.Barrier(16)

    def ask() -> None:
        start.wait()
        counters.append(worker_token_counter())

    with capture_logs() as logs:
        threads = [threading.Thread(target=ask) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(counters) == 16
    assert isinstance(counters[0], TokenizerTokenCounter)
    assert all(counter is counters[0] for counter in counters)
    assert [entry["event"] for entry in logs] == ["llm_tokenizer_loaded"]


def test_no_tokenizer_configured_falls_back_and_says_so_once(settings) -> None:
    settings.LLM_TOKENIZER = ""
    with capture_logs() as logs:
        assert worker_token_counter() is estimate_tokens
        assert worker_token_counter() is estimate_tokens
    assert [(entry["event"], entry["log_level"]) for entry in logs] == [("llm_tokenizer_not_configured", "warning")]
    assert "LLM_TOKENIZER" in logs[0]["hint"]


def test_an_unreadable_tokenizer_falls_back_and_says_so_once(settings, tmp_path: Path) -> None:
    settings.LLM_TOKENIZER = str(tmp_path / "nowhere")
    with capture_logs() as logs:
        assert worker_token_counter() is estimate_tokens
        assert worker_token_counter() is estimate_tokens
    assert [(entry["event"], entry["log_level"]) for entry in logs] == [("llm_tokenizer_unavailable", "error")]
    assert logs[0]["llm_tokenizer"] == str(tmp_path / "nowhere")
