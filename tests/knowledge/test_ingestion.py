"""Parsers and the chunker (#13): each format, hostile files refused with a reason, offsets that
point at the exact text, budgets kept, headings never crossed. Plain Python: no database."""

from __future__ import annotations

import io
import json
import zipfile

import docx
import pytest

from knowledge.ingestion.chunking import chunk_document
from knowledge.ingestion.parsers import parse_file
from knowledge.ingestion.types import DocumentRejected, ParsedDocument


def words(text: str) -> int:
    """A cheap stand-in for a tokenizer: one token per word, one per CJK character."""
    return len(text.split()) + sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")


def _pdf(text: str) -> bytes:
    """A minimal one-page PDF with a text layer, xref offsets computed."""
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _docx() -> bytes:
    document = docx.Document()
    document.add_heading("Warranty", level=1)
    document.add_paragraph("Every kettle has a two-year warranty.")
    document.add_heading("Claims", level=2)
    document.add_paragraph("Send the receipt to claims@example.com.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_markdown_sections_nest_by_heading_level_and_point_into_the_text() -> None:
    [doc] = parse_file("guide.md", b"# A\n\nintro\n\n## B\n\nbee\n\n### C\n\nsea\n\n## D\n\ndee\n")
    assert doc.title == "A"
    paths = [s.heading_path for s in doc.sections]
    assert paths == [("A",), ("A", "B"), ("A", "B", "C"), ("A", "D")]
    for section in doc.sections:
        assert doc.text[section.start : section.end].startswith(section.heading_path[-1])


def test_html_keeps_headings_and_never_scripts() -> None:
    html = (
        b"<html><head><title>Help</title><script>alert(1)</script></head><body><nav>Menu</nav>"
        b"<h1>Returns</h1><p>Within <b>45</b> days.</p><div><h2>Labels</h2><p>In the box.</p></div>"
        b"<script>document.write('x')</script><footer>(c) Acme</footer></body></html>"
    )
    [doc] = parse_file("help.html", html)
    assert doc.title == "Help" and "alert" not in doc.text and "document.write" not in doc.text
    assert "Menu" not in doc.text and "(c) Acme" not in doc.text
    assert "Within 45 days." in doc.text and [s.heading_path for s in doc.sections] == [
        ("Returns",),
        ("Returns", "Labels"),
    ]


def test_pdf_docx_jsonl_csv_and_zip_become_documents() -> None:
    [pdf] = parse_file("manual.pdf", _pdf("Hello from the PDF"))
    assert "Hello from the PDF" in pdf.text
    [word] = parse_file("warranty.docx", _docx())
    assert [s.heading_path for s in word.sections] == [("Warranty",), ("Warranty", "Claims")]
    lines = [{"id": "a1", "title": "One", "text": "First."}, {"text": "Second.", "url": "https://x.example/2"}]
    jsonl = parse_file("docs.jsonl", "\n".join(json.dumps(line) for line in lines).encode() + b"\n\n")
    assert [(d.external_id, d.title, d.url) for d in jsonl] == [
        ("a1", "One", ""),
        ("line 2", "docs 2", "https://x.example/2"),
    ]
    faq = parse_file("faq.csv", "\ufeffquestion,answer\nDo gift cards expire?,Never.\n,\n".encode())
    assert [(d.kind, d.title, d.text) for d in faq] == [
        ("faq", "Do gift cards expire?", "Do gift cards expire?\n\nNever.")
    ]
    bundle = parse_file(
        "kb.zip", _zip({"a/guide.md": b"# Guide\n\ntext", "logo.png": b"\x89PNG", "../evil.md": b"# x"})
    )
    assert [d.external_id for d in bundle] == ["a/guide.md"]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("scan.pdf", b"%PDF-1.7 garbage", "not a readable PDF"),
        ("letter.docx", b"PK\x03\x04 not a docx", "not a readable Word document"),
        ("notes.txt", b"text\x00\x01\x02binary", "binary"),
        ("empty.md", b"  \n ", "empty"),
        ("tool.exe", b"MZ", "Unsupported file type .exe"),
        ("docs.jsonl", b'{"text": "ok"}\n{not json}\n', "line 2"),
        ("faq.csv", b"q,a\nx,y\n", "question and answer"),
        ("bomb.zip", _zip({"zeros.txt": b"0" * (12 * 1024 * 1024)}), "zip bomb"),
        ("many.zip", _zip({f"{i}.txt": b"x" for i in range(1001)}), "at most 1000"),
        ("nothing.zip", _zip({"logo.png": b"\x89PNG"}), "no supported documents"),
    ],
)
def test_hostile_or_broken_files_are_refused_with_a_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(DocumentRejected, match=reason):
        parse_file(name, data)


def _long_markdown() -> bytes:
    paragraph = " ".join(f"Sentence {i} talks about parcels and returns." for i in range(12))
    body = "\n\n".join(paragraph for _ in range(6))
    chinese = "我们的订单一般在三天内发货。" * 40
    return f"# Shop\n\n{body}\n\n## 发货\n\n{chinese}\n\n## Tiny\n\nShort.\n".encode()


def test_chunks_are_exact_spans_within_budget_and_never_cross_a_heading() -> None:
    [doc] = parse_file("long.md", _long_markdown())
    chunks = chunk_document(doc, count_tokens=words, max_tokens=60, overlap_tokens=15)
    assert len(chunks) > 8
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text and chunk.text.strip() == chunk.text
        assert words(chunk.text) <= 60
        section = next(s for s in doc.sections if s.start <= chunk.start < s.end)
        assert chunk.end <= section.end and chunk.heading_path == section.heading_path
    assert {c.heading_path for c in chunks} == {("Shop",), ("Shop", "发货"), ("Shop", "Tiny")}
    english = [c for c in chunks if c.heading_path == ("Shop",)]
    assert any(b.start < a.end for a, b in zip(english, english[1:], strict=False)), "neighbours overlap"
    assert all(b.end > a.end for a, b in zip(chunks, chunks[1:], strict=False)), "every chunk adds new text"


def test_a_sentence_longer_than_the_budget_is_cut_and_nothing_is_lost() -> None:
    text = "word " * 500
    doc = ParsedDocument(title="t", text=text.strip())
    chunks = chunk_document(doc, count_tokens=words, max_tokens=50, overlap_tokens=0)
    assert all(words(c.text) <= 50 for c in chunks)
    assert sum(words(c.text) for c in chunks) == 500
