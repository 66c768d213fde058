"""Documents to chunks: never across a heading, packed up to a token budget, with an overlap.

Units, from large to small: paragraphs (blank-line separated), sentences (., !, ? and the Chinese
。！？, which need no space after them), then characters for a sentence longer than the budget.
A chunk is always one contiguous span of the document's text, so its offsets can point a
citation at the exact place it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from knowledge.ingestion.types import Chunk, ParsedDocument, Section

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？；])")

Span = tuple[int, int]


def chunk_document(
    document: ParsedDocument,
    *,
    count_tokens: Callable[[str], int],
    max_tokens: int = 200,
    overlap_tokens: int = 40,
) -> list[Chunk]:
    sections = document.sections or (Section(heading_path=(), start=0, end=len(document.text)),)
    chunks: list[Chunk] = []
    for section in sections:
        body = document.text[section.start : section.end].strip()
        if not body or (section.heading_path and body == section.heading_path[-1]):
            continue  # a heading straight followed by a subheading: nothing of its own to find
        units = _units(document.text, section.start, section.end, count_tokens, max_tokens)
        for start, end in _pack(document.text, units, count_tokens, max_tokens, overlap_tokens):
            span = _trimmed(document.text, start, end)
            if span is not None:
                chunks.append(
                    Chunk(
                        text=document.text[span[0] : span[1]],
                        start=span[0],
                        end=span[1],
                        heading_path=section.heading_path,
                    )
                )
    return chunks


def _units(text: str, start: int, end: int, count: Callable[[str], int], budget: int) -> list[tuple[int, int, int]]:
    """(start, end, tokens) of the pieces to pack, each within the budget."""
    units: list[tuple[int, int, int]] = []
    for p_start, p_end in _split(text, start, end, _PARAGRAPH_BREAK):
        tokens = count(text[p_start:p_end])
        if tokens <= budget:
            units.append((p_start, p_end, tokens))
            continue
        for s_start, s_end in _split(text, p_start, p_end, _SENTENCE_END):
            tokens = count(text[s_start:s_end])
            if tokens <= budget:
                units.append((s_start, s_end, tokens))
            else:
                units.extend(_hard_split(text, s_start, s_end, count, budget))
    return units


def _split(text: str, start: int, end: int, separator: re.Pattern[str]) -> list[Span]:
    spans: list[Span] = []
    cursor = start
    for match in separator.finditer(text, start, end):
        if match.start() > cursor:
            spans.append((cursor, match.start()))
        cursor = match.end()
    if cursor < end:
        spans.append((cursor, end))
    return [s for s in spans if text[s[0] : s[1]].strip()]


def _hard_split(
    text: str, start: int, end: int, count: Callable[[str], int], budget: int
) -> list[tuple[int, int, int]]:
    """A sentence over the budget, cut into the longest prefixes that fit (binary search)."""
    pieces: list[tuple[int, int, int]] = []
    cursor = start
    while cursor < end:
        low, high = cursor + 1, end
        while low < high:  # the largest stop with count(text[cursor:stop]) <= budget
            middle = (low + high + 1) // 2
            if count(text[cursor:middle]) <= budget:
                low = middle
            else:
                high = middle - 1
        stop = low
        space = text.rfind(" ", cursor + 1, stop)
        if stop < end and space > cursor + (stop - cursor) // 2:
            stop = space  # end on a word boundary when one is near
        pieces.append((cursor, stop, count(text[cursor:stop])))
        cursor = stop
    return pieces


def _pack(
    text: str, units: list[tuple[int, int, int]], count: Callable[[str], int], budget: int, overlap: int
) -> list[Span]:
    """Consecutive units joined up to the budget; each chunk after the first starts with the
    previous chunk's last units that fit in `overlap` tokens, when that leaves room for new text."""
    chunks: list[Span] = []
    covered = 0  # units before this index are in a chunk already
    while covered < len(units):
        end = _fill(text, units, covered, count, budget)
        start = covered
        if chunks and overlap > 0:
            start = _overlap_start(units, covered, overlap)
            if start < covered:
                with_overlap = _fill(text, units, start, count, budget)
                if with_overlap > covered:  # the overlap still leaves room for new text
                    end = with_overlap
                else:
                    start = covered
        chunks.append((units[start][0], units[end - 1][1]))
        covered = end
    return chunks


def _fill(text: str, units: list[tuple[int, int, int]], first: int, count: Callable[[str], int], budget: int) -> int:
    """The end index of the longest run of units from `first` that fits the budget (at least one)."""
    end, tokens = first + 1, units[first][2]
    while end < len(units) and tokens + units[end][2] <= budget:
        tokens += units[end][2]
        end += 1
    # Joining adds the separators' tokens, if any: shrink until the real span fits.
    while end - first > 1 and count(text[units[first][0] : units[end - 1][1]]) > budget:
        end -= 1
    return end


def _overlap_start(units: list[tuple[int, int, int]], covered: int, overlap: int) -> int:
    start, carried = covered, 0
    while start > 0 and carried + units[start - 1][2] <= overlap:
        start -= 1
        carried += units[start][2]
    return start


def _trimmed(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None
