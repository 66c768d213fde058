"""What the parsers produce and the chunker consumes."""

from __future__ import annotations

from dataclasses import dataclass, field


class DocumentRejected(Exception):
    """A file that cannot become knowledge (corrupt, too large, unsupported, empty). `reason` is
    shown to the admin next to the document, so it says what is wrong in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Section:
    """A heading's span of `ParsedDocument.text`: [start, end) under `heading_path` (outermost first)."""

    heading_path: tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True)
class ParsedDocument:
    """One document's plain text (what chunk offsets and citations refer to) and its structure."""

    title: str
    text: str
    sections: tuple[Section, ...] = ()
    url: str = ""
    external_id: str = ""  # a JSONL line's "id", a zip member's path, a FAQ row's question
    kind: str = "document"  # "document", or "faq" (a curated question and answer pair)


@dataclass(frozen=True)
class Chunk:
    """A passage to embed and index: `text` is `document.text[start:end]` (whitespace-trimmed)."""

    text: str
    start: int
    end: int
    heading_path: tuple[str, ...] = field(default_factory=tuple)
