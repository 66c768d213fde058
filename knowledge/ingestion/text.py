"""Plain text as the parsers hand it on: decoded, normalised, and built up with its sections."""

from __future__ import annotations

import re
import unicodedata

from charset_normalizer import from_bytes

from knowledge.ingestion.types import DocumentRejected, Section

# Control characters but tab and newline; NUL included. Invisible in a passage, noise to the model.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_RUN = re.compile(r"\n{3,}")


def decode(data: bytes, name: str) -> str:
    """UTF-8 (a BOM tolerated), else the encoding charset-normalizer finds. Binary data is refused."""
    if b"\x00" in data[:65536]:
        raise DocumentRejected(f"{name} looks like binary data, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        if best is None:
            raise DocumentRejected(f"{name} is not text in any encoding we can read.") from None
        return str(best)


def clean(text: str) -> str:
    """NFC, no control characters, no trailing spaces, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUN.sub("\n\n", text).strip()


class TextBuilder:
    """Appends cleaned blocks (paragraphs, headings) and records each heading's section, so the
    offsets are those of the final text."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._headings: list[tuple[int, str]] = []  # (level, text) of the open headings
        self._sections: list[tuple[tuple[str, ...], int]] = []  # (path, start)

    def heading(self, level: int, text: str) -> None:
        text = " ".join(clean(text).split())
        if not text:
            return
        self._headings = [(lvl, t) for lvl, t in self._headings if lvl < level] + [(level, text)]
        start = self._next_start()
        self._sections.append((tuple(t for _, t in self._headings), start))
        self.block(text)

    def block(self, text: str) -> None:
        text = clean(text)
        if not text:
            return
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        self._parts.append(text)
        self._length += len(text)

    def _next_start(self) -> int:
        return self._length + 2 if self._parts else 0

    def result(self) -> tuple[str, tuple[Section, ...]]:
        text = "".join(self._parts)
        sections: list[Section] = []
        if self._sections and self._sections[0][1] > 0:
            sections.append(Section(heading_path=(), start=0, end=self._sections[0][1]))
        for index, (path, start) in enumerate(self._sections):
            end = self._sections[index + 1][1] if index + 1 < len(self._sections) else len(text)
            sections.append(Section(heading_path=path, start=start, end=end))
        return text, tuple(sections)
