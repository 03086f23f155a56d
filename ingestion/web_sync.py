"""Keep a website in sync with a collection: unchanged pages skipped (304 on their ETag / Last-Modified, else the
same text), changed ones replaced in one transaction each, and with `prune` the pages gone from the sitemap or
answering 404/410 removed. One `IngestReport`, as file ingestion gives (each failure named by its URL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from chatbot.storage.web_store import PageState, WebSources
from ingestion.errors import IngestError
from ingestion.ingest_slot import ingest_slot
from ingestion.loaders import LoadedDocument
from ingestion.pipeline import FileFailure, Ingestor, IngestReport, SourceItem, document_hash
from ingestion.web_crawl import CrawlOptions, Known, PageResult, SiteCrawl
from ingestion.web_fetch import Fetcher, FetchError, normalize_url

GONE = (404, 410)
DEADLINE_S = 3600.0


@dataclass
class _Run:
    """What one sync learns while its pages are ingested."""

    states: dict[str, PageState]
    failures: list[FileFailure] = field(default_factory=list)
    kept: dict[str, PageState] = field(default_factory=dict)  # url → the state to record
    gone: list[str] = field(default_factory=list)  # known pages that answered 404/410
    blocking: bool = False  # a page failed otherwise than 404/410: it may hide links, so nothing is gone by absence


class WebSync:
    """Syncs website sources into collections through an `Ingestor`."""

    def __init__(self, ingestor: Ingestor, records: WebSources, *, allow_private: bool, max_page_bytes: int,
                 deadline_s: float = DEADLINE_S) -> None:
        self.ingestor = ingestor
        self.records = records
        self.allow_private = allow_private
        self.max_page_bytes = max_page_bytes
        self.deadline_s = deadline_s

    def sync(self, url: str, collection: str, options: CrawlOptions, *, prune: bool = False) -> IngestReport:
        """Sync the site at `url` (a sitemap or a start page) into `collection` and record the sync, in the
        server's one ingest slot."""
        with ingest_slot():
            return self._sync(url, collection, options, prune)

    def _sync(self, url: str, collection: str, options: CrawlOptions, prune: bool) -> IngestReport:
        started = time.perf_counter()
        with Fetcher(allow_private=self.allow_private, max_bytes=self.max_page_bytes, delay=options.delay,
                     deadline=time.monotonic() + self.deadline_s) as fetcher:
            try:
                start = normalize_url(url)
                fetcher.check(start)
            except FetchError as exc:
                return IngestReport(files_failed=[FileFailure(url, str(exc))])
            run = _Run(self.records.pages(collection, start))
            known = {u: Known(s.etag, s.last_modified, s.links, s.document_source) for u, s in run.states.items()
                     if s.document_source is None or s.sha256 is not None}  # a deleted document is fetched again
            crawl = SiteCrawl(start, options, fetcher, known)
            report = self.ingestor.ingest_items(self._items(crawl, run, prune), collection,
                                                remove=lambda: _removed(crawl, run) if prune else [])
        report.files_failed[:0] = run.failures
        if crawl.visit.unvisited:
            report.files_failed.append(FileFailure(start, f"the sync stopped at its {self.deadline_s:.0f} s deadline"
                                                   f" with {crawl.visit.unvisited} pages not visited: run it again"))
        summary = {key: value for key, value in report.to_json().items() if key != "files_failed"}
        self.records.record_sync(collection, start, self.ingestor.embedder_for(collection).identity,
                                 kind=crawl.visit.kind, options=options.to_json(),
                                 report={**summary, "files_failed": len(report.files_failed)},
                                 pages=list(run.kept.values()), forget=sorted(_gone(crawl, run)) if prune else [])
        report.seconds = time.perf_counter() - started
        return report

    def _items(self, crawl: SiteCrawl, run: _Run, prune: bool) -> Iterator[SourceItem]:
        """The pages as the ingestor takes them; failures, gone pages and states are noted in `run`."""
        yielded: set[str] = set()
        for page in crawl.pages():
            if page.error is not None:
                if page.status in GONE and page.url in run.states:
                    run.gone.append(page.url)
                    if prune:
                        continue
                run.failures.append(FileFailure(page.url, page.error))
                run.blocking |= page.status not in GONE
                if page.links:  # a page without text still leads on (its links were followed)
                    run.kept[page.url] = PageState(page.url, None, None, None, page.links)
                continue
            if page.status == 304:
                state = run.states[page.url]
                run.kept[page.url] = state
                if state.document_source and state.document_source not in yielded and state.sha256:
                    yielded.add(state.document_source)
                    yield SourceItem(state.document_source, state.sha256, _not_reloaded, page.url)
                continue
            run.kept[page.url] = PageState(page.url, page.source if page.document else None, page.etag,
                                           page.last_modified, page.links)
            if page.document is None or page.source is None or page.source in yielded:
                continue  # not included, or a second URL of the same canonical page
            yielded.add(page.source)
            document = _with_url(page, page.document, crawl.start)
            yield SourceItem(page.source, document_hash(document), lambda d=document: d, page.url)


def _removed(crawl: SiteCrawl, run: _Run) -> list[str]:
    """Documents to delete: those of the pages gone that no page kept still makes."""
    still = {s.document_source for s in run.kept.values()}
    return sorted({run.states[u].document_source for u in _gone(crawl, run)} - still - {None})


def _gone(crawl: SiteCrawl, run: _Run) -> set[str]:
    """Known pages gone from the site: answering 404/410, or no longer listed after a complete visit (the whole
    sitemap read, or a crawl that ran out of links with no page failing but for 404/410: a page that failed
    otherwise may hide links; a broken link to a page never ingested hides none)."""
    gone = set(run.gone)
    if crawl.visit.complete and (crawl.visit.kind == "sitemap" or not run.blocking):
        gone |= {u for u in run.states if u not in crawl.visit.listed}
    return gone - set(run.kept)


def _with_url(page: PageResult, document: LoadedDocument, website: str) -> LoadedDocument:
    metadata = {key: value for key, value in document.metadata.items() if key != "canonical"}
    return LoadedDocument(document.title, document.sections, {**metadata, "url": page.source, "website": website})


def _not_reloaded() -> LoadedDocument:
    raise IngestError("the stored page changed during the sync: run it again")
