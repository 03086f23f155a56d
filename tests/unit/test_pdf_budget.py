"""PDF parsing within a page, character and time budget (issue 29, item 14): a few KB whose pages all share one
large content stream is refused with a reason, fast; an ordinary PDF is read as before."""

from __future__ import annotations

import time

import pytest

from benchmarks.hostile_ingest import shared_stream_pdf
from ingestion import loaders
from ingestion.errors import IngestError
from ingestion.loaders import load_bytes
from tests.unit.test_loaders import make_pdf


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
