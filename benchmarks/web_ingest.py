"""Website ingest throughput: pages/s of fetch + parse alone, of a whole first sync and of a re-sync (all
unchanged), against the embedder's pages/s on `examples/docs` (fetching must not be the bottleneck)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from chatbot.embeddings import Embedder
from chatbot.services import Services
from chatbot.settings import IngestSettings
from ingestion.chunking import Chunker
from ingestion.loaders import load_file
from ingestion.pipeline import expand_paths
from ingestion.web_crawl import CrawlOptions, SiteCrawl
from ingestion.web_fetch import Fetcher, normalize_url

COLLECTION = "bench-web-ingest"


def _fetch_parse(settings: IngestSettings, url: str, options: CrawlOptions) -> tuple[int, int, float]:
    """(pages parsed, pages failed, seconds) of one visit of the site with nothing known: fetch + parse only."""
    fetcher = Fetcher(allow_private=settings.ingest_allow_private, delay=options.delay,
                      max_bytes=int(settings.ingest_max_page_mb * 1024 * 1024))
    with fetcher:
        started = time.perf_counter()
        results = list(SiteCrawl(normalize_url(url), options, fetcher, {}).pages())
        seconds = time.perf_counter() - started
    return sum(r.document is not None for r in results), sum(r.error is not None for r in results), seconds


def _embedder_pages_per_s(embedder: Embedder, chunker: Chunker, max_upload_bytes: int, docs: Path,
                          repeats: int) -> tuple[int, float]:
    """(documents, documents/s) of the embedder alone on the chunks of `docs` (loading and chunking not timed)."""
    documents = [load_file(path, max_upload_bytes) for path in expand_paths([docs])]
    texts = [[chunk.text for chunk in chunker.split(document)] for document in documents]
    embedder.encode(texts[0][:4])  # warm-up
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for chunks in texts:
            embedder.encode(chunks)
        rates.append(len(documents) / (time.perf_counter() - started))
    return len(documents), statistics.median(rates)


def run_web_benchmark(services: Services, url: str, options: CrawlOptions, repeats: int = 3,
                      docs: Path = Path("examples/docs")) -> dict[str, Any]:
    """Medians over `repeats`: fetch + parse pages/s, the embedder's pages/s on `docs`, their ratio; then one
    first sync and one re-sync of `url` into a scratch collection (deleted after)."""
    from chatbot.precision import cpu_report

    visits = [_fetch_parse(services.settings, url, options) for _ in range(repeats)]
    pages, failed = visits[0][0], visits[0][1]
    fetch_rate = statistics.median(parsed / seconds for parsed, _, seconds in visits)
    documents, embed_rate = _embedder_pages_per_s(services.embedder, services.chunker,
                                                  services.settings.max_upload_bytes, docs, repeats)
    sync = services.web_sync
    services.store.delete_collection(COLLECTION)
    try:
        first = sync.sync(url, COLLECTION, options)
        again = sync.sync(url, COLLECTION, options)
    finally:
        services.store.delete_collection(COLLECTION)
    return {
        "cpu": cpu_report(services.settings),
        "url": url,
        "pages": pages,
        "pages_failed": failed,
        "concurrency": options.concurrency,
        "delay_s": options.delay,
        "fetch_parse_pages_per_s": round(fetch_rate, 1),
        "embedder": str(services.embedder.identity),
        "embedder_pages_per_s": round(embed_rate, 1),
        "embedder_pages": documents,
        "fetch_parse_vs_embedder": round(fetch_rate / embed_rate, 1),
        "sync_pages_per_s": round(first.files_ok / first.seconds, 1),
        "resync_pages_per_s": round(again.files_ok / again.seconds, 1),
        "resync_unchanged": again.documents_unchanged,
        "repeats": repeats,
    }
