"""Word segmentation for full-text search over Chinese (issue #16).

PostgreSQL's parsers split words at spaces and punctuation, and Chinese has neither between words:
`to_tsvector('simple', '我的订单在哪里')` is one lexeme, so "订单" never matches. We segment with
jieba instead, in search mode (a long word also yields its shorter words: 中华人民共和国 -> 中华,
人民, 共和国, ...), and hand PostgreSQL space-separated words.

Two sides, segmented the same way so that they meet:

- `index_tokens(text)`: what a row stores next to its text (the `search_tokens` columns) and the
  GIN index covers together with the text. Only the Han runs, as space-separated words; "" for text
  without Chinese, whose words PostgreSQL already finds in the text itself.
- `query_text(query)` / `query_words(query)`: the searcher's query with each Han run replaced by
  its words; everything else passes through unchanged (English words, websearch syntax: quotes,
  `-`, `or`), so English search behaves exactly as before.

jieba is loaded lazily, once per process, and only when a text holds Chinese: its dictionary costs
~1.5 s and ~90 MB, which a deployment that never sees Chinese does not pay.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
import warnings
from collections.abc import Callable

from engine.chinese_text import HAN_RANGES

# CJK Unified Ideographs (+ extension A, compatibility ideographs, the supplementary planes' B-H)
# and 〇. The same class, in PostgreSQL's regex syntax, finds the rows a backfill must segment.
HAN_CLASS = f"\u3007{HAN_RANGES}"
_HAN_RUN = re.compile(f"[{HAN_CLASS}]+")
_WORD = re.compile(r"\w+")
# Common function words: in an any-word query (the knowledge base's full-text side) each would
# match nearly every Chinese passage. Dropped from such queries only, never from what is stored.
_STOP_WORDS = frozenset(
    {
        "的",
        "了",
        "是",
        "在",
        "我",
        "你",
        "他",
        "她",
        "它",
        "们",
        "我们",
        "你们",
        "吗",
        "呢",
        "吧",
        "啊",
        "和",
        "与",
        "及",
        "或",
        "也",
        "都",
        "就",
        "有",
        "这",
        "那",
        "个",
        "么",
        "什么",
        "怎么",
        "请",
        "问",
    }
)


@functools.cache
def _segmenter() -> Callable[[str], list[str]]:
    """jieba's search-mode segmenter, its dictionary loaded (once per process) and its log silenced."""
    with warnings.catch_warnings():
        # jieba 0.42.1 imports pkg_resources (deprecated by setuptools) only to locate its dictionary;
        # it falls back to a plain path without it. The warning is jieba's, not ours to act on.
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import jieba  # heavy: ~90 MB of dictionary, loaded only where Chinese text is seen

    jieba.setLogLevel(logging.WARNING)  # else "Building prefix dict..." goes to stderr on every process
    jieba.initialize()
    segment: Callable[[str], list[str]] = jieba.lcut_for_search
    return segment


def has_han(text: str) -> bool:
    return _HAN_RUN.search(text) is not None


def _words(run: str) -> list[str]:
    """A Han run's words. NFKC first: a compatibility ideograph (U+F900...) is the unified one."""
    return [word for word in _segmenter()(unicodedata.normalize("NFKC", run)) if word.strip()]


def index_tokens(*parts: str) -> str:
    """The space-separated, lower-cased words of `parts`, Han runs segmented (search mode), for a
    row's `search_tokens` column; "" when there is no Chinese (the text's own words suffice). Mixed
    text keeps its other words too: PostgreSQL reads "我的order在哪" as one word, which "order"
    would not match."""
    text = " ".join(parts)
    if not has_han(text):
        return ""
    return " ".join(_split(text))


def query_text(query: str) -> str:
    """The query with each Han run replaced by its words, space-separated; the rest unchanged (so
    websearch syntax keeps working: `-退货政策` excludes `"退货 政策"`, `"我的订单"` stays a phrase). Non-ASCII
    punctuation (，。？) becomes a space: PostgreSQL may otherwise read it as part of a word."""
    if not has_han(query):
        return query
    text = "".join(" " if ord(ch) > 127 and unicodedata.category(ch).startswith("P") else ch for ch in query)

    def words(run: re.Match[str]) -> str:
        before = text[run.start() - 1] if run.start() else " "
        after = text[run.end()] if run.end() < len(text) else " "
        lead = "" if before.isspace() or before in '-"' else " "
        trail = "" if after.isspace() or after == '"' else " "
        joined = " ".join(_words(run.group()))
        if before == "-" and " " in joined and text.count('"', 0, run.start()) % 2 == 0:
            joined = f'"{joined}"'  # -退货政策 excludes the phrase, not only its first word
        return lead + joined + trail

    return _HAN_RUN.sub(words, text).strip()


def query_words(query: str, *, limit: int) -> list[str]:
    """The query's distinct words, lower-cased, Han runs segmented, at most `limit`: the terms of an
    any-word query. Chinese function words are left out while other words remain."""
    distinct = list(dict.fromkeys(_split(query)))
    content = [w for w in distinct if w not in _STOP_WORDS]
    return (content or distinct)[:limit]


def _split(text: str) -> list[str]:
    """The \\w+ words of `text`, lower-cased, each split at its Han runs: "我的order" -> 我, 的, order."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        position = 0
        for run in _HAN_RUN.finditer(word):
            if run.start() > position:
                out.append(word[position : run.start()])
            out.extend(_words(run.group()))
            position = run.end()
        if position < len(word):
            out.append(word[position:])
    return out
