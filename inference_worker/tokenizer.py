"""The served model's tokenizer, so prompt budgets are counted in the tokens vLLM will count.

A character ratio (4 characters a token) undercounts Chinese several times over on SmolLM2 (a
Chinese character is 1-3 of its tokens), so a long Chinese conversation's history window could
overflow the model's context. The worker counts history messages with the served model's own
`tokenizer.json` (setting `LLM_TOKENIZER`), loaded once per process with the `tokenizers` library;
without one it falls back to `engine.nlg.estimate_tokens`, which errs high.

Thread safety: the worker runs many turns at once in threads, all sharing one tokenizer. The
embedding tokenizer had a real race (per-call truncation settings rewrite shared state); here the
truncation and padding are switched off once at load and never touched again, and `encode` runs
under a lock anyway: counting a message takes tens of microseconds, so serialising it costs nothing
measurable and leaves no doubt. Counts are cached per text (LRU): the same history messages are
counted again on every turn of a conversation.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import structlog
from django.conf import settings
from tokenizers import Tokenizer

from engine.nlg import TokenCounter, estimate_tokens

log = structlog.get_logger(__name__)

TOKENIZER_FILENAME = "tokenizer.json"
# Distinct history messages whose counts a worker process keeps: ~200 conversations in flight
# times a few dozen messages each, a few MB of strings at most.
DEFAULT_COUNT_CACHE_SIZE = 8192


class TokenizerLoadError(RuntimeError):
    pass


class TokenizerTokenCounter:
    """Counts a text's tokens with one model's tokenizer: a `TokenCounter` (call it with a text).

    Content tokens only, no special tokens: the chat template's role markers are counted by the
    prompt builder (`engine.nlg._PER_MESSAGE_OVERHEAD_TOKENS`).
    """

    def __init__(self, tokenizer: Tokenizer, *, cache_size: int = DEFAULT_COUNT_CACHE_SIZE) -> None:
        self._tokenizer = tokenizer
        self._encode_lock = threading.Lock()
        self._cached_count = functools.lru_cache(maxsize=cache_size)(self._count_uncached)

    def __call__(self, text: str) -> int:
        return self._cached_count(text)

    def count_uncached(self, text: str) -> int:
        """The count without the cache (measurements, and a check that the cache changes nothing)."""
        return self._count_uncached(text)

    def cache_info(self) -> functools._CacheInfo:
        return self._cached_count.cache_info()

    def _count_uncached(self, text: str) -> int:
        with self._encode_lock:
            return len(self._tokenizer.encode(text, add_special_tokens=False))


def load_tokenizer_counter(source: str | Path, *, cache_size: int = DEFAULT_COUNT_CACHE_SIZE) -> TokenizerTokenCounter:
    """A counter from a `tokenizer.json` file or a directory holding one (a Hugging Face model dir)."""
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / TOKENIZER_FILENAME
    if not path.is_file():
        raise TokenizerLoadError(f"no {TOKENIZER_FILENAME} at {path}")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises plain Exception for a malformed file
        raise TokenizerLoadError(f"cannot read {path}: {exc}") from exc
    # Whole texts are counted: a truncating tokenizer.json would cap every count at its max length.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return TokenizerTokenCounter(tokenizer, cache_size=cache_size)


_worker_counters: dict[str, TokenCounter] = {}
_worker_counters_lock = threading.Lock()


def worker_token_counter() -> TokenCounter:
    """The worker process's counter for `settings.LLM_TOKENIZER`, loaded on first use.

    Falls back to `estimate_tokens` when the setting is empty (no served tokenizer known) or the
    tokenizer cannot be loaded; either is logged once per process, not once per turn.
    """
    source = settings.LLM_TOKENIZER
    counter = _worker_counters.get(source)
    if counter is not None:
        return counter
    with _worker_counters_lock:  # 200 threads asking at start-up load it once
        counter = _worker_counters.get(source)
        if counter is None:
            counter = _load_or_fall_back(source)
            _worker_counters[source] = counter
    return counter


def _load_or_fall_back(source: str) -> TokenCounter:
    if not source:
        log.warning(
            "llm_tokenizer_not_configured",
            fallback="estimate_tokens",
            hint="set LLM_TOKENIZER to the served model's tokenizer.json (or its model directory); "
            "until then prompt budgets use a conservative estimate (non-ASCII characters count "
            "their UTF-8 bytes, ASCII ~4 characters a token)",
        )
        return estimate_tokens
    try:
        counter = load_tokenizer_counter(source)
    except TokenizerLoadError as exc:
        log.error(
            "llm_tokenizer_unavailable",
            llm_tokenizer=source,
            error=str(exc),
            fallback="estimate_tokens",
            hint="prompt budgets use a conservative estimate until LLM_TOKENIZER names a readable tokenizer.json",
        )
        return estimate_tokens
    log.info("llm_tokenizer_loaded", llm_tokenizer=source)
    return counter
