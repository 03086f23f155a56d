"""Website syncs against a small site served on 127.0.0.1 by the test (issue 29, items 7, 8, 15): a broken link to a
page never ingested does not block pruning, a known page that fails does; a typed invalid URL is the report's error;
the sync's deadline stops it cleanly and the report says what was left."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ingestion.web_crawl import CrawlOptions
from ingestion.web_sync import WebSync

pytestmark = pytest.mark.integration

MB = 1024 * 1024
FAST = CrawlOptions(delay=0.0)


class Site:
    """Pages by path, each (status, body); anything else answers 404."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, bytes]] = {}
        self.base = ""

    def page(self, path: str, text: str, links: tuple[str, ...] = ()) -> None:
        anchors = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
        body = (f"<html><head><title>{text}</title></head><body><main><h1>{text}</h1><p>{text} explains how the "
                f"hub is set up and kept working.</p><ul>{anchors}</ul></main></body></html>")
        self.pages[path] = (200, body.encode())


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = served.pages.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    served.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield served
    server.shutdown()
    server.server_close()


def web_sync(services, **kwargs: float) -> WebSync:
    return WebSync(services.ingestor, services.web_sources, allow_private=True, max_page_bytes=MB, **kwargs)


def sources(services, collection: str) -> set[str]:
    return {d.source.rsplit("/", 1)[-1] for d in services.store.list_documents(collection)}


def test_a_broken_link_does_not_block_pruning_a_failing_known_page_does(services, site, collection):
    site.page("/docs/", "Index", ("a", "b", "c", "missing"))
    for name in "abc":
        site.page(f"/docs/{name}", f"Page {name.upper()}", ("./",))
    first = web_sync(services).sync(f"{site.base}/docs/", collection, FAST, prune=True)
    assert [(f.path.rsplit("/", 1)[-1], "404" in f.error) for f in first.files_failed] == [("missing", True)]
    assert sources(services, collection) == {"", "a", "b", "c"}

    # b is deleted and unlinked while a known page (a) fails with a 503: a's links are unknown, nothing is pruned.
    del site.pages["/docs/b"]
    site.page("/docs/", "Index", ("a", "c", "missing"))
    site.pages["/docs/a"] = (503, b"busy")
    blocked = web_sync(services).sync(f"{site.base}/docs/", collection, FAST, prune=True)
    assert blocked.documents_removed == 0 and sources(services, collection) == {"", "a", "b", "c"}

    # a answers again; the only failure left is the broken link to a page never ingested: b is pruned.
    site.page("/docs/a", "Page A", ("./",))
    pruned = web_sync(services).sync(f"{site.base}/docs/", collection, FAST, prune=True)
    assert [f.path.rsplit("/", 1)[-1] for f in pruned.files_failed] == ["missing"]
    assert pruned.documents_removed == 1 and sources(services, collection) == {"", "a", "c"}


@pytest.mark.parametrize("url", ["http://0177.0.0.1/", "http://exa\x7fmple.com/"])
def test_a_typed_invalid_url_is_the_reports_error(services, collection, url):
    report = web_sync(services).sync(url, collection, FAST)
    assert report.exit_code == 1 and "not a valid URL" in report.files_failed[0].error


def test_the_sync_deadline_stops_it_and_keeps_what_was_done(services, site, collection):
    pages = [f"p{i}" for i in range(12)]
    site.page("/docs/", "Index", tuple(pages))
    for name in pages:
        site.page(f"/docs/{name}", f"Page {name}")
    report = web_sync(services, deadline_s=2.0).sync(f"{site.base}/docs/", collection,
                                                     CrawlOptions(delay=0.4, concurrency=1))
    stopped = report.files_failed[-1]
    assert stopped.path == f"{site.base}/docs/" and "deadline" in stopped.error and "not visited" in stopped.error
    assert 1 <= report.files_ok < 13 and len(services.store.list_documents(collection)) == report.files_ok
