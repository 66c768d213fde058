"""Files to documents: `parse_file(filename, data)` picks the parser by the name's suffix.

Every refusal is a DocumentRejected whose reason an admin can act on. Well-kept libraries do the
format work: pypdf (PDF), python-docx (DOCX), selectolax/Lexbor (HTML), the csv and zipfile modules.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import PurePosixPath

import docx
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from selectolax.lexbor import LexborHTMLParser, LexborNode

from knowledge.ingestion.text import TextBuilder, clean, decode
from knowledge.ingestion.types import DocumentRejected, ParsedDocument

MAX_FILE_BYTES = 50 * 1024 * 1024
ZIP_MAX_MEMBERS = 1000
ZIP_MAX_TOTAL_BYTES = 200 * 1024 * 1024
ZIP_MAX_RATIO = 100  # uncompressed / compressed: above it a member is a zip bomb, not a document
_ATX_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_HTML_DROPPED = "script, style, noscript, template, nav, footer, header, aside, form, svg, iframe"
_HTML_BLOCKS = {"p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption", "address"}
_HTML_BLOCK_SELECTOR = ", ".join(sorted(_HTML_BLOCKS | {"h1", "h2", "h3", "h4", "h5", "h6"}))
_DOCX_HEADING = re.compile(r"^Heading ([1-6])$")


def parse_file(filename: str, data: bytes) -> list[ParsedDocument]:
    """The documents in a file (one, or several for JSONL, CSV and ZIP). Raises DocumentRejected."""
    name = PurePosixPath(filename.replace("\\", "/")).name or filename
    if len(data) > MAX_FILE_BYTES:
        raise DocumentRejected(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MB.")
    if not data.strip():
        raise DocumentRejected(f"{name} is empty.")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix == ".zip":
        return _zip(name, data)
    parser = _PARSERS.get(suffix)
    if parser is None:
        raise DocumentRejected(
            f"Unsupported file type {suffix or '(no suffix)'}; use Markdown, text, HTML, PDF, DOCX, "
            "JSONL, CSV (FAQ) or ZIP."
        )
    return parser(name, data)


def _document(
    name: str, builder: TextBuilder, *, title: str = "", url: str = "", external_id: str = ""
) -> ParsedDocument:
    text, sections = builder.result()
    if not text:
        raise DocumentRejected(f"{name} has no text.")
    return ParsedDocument(
        title=(title.strip() or PurePosixPath(name).stem)[:300],
        text=text,
        sections=sections,
        url=url,
        external_id=external_id,
    )


def _markdown(name: str, data: bytes) -> list[ParsedDocument]:
    builder = TextBuilder()
    title = ""
    paragraph: list[str] = []
    in_fence = False

    def flush() -> None:
        if paragraph:
            builder.block("\n".join(paragraph))
            paragraph.clear()

    for line in decode(data, name).splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        heading = None if in_fence else _ATX_HEADING.match(line)
        if heading:
            flush()
            level, text = len(heading.group(1)), heading.group(2)
            if level == 1 and not title:
                title = text.strip()
            builder.heading(level, text)
        elif line.strip() or in_fence:
            paragraph.append(line)
        else:
            flush()
    flush()
    return [_document(name, builder, title=title)]


def _plain_text(name: str, data: bytes) -> list[ParsedDocument]:
    builder = TextBuilder()
    for paragraph in re.split(r"\n\s*\n", decode(data, name)):
        builder.block(paragraph)
    return [_document(name, builder)]


def _html(name: str, data: bytes) -> list[ParsedDocument]:
    tree = LexborHTMLParser(decode(data, name))
    title_node = tree.css_first("title")
    title = clean(title_node.text()) if title_node is not None else ""
    for node in tree.css(_HTML_DROPPED):
        node.decompose()
    body = tree.body or tree.root
    builder = TextBuilder()
    if body is not None:
        _html_walk(body, builder)
    if not title:
        first_h1 = tree.css_first("h1")
        title = clean(first_h1.text()) if first_h1 is not None else ""
    return [_document(name, builder, title=title)]


def _html_walk(node: LexborNode, builder: TextBuilder) -> None:
    for child in node.iter(include_text=False):
        tag = child.tag or ""
        if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            builder.heading(int(tag[1]), _inline_text(child))
        elif tag == "pre":
            builder.block(child.text())
        elif tag in _HTML_BLOCKS:
            builder.block(_inline_text(child))
        elif child.css_first(_HTML_BLOCK_SELECTOR) is not None:
            _html_walk(child, builder)  # a container of blocks: walk into it
        else:
            builder.block(_inline_text(child))  # a div or span of plain text


def _inline_text(node: LexborNode) -> str:
    """The text as a browser lays it out inline: text nodes joined as they are, runs of
    whitespace (source indentation, newlines) shown as one space."""
    return " ".join(node.text(separator="").split())


def _pdf(name: str, data: bytes) -> list[ParsedDocument]:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentRejected(f"{name} is password-protected; upload an unprotected copy.")
        builder = TextBuilder()
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if text.strip():
                builder.heading(1, f"Page {number}")
                builder.block(text)
    except DocumentRejected:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentRejected(f"{name} is not a readable PDF ({exc.__class__.__name__}).") from exc
    if not builder.result()[0]:
        raise DocumentRejected(f"{name} has no text layer (a scan?); nothing to index.")
    metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    return [_document(name, builder, title=str(metadata_title))]


def _docx(name: str, data: bytes) -> list[ParsedDocument]:
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DocumentRejected(f"{name} is not a readable Word document ({exc.__class__.__name__}).") from exc
    builder = TextBuilder()
    title = (document.core_properties.title or "").strip()
    for paragraph in document.paragraphs:
        style = paragraph.style.name if paragraph.style is not None else ""
        heading = _DOCX_HEADING.match(style or "")
        if style == "Title":
            title = title or paragraph.text.strip()
            builder.heading(1, paragraph.text)
        elif heading:
            builder.heading(int(heading.group(1)), paragraph.text)
        else:
            builder.block(paragraph.text)
    return [_document(name, builder, title=title)]


def _jsonl(name: str, data: bytes) -> list[ParsedDocument]:
    documents = []
    for number, line in enumerate(decode(data, name).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DocumentRejected(f"{name}, line {number}: not JSON ({exc.msg}).") from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise DocumentRejected(f'{name}, line {number}: expected an object with a "text" string.')
        builder = TextBuilder()
        for paragraph in re.split(r"\n\s*\n", row["text"]):
            builder.block(paragraph)
        label = f"{name}, line {number}"
        documents.append(
            _document(
                label,
                builder,
                title=str(row.get("title") or "") or f"{PurePosixPath(name).stem} {number}",
                url=str(row.get("url") or "")[:1000],
                external_id=str(row.get("id") if row.get("id") is not None else f"line {number}")[:300],
            )
        )
    if not documents:
        raise DocumentRejected(f"{name} has no documents.")
    return documents


def _faq_csv(name: str, data: bytes) -> list[ParsedDocument]:
    reader = csv.DictReader(io.StringIO(decode(data, name)))
    fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}
    if "question" not in fields or "answer" not in fields:
        raise DocumentRejected(f"{name} needs a header row with the columns question and answer.")
    documents = []
    for row in reader:
        question = clean(row.get(fields["question"]) or "")
        answer = clean(row.get(fields["answer"]) or "")
        if not question or not answer:
            continue
        text = f"{question}\n\n{answer}"
        documents.append(ParsedDocument(title=question[:300], text=text, external_id=question[:300], kind="faq"))
    if not documents:
        raise DocumentRejected(f"{name} has no question with an answer.")
    return documents


def _zip(name: str, data: bytes) -> list[ParsedDocument]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DocumentRejected(f"{name} is not a readable ZIP file.") from exc
    if len(members) > ZIP_MAX_MEMBERS:
        raise DocumentRejected(f"{name} holds {len(members)} files; at most {ZIP_MAX_MEMBERS}.")
    if sum(m.file_size for m in members) > ZIP_MAX_TOTAL_BYTES:
        raise DocumentRejected(f"{name} unpacks to more than {ZIP_MAX_TOTAL_BYTES // 2**20} MB.")
    documents: list[ParsedDocument] = []
    for member in members:
        path = PurePosixPath(member.filename)
        if path.is_absolute() or ".." in path.parts or path.suffix.lower() not in _PARSERS:
            continue  # outside the archive, or not a document (images, nested zips): skipped
        if member.file_size > ZIP_MAX_RATIO * max(member.compress_size, 1) and member.file_size > 1024 * 1024:
            raise DocumentRejected(
                f"{name}: {member.filename} expands {member.file_size // max(member.compress_size, 1)}x (a zip bomb?)."
            )
        if member.file_size > MAX_FILE_BYTES:
            raise DocumentRejected(f"{name}: {member.filename} is larger than {MAX_FILE_BYTES // 2**20} MB.")
        try:
            content = archive.read(member)
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:  # RuntimeError: an encrypted member
            raise DocumentRejected(f"{name}: {member.filename} cannot be read.") from exc
        for parsed in _PARSERS[path.suffix.lower()](path.name, content):
            inner = f"{member.filename}#{parsed.external_id}" if parsed.external_id else member.filename
            documents.append(
                ParsedDocument(
                    title=parsed.title,
                    text=parsed.text,
                    sections=parsed.sections,
                    url=parsed.url,
                    external_id=inner[:300],
                    kind=parsed.kind,
                )
            )
    if not documents:
        raise DocumentRejected(f"{name} holds no supported documents.")
    return documents


_PARSERS: dict[str, Callable[[str, bytes], list[ParsedDocument]]] = {
    ".md": _markdown,
    ".markdown": _markdown,
    ".txt": _plain_text,
    ".html": _html,
    ".htm": _html,
    ".pdf": _pdf,
    ".docx": _docx,
    ".jsonl": _jsonl,
    ".csv": _faq_csv,
}
SUPPORTED_SUFFIXES = frozenset({*_PARSERS, ".zip"})
