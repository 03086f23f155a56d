"""PDF parsing within a page, character and time budget (issue 29, item 14): a few KB whose pages all share one
large content stream is refused with a reason, fast; an ordinary PDF is read as before."""

from __future__ import annotations

import time
import zlib

import pytest

from ingestion import loaders
from ingestion.errors import IngestError
from ingestion.loaders import load_bytes
from tests.unit.test_loaders import make_pdf


def shared_stream_pdf(pages: int, lines: int) -> bytes:
    """`pages` pages whose /Contents is one Flate-compressed stream of `lines` lines of text (a few KB in all)."""
    text = b" ".join(b"(Repeated line of PDF text that expands a lot) '" for _ in range(lines))
    stream = zlib.compress(b"BT /F1 12 Tf 72 720 Td 14 TL " + text + b" ET", 9)
    font, content = 3 + pages, 4 + pages
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    objects += [f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R "
                f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode() for _ in range(pages)]
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_one_content_stream_on_every_page_is_refused_fast() -> None:
    pdf = shared_stream_pdf(pages=20, lines=4000)  # ~180,000 characters a page, 3.6 M in all
    assert len(pdf) < 10_000
    started = time.process_time()
    with pytest.raises(IngestError, match=r"page 1 has over 100,000 characters"):
        load_bytes(pdf, "bomb.pdf")
    assert time.process_time() - started < 3  # before: 3.6 M characters in about 7 s of CPU


def test_the_whole_document_has_a_character_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = shared_stream_pdf(pages=20, lines=100)  # ~4,500 characters a page: within the page cap
    assert len(load_bytes(pdf, "ok.pdf").sections) == 20
    monkeypatch.setattr(loaders, "MAX_PDF_CHARS", 20_000)
    with pytest.raises(IngestError, match=r"over 20,000 characters of text \(at page 5\)"):
        load_bytes(pdf, "long.pdf")


def test_the_pdf_has_a_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "MAX_PDF_SECONDS", 0.0)
    with pytest.raises(IngestError, match="took over 0 s to read"):
        load_bytes(make_pdf(["Some text"]), "slow.pdf")


def test_the_page_count_has_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "MAX_PDF_PAGES", 2)
    with pytest.raises(IngestError, match="3 pages, over the 2"):
        load_bytes(make_pdf(["a", "b", "c"]), "many.pdf")
